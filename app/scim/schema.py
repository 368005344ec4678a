"""SCIM User resources to and from identity-store users, through the attribute mapping.

A mapping key is a SCIM attribute path: ``displayName``, ``name.givenName``,
``emails.value`` (a multi-valued attribute: its primary value, else its first)
or an extension's ``urn:...:User:department``. Attribute names match without
regard to case, as RFC 7643 section 2.1 asks. A ``userName`` must be one an
account may hold (``app.usernames``: no invisible, control or bidi characters,
no look-alike scripts mixed); otherwise 400 ``invalidValue`` says why.

The resource as the client sent it (checked against the declared schema) is
kept whole in ``scim_users.document``; the mapped values are projected onto
the identity store, which stays their truth: rendering puts the store's value
back at the mapped path (into the primary email, for ``emails.value``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app import usernames
from app.scim.attributes import ENTERPRISE, REGISTRATION_SCHEMA, USER_SCHEMA, Attribute
from app.scim.errors import invalid_value
from app.scim.validate import check_resource

__all__ = ["ENTERPRISE", "REGISTRATION_SCHEMA", "USER_SCHEMA", "UserInput", "parse_user", "render_user"]
SERVER_KEYS = {"userName", "active", "password", "externalId", "schemas", REGISTRATION_SCHEMA}


@dataclass(frozen=True)
class Path:
    urn: str | None
    attr: str
    sub: str | None = None


def split_path(path: str) -> Path:
    """``urn:...:User:department`` / ``name.givenName`` / ``userName`` as a Path."""
    urn = None
    if path.lower().startswith("urn:"):
        urn, _, path = path.rpartition(":")
    attr, _, sub = path.partition(".")
    return Path(urn, attr, sub or None)


def ci_key(mapping: dict, key: str) -> str | None:
    """The key of ``mapping`` equal to ``key`` ignoring case, or None."""
    lowered = key.lower()
    return next((k for k in mapping if isinstance(k, str) and k.lower() == lowered), None)


def ci_get(mapping: dict, key: str) -> Any:
    found = ci_key(mapping, key)
    return None if found is None else mapping[found]


def _container(resource: dict, path: Path, create: bool = False) -> dict | None:
    if path.urn is None:
        return resource
    key = ci_key(resource, path.urn)
    if key is None:
        if not create:
            return None
        resource[path.urn] = {}
        key = path.urn
    return resource[key]


def read(resource: dict, path: Path) -> str | None:
    """The scalar at ``path`` in a checked resource, as a string (None when absent)."""
    container = _container(resource, path)
    value = None if container is None else ci_get(container, path.attr)
    if path.sub is not None and isinstance(value, list):
        value = _primary(value)
    if path.sub is not None and isinstance(value, dict):
        value = ci_get(value, path.sub)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _primary(items: list) -> dict | None:
    dicts = [i for i in items if isinstance(i, dict)]
    return next((i for i in dicts if i.get("primary") is True), dicts[0] if dicts else None)


def write(resource: dict, path: Path, value: str | None) -> None:
    """Put the store's ``value`` (None: it has none) at ``path`` in a resource being rendered."""
    container = _container(resource, path, create=value is not None)
    if container is None:
        return
    key = ci_key(container, path.attr) or path.attr
    if path.sub is None:
        _put(container, key, value)
        return
    current = container.get(key)
    if isinstance(current, list):
        item = _primary(current)
        if item is None and value is not None:
            current.append(item := {"primary": True})
        if item is not None:
            _put(item, ci_key(item, path.sub) or path.sub, value)
            if not item or set(item) <= {"primary", "type", "display"} and value is None:
                current.remove(item)
        if not current:
            container.pop(key)
    elif value is not None and path.attr.lower() in ("emails", "phonenumbers", "ims", "addresses"):
        container[key] = [{path.sub: value, "primary": True}]
    else:
        sub_container = current if isinstance(current, dict) else container.setdefault(key, {})
        _put(sub_container, ci_key(sub_container, path.sub) or path.sub, value)
        if not sub_container:
            container.pop(key, None)
    if path.urn is not None and not container:
        resource.pop(ci_key(resource, path.urn))


def _put(container: dict, key: str, value: str | None) -> None:
    if value is None:
        container.pop(key, None)
    else:
        container[key] = value


@dataclass(frozen=True)
class UserInput:
    """What a create or replace asks for: the mapped store attributes and the document to keep."""

    user_name: str
    attributes: dict[str, str | None]
    active: bool | None
    password: str | None
    registration_id: str | None
    external_id: str | None = None
    document: dict | None = None


def parse_user(body: Any, mapping: dict[str, str], schemas: dict[str, tuple[Attribute, ...]]) -> UserInput:
    clean = check_resource(body, USER_SCHEMA, schemas)
    user_name = clean.get("userName")
    if not isinstance(user_name, str) or not user_name.strip() or len(user_name) > 255:
        raise invalid_value("'userName' is required: a non-empty string of at most 255 characters")
    try:
        usernames.require(user_name.strip())
    except usernames.UserNameRefused as exc:
        raise invalid_value(f"'userName' refused: {exc}") from None
    password = clean.get("password")
    if password is not None and not password:
        raise invalid_value("'password' must be a non-empty string")
    attributes = {target: read(clean, split_path(path)) for path, target in mapping.items()}
    document = {k: v for k, v in clean.items() if k not in SERVER_KEYS}
    return UserInput(
        user_name.strip(),
        attributes,
        clean.get("active"),
        password,
        registration_id_of(clean),
        clean.get("externalId"),
        document,
    )


def registration_id_of(body: dict) -> str | None:
    extension = ci_get(body, REGISTRATION_SCHEMA)
    if extension is None:
        return None
    value = ci_get(extension, "registrationId") if isinstance(extension, dict) else None
    if not isinstance(value, str) or not value:
        raise invalid_value(f"'{REGISTRATION_SCHEMA}:registrationId' must be a non-empty string")
    return value


def render_user(user: Any, mapping: dict[str, str], location: str, state: Any = None) -> dict:
    """The SCIM representation of a store user (never its password)."""
    document = json.loads(state.document) if state is not None and state.document else {}
    resource: dict[str, Any] = {"schemas": [USER_SCHEMA], "id": str(user.id)}
    if state is not None and state.external_id is not None:
        resource["externalId"] = state.external_id
    resource |= {"userName": user.user_name, "active": user.active}
    resource |= document
    attributes = user.attributes
    for path, target in mapping.items():
        write(resource, split_path(path), attributes.get(target))
    resource["schemas"] = [USER_SCHEMA, *(k for k in resource if k.lower().startswith("urn:"))]
    resource["meta"] = {
        "resourceType": "User",
        "created": timestamp(user.created_at),
        "lastModified": timestamp(_last_modified(user)),
        "location": location,
    }
    return resource


def _last_modified(user: Any) -> Any:
    """The user's row or any attribute of theirs, whichever changed last (a console edit counts too)."""
    rows = getattr(user, "attribute_rows", [])
    return max([user.updated_at, *(row.set_at for row in rows if row.set_at is not None)])


def timestamp(value: Any) -> str:
    return value.isoformat(timespec="milliseconds") + "Z"
