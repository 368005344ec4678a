"""What can be done to an account: lock, unlock, end a lockout, delete. Each is audited with before and after.

The console, and a provider's retirement (app/retirement.py), both come here, so
the store decides: an LDAP account is locked or deleted in the directory too.

Locking or deleting ends the user's sessions at once (every request re-reads
the session row, so a copied cookie stops working too). Framework-free: the
caller commits.
"""

from __future__ import annotations

from sqlalchemy import delete

from app import audit, lockout, sessions, stores
from app.extensions import db
from app.mfa import attempts, email_codes, factors
from app.scim.models import ScimGroupMember, ScimUser
from app.sessions import SignInSession
from app.stores.federation import FederatedLink
from app.stores.sql import User, UserStatus


def set_status(user: User, status: UserStatus, by: str, cause: str | None = None) -> str:
    """Change the user's status where their store keeps it; return the old one. Non-active ends their sessions.

    An LDAP store writes the directory's convention (ppolicy, AD, nsAccountLock);
    a read-only store raises ``ReadOnly`` (a ``StoreError``) and nothing changes.
    """
    old = user.status
    stores.get(user.store).set_status(user.view(), status)
    if status is not UserStatus.ACTIVE:
        sessions.revoke_all_for(user.id)
    audit.record(
        "user.status",
        user_id=user.id,
        detail={
            "user_name": user.user_name,
            "before": {"status": old},
            "after": {"status": status.value},
            "by": by,
            **({"cause": cause} if cause else {}),
        },
    )
    return old


def end_lockout(user: User, by: str) -> bool:
    """End the user's lockout after failed sign-ins (audited as ``account.unlocked``); False if there was none."""
    return lockout.unlock(user.id, user.user_name, by=by)


def delete_user(user: User, by: str, cause: str | None = None) -> None:
    """Delete the user from their store, with their links, sessions and SCIM records; the audit event keeps them.

    Through the store interface: an LDAP store deletes the directory entry
    too (last, after the SQL side, so a refusal there rolls everything back);
    a read-only store raises ``ReadOnly`` before anything is removed.
    """
    store = stores.get(user.store)
    store.require_writable("deleting a user")
    view = user.view()
    before = {
        "store": user.store,
        "user_name": user.user_name,
        "status": user.status,
        "attributes": user.attributes,
    }
    detail = {"before": before, "after": None, "by": by, **({"cause": cause} if cause else {})}
    audit.record("user.deleted", user_id=user.id, detail=detail)
    db.session.execute(delete(SignInSession).where(SignInSession.user_id == user.id))
    db.session.execute(delete(FederatedLink).where(FederatedLink.user_id == user.id))
    db.session.execute(delete(ScimUser).where(ScimUser.user_id == user.id))
    db.session.execute(delete(ScimGroupMember).where(ScimGroupMember.user_id == user.id))
    lockout.forget(user.id)
    for second_factor in (factors, email_codes, attempts):  # SQLite does not cascade
        second_factor.forget(user.id)
    store.delete(view)


def groups_of(user: User) -> set[str]:
    """The user's groups: the ``groups`` attribute, split on commas and spaces."""
    raw = user.attributes.get("groups", "")
    return {g for g in raw.replace(",", " ").split() if g}
