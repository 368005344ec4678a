"""The LDAP store (the ``ldap`` kind): people in a directory, read and written with ldap3.

Searches run on a small pool of connections bound as ``bind_dn``
(``app/stores/ldap_pool.py``); a password is checked by binding as the user on
a connection of its own, never by reading a hash. A filter is passed to the
directory as written (the values in it were escaped by ``ldapfilter.fill``),
within ``user_filter`` under ``user_base``.

Every entry read gets one row in stepgate's ``users`` table, keyed by
(store, the entry's ``id_attribute``: entryUUID, objectGUID) and refreshed when
the entry changed: sessions, lockout, audit and the (issuer, subject) links
refer to that row, so a rename or a move in the directory keeps them all. The
row also keeps the entry's mapped attributes as last read, for the session
check and the console; the directory stays the authority and is read again at
every identification.

JIT provisioning into a directory (``create`` with a ``Link``): the row and
the link are inserted first, so two first sign-ins of one person are decided
by the link's unique constraint in SQL (the loser waits, then finds the
winner's link, as on the SQL store); then the entry is added, where the
directory's own uniqueness refuses a name someone else holds
(``entryAlreadyExists`` is a ``Conflict``, never a merge with that entry).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy import bindparam, literal, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db, execute_core
from app.stores import ldap_status, ldapfilter
from app.stores import sql as sqlstore
from app.stores.base import (
    ADMIN,
    DIRECTORY,
    Link,
    PasswordAnswer,
    Provenance,
    Store,
    StoreError,
    StoreUnavailable,
    UserStatus,
    UserView,
    provenance_for,
)
from app.stores.ldap_pool import LdapPool
from app.stores.ldap_settings import LdapOptions, parse_ldap, rdn_attribute

log = logging.getLogger(__name__)
NOTHING = "(!(objectClass=*))"
"""A filter no entry matches."""

_users = sqlstore.User.__table__
_SHADOW = (
    select(*sqlstore.USER_VIEW_COLUMNS, _users.c.external_id, *sqlstore.ATTRIBUTE_COLUMNS)
    .select_from(sqlstore.with_attributes(_users))
    .where(_users.c.store == bindparam("store"), _users.c.external_id == bindparam("external_id"))
)
_EXTERNAL_ID = select(_users.c.external_id).where(_users.c.id == bindparam("user_id"))


class LdapStore(Store):
    kind = "ldap"

    def __init__(self, config):
        super().__init__(config)
        self.options: LdapOptions = config.options
        self.pool = LdapPool(self.options)
        o = self.options
        self._wanted = sorted(
            {o.id_attribute, o.user_name_attribute, *o.attributes.values(), *ldap_status.STATUS_ATTRIBUTES[o.status]}
        )

    @classmethod
    def parse_options(cls, body, check, name: str) -> LdapOptions | None:
        from app.stores.base import COMMON_KEYS

        check.unknown_keys(body, COMMON_KEYS | {"ldap"}, f"identity_stores.{name}")
        return parse_ldap(body, check, name)

    def filter_problem(self, filter_text: str) -> str | None:
        try:
            ldapfilter.parse(filter_text)
        except ldapfilter.FilterError as exc:
            return f"not an LDAP filter (RFC 4515): {exc}"
        return None

    def attribute_problem(self, attribute: str) -> str | None:
        if attribute not in self.options.attributes:
            mapped = ", ".join(sorted(self.options.attributes)) or "none"
            return f"LDAP store '{self.name}' maps no directory attribute to '{attribute}' (mapped: {mapped})"
        return None

    def close(self) -> None:
        self.pool.close()

    # -- reading -------------------------------------------------------------------------------
    def find(self, filter_text: str, limit: int = 2) -> list[UserView]:
        return [self._mirror(entry) for entry in self._search(filter_text, limit)]

    def find_by_attribute(self, name: str, value: str, limit: int = 2) -> list[UserView]:
        attribute = self.options.user_name_attribute if name == "uid" else self.options.attributes.get(name, name)
        return self.find(f"({attribute}={ldapfilter.escape(value)})", limit)

    def find_by_proven_attribute(self, name: str, values: Iterable[str], limit: int = 2) -> list[UserView]:
        attribute = self.options.attributes.get(name)
        if attribute is None:
            return []
        either = "".join(f"({attribute}={ldapfilter.escape(v)})" for v in sorted(set(values)))
        found = self.find(f"(|{either})", limit)
        proven = set(
            db.session.scalars(
                select(sqlstore.UserAttribute.user_id).where(
                    sqlstore.UserAttribute.user_id.in_([u.id for u in found]),
                    sqlstore.UserAttribute.name == name,
                    sqlstore.UserAttribute.verified.is_(True),
                )
            )
        )
        return [user for user in found if user.id in proven]

    def get(self, user_id: int) -> UserView | None:
        external_id = execute_core(_EXTERNAL_ID, {"user_id": user_id}).scalar()
        if external_id is None:
            return None
        entries = self._search(self.id_assertion(external_id), 1)
        return self._mirror(entries[0]) if entries else None

    def id_assertion(self, external_id: str) -> str:
        """The filter ``(entryUUID=...)`` finding the entry of this stable id (objectGUID: its 16 bytes, escaped)."""
        attribute = self.options.id_attribute
        if attribute.lower() == "objectguid":
            try:
                raw = uuid.UUID(external_id).bytes_le
            except ValueError:
                return NOTHING
            escaped = "".join("\\%02x" % byte for byte in raw)  # noqa: UP031 - a backslash can't sit in an f-string here
            return f"({attribute}={escaped})"
        return f"({attribute}={ldapfilter.escape(external_id)})"

    def directory_attribute(self, name: str) -> str | None:
        """The directory attribute holding the stepgate attribute ``name`` (``uid``: the user name), or None."""
        return self.options.user_name_attribute if name == "uid" else self.options.attributes.get(name)

    def active_filter(self, active: bool) -> str:
        """A filter for the entries whose status (by this store's convention) is active, or is not."""
        return ldap_status.active_filter(self.options.status, active)

    def fresh(self, user: UserView) -> UserView | None:
        """The entry read again by its stable id: a rename or a lock in the directory shows at once."""
        return self.get(user.id)

    def search(self, filter_text: str | None = None, offset: int = 0, limit: int = 50) -> list[UserView]:
        entries = self.pool.paged_search(self._within(filter_text), self._wanted, offset, limit)
        return [self._mirror(entry) for entry in entries]

    def count(self, filter_text: str | None = None) -> int:
        return self.pool.count(self._within(filter_text))

    def _within(self, filter_text: str | None) -> str:
        return f"(&{self.options.user_filter}{filter_text or ''})"

    def _search(self, filter_text: str, limit: int) -> list[dict]:
        return self.pool.search(self._within(filter_text), self._wanted, limit)

    # -- passwords -----------------------------------------------------------------------------
    def check_password(self, user: UserView, password: str) -> PasswordAnswer:
        if not password:  # an empty password is an unauthenticated bind (RFC 4513 5.1.2): it proves nothing
            return PasswordAnswer.WRONG
        dn = user.ref or self._dn_of(user.id)
        if dn is None:
            self.spend_one_check(password)
            return PasswordAnswer.WRONG
        return self.pool.bind_as(dn, password)

    def spend_one_check(self, password: str) -> None:
        """A bind as a DN no entry has: the directory refuses it as it refuses a wrong password."""
        self.pool.bind_as(f"cn=stepgate-no-such-entry-{uuid.uuid4().hex},{self.options.user_base}", password or "x")

    def _dn_of(self, user_id: int) -> str | None:
        found = self.get(user_id)
        return found.ref if found else None

    # -- writing -------------------------------------------------------------------------------
    def create(
        self,
        user_name: str,
        attributes: Mapping[str, str],
        *,
        password: str | None = None,
        status: UserStatus = UserStatus.ACTIVE,
        provenance: Mapping[str, Provenance] | Provenance = ADMIN,
        link: Link | None = None,
    ) -> UserView:
        self.require_writable("creating a user")
        o = self.options
        pending = f"pending:{uuid.uuid4()}"
        # a directory holds no empty value (RFC 4517 strings have a character at least): empty is absent
        shown = {
            name: sqlstore.attribute_value(v)
            for name, v in sorted(attributes.items())
            if name in o.attributes and v not in (None, "")
        }
        user_id = sqlstore.insert_user(self.name, user_name, shown, None, provenance, status, pending)
        if link is not None:  # first: a second sign-in of this person waits here, then finds this link
            self.link(
                UserView(user_id, self.name, user_name, status.value, shown), link.issuer, link.subject, link.provider
            )
        entry = {o.attributes[name]: value for name, value in shown.items()}
        entry[o.user_name_attribute] = user_name
        for attribute, template in o.new_entry.items():
            entry.setdefault(attribute, template.replace("{user_name}", user_name))
        naming = rdn_attribute(o)  # uid=... on OpenLDAP; CN=... on Active Directory, which names entries by cn
        entry.setdefault(naming, user_name)
        dn = f"{naming}={_rdn_value(entry[naming])},{o.user_base}"
        if status is not UserStatus.ACTIVE and o.status != "none":
            for attribute, changes in ldap_status.status_changes(o.status, status, {}).items():
                entry[attribute] = changes[0][1]
        self.pool.add(dn, list(o.object_classes), entry)
        try:
            if password:
                self.pool.set_password(dn, password, o.password_write)
            external_id = self.pool.stable_id(dn, o.id_attribute)
        except StoreError:  # a password the directory's policy refuses: no entry is left half made
            self._discard(dn)
            raise
        execute_core(
            update(_users)
            .where(_users.c.id == user_id)
            .values(external_id=external_id, user_name_key=sqlstore.shadow_key(external_id))
        )
        return UserView(user_id, self.name, user_name, status.value, shown, ref=dn)

    def update_attributes(
        self, user: UserView, changes: Mapping[str, str | None], provenance: Mapping[str, Provenance] | Provenance
    ) -> None:
        self.require_writable("changing attributes")
        mapped = {name: value or None for name, value in changes.items() if name in self.options.attributes}
        dn = user.ref or self._dn_of(user.id)
        if dn is None or not mapped:
            return
        self.pool.replace(dn, {self.options.attributes[name]: value for name, value in mapped.items()})
        stored = sqlstore.get_user(user.id)
        for name, value in mapped.items():
            stored.set_attribute(name, value, provenance_for(provenance, name))

    def set_status(self, user: UserView, status: UserStatus) -> None:
        self.require_writable("changing a user's status")
        if self.options.status == "none":
            raise StoreUnavailable(f"LDAP store '{self.name}' keeps no status (status: none)", "store.status_not_kept")
        dn = user.ref or self._dn_of(user.id)
        if dn is None:
            raise StoreUnavailable(f"the entry of '{user.user_name}' is not in the directory", "user.not_found")
        current = self.pool.read(dn, list(ldap_status.STATUS_ATTRIBUTES[self.options.status]))
        changes = ldap_status.status_changes(self.options.status, status, current)
        if changes:
            self.pool.modify(dn, changes)
        sqlstore.get_user(user.id).status = status.value

    def set_password(self, user: UserView, password: str) -> None:
        self.require_writable("changing a password")
        dn = user.ref or self._dn_of(user.id)
        if dn is None:
            raise StoreUnavailable(f"the entry of '{user.user_name}' is not in the directory", "user.not_found")
        self.pool.set_password(dn, password, self.options.password_write)

    def rename(self, user: UserView, user_name: str) -> None:
        """A new RDN when the entry is named by its user name (``uid=...``), else a new value of that attribute."""
        self.require_writable("renaming a user")
        o = self.options
        dn = user.ref or self._dn_of(user.id)
        if dn is None:
            raise StoreUnavailable(f"the entry of '{user.user_name}' is not in the directory", "user.not_found")
        if dn.split("=", 1)[0].strip().lower() == o.user_name_attribute.lower():
            self.pool.rename(dn, f"{o.user_name_attribute}={_rdn_value(user_name)}")
        else:
            self.pool.replace(dn, {o.user_name_attribute: user_name})
        external_id = execute_core(_EXTERNAL_ID, {"user_id": user.id}).scalar()
        self._vacate(user_name, external_id)
        sqlstore.get_user(user.id).user_name = user_name

    def delete(self, user: UserView) -> None:
        """The row first (flushed), the entry last: a directory that refuses leaves the SQL side to roll back."""
        self.require_writable("deleting a user")
        dn = user.ref or self._dn_of(user.id)
        stored = sqlstore.get_user(user.id)
        if stored is not None:
            db.session.delete(stored)
            db.session.flush()
        if dn is not None:
            self.pool.delete(dn)

    def _discard(self, dn: str) -> None:
        try:
            self.pool.delete(dn)
        except StoreError as exc:
            log.error("ldap: the half-made entry %s could not be removed: %s", dn, exc)

    # -- the row in users ----------------------------------------------------------------------
    def _mirror(self, entry: dict) -> UserView:
        """The entry's row in ``users``, inserted or refreshed; the entry as a ``UserView``."""
        o = self.options
        values = entry["attributes"]
        external_id = entry["id"]
        user_name = _first(values.get(o.user_name_attribute)) or entry["dn"]
        status = ldap_status.status_of(o.status, values).value
        attributes = {}
        for name, attribute in o.attributes.items():
            found = _first(values.get(attribute))
            if found:
                attributes[name] = sqlstore.attribute_value(found)
        attributes = dict(sorted(attributes.items()))
        rows = execute_core(_SHADOW, {"store": self.name, "external_id": external_id}).all()
        known = sqlstore.view_of(rows)
        if known is None:
            user_id = self._insert_row(external_id, user_name, status, attributes)
        else:
            user_id = known.id
            if (known.user_name, known.status, known.attributes) != (user_name, status, attributes):
                self._refresh_row(known, external_id, user_name, status, attributes)
        view = UserView(user_id, self.name, user_name, status, attributes, ref=entry["dn"])
        return sqlstore.remember(view)

    def _insert_row(self, external_id: str, user_name: str, status: str, attributes: dict[str, str]) -> int:
        try:
            with db.session.begin_nested():
                self._vacate(user_name, external_id)
                return sqlstore.insert_user(
                    self.name, user_name, attributes, None, DIRECTORY, UserStatus(status), external_id
                )
        except IntegrityError:  # another request inserted this entry's row first
            return execute_core(_SHADOW, {"store": self.name, "external_id": external_id}).first().id

    def _refresh_row(self, known: UserView, external_id: str, user_name: str, status: str, attributes) -> None:
        if known.user_name != user_name:
            self._vacate(user_name, external_id)
        stored = sqlstore.get_user(known.id)
        stored.user_name = user_name
        stored.user_name_key = sqlstore.shadow_key(external_id)
        stored.status = status
        for name in set(known.attributes) | set(attributes):
            stored.set_attribute(name, attributes.get(name), DIRECTORY)
        db.session.flush()

    def _vacate(self, user_name: str, external_id: str) -> None:
        """A row of another entry still holding this name (renamed in the directory since) lets go of it."""
        execute_core(
            update(_users)
            .where(_users.c.store == self.name, _users.c.user_name == user_name)
            .where(_users.c.external_id != external_id)
            .values(user_name=literal("entry:") + _users.c.external_id)
        )


def _first(values) -> str | None:
    if isinstance(values, list):
        return str(values[0]) if values else None
    return None if values is None else str(values)


def _rdn_value(value: str) -> str:
    from ldap3.utils.dn import escape_rdn

    return escape_rdn(value)
