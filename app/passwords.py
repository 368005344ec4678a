"""Password hashing (argon2id), and a check that costs the same whether or not there is a hash to check.

Answering "no such user" faster than "wrong password" tells an outsider which
names exist. So every refusal of a password sign-in costs one verification:
against the account's hash when there is one, otherwise against a dummy hash
made by the same hasher, with the same parameters (app/password_signin.py).
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("stepgate-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still costs one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def spend_one_check(password: str) -> None:
    """Verify ``password`` against the dummy hash: the time a real check takes, for a refusal that needs none."""
    verify_password(None, password)
