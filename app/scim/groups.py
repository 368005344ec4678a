"""``/Groups`` resources: groups of the identity store's users, kept in ``scim_groups``.

Members are users of the same store, named by id; a member that is not such a
user is refused (``invalidValue``), never stored dangling. ``groups_of``
answers "which provisioned groups is this user in" for the rest of stepgate.
A provisioned group grants no console access by itself: the console reads the
user's ``groups`` attribute (``admin_group``), which SCIM groups never write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select

from app import audit
from app.extensions import db
from app.scim.attributes import GROUP_ATTRIBUTES, GROUP_SCHEMA
from app.scim.errors import ScimError, invalid_value
from app.scim.models import NAME_MAX, ScimGroup, ScimGroupMember
from app.scim.schema import timestamp
from app.scim.validate import check_resource
from app.stores.sql import User
from app.timeutil import utcnow
from app.web.params import identifier

SCHEMAS = {GROUP_SCHEMA: GROUP_ATTRIBUTES}


def groups_of(user_id: int) -> set[str]:
    """The display names of the provisioned groups ``user_id`` is a member of."""
    query = (
        select(ScimGroup.display_name)
        .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
        .where(ScimGroupMember.user_id == user_id)
    )
    return set(db.session.scalars(query))


def memberships(user_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """For each user id, the (id, displayName) of the groups it is in: one query for a page of users."""
    found: dict[int, list[tuple[int, str]]] = {}
    if not user_ids:
        return found
    query = (
        select(ScimGroupMember.user_id, ScimGroup.id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.user_id.in_(user_ids))
        .order_by(ScimGroup.id)
    )
    for user_id, group_id, name in db.session.execute(query):
        found.setdefault(user_id, []).append((group_id, name))
    return found


def parse_group(body: Any) -> tuple[str, str | None, list[int] | None]:
    """(displayName, externalId, member user ids or None when ``members`` is absent)."""
    clean = check_resource(body, GROUP_SCHEMA, SCHEMAS)
    name = clean.get("displayName")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise invalid_value(f"'displayName' is required: a non-empty string of at most {NAME_MAX} characters")
    members = clean.get("members")
    ids = None if members is None else [_member_id(m) for m in members]
    return name.strip(), clean.get("externalId"), ids


def _member_id(member: dict) -> int:
    if str(member.get("type") or "User").lower() != "user":
        raise invalid_value("only users can be members of a group")
    key = identifier(str(member.get("value") or ""))
    if key is None:
        raise invalid_value(f"member {member.get('value')!r} is not a user id")
    return key


def search(store: str, condition: ColumnElement | None, start: int, count: int) -> tuple[int, list[ScimGroup]]:
    query = select(ScimGroup).where(ScimGroup.store == store)
    if condition is not None:
        query = query.where(condition)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    return total, list(db.session.scalars(query.order_by(ScimGroup.id).offset(start - 1).limit(count)))


def get(store: str, group_id: str) -> ScimGroup:
    key = identifier(group_id)
    group = db.session.get(ScimGroup, key) if key is not None else None
    if group is None or group.store != store:
        raise ScimError(404, f"no group with id '{group_id}'")
    return group


def members_of(group: ScimGroup) -> list[int]:
    query = select(ScimGroupMember.user_id).where(ScimGroupMember.group_id == group.id)
    return sorted(db.session.scalars(query))


def render_group(group: ScimGroup, base: str, members: bool = True) -> dict:
    resource: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": str(group.id), "displayName": group.display_name}
    if group.external_id is not None:
        resource["externalId"] = group.external_id
    if members:
        listed = members_of(group)
        if listed:
            resource["members"] = [{"value": str(uid), "$ref": f"{base}/Users/{uid}", "type": "User"} for uid in listed]
    resource["meta"] = {
        "resourceType": "Group",
        "created": timestamp(group.created_at),
        "lastModified": timestamp(group.updated_at),
        "location": f"{base}/Groups/{group.id}",
    }
    return resource


def create(store: str, name: str, external_id: str | None, member_ids: list[int] | None) -> ScimGroup:
    group = ScimGroup(store=store, display_name=name, external_id=external_id)
    db.session.add(group)
    db.session.flush()
    _set_members(group, member_ids or [])
    detail = {"group": name, "store": store, "by": "scim", "members": len(member_ids or [])}
    audit.record("group.created", detail=detail)
    return group


def replace(group: ScimGroup, name: str, external_id: str | None, member_ids: list[int] | None) -> None:
    group.display_name, group.external_id, group.updated_at = name, external_id, utcnow()
    _set_members(group, member_ids or [])
    audit.record("group.updated", detail={"group": name, "store": group.store, "by": "scim"})


def _set_members(group: ScimGroup, member_ids: list[int]) -> None:
    """Make the group's members exactly ``member_ids``, in batches (SQLite binds at most 32766 values)."""
    wanted = set(member_ids)
    found: set[int] = set()
    for batch in _batches(wanted):
        found |= set(db.session.scalars(select(User.id).where(User.id.in_(batch), User.store == group.store)))
    missing = sorted(wanted - found)
    if missing:
        db.session.rollback()
        raise invalid_value(f"no user with id {', '.join(map(str, missing[:5]))} in this store")
    current = set(db.session.scalars(select(ScimGroupMember.user_id).where(ScimGroupMember.group_id == group.id)))
    for batch in _batches(current - wanted):
        db.session.execute(
            delete(ScimGroupMember).where(ScimGroupMember.group_id == group.id, ScimGroupMember.user_id.in_(batch))
        )
    if wanted - current:
        db.session.execute(insert(ScimGroupMember), [{"group_id": group.id, "user_id": u} for u in wanted - current])


def _batches(ids: set[int], size: int = 1000) -> list[list[int]]:
    ordered = sorted(ids)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def remove(group: ScimGroup) -> None:
    db.session.execute(delete(ScimGroupMember).where(ScimGroupMember.group_id == group.id))
    audit.record("group.deleted", detail={"group": group.display_name, "store": group.store, "by": "scim"})
    db.session.delete(group)
