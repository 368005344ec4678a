"""WSO2's "lock by social identity": lock one federated link (issuer, subject), not the account.

A locked link refuses the next sign-in through it (``federation.link_locked``,
in ``UserIdentificationPlugin`` and ``FederatedSessionPlugin``), while the
account's password and its other links keep working. Locking also ends the
account's sessions and every JIT-off session of that identity: a session may
have come in through the link, and the session row does not say which way it
came. Framework-free; the caller commits.
"""

from __future__ import annotations

from app import audit, federated_sessions, sessions
from app.stores.federation import FederatedLink, find_link
from app.timeutil import utcnow

MAX_REASON = 255


class NoSuchLink(LookupError):
    """No account is linked to this (issuer, subject)."""


def lock(issuer: str, subject: str, by: str, reason: str = "") -> FederatedLink:
    """Lock the link of this federated identity; ``NoSuchLink`` when there is none. Locking twice is harmless."""
    link = _link(issuer, subject)
    if link.locked_at is None:
        link.locked_at, link.locked_by, link.lock_reason = utcnow(), by[:255], reason[:MAX_REASON] or None
    sessions.revoke_all_for(link.user_id)
    ended = federated_sessions.revoke_for_identity(issuer, subject)
    audit.record(
        "federation.link_locked",
        user_id=link.user_id,
        detail={
            "provider": link.provider,
            "issuer": issuer,
            "subject": subject,
            "by": by,
            "reason": reason,
            "jit_off_sessions_ended": ended,
        },
    )
    return link


def unlock(issuer: str, subject: str, by: str) -> FederatedLink:
    link = _link(issuer, subject)
    link.locked_at, link.locked_by, link.lock_reason = None, None, None
    audit.record(
        "federation.link_unlocked",
        user_id=link.user_id,
        detail={"provider": link.provider, "issuer": issuer, "subject": subject, "by": by},
    )
    return link


def _link(issuer: str, subject: str) -> FederatedLink:
    link = find_link(issuer, subject)
    if link is None:
        raise NoSuchLink(f"no account is linked to issuer {issuer!r} subject {subject!r}")
    return link
