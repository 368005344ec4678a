"""Sessions without a local account: Asgardeo's "JIT off".

When a scheme turns just-in-time provisioning off (``FederatedSessionPlugin``,
or a provider with ``jit_provisioning: false``), nothing is written to the
identity store: the session row itself holds the provider, its subject and the
claims the step passes on, and pages and forward-auth headers read them from
here. Such a session has no ``user_id``.

The cookie's token carries the prefix ``f.`` (never produced by
``secrets.token_urlsafe``), so ``app.sessions`` sends such a cookie here
without asking the other table first. Only the token's SHA-256 is stored, as
for every session. Revoking works as for local sessions: logout, an
administrator in the console, locking the federated link, retiring the
provider; each change is seen by every process's session cache (it watches
this table too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.stores.sql import UserStatus, UserView
from app.timeutil import in_seconds, utcnow
from app.tokens import digest, new_token

PREFIX = "f."
MAX_CLAIMS_JSON = 16_384
"""The claims a session keeps are the mapped ones only; a provider sending more is cut to this."""


class FederatedSession(db.Model):
    __tablename__ = "federated_sessions"
    __table_args__ = (Index("ix_federated_sessions_identity", "issuer", "subject"),)

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(128))
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255))
    claims_json: Mapped[str] = mapped_column(Text, default="{}")
    level: Mapped[int] = mapped_column(default=1)
    scheme: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked: Mapped[bool] = mapped_column(default=False)
    logout_provider: Mapped[str | None] = mapped_column(String(128), nullable=True)
    logout_id_token: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def claims(self) -> dict[str, str]:
        return json.loads(self.claims_json or "{}")


@dataclass(frozen=True)
class FederatedView(UserView):
    """The person of a JIT-off session, read like a ``UserView`` (``id`` is None: there is no local account).

    ``attributes`` are the claims the step passed on, under their mapped names.
    """

    provider: str = ""
    issuer: str = ""
    subject: str = ""

    @property
    def local(self) -> bool:
        return False


def is_federated(token: str | None) -> bool:
    return bool(token) and token.startswith(PREFIX)


def open_session(principal: dict, level: int, scheme: str, lifetime: int, logout=None):
    """Insert a JIT-off session now; return ``(token, ValidSession, FederatedView)``.

    ``principal`` is what ``FederatedSessionPlugin`` left in the flow: provider,
    issuer, subject, user_name and the mapped claims.
    """
    from app.sessions import ValidSession

    token = PREFIX + new_token()
    claims = {str(k): str(v) for k, v in (principal.get("claims") or {}).items()}
    text = json.dumps(claims, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_CLAIMS_JSON:
        claims, text = {}, "{}"
    row = FederatedSession(
        id_digest=digest(token),
        provider=principal["provider"],
        issuer=principal["issuer"],
        subject=principal["subject"],
        user_name=principal["user_name"][:255],
        claims_json=text,
        level=level,
        scheme=scheme,
        created_at=utcnow(),
        expires_at=in_seconds(lifetime),
        revoked=False,
        logout_provider=logout.provider if logout else None,
        logout_id_token=logout.id_token if logout else None,
    )
    db.session.add(row)
    db.session.flush()
    return token, ValidSession(None, row.user_name, level, scheme, row.expires_at), view_of(row)


def view_of(row: FederatedSession) -> FederatedView:
    return FederatedView(
        None,
        "",
        row.user_name,
        UserStatus.ACTIVE.value,
        dict(sorted(row.claims.items())),
        provider=row.provider,
        issuer=row.issuer,
        subject=row.subject,
    )


def _live(token: str):
    return select(FederatedSession).where(FederatedSession.id_digest == digest(token))


def check_with_user(token: str):
    """The valid JIT-off session behind this cookie, as ``(ValidSession, FederatedView)``, or None."""
    from app.sessions import ValidSession

    row = db.session.scalar(_live(token))
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    return ValidSession(None, row.user_name, row.level, row.scheme, row.expires_at), view_of(row)


def revoke(token: str) -> None:
    db.session.execute(update(FederatedSession).where(FederatedSession.id_digest == digest(token)).values(revoked=True))


def logout_hint(token: str):
    from app.sessions import LogoutHint

    row = db.session.scalar(_live(token))
    if row is None or row.revoked or row.expires_at <= utcnow() or not row.logout_provider:
        return None
    return LogoutHint(row.logout_provider, row.logout_id_token) if row.logout_id_token else None


def revoke_for_identity(issuer: str, subject: str) -> int:
    """End every JIT-off session of this federated identity; the number ended."""
    result = db.session.execute(
        update(FederatedSession)
        .where(
            FederatedSession.issuer == issuer,
            FederatedSession.subject == subject,
            FederatedSession.revoked.is_(False),
        )
        .values(revoked=True)
    )
    return result.rowcount or 0


def revoke_for_provider(provider: str) -> int:
    """End every JIT-off session opened through this provider; the number ended."""
    result = db.session.execute(
        update(FederatedSession)
        .where(FederatedSession.provider == provider, FederatedSession.revoked.is_(False))
        .values(revoked=True)
    )
    return result.rowcount or 0


def revoke_by_digest(id_digest: str) -> bool:
    """End one session by its stored digest (the console never sees tokens)."""
    result = db.session.execute(
        update(FederatedSession)
        .where(FederatedSession.id_digest == id_digest, FederatedSession.revoked.is_(False))
        .values(revoked=True)
    )
    return bool(result.rowcount)


def active(limit: int = 100, before: datetime | None = None) -> list[FederatedSession]:
    """Live JIT-off sessions, newest first, keyset-paged on ``created_at``."""
    query = select(FederatedSession).where(FederatedSession.revoked.is_(False), FederatedSession.expires_at > utcnow())
    if before is not None:
        query = query.where(FederatedSession.created_at < before)
    return list(db.session.scalars(query.order_by(FederatedSession.created_at.desc()).limit(limit)))


def purge_expired() -> int:
    result = db.session.execute(delete(FederatedSession).where(FederatedSession.expires_at <= utcnow()))
    return result.rowcount or 0
