"""SCIM operations on a store outside SQL (an LDAP directory), through the store interface only.

The same operations as ``app.scim.users`` (which serves the SQL store with
indexed SQL), with the same signatures, so the endpoints pick one by the
store's kind. The directory is the truth: a read asks it again (by the
entry's stable id), and what it answers refreshes the entry's row in
``users``, which stepgate's bookkeeping, SCIM's documents and the ETag read.

- ids are ``users.id``: the row kept per entry, keyed by the entry's
  entryUUID/objectGUID, so an id survives a rename or move in the directory
  and is never given to another entry.
- a create adds the entry under the store's ``user_base`` (``Store.create``);
  the name is looked up in the directory first, and the directory's own
  uniqueness (``entryAlreadyExists``) decides a race. Anything that fails
  after the entry was added removes it again: no half-created person.
- a replace writes the directory in this order: attributes (one modify),
  password, status (the store's convention), user name (a new RDN).
- a delete removes stepgate's bookkeeping and row, then the entry.

A store's refusal is a SCIM error, never a 500: read-only 403, a name taken
409 ``uniqueness``, values the directory's schema refuses 400
``invalidValue``, a store with no status convention 400 ``mutability``, a
directory that does not answer 503.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app import audit, lockout, registrations, sessions, stores
from app.extensions import db
from app.scim import directory_query, synced
from app.scim.errors import ScimError, invalid_value
from app.scim.filter import Node
from app.scim.models import ScimGroupMember, ScimUser
from app.scim.schema import UserInput
from app.scim.users import _keep_document, audit_created, new_account, pending_registration
from app.scim.users import get as sql_get
from app.stores import base, federation
from app.stores import sql as sqlstore
from app.stores.sql import User, UserStatus
from app.timeutil import utcnow

log = logging.getLogger("stepgate.scim")
TAKEN = "userName '{}' is already taken in the directory"


def search(store_name: str, node: Node | None, mapping: dict[str, str], start: int, count: int):
    """(total, one page of users) of the directory, in the directory's order, optionally filtered."""
    store = stores.get(store_name)
    text = None if node is None else directory_query.user_filter(node, store, mapping)
    with answers():
        total = store.count(text)
        views = store.search(text, start - 1, count) if count > 0 and start - 1 < total else []
    rows = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([v.id for v in views])))}
    return total, [rows[v.id] for v in views if v.id in rows]


def get(store_name: str, user_id: str) -> User:
    """The user's row, refreshed from their entry; 404 when either is gone."""
    user = sql_get(store_name, user_id)
    if _view(user) is None:
        raise ScimError(404, f"no user with id '{user_id}' (the directory holds no entry for it)")
    return user


def _view(user: User) -> base.UserView | None:
    """The user as the directory has them now (the read that ``get`` did in this transaction, if any)."""
    with answers():
        return sqlstore.recall(user.id) or stores.get(user.store).get(user.id)


def create(store_name: str, data: UserInput) -> User:
    """Add an entry (and, for a registration, link it to that registration's IdP identity)."""
    record = pending_registration(data)
    store = stores.get(store_name)
    _require_free(store, data.user_name)
    attributes, status, provenance = new_account(data, record)
    link = None if record is None else base.Link(record.issuer, record.subject, record.provider)
    try:
        with answers(TAKEN.format(data.user_name)), db.session.begin_nested():
            view = store.create(
                data.user_name, attributes, password=data.password, status=status, provenance=provenance, link=link
            )
    except IntegrityError:  # the link (another account has it) or the name (a row holds it): nothing was added
        db.session.rollback()
        detail = "this identity provider account is already linked to another user" if link else TAKEN
        raise ScimError(409, detail.format(data.user_name), "uniqueness") from None
    try:
        user = db.session.get(User, view.id)
        _keep_document(user, data)
        if record is not None and not registrations.claim_for_account(record, user.id):
            raise invalid_value("registrationId refused: it was used meanwhile")
        audit_created(user, store_name, record is not None, provenance)
        db.session.flush()
    except BaseException:  # a refusal or a failure after the entry was added: the entry goes too
        db.session.rollback()
        _take_back(store, view)
        raise
    return user


