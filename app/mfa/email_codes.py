"""One-time codes sent by e-mail: short-lived, single use, stored as keyed digests, bound to one flow.

One row per sign-in flow (keyed by the flow id's digest, as the flows table
is), for the user that flow identified. A code is stored only as
HMAC-SHA256(server secret, flow || code): six digits are quickly enumerated,
so a plain hash of them would be no protection for a copy of the database.

Every check is one atomic ``UPDATE ... SET attempts = attempts + 1 WHERE
unused AND unexpired AND attempts < max ... RETURNING``: parallel guesses each
spend an attempt, and after ``max_attempts`` no code of this flow is checked
at all, even a right one. A right code is spent by a second atomic ``UPDATE
... WHERE used_at IS NULL``: it signs in once. A new code (resend) replaces the
old one and keeps the attempts already spent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db, execute_core
from app.timeutil import utcnow
from app.tokens import digest


class EmailCode(db.Model):
    __tablename__ = "email_otp_codes"

    flow_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sends: Mapped[int] = mapped_column(Integer, default=1)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


_table = EmailCode.__table__


def new_code(digits: int) -> str:
    return str(secrets.randbelow(10**digits)).zfill(digits)


def store(flow_id: str, user_id: int, code: str, lifetime_seconds: int) -> int:
    """Keep ``code`` as this flow's one code (replacing an earlier one); return how many were sent so far."""
    key = digest(flow_id)
    expires = utcnow() + timedelta(seconds=lifetime_seconds)
    values = {"code_digest": _digest(key, code), "expires_at": expires, "used_at": None, "user_id": user_id}
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_table)
        .values(flow_digest=key, attempts=0, sends=1, **values)
        .on_conflict_do_update(index_elements=[_table.c.flow_digest], set_={**values, "sends": _table.c.sends + 1})
        .returning(_table.c.sends)
    )
    return execute_core(statement).scalar_one()


def verify(flow_id: str, user_id: int, typed: str, max_attempts: int) -> str | None:
    """None when ``typed`` is this flow's unused, unexpired code (now spent); else the reason code."""
    key = digest(flow_id)
    typed = typed.strip().replace(" ", "")
    now = utcnow()
    c = _table.c
    spend_attempt = (
        update(_table)
        .where(c.flow_digest == key, c.user_id == user_id, c.used_at.is_(None))
        .where(c.expires_at > now, c.attempts < max_attempts)
        .values(attempts=c.attempts + 1)
        .returning(c.code_digest)
    )
    stored = execute_core(spend_attempt).scalar()
    if stored is None:
        return _why_refused(key, user_id, now, max_attempts)
    if not typed.isascii() or not hmac.compare_digest(stored, _digest(key, typed)):
        return "otp.invalid"
    spend_code = update(_table).where(c.flow_digest == key, c.used_at.is_(None)).values(used_at=now)
    return None if execute_core(spend_code).rowcount == 1 else "otp.used"


def sends_of(flow_id: str) -> int:
    return db.session.execute(select(_table.c.sends).where(_table.c.flow_digest == digest(flow_id))).scalar() or 0


def purge_expired() -> int:
    return db.session.execute(delete(EmailCode).where(EmailCode.expires_at <= utcnow())).rowcount or 0


def forget(user_id: int) -> None:
    execute_core(delete(_table).where(_table.c.user_id == user_id))


def _why_refused(key: str, user_id: int, now: datetime, max_attempts: int) -> str:
    row = db.session.execute(select(_table).where(_table.c.flow_digest == key, _table.c.user_id == user_id)).first()
    if row is None:
        return "otp.no_code"
    if row.used_at is not None:
        return "otp.used"
    if row.attempts >= max_attempts:
        return "otp.too_many_attempts"
    return "otp.expired"


def _digest(flow_key: str, code: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{flow_key}\0{code}".encode(), hashlib.sha256).hexdigest()
