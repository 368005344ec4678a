"""A user's second factors: the TOTP secret and its recovery codes, and what the console shows and resets.

The TOTP secret is kept as an ``{AES}`` box (app/secretbox.py, the master key
``STEPGATE_MASTER_KEY``): a copy of the database alone yields no secret.
``last_step`` is the last time step a code was accepted for; a code is
accepted only by one atomic ``UPDATE ... WHERE last_step < :step``, so the same
code (or an older one) is refused however many requests carry it at once.

Recovery codes are 80 random bits each, shown once, stored as SHA-256 digests
(80 bits need no slow hash: nobody can enumerate them), and used by one atomic
``UPDATE ... WHERE used_at IS NULL``: single use even under parallel submits.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app import audit, secretbox
from app.extensions import db, execute_core
from app.timeutil import utcnow

RECOVERY_CODE_BYTES = 10  # 80 bits: 16 base32 characters, shown as four groups of four


class TotpFactor(db.Model):
    __tablename__ = "totp_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_box: Mapped[str] = mapped_column(String(255))
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RecoveryCode(db.Model):
    __tablename__ = "recovery_codes"
    __table_args__ = (Index("uq_recovery_codes_user_id_code_digest", "user_id", "code_digest", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


@dataclass(frozen=True)
class Factors:
    """What the console shows of a user's second factors (never a secret)."""

    totp_enrolled_at: datetime | None
    totp_last_used_at: datetime | None
    recovery_codes_left: int
    recovery_codes_used: int


_totp, _codes = TotpFactor.__table__, RecoveryCode.__table__


def seal(secret: str) -> str:
    """The secret as an ``{AES}`` box; SecretError when the master key is missing or malformed."""
    return secretbox.encrypt(secret, secretbox.master_key())


def totp_secret(user_id: int) -> str | None:
    """The user's TOTP secret in clear, or None when they have not enrolled (SecretError: no master key)."""
    box = db.session.execute(select(_totp.c.secret_box).where(_totp.c.user_id == user_id)).scalar()
    return None if box is None else secretbox.decrypt(box, secretbox.master_key())


def enrol(user_id: int, secret_box: str, step: int) -> bool:
    """Record the confirmed secret, its confirming step already used; False when another enrolment won."""
    try:
        with db.session.begin_nested():
            db.session.add(TotpFactor(user_id=user_id, secret_box=secret_box, last_step=step, last_used_at=utcnow()))
    except IntegrityError:
        return False
    return True


def claim_step(user_id: int, step: int) -> bool:
    """Use ``step`` for this user: True once; False for that step or any earlier one (a replay)."""
    statement = (
        update(_totp)
        .where(_totp.c.user_id == user_id, or_(_totp.c.last_step.is_(None), _totp.c.last_step < step))
        .values(last_step=step, last_used_at=utcnow())
    )
    return execute_core(statement).rowcount == 1


def new_recovery_codes(user_id: int, count: int) -> list[str]:
    """Replace the user's recovery codes with ``count`` new ones; the codes in clear, to be shown once."""
    execute_core(delete(_codes).where(_codes.c.user_id == user_id))
    codes = [_new_code() for _ in range(count)]
    now = utcnow()
    for code in codes:
        execute_core(_codes.insert().values(user_id=user_id, code_digest=_digest(code), created_at=now))
    return codes


def use_recovery_code(user_id: int, typed: str) -> bool:
    """Spend the recovery code ``typed`` (any case, spaces and dashes ignored): True once, False after."""
    normal = normalise_code(typed)
    if normal is None:
        return False
    statement = (
        update(_codes)
        .where(_codes.c.user_id == user_id, _codes.c.code_digest == _digest(normal), _codes.c.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return execute_core(statement).rowcount == 1


def looks_like_recovery_code(typed: str) -> bool:
    return normalise_code(typed) is not None


def normalise_code(typed: str) -> str | None:
    text = "".join(ch for ch in typed.upper() if ch not in " -")
    if len(text) != 16 or not text.isascii() or not all(ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for ch in text):
        return None
    return text


def summary(user_id: int) -> Factors:
    row = db.session.execute(select(_totp.c.created_at, _totp.c.last_used_at).where(_totp.c.user_id == user_id)).first()
    left, used = db.session.execute(
        select(
            func.count().filter(_codes.c.used_at.is_(None)), func.count().filter(_codes.c.used_at.is_not(None))
        ).where(_codes.c.user_id == user_id)
    ).one()
    return Factors(row.created_at if row else None, row.last_used_at if row else None, left or 0, used or 0)


def reset(user_id: int, user_name: str, by: str) -> bool:
    """Remove the user's TOTP secret and recovery codes (console); audited. True when there was something."""
    had = summary(user_id)
    removed = execute_core(delete(_totp).where(_totp.c.user_id == user_id)).rowcount
    removed += execute_core(delete(_codes).where(_codes.c.user_id == user_id)).rowcount
    if not removed:
        return False
    before = {"totp": had.totp_enrolled_at is not None, "recovery_codes_left": had.recovery_codes_left}
    audit.record(
        "mfa.reset",
        user_id=user_id,
        detail={"user_name": user_name, "before": before, "after": {"totp": False, "recovery_codes_left": 0}, "by": by},
    )
    return True


def forget(user_id: int) -> None:
    """Drop the user's factors (the user is being deleted; SQLite does not cascade)."""
    execute_core(delete(_totp).where(_totp.c.user_id == user_id))
    execute_core(delete(_codes).where(_codes.c.user_id == user_id))


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _new_code() -> str:
    return base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode("ascii")


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()
