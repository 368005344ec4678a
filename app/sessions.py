"""Server-side sign-in sessions: the cookie holds a random id, the row holds the rest.

Logging out or locking the user makes a copied cookie worthless, because every
check reads the row (through ``check``), never just the cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.identity import User, UserStatus
from app.timeutil import in_seconds, utcnow
from app.tokens import digest, new_token


class SignInSession(db.Model):
    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_id", "user_id"),)

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(default=1)
    scheme: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked: Mapped[bool] = mapped_column(default=False)


@dataclass(frozen=True)
class ValidSession:
    user_id: int
    user_name: str
    level: int
    scheme: str
    expires_at: datetime | None = None


def create(user_id: int, level: int, scheme: str, lifetime: int) -> str:
    token = new_token()
    db.session.add(
        SignInSession(
            id_digest=digest(token), user_id=user_id, level=level, scheme=scheme, expires_at=in_seconds(lifetime)
        )
    )
    return token


def check(token: str | None) -> ValidSession | None:
    """The session behind this cookie, if unexpired, unrevoked and its user active."""
    if not token:
        return None
    row = db.session.execute(
        select(
            SignInSession.user_id,
            SignInSession.level,
            SignInSession.scheme,
            SignInSession.expires_at,
            SignInSession.revoked,
            User.status,
            User.user_name,
        )
        .join(User, User.id == SignInSession.user_id)
        .where(SignInSession.id_digest == digest(token))
    ).first()
    if row is None or row.revoked or row.expires_at <= utcnow() or row.status != UserStatus.ACTIVE.value:
        return None
    return ValidSession(row.user_id, row.user_name, row.level, row.scheme, row.expires_at)


def revoke(token: str | None) -> None:
    if token:
        db.session.execute(update(SignInSession).where(SignInSession.id_digest == digest(token)).values(revoked=True))


def revoke_all_for(user_id: int) -> None:
    db.session.execute(update(SignInSession).where(SignInSession.user_id == user_id).values(revoked=True))


def purge_expired() -> int:
    """Delete sessions past their expiry (a revoked but unexpired row stays until then)."""
    result = db.session.execute(delete(SignInSession).where(SignInSession.expires_at <= utcnow()))
    return result.rowcount or 0
