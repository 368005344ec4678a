"""A parsed SCIM filter (``app.scim.filter``) as an RFC 4515 filter for a directory (an LDAP store).

The SQL store's filters become indexed SQL (``app.scim.query``); a directory
is asked in its own language instead, and every value sent is escaped by
``app.stores.ldapfilter.escape``, so ``userName eq "x*)(uid=*"`` looks for that
odd name and finds nothing, never everyone:

=============  ==========================================================
``eq``         ``(attr=v)``
``sw``         ``(attr=v*)``
``ew``         ``(attr=*v)``
``co``         ``(attr=*v*)``
``pr``         ``(attr=*)``
``ne``         ``(!(attr=v))``
``and/or/not`` ``(&..)``, ``(|..)``, ``(!..)``
=============  ==========================================================

``userName`` is the store's ``user_name_attribute``; a mapped path is the
directory attribute the store maps its stepgate attribute to; ``active`` is
the store's status convention (``ldap_status.active_filter``); ``id`` and
``externalId eq`` are looked up in stepgate's tables and become the entries'
stable ids (``entryUUID``/``objectGUID``). The directory's matching rules
decide case (``uid`` and ``mail`` ignore it).
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.scim.filter import Compare, Logical, Node, Not, invalid_filter
from app.scim.models import ScimUser
from app.scim.query import compared_value, mapped_attribute
from app.stores import ldapfilter
from app.stores.ldap import NOTHING
from app.stores.sql import User
from app.web.params import identifier

EVERYTHING = "(objectClass=*)"
MAX_EXTERNAL_IDS = 100
"""``externalId eq`` names one user in practice; more than this many is refused, not sent as a huge filter."""
_USER = "urn:ietf:params:scim:schemas:core:2.0:user"


def user_filter(node: Node, store, mapping: dict[str, str]) -> str:
    """The filter text for ``store.search`` (within the store's ``user_filter``)."""
    if isinstance(node, Logical):
        joined = user_filter(node.left, store, mapping) + user_filter(node.right, store, mapping)
        return f"({'&' if node.op == 'and' else '|'}{joined})"
    if isinstance(node, Not):
        return f"(!{user_filter(node.inner, store, mapping)})"
    if node.op == "ne":
        return f"(!{_compare(Compare(node.path, 'eq', node.value), store, mapping)})"
    return _compare(node, store, mapping)


def _compare(node: Compare, store, mapping: dict[str, str]) -> str:
    path = node.path.lower().removeprefix(_USER + ":")
    if path == "id":
        return _by_id(node, store)
    if path == "active":
        if node.op == "pr":
            return EVERYTHING
        if node.op != "eq":
            raise invalid_filter(f"'active' is compared with eq or ne only, not {node.op}")
        return store.active_filter(compared_value(node) == "true")
    if path == "externalid":
        return _by_external_id(node, store)
    if path == "username":
        attribute = store.directory_attribute("uid")
    else:
        target = mapped_attribute(path, mapping)
        attribute = None if target is None else store.directory_attribute(target)
        if attribute is None:
            known = ", ".join(["userName", "externalId", "id", "active", *mapping])
            raise invalid_filter(f"cannot filter on '{node.path}' (filterable: {known})")
    return assertion(attribute, node.op, None if node.op == "pr" else compared_value(node))


def assertion(attribute: str, op: str, value: str | None) -> str:
    """One RFC 4515 item; ``value`` escaped, so no character of it can end the item or start another."""
    if op == "pr" or (op in ("sw", "ew", "co") and not value):
        return f"({attribute}=*)"
    escaped = ldapfilter.escape(value or "")
    pattern = {"eq": "{}", "sw": "{}*", "ew": "*{}", "co": "*{}*"}[op]
    return f"({attribute}={pattern.format(escaped)})"


def _by_id(node: Compare, store) -> str:
    if node.op == "pr":
        return EVERYTHING
    if node.op != "eq":
        raise invalid_filter(f"'id' is compared with eq or ne only, not {node.op}")
    key = identifier(compared_value(node))
    if key is None:
        return NOTHING
    external_id = db.session.scalar(select(User.external_id).where(User.id == key, User.store == store.name))
    return store.id_assertion(external_id) if external_id else NOTHING


def _by_external_id(node: Compare, store) -> str:
    if node.op != "eq":
        raise invalid_filter(f"'externalId' is compared with eq or ne only on a directory, not {node.op}")
    query = (
        select(User.external_id)
        .join(ScimUser, ScimUser.user_id == User.id)
        .where(ScimUser.store == store.name, ScimUser.external_id == compared_value(node), User.external_id.isnot(None))
        .limit(MAX_EXTERNAL_IDS + 1)
    )
    found = list(db.session.scalars(query))
    if len(found) > MAX_EXTERNAL_IDS:
        raise invalid_filter(f"more than {MAX_EXTERNAL_IDS} users share that externalId")
    if not found:
        return NOTHING
    either = "".join(store.id_assertion(external_id) for external_id in found)
    return either if len(found) == 1 else f"(|{either})"
