"""SCIM PATCH (RFC 7644 section 3.5.2): add, replace and remove applied to a resource document.

The operations are applied to the user's current SCIM representation; the
result is then stored as a replace would store it, so PATCH and PUT share one
validation. Paths: ``attr``, ``attr.sub``, ``urn:...:attr`` and the value
filter ``attr[sub eq "x"]`` (optionally ``.sub``) for multi-valued attributes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.scim.errors import ScimError, invalid_syntax, invalid_value
from app.scim.schema import ci_get, ci_key

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_PATH = re.compile(
    r"""(?P<urn>urn:[\w.:-]+:)?(?P<attr>[A-Za-z][\w$-]*)
        (?:\[\s*(?P<fattr>[A-Za-z][\w$-]*)\s+eq\s+(?P<fval>"(?:[^"\\]|\\.)*")\s*\])?
        (?:\.(?P<sub>[A-Za-z][\w$-]*))?""",
    re.VERBOSE | re.IGNORECASE,
)


def apply_patch(resource: dict, body: Any) -> dict:
    """Apply a PatchOp request to ``resource`` (modified in place and returned)."""
    if not isinstance(body, dict) or PATCH_SCHEMA not in (body.get("schemas") or []):
        raise invalid_syntax(f"a PATCH body must list {PATCH_SCHEMA} in 'schemas'")
    operations = ci_get(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise invalid_syntax("'Operations' must be a non-empty list")
    for operation in operations:
        _apply_one(resource, operation)
    return resource


def _apply_one(resource: dict, operation: Any) -> None:
    if not isinstance(operation, dict):
        raise invalid_syntax("each operation must be an object")
    op = str(ci_get(operation, "op") or "").lower()
    if op not in ("add", "replace", "remove"):
        raise invalid_syntax(f"unknown op {ci_get(operation, 'op')!r} (add, replace, remove)")
    path, value = ci_get(operation, "path"), ci_get(operation, "value")
    if path is None:
        if op == "remove":
            raise ScimError(400, "remove needs a 'path'", "noTarget")
        if not isinstance(value, dict):
            raise invalid_value(f"{op} without a path needs an object 'value'")
        for key, item in value.items():
            if key.lower().startswith("urn:") and isinstance(item, dict):
                container = _child(resource, key, dict)
                for sub_key, sub_value in item.items():
                    _set(container, sub_key, sub_value, op)
            else:
                _apply_one(resource, {"op": op, "path": key, "value": item})
        return
    match = _PATH.fullmatch(path) if isinstance(path, str) else None
    if match is None:
        raise ScimError(400, f"unsupported path {path!r}", "invalidPath")
    if op != "remove" and value is None:
        raise invalid_value(f"{op} of '{path}' needs a 'value'")
    container = _child(resource, match["urn"][:-1], dict) if match["urn"] else resource
    if match["fattr"]:
        _filtered(container, match, value, op)
    elif match["sub"]:
        _set(_child(container, match["attr"], dict), match["sub"], value, op)
    else:
        _set(container, match["attr"], value, op)


def _child(container: dict, key: str, kind: type) -> Any:
    found = ci_key(container, key)
    if found is None:
        container[key] = kind()
        return container[key]
    if not isinstance(container[found], kind):
        if kind is dict and isinstance(container[found], list) and container[found]:
            primary = next((i for i in container[found] if isinstance(i, dict) and i.get("primary")), None)
            return primary or container[found][0]
        raise invalid_value(f"'{key}' is not a {'list' if kind is list else 'complex attribute'}")
    return container[found]


def _set(container: dict, key: str, value: Any, op: str) -> None:
    found = ci_key(container, key) or key
    if op == "remove":
        container.pop(found, None)
    elif op == "add" and isinstance(container.get(found), list) and isinstance(value, list):
        container[found].extend(value)
    elif op == "add" and isinstance(container.get(found), dict) and isinstance(value, dict):
        container[found].update(value)
    else:
        container[found] = value


def _filtered(container: dict, match: re.Match, value: Any, op: str) -> None:
    items = _child(container, match["attr"], list)
    wanted = json.loads(match["fval"])
    chosen = [i for i in items if isinstance(i, dict) and ci_get(i, match["fattr"]) == wanted]
    if op == "remove":
        for item in chosen:
            if match["sub"]:
                item.pop(ci_key(item, match["sub"]) or match["sub"], None)
            else:
                items.remove(item)
        return
    if not chosen:
        chosen = [{match["fattr"]: wanted}]
        items.append(chosen[0])
    for item in chosen:
        if match["sub"]:
            item[ci_key(item, match["sub"]) or match["sub"]] = value
        elif isinstance(value, dict):
            item.update(value)
        else:
            raise invalid_value(f"'{match.group(0)}' needs an object value")
