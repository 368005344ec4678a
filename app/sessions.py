"""Server-side sign-in sessions: the cookie holds a random id, the row holds the rest.

Logging out or locking the user makes a copied cookie worthless, because every
check reads the row (through ``check``), never just the cookie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, bindparam, delete, insert, select, text, update
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import Select

from app import federated_sessions
from app.extensions import db, execute_core
from app.session_read import RowRead
from app.stores import sql as identity
from app.stores.sql import User, UserView
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
    # RP-initiated logout (app/oidc/logout.py): the provider signed in with and its ID token, when it asks for it
    logout_provider: Mapped[str | None] = mapped_column(String(128), nullable=True)
    logout_id_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the authentication methods signed in with, space-separated (docs/conditions.md): "pwd otp mfa"
    amr: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))


@dataclass(frozen=True)
class LogoutHint:
    """What ending the session at its provider needs (RP-initiated logout, ``app/oidc/logout.py``)."""

    provider: str
    id_token: str = field(repr=False)


@dataclass(frozen=True)
class ValidSession:
    user_id: int | None  # None: a JIT-off session with no local account (app/federated_sessions.py)
    user_name: str
    level: int
    scheme: str
    expires_at: datetime | None = None
    amr: tuple[str, ...] = ()


_sessions, _users = SignInSession.__table__, User.__table__
_INSERT = insert(_sessions)
_CHECK = (
    select(
        _sessions.c.user_id,
        _sessions.c.level,
        _sessions.c.scheme,
        _sessions.c.expires_at,
        _sessions.c.revoked,
        _sessions.c.amr,
        *identity.USER_VIEW_COLUMNS,
        *identity.ATTRIBUTE_COLUMNS,
    )
    .select_from(identity.with_attributes(_sessions.join(_users, _users.c.id == _sessions.c.user_id)))
    .where(_sessions.c.id_digest == bindparam("id_digest"))
)
# the position of each of _CHECK's columns in its rows, read by index (plain tuples from app/session_read.py)
_COLUMN = {column.key: index for index, column in enumerate(_CHECK.selected_columns)}
_USER_ID, _LEVEL, _SCHEME, _EXPIRES_AT = _COLUMN["user_id"], _COLUMN["level"], _COLUMN["scheme"], _COLUMN["expires_at"]
_REVOKED, _AMR, _ID, _STORE = _COLUMN["revoked"], _COLUMN["amr"], _COLUMN["id"], _COLUMN["store"]
_USER_NAME, _STATUS = _COLUMN["user_name"], _COLUMN["status"]
_ATTRIBUTE_NAME, _ATTRIBUTE_VALUE = _COLUMN["attribute_name"], _COLUMN["attribute_value"]


def create(user_id: int, level: int, scheme: str, lifetime: int) -> str:
    """Insert a session now, in the current transaction; return the token for the browser's cookie."""
    return open_session(user_id, "", level, scheme, lifetime)[0]


def open_session(
    user_id: int,
    user_name: str,
    level: int,
    scheme: str,
    lifetime: int,
    logout: LogoutHint | None = None,
    amr: tuple[str, ...] = (),
) -> tuple[str, ValidSession]:
    """``create``, also returning the session as ``check`` will find it once committed.

    ``logout`` keeps what signing out at the provider needs (RP-initiated logout) with the row;
    ``amr`` the authentication methods used.
    """
    token = new_token()
    expires_at = in_seconds(lifetime)
    amr = _fit_amr(amr)
    execute_core(
        _INSERT,
        {
            "id_digest": digest(token),
            "user_id": user_id,
            "level": level,
            "scheme": scheme,
            "created_at": utcnow(),
            "expires_at": expires_at,
            "revoked": False,
            "logout_provider": logout.provider if logout else None,
            "logout_id_token": logout.id_token if logout else None,
            "amr": " ".join(amr),
        },
    )
    return token, ValidSession(user_id, user_name, level, scheme, expires_at, amr)


def _fit_amr(amr: tuple[str, ...]) -> tuple[str, ...]:
    """The methods that fit the column, stepgate's own first (upstream ``idp:`` values are dropped first)."""
    ordered = [m for m in amr if ":" not in m] + [m for m in amr if ":" in m]
    kept: list[str] = []
    for method in ordered:
        if len(" ".join([*kept, method])) <= 255:
            kept.append(method)
    return tuple(kept)


def check(token: str | None) -> ValidSession | None:
    """The session behind this cookie, if unexpired, unrevoked and its user active."""
    found = check_with_user(token)
    return found[0] if found is not None else None


def check_with_user(token: str | None, row_read: RowRead | None = None) -> tuple[ValidSession, UserView] | None:
    """The valid session behind this cookie and its user with their attributes, read in one statement.

    ``row_read``: read with it (the session cache's own, ``app/session_read.py``: a pooled
    connection outside the request's ORM session) rather than in the request's transaction.
    """
    if not token:
        return None
    if federated_sessions.is_federated(token):
        return federated_sessions.check_with_user(token)
    params = {"id_digest": digest(token)}
    rows = row_read.rows(params) if row_read is not None else execute_core(_CHECK, params).all()
    return _valid(rows)


def check_statement() -> Select:
    """The statement ``check_with_user`` reads: the session by its digest, with its user and their attributes."""
    return _CHECK


def _valid(rows) -> tuple[ValidSession, UserView] | None:
    """The session and user of the check's rows (one per attribute), if unexpired, unrevoked and active."""
    if not rows:
        return None
    first = rows[0]
    if first[_REVOKED] or first[_EXPIRES_AT] <= utcnow():
        return None
    attributes = {row[_ATTRIBUTE_NAME]: row[_ATTRIBUTE_VALUE] for row in rows if row[_ATTRIBUTE_NAME] is not None}
    user = UserView(first[_ID], first[_STORE], first[_USER_NAME], first[_STATUS], dict(sorted(attributes.items())))
    if not user.active:
        return None
    amr = tuple(first[_AMR].split()) if first[_AMR] else ()
    session = ValidSession(first[_USER_ID], user.user_name, first[_LEVEL], first[_SCHEME], first[_EXPIRES_AT], amr)
    return session, user


def revoke(token: str | None) -> None:
    if federated_sessions.is_federated(token):
        federated_sessions.revoke(token)
    elif token:
        db.session.execute(update(SignInSession).where(SignInSession.id_digest == digest(token)).values(revoked=True))


def logout_hint(token: str | None) -> LogoutHint | None:
    """What RP-initiated logout needs for this cookie's session, if it is live and its provider asked for it."""
    if not token:
        return None
    if federated_sessions.is_federated(token):
        return federated_sessions.logout_hint(token)
    row = db.session.execute(
        select(_sessions.c.logout_provider, _sessions.c.logout_id_token).where(
            _sessions.c.id_digest == digest(token), _sessions.c.revoked.is_(False), _sessions.c.expires_at > utcnow()
        )
    ).first()
    if row is None or not row.logout_provider or not row.logout_id_token:
        return None
    return LogoutHint(row.logout_provider, row.logout_id_token)


def revoke_all_for(user_id: int) -> None:
    db.session.execute(update(SignInSession).where(SignInSession.user_id == user_id).values(revoked=True))


def purge_expired() -> int:
    """Delete sessions past their expiry (a revoked but unexpired row stays until then)."""
    result = db.session.execute(delete(SignInSession).where(SignInSession.expires_at <= utcnow()))
    return (result.rowcount or 0) + federated_sessions.purge_expired()
