"""SCIM operations on the identity store: search, create (optionally for a registration), replace, delete.

Each function leaves the session ready to commit or raises ScimError after
rolling back, so a refused request never leaves half a user behind. Races on
``userName`` or on an IdP identity are caught at the database's unique
constraints, not checked first; ``userName`` is unique and searched in its
normalised form (``app.usernames``), so ``ALICE`` finds and collides with ``alice``.

What SCIM sets is proven (``identity.SCIM``: the organisation's directory
speaks); what a registration page creates for a registration is the person's
own word (``identity.SELF_REGISTRATION``). A replace proves only the values it
changes: re-sending a stored value keeps the provenance it had.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError

from app import audit, lockout, registrations, sessions
from app.extensions import db
from app.scim import synced
from app.scim.errors import ScimError, invalid_value
from app.scim.models import ScimGroupMember, ScimUser
from app.scim.schema import UserInput
from app.stores import federation
from app.stores import sql as identity
from app.stores.sql import User, UserStatus
from app.timeutil import utcnow
from app.web.params import identifier


def search(store: str, condition: ColumnElement | None, start: int, count: int) -> tuple[int, list[User]]:
    """(total, one page of users) of ``store``, optionally where ``condition`` (``app.scim.query``) holds."""
    query = select(User).where(User.store == store)
    if condition is not None:
        # ``store || ''`` keeps the planner off the (store, ...) index, which every user of a
        # one-store server matches: the condition's own indexes then drive the query (app/scim/query.py)
        query = select(User).where((User.store + "") == store, condition)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    page = db.session.scalars(query.order_by(User.id).offset(start - 1).limit(count))
    return total, list(page)


def state_of(user: User) -> ScimUser | None:
    """The SCIM document kept for ``user`` (None for a user SCIM never wrote)."""
    return db.session.get(ScimUser, user.id)


def states_of(users: list[User]) -> dict[int, ScimUser]:
    """The SCIM documents of a page of users, in one query."""
    if not users:
        return {}
    rows = db.session.scalars(select(ScimUser).where(ScimUser.user_id.in_([u.id for u in users])))
    return {row.user_id: row for row in rows}


def _keep_document(user: User, data: UserInput) -> None:
    state = state_of(user)
    if state is None:
        state = ScimUser(user_id=user.id, store=user.store)
        db.session.add(state)
    state.external_id = data.external_id
    state.document = json.dumps(data.document or {})


def audit_created(user: User, store: str, registration: bool, provenance) -> None:
    """``user.created`` by SCIM, whichever kind of store holds the user."""
    detail = {"user_name": user.user_name, "store": store, "by": "scim", "registration": registration}
    detail.update(source=provenance.source, verified=provenance.verified)
    audit.record("user.created", user_id=user.id, detail=detail)


def get(store: str, user_id: str) -> User:
    key = identifier(user_id)  # ASCII digits within a 64-bit id, else no such user
    user = db.session.get(User, key) if key is not None else None
    if user is None or user.store != store:
        raise ScimError(404, f"no user with id '{user_id}'")
    return user


def pending_registration(data: UserInput):
    """The self-registration a create names (``registrationId``), or None; 400 when it can't be used."""
    if data.registration_id is None:
        return None
    record = registrations.find_pending(data.registration_id)
    if record is None:
        reason = registrations.why_unusable(registrations.find_record(data.registration_id))
        raise invalid_value(f"registrationId refused: {reason}")
    return record


def new_account(data: UserInput, record) -> tuple[dict[str, str], UserStatus, identity.Provenance]:
    """What a SCIM create stores, whatever the store: the given attributes, the status and their provenance."""
    attributes = {k: v for k, v in data.attributes.items() if v is not None}
    status = UserStatus.ACTIVE if data.active in (None, True) else UserStatus.DISABLED
    return attributes, status, identity.SCIM if record is None else identity.SELF_REGISTRATION


def create(store: str, data: UserInput) -> User:
    """Create a user; with a registration id, link it to that registration's IdP identity too."""
    record = pending_registration(data)
    attributes, status, provenance = new_account(data, record)
    user = identity.create_user(store, data.user_name, attributes, data.password, status, provenance)
    _flush(f"userName '{data.user_name}' is already taken (user names are compared ignoring case and width)")
    _keep_document(user, data)
    if record is not None:
        with _unique("this identity provider account is already linked to another user"):
            federation.link_user(user.id, record.issuer, record.subject, record.provider)
        if not registrations.claim_for_account(record, user.id):
            db.session.rollback()
            raise invalid_value("registrationId refused: it was used meanwhile")
    audit_created(user, store, record is not None, provenance)
    return user


def replace(user: User, data: UserInput) -> User:
    """Store a full representation: mapped attributes it leaves out are removed; no password keeps the old one."""
    synced.refuse_read_only(user, data.attributes)  # WSO2's enhanced JIT: what the provider forces stays
    user.user_name = data.user_name
    # flushed now, inside the 409: any query below would flush it outside and a taken name would be a 500
    _flush(f"userName '{data.user_name}' is already taken (user names are compared ignoring case and width)")
    stored = user.attributes
    changed = [name for name, value in data.attributes.items() if stored.get(name) != value]
    for name in changed:
        user.set_attribute(name, data.attributes[name], identity.SCIM)
    if data.password is not None:
        user.set_password(data.password)
    if data.active is not None:
        set_active(user, data.active)
    _keep_document(user, data)
    user.updated_at = utcnow()  # attribute rows changing leave the users row alone: lastModified must move
    _flush(f"userName '{data.user_name}' is already taken (user names are compared ignoring case and width)")
    audit.record(
        "user.updated",
        user_id=user.id,
        detail={"user_name": user.user_name, "by": "scim", "attributes": sorted(changed), "source": "scim"},
    )
    return user


def set_active(user: User, active: bool) -> None:
    """SCIM ``active`` onto the store status: false disables (a locked user stays locked), true activates."""
    if active:
        user.status = UserStatus.ACTIVE.value
    elif user.status == UserStatus.ACTIVE.value:
        user.status = UserStatus.DISABLED.value
    if not user.active:
        sessions.revoke_all_for(user.id)


def remove(user: User) -> None:
    """Delete a user with their links and sessions."""
    db.session.execute(delete(federation.FederatedLink).where(federation.FederatedLink.user_id == user.id))
    db.session.execute(delete(sessions.SignInSession).where(sessions.SignInSession.user_id == user.id))
    lockout.forget(user.id)  # SQLite does not cascade (its ids are never reused: AUTOINCREMENT)
    db.session.execute(delete(ScimUser).where(ScimUser.user_id == user.id))
    db.session.execute(delete(ScimGroupMember).where(ScimGroupMember.user_id == user.id))
    audit.record("user.deleted", user_id=user.id, detail={"user_name": user.user_name, "by": "scim"})
    db.session.delete(user)


def _flush(conflict: str) -> None:
    with _unique(conflict):
        db.session.flush()


@contextmanager
def _unique(conflict: str) -> Iterator[None]:
    """A uniqueness violation inside becomes SCIM's 409 ``uniqueness``, and the transaction is rolled back."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()
        raise ScimError(409, conflict, "uniqueness") from None
