"""A parsed SCIM filter (``app.scim.filter``) as SQL over the identity store, through its indexes.

Every comparison becomes ``users.id IN (SELECT ... FROM <indexed table> WHERE ...)``
(or a condition on an indexed ``users`` column), so ``and``/``or``/``not`` combine
sets the database reads from an index, never a scan of every user:

=============  ==========================================================
``eq``         equality on the index: ``(name, value)`` for mapped
               attributes, ``(store, user_name_key)`` for ``userName``,
               ``(store, external_id)`` for ``externalId``
``sw``         a range on the same index: ``value >= "p"`` and
               ``value < "p" + U+10FFFF`` (plus ``LIKE 'p%'`` for exactness)
``pr``         the attribute's name prefix of ``(name, value)``
``ew``/``co``  ``LIKE '%p'``/``'%p%'``: the index narrows to the attribute,
               then its values are scanned (no B-tree serves a suffix)
``ne``         ``NOT IN`` the ``eq`` set
=============  ==========================================================

``userName`` compares on its normalised key (case, width and invisible
characters ignored, as RFC 7643 section 4.1.1 says for ``caseExact: false``);
other values compare exactly as stored. ``emails.value`` finds the value the
mapping stores (the primary email), not every email a user has.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, or_, select, true

from app import usernames
from app.scim.filter import Compare, Logical, Node, Not, invalid_filter
from app.scim.models import ScimGroup, ScimGroupMember, ScimUser
from app.stores.sql import User, UserAttribute, UserStatus
from app.web.params import identifier

TOP = "\U0010ffff"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match(column: Any, op: str, value: str) -> ColumnElement:
    """``column <op> value`` for eq/sw/ew/co; sw is a range, so it is served by an index on ``column``."""
    if "\x00" in value:  # no stored value holds NUL (PostgreSQL text cannot): nothing matches, never a 500
        return false()
    if op == "eq":
        return column == value
    if op == "sw":
        if not value:
            return column.isnot(None)
        return and_(column >= value, column < value + TOP, column.like(_escape(value) + "%", escape="\\"))
    if op == "ew":
        return column.like("%" + _escape(value), escape="\\")
    return column.like("%" + _escape(value) + "%", escape="\\")


def compared_value(node: Compare) -> str:
    if node.value is None or isinstance(node.value, (dict, list)):
        raise invalid_filter(f"'{node.path} {node.op}' needs a value")
    return str(node.value).lower() if isinstance(node.value, bool) else str(node.value)


def user_condition(node: Node, store: str, mapping: dict[str, str]) -> ColumnElement:
    if isinstance(node, Logical):
        combine = and_ if node.op == "and" else or_
        return combine(user_condition(node.left, store, mapping), user_condition(node.right, store, mapping))
    if isinstance(node, Not):
        return not_(user_condition(node.inner, store, mapping))
    if node.op == "ne":
        return not_(user_condition(Compare(node.path, "eq", node.value), store, mapping))
    return _user_compare(node, store, mapping)


def _user_compare(node: Compare, store: str, mapping: dict[str, str]) -> ColumnElement:
    path = node.path.lower()
    if path in ("username", f"{_USER}:username"):
        if node.op == "pr":
            return true()
        return and_(User.store == store, match(User.user_name_key, node.op, usernames.key(compared_value(node))))
    if path == "id":
        if node.op == "pr":
            return true()
        key = identifier(compared_value(node))
        return User.id == key if node.op == "eq" and key is not None else false()
    if path == "active":
        if node.op == "pr":
            return true()
        wanted = compared_value(node) == "true"
        return (User.status == UserStatus.ACTIVE.value) if wanted else (User.status != UserStatus.ACTIVE.value)
    if path == "externalid":
        inner = select(ScimUser.user_id).where(ScimUser.store == store)
        if node.op == "pr":
            return User.id.in_(inner.where(ScimUser.external_id.isnot(None)))
        return User.id.in_(inner.where(match(ScimUser.external_id, node.op, compared_value(node))))
    target = mapped_attribute(path, mapping)
    if target is None:
        known = ", ".join(["userName", "externalId", "id", "active", *mapping])
        raise invalid_filter(f"cannot filter on '{node.path}' (filterable: {known})")
    inner = select(UserAttribute.user_id).where(UserAttribute.name == target)
    if node.op != "pr":
        inner = inner.where(match(UserAttribute.value, node.op, compared_value(node)))
    return User.id.in_(inner)


_USER = "urn:ietf:params:scim:schemas:core:2.0:user"


def mapped_attribute(path: str, mapping: dict[str, str]) -> str | None:
    """The store attribute a filter path names; ``emails`` alone means ``emails.value``."""
    if path.startswith(_USER + ":"):
        path = path[len(_USER) + 1 :]
    for candidate in (path, f"{path}.value"):
        found = next((t for p, t in mapping.items() if p.lower() == candidate), None)
        if found is not None:
            return found
    return None


def group_condition(node: Node, store: str) -> ColumnElement:
    if isinstance(node, Logical):
        combine = and_ if node.op == "and" else or_
        return combine(group_condition(node.left, store), group_condition(node.right, store))
    if isinstance(node, Not):
        return not_(group_condition(node.inner, store))
    if node.op == "ne":
        return not_(group_condition(Compare(node.path, "eq", node.value, node.within), store))
    path = node.path.lower()
    columns = {"displayname": ScimGroup.display_name, "externalid": ScimGroup.external_id}
    if path in columns:
        column = columns[path]
        return column.isnot(None) if node.op == "pr" else match(column, node.op, compared_value(node))
    if path == "id":
        key = None if node.op == "pr" else identifier(compared_value(node))
        return true() if node.op == "pr" else (ScimGroup.id == key if key is not None else false())
    if path in ("members", "members.value") and node.op in ("eq", "pr"):
        inner = select(ScimGroupMember.group_id)
        if node.op == "eq":
            key = identifier(compared_value(node))
            inner = inner.where(ScimGroupMember.user_id == key) if key is not None else None
        return false() if inner is None else ScimGroup.id.in_(inner)
    raise invalid_filter(f"cannot filter groups on '{node.path} {node.op}' (displayName, externalId, id, members)")