def _take_back(store, view: base.UserView) -> None:
    """Remove an entry this request added, after the SQL side was rolled back."""
    try:
        store.delete(view)
        db.session.rollback()
    except base.StoreError as exc:
        db.session.rollback()
        log.error("scim: the entry of %r added by a refused create stays: %s", view.user_name, exc)


def _require_free(store, user_name: str, user_id: int | None = None) -> None:
    """409 when another entry of the directory holds this name (the directory's uniqueness decides a race)."""
    with answers():
        holders = [u for u in store.find_by_attribute("uid", user_name, limit=2) if u.id != user_id]
    if holders:
        raise ScimError(409, TAKEN.format(user_name), "uniqueness")


def replace(user: User, data: UserInput) -> User:
    """Write a full representation to the entry: mapped attributes it leaves out are removed from it."""
    synced.refuse_read_only(user, data.attributes)  # WSO2's enhanced JIT: what the provider forces stays
    store = stores.get(user.store)
    view = _view(user)
    if view is None:
        raise ScimError(404, f"no user with id '{user.id}' (the directory holds no entry for it)")
    changed = {name: value for name, value in data.attributes.items() if view.attributes.get(name) != value}
    renamed = data.user_name != view.user_name
    if renamed:
        _require_free(store, data.user_name, user.id)
    with answers(TAKEN.format(data.user_name)):
        if changed:
            store.update_attributes(view, changed, base.SCIM)
        if data.password is not None:
            store.set_password(view, data.password)
        if data.active is not None:
            _set_active(store, view, data.active)
        if renamed:
            store.rename(view, data.user_name)
    _keep_document(user, data)
    user.updated_at = utcnow()
    audit.record(
        "user.updated",
        user_id=user.id,
        detail={"user_name": data.user_name, "by": "scim", "attributes": sorted(changed), "source": "scim"},
    )
    with answers():
        store.get(user.id)  # the directory's word on what it now holds (ppolicy reads a disabled user as locked)
    return user


def _set_active(store, view: base.UserView, active: bool) -> None:
    """SCIM ``active`` onto the store's status convention: false disables (a locked user stays locked)."""
    if active and view.status != UserStatus.ACTIVE.value:
        store.set_status(view, UserStatus.ACTIVE)
    elif not active and view.status == UserStatus.ACTIVE.value:
        store.set_status(view, UserStatus.DISABLED)
    if not active:
        sessions.revoke_all_for(view.id)


def remove(user: User) -> None:
    """Delete stepgate's bookkeeping of the user, their row, then their directory entry."""
    view = _view(user) or base.UserView(user.id, user.store, user.user_name, user.status, {})
    db.session.execute(delete(federation.FederatedLink).where(federation.FederatedLink.user_id == user.id))
    db.session.execute(delete(sessions.SignInSession).where(sessions.SignInSession.user_id == user.id))
    lockout.forget(user.id)
    db.session.execute(delete(ScimUser).where(ScimUser.user_id == user.id))
    db.session.execute(delete(ScimGroupMember).where(ScimGroupMember.user_id == user.id))
    audit.record("user.deleted", user_id=user.id, detail={"user_name": user.user_name, "by": "scim"})
    with answers():
        stores.get(user.store).delete(view)


@contextmanager
def answers(taken: str = "userName is already taken in the directory") -> Iterator[None]:
    """A store's refusal as SCIM's error, the transaction rolled back: never a 500, never half a change."""
    try:
        yield
    except base.StoreError as exc:
        db.session.rollback()
        raise refusal(exc, taken) from None


def refusal(exc: base.StoreError, taken: str) -> ScimError:
    if isinstance(exc, base.ReadOnly):
        return ScimError(403, str(exc))
    if isinstance(exc, base.Conflict):
        return ScimError(409, taken, "uniqueness")
    if isinstance(exc, base.Refused):
        return invalid_value(str(exc))
    if exc.reason == "store.status_not_kept":
        return ScimError(400, f"'active' can't be changed: {exc}", "mutability")
    log.warning("scim: the identity store failed: %s", exc)
    return ScimError(503, f"the identity store did not answer: {exc.reason}")
