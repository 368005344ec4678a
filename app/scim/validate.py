"""A resource sent by a client, checked against the declared schema (``app.scim.attributes``).

The result is the resource with every attribute under its declared name
(clients may use any case, RFC 7643 section 2.1), values of the declared type,
read-only attributes dropped (RFC 7644 section 3.3 says they are ignored) and
nothing undeclared: an unknown attribute is a 400 ``invalidValue`` naming it,
never a silent drop. Boolean strings ``"True"``/``"False"`` are accepted, as
older Microsoft Entra provisioning sends them.
"""

from __future__ import annotations

from typing import Any

from app.scim.attributes import Attribute, find
from app.scim.errors import invalid_syntax, invalid_value


def check_resource(body: Any, core: str, schemas: dict[str, tuple[Attribute, ...]]) -> dict:
    """The cleaned resource; ``core`` is the resource's base schema URN, the other keys its extensions."""
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    listed = body.get("schemas")
    if not isinstance(listed, list) or core not in listed:
        raise invalid_syntax(f"'schemas' must list {core}")
    clean: dict[str, Any] = {"schemas": [core]}
    for key, value in body.items():
        if key in ("schemas", "id", "meta"):
            continue  # id and meta are the server's (readOnly)
        urn = next((u for u in schemas if u != core and u.lower() == key.lower()), None)
        if urn is not None:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise invalid_value(f"'{urn}' must be an object")
            clean[urn] = _complex(value, schemas[urn], urn)
            if clean[urn]:
                clean["schemas"].append(urn)
            else:
                del clean[urn]
            continue
        attribute = find(schemas[core], key)
        if attribute is None:
            raise invalid_value(f"unknown attribute '{key}' (see /Schemas for the declared ones)")
        checked = check_value(attribute, value, key)
        if checked is not None and attribute.mutability != "readOnly":
            clean[attribute.name] = checked
    return clean


def check_value(attribute: Attribute, value: Any, where: str) -> Any:
    """``value`` checked (and converted) as ``attribute`` declares it; None stays None (unassigned)."""
    if value is None:
        return None
    if attribute.multi_valued:
        if isinstance(value, dict):
            value = [value]  # a lone value where a list is declared: the client's meaning is plain
        if not isinstance(value, list) or len(value) > attribute.max_values:
            raise invalid_value(f"'{where}' must be a list of at most {attribute.max_values} values")
        items = [_single(attribute, item, where) for item in value if item is not None]
        if sum(1 for i in items if isinstance(i, dict) and i.get("primary") is True) > 1:
            raise invalid_value(f"'{where}' has more than one primary value")
        return items or None
    return _single(attribute, value, where)


def _single(attribute: Attribute, value: Any, where: str) -> Any:
    kind = attribute.type
    if kind == "complex":
        if isinstance(value, list) and len(value) == 1 and not attribute.multi_valued:
            value = value[0]  # Entra sends ``manager`` as a one-item list
        if isinstance(value, str) and attribute.child("value") is not None:
            value = {"value": value}  # ... or as the bare id
        if not isinstance(value, dict):
            raise invalid_value(f"'{where}' must be an object")
        return _complex(value, attribute.sub, where) or None
    if kind == "boolean":
        return boolean(value, where)
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "decimal" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if kind in ("string", "reference", "dateTime", "binary") and isinstance(value, str):
        if len(value) > attribute.max_length:
            raise invalid_value(f"'{where}' is longer than {attribute.max_length} characters")
        return value
    raise invalid_value(f"'{where}' must be of type {kind}")


def _complex(value: dict, sub: tuple[Attribute, ...], where: str) -> dict:
    clean = {}
    for key, item in value.items():
        attribute = find(sub, key)
        if attribute is None:
            raise invalid_value(f"unknown attribute '{where}.{key}' (see /Schemas for the declared ones)")
        checked = check_value(attribute, item, f"{where}.{attribute.name}")
        if checked is not None and attribute.mutability != "readOnly":
            clean[attribute.name] = checked
    return clean


def boolean(value: Any, where: str) -> bool:
    """A JSON boolean, or the strings ``"true"``/``"false"`` in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid_value(f"'{where}' must be true or false")
