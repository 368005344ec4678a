"""Encrypted configuration secrets: OAM's ``{AES}``-prefixed values.

A value such as a plugin's ``secret_key`` may be written as ``{AES}<token>``;
it is decrypted with the master key in the environment variable
``STEPGATE_MASTER_KEY`` (32 random bytes, base64url; ``flask --app app secrets
master-key`` makes one). The token is base64url of ``nonce (12 bytes) ||
AES-256-GCM ciphertext+tag``: authenticated, so a wrong key or an altered
value is refused, never decrypted into garbage.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "{AES}"
MASTER_KEY_ENV = "STEPGATE_MASTER_KEY"
_AAD = b"stepgate secret v1"
_NONCE_BYTES = 12


class SecretError(ValueError):
    """A secret value that cannot be used; the message says why (never the secret)."""


def new_master_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def master_key(environ: dict[str, str] | None = None) -> bytes:
    """The master key from the environment; SecretError when it is missing or malformed."""
    raw = (os.environ if environ is None else environ).get(MASTER_KEY_ENV, "")
    if not raw:
        raise SecretError(f"{MASTER_KEY_ENV} is not set; it is needed to decrypt {PREFIX} values")
    try:
        key = base64.urlsafe_b64decode(_padded(raw.strip()))
    except (binascii.Error, ValueError):
        raise SecretError(f"{MASTER_KEY_ENV} is not base64url") from None
    if len(key) != 32:
        raise SecretError(f"{MASTER_KEY_ENV} must be 32 bytes (base64url), not {len(key)}")
    return key


def encrypt(plaintext: str, key: bytes) -> str:
    """``{AES}`` + base64url(nonce || AES-GCM(plaintext))."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), _AAD)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def decrypt(value: str, key: bytes) -> str:
    if not value.startswith(PREFIX):
        raise SecretError(f"not an encrypted value (no {PREFIX} prefix)")
    try:
        blob = base64.urlsafe_b64decode(_padded(value[len(PREFIX) :].strip()))
    except (binascii.Error, ValueError):
        raise SecretError(f"the {PREFIX} value is not base64url") from None
    if len(blob) <= _NONCE_BYTES + 16:
        raise SecretError(f"the {PREFIX} value is too short to be an encrypted secret")
    try:
        plain = AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD)
    except InvalidTag:
        raise SecretError(f"the {PREFIX} value does not decrypt with {MASTER_KEY_ENV} (wrong key or altered)") from None
    return plain.decode("utf-8")


def resolve_secret(value: str, environ: dict[str, str] | None = None) -> str:
    """A configured secret in clear: ``{AES}`` values are decrypted, others returned unchanged."""
    if not value.startswith(PREFIX):
        return value
    return decrypt(value, master_key(environ))


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)
