"""``{AES}`` secrets: made by ``flask secrets encrypt``, decrypted with STEPGATE_MASTER_KEY, refused when wrong."""

from __future__ import annotations

import base64

import pytest

from app.secretbox import MASTER_KEY_ENV, SecretError, encrypt, new_master_key, resolve_secret
from tests.browser import Browser
from tests.selfregistration_site import PAGE_SECRET, start_site


@pytest.fixture
def master_key(monkeypatch):
    key = new_master_key()
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    return key


def test_the_cli_encrypts_a_secret_that_resolves_back(runner, master_key):
    made = runner.invoke(args=["secrets", "encrypt", "--value", "the HMAC key"])
    assert made.exit_code == 0, made.output
    value = made.output.strip()
    assert value.startswith("{AES}") and "the HMAC key" not in value
    assert resolve_secret(value) == "the HMAC key"
    assert runner.invoke(args=["secrets", "encrypt", "--value", "the HMAC key"]).output.strip() != value


def test_the_cli_makes_master_keys(runner):
    made = runner.invoke(args=["secrets", "master-key"])
    key = made.output.strip()
    assert resolve_secret(encrypt("x", base64.urlsafe_b64decode(key)), {MASTER_KEY_ENV: key}) == "x"


def test_the_cli_says_when_the_master_key_is_missing(runner, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    made = runner.invoke(args=["secrets", "encrypt", "--value", "s"])
    assert made.exit_code == 1
    assert "STEPGATE_MASTER_KEY is not set" in made.output


def test_plain_values_are_returned_unchanged():
    assert resolve_secret("not encrypted", {}) == "not encrypted"


def test_a_wrong_master_key_or_an_altered_value_is_refused(runner, master_key):
    value = runner.invoke(args=["secrets", "encrypt", "--value", "s3cret"]).output.strip()
    with pytest.raises(SecretError, match="does not decrypt"):
        resolve_secret(value, {MASTER_KEY_ENV: new_master_key()})
    altered = flip_one_ciphertext_bit(value)
    with pytest.raises(SecretError, match="does not decrypt"):
        resolve_secret(altered, {MASTER_KEY_ENV: master_key})
    with pytest.raises(SecretError, match="too short"):
        resolve_secret("{AES}abcd", {MASTER_KEY_ENV: master_key})
    with pytest.raises(SecretError, match="must be 32 bytes"):
        resolve_secret(value, {MASTER_KEY_ENV: "c2hvcnQ"})
    with pytest.raises(SecretError, match="is not set"):
        resolve_secret(value, {})


def test_an_encrypted_secret_key_signs_regdata_the_page_verifies(make_settings, master_key):
    encrypted = encrypt(PAGE_SECRET, base64.urlsafe_b64decode(master_key))
    site = start_site(make_settings, scheme_secret=encrypted)
    try:
        with Browser(site.stepgate.url) as person:
            person.get("/demo/")
            form = person.submit({"sub": "s-1", "email": "erin@example.org", "email_verified": "true"})
            assert form.url.startswith(site.page.url)
            done = person.submit({"userName": "erin", "department": "Sales"})
            assert '<strong id="user-name">erin</strong>' in done.text
    finally:
        site.stop()


def test_without_the_master_key_registration_stops_on_a_clear_page(make_settings, master_key, monkeypatch):
    encrypted = encrypt(PAGE_SECRET, base64.urlsafe_b64decode(master_key))
    site = start_site(make_settings, scheme_secret=encrypted)
    monkeypatch.delenv(MASTER_KEY_ENV)
    try:
        with Browser(site.stepgate.url) as person:
            person.get("/demo/")
            stopped = person.submit({"sub": "s-1", "email": "erin@example.org"})
            assert stopped.status_code == 401 and stopped.url.startswith(site.stepgate.url)
            assert "Registration is not available right now" in stopped.text
    finally:
        site.stop()


def flip_one_ciphertext_bit(value: str) -> str:
    """The same {AES} value with one bit of its ciphertext flipped (not a base64 padding bit)."""
    body = value[len("{AES}") :]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[len(raw) // 2] ^= 0x01
    encoded = base64.urlsafe_b64encode(bytes(raw)).decode()
    return "{AES}" + (encoded if body.endswith("=") else encoded.rstrip("="))
