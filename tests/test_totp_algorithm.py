"""RFC 6238's own test vectors (Appendix B) and the window rules, on the algorithm alone."""

from __future__ import annotations

import hashlib

import pytest

from app.mfa import rfc6238

SEEDS = {
    hashlib.sha1: b"12345678901234567890",
    hashlib.sha256: b"12345678901234567890123456789012",
    hashlib.sha512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [  # (Unix time, SHA1, SHA256, SHA512), 8 digits, RFC 6238 Appendix B
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize("time, sha1, sha256, sha512", VECTORS)
def test_the_rfc_6238_test_vectors(time, sha1, sha256, sha512):
    step = rfc6238.step_at(time)
    for digest, expected in zip(SEEDS, (sha1, sha256, sha512), strict=True):
        assert rfc6238.hotp(SEEDS[digest], step, digits=8, digest=digest) == expected


def test_a_code_is_accepted_one_step_either_side_and_not_two():
    key, now = SEEDS[hashlib.sha1], 1111111111
    step = rfc6238.step_at(now)
    for offset in (-1, 0, 1):
        assert rfc6238.matching_step(key, rfc6238.hotp(key, step + offset), now) == step + offset
    for offset in (-2, 2):
        assert rfc6238.matching_step(key, rfc6238.hotp(key, step + offset), now) is None
    assert rfc6238.matching_step(key, rfc6238.hotp(key, step + 1), now, window=0) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "１２３４５６", "123 45"])
def test_anything_but_six_ascii_digits_matches_no_step(typed):
    assert rfc6238.matching_step(SEEDS[hashlib.sha1], typed, 1111111111) is None


def test_a_new_secret_is_160_random_bits_in_base32_and_reads_back():
    secret = rfc6238.new_secret()
    assert len(rfc6238.secret_bytes(secret)) == 20 and secret != rfc6238.new_secret()
    assert rfc6238.secret_bytes(secret.lower()) == rfc6238.secret_bytes(secret)


def test_the_provisioning_uri_escapes_the_account_name():
    uri = rfc6238.provisioning_uri("JBSWY3DPEHPK3PXP", "alice&issuer=evil", "stepgate")
    assert uri.startswith("otpauth://totp/stepgate%3Aalice%26issuer%3Devil?")
    assert uri.count("issuer=") == 1
