"""TOTP (RFC 6238 over RFC 4226's HOTP): the algorithm alone, with plain inputs and no framework.

Codes are compared in constant time against every step of the window, so the
time a wrong code takes says nothing about which step, or which digit, was near.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

PERIOD = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation for HMAC-SHA1


def new_secret() -> str:
    """A random secret as authenticator apps take it: base32, without padding."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def step_at(unix_time: float, period: int = PERIOD) -> int:
    """The time step T of RFC 6238 section 4 (T0 = 0)."""
    return int(unix_time // period)


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """RFC 4226 section 5.3: HMAC, dynamic truncation, modulo 10^digits, left-padded with zeros."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def matching_step(key: bytes, code: str, now: float, window: int = 1, period: int = PERIOD) -> int | None:
    """The step in ``now``'s step ± ``window`` whose code is ``code``, or None.

    Every step of the window is computed and compared (``hmac.compare_digest``)
    whatever the answer, so the time taken does not depend on the code.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_at(now, period)
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(hotp(key, step).encode(), code.encode()) and found is None:
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI that authenticator apps read from the QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": PERIOD})
    return f"otpauth://totp/{label}?{query}"
