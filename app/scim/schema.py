"""SCIM User resources to and from identity-store users, through the attribute mapping.

A mapping key is a SCIM attribute path: ``displayName``, ``name.givenName``,
``emails.value`` (a multi-valued attribute: its primary value, else its first)
or an extension's ``urn:...:User:department``. Attribute names match without
regard to case, as RFC 7643 section 2.1 asks. A ``userName`` must be one an
account may hold (``app.usernames``: no invisible, control or bidi characters,
no look-alike scripts mixed); otherwise 400 ``invalidValue`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import usernames
from app.scim.errors import invalid_syntax, invalid_value

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
REGISTRATION_SCHEMA = "urn:stepgate:params:scim:schemas:extension:registration:2.0:User"
MULTI_VALUED = {"emails", "phonenumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509certificates"}


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


def read(resource: dict, path: Path) -> str | None:
    """The scalar at ``path`` in a resource, as a string (None when absent)."""
    container = resource if path.urn is None else ci_get(resource, path.urn)
    if container is None:
        return None
    if not isinstance(container, dict):
        raise invalid_value(f"'{path.urn}' must be an object")
    value = ci_get(container, path.attr)
    if path.sub is not None and isinstance(value, list):
        value = _primary(value, path.attr)
    if path.sub is not None and value is not None:
        if not isinstance(value, dict):
            raise invalid_value(f"'{path.attr}' must be an object")
        value = ci_get(value, path.sub)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise invalid_value(f"'{path.attr}' must be a single value")
    return str(value).lower() if isinstance(value, bool) else str(value)


def _primary(items: list, attr: str) -> Any:
    if not all(isinstance(item, dict) for item in items):
        raise invalid_value(f"'{attr}' must be a list of objects")
    return next((item for item in items if item.get("primary") is True), items[0] if items else None)


def write(resource: dict, path: Path, value: str) -> None:
    """Put ``value`` at ``path`` in a resource being rendered."""
    container = resource if path.urn is None else resource.setdefault(path.urn, {})
    if path.sub is None:
        container[path.attr] = value
    elif path.attr.lower() in MULTI_VALUED:
        container[path.attr] = [{path.sub: value, "type": "work", "primary": True}]
    else:
        container.setdefault(path.attr, {})[path.sub] = value


@dataclass(frozen=True)
class UserInput:
    """What a create or replace asks for, already mapped to the identity store."""

    user_name: str
    attributes: dict[str, str | None]
    active: bool | None
    password: str | None
    registration_id: str | None


def parse_user(body: Any, mapping: dict[str, str]) -> UserInput:
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or USER_SCHEMA not in schemas:
        raise invalid_syntax(f"'schemas' must list {USER_SCHEMA}")
    user_name = ci_get(body, "userName")
    if not isinstance(user_name, str) or not user_name.strip() or len(user_name) > 255:
        raise invalid_value("'userName' is required: a non-empty string of at most 255 characters")
    try:
        usernames.require(user_name.strip())
    except usernames.UserNameRefused as exc:
        raise invalid_value(f"'userName' refused: {exc}") from None
    active = ci_get(body, "active")
    if active is not None and not isinstance(active, bool):
        raise invalid_value("'active' must be true or false")
    password = ci_get(body, "password")
    if password is not None and (not isinstance(password, str) or not password):
        raise invalid_value("'password' must be a non-empty string")
    attributes = {target: read(body, split_path(path)) for path, target in mapping.items()}
    return UserInput(user_name.strip(), attributes, active, password, registration_id_of(body))


def registration_id_of(body: dict) -> str | None:
    extension = ci_get(body, REGISTRATION_SCHEMA)
    if extension is None:
        return None
    value = ci_get(extension, "registrationId") if isinstance(extension, dict) else None
    if not isinstance(value, str) or not value:
        raise invalid_value(f"'{REGISTRATION_SCHEMA}:registrationId' must be a non-empty string")
    return value


def render_user(user: Any, mapping: dict[str, str], location: str) -> dict:
    """The SCIM representation of a store user (never its password)."""
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": str(user.id),
        "userName": user.user_name,
        "active": user.active,
    }
    attributes = user.attributes
    for path, target in mapping.items():
        if target in attributes:
            parsed = split_path(path)
            write(resource, parsed, attributes[target])
            if parsed.urn and parsed.urn not in resource["schemas"]:
                resource["schemas"].append(parsed.urn)
    resource["meta"] = {
        "resourceType": "User",
        "created": _timestamp(user.created_at),
        "lastModified": _timestamp(user.updated_at),
        "location": location,
    }
    return resource


def _timestamp(value: Any) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"
