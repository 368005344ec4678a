"""SCIM PATCH (RFC 7644 section 3.5.2): add, replace and remove applied to a resource document.

The operations are applied to the resource's current representation; the
result is then stored as a replace would store it, so PATCH and PUT share one
validation. Paths: ``attr``, ``attr.sub``, ``urn:...:attr``, a whole extension
``urn:...:User`` and the value filter ``attr[sub eq "x"]`` (optionally
``.sub``) for multi-valued attributes. A path naming an attribute the schema
does not declare is ``invalidPath``; removing a required one (``userName``,
``active``) is refused with ``mutability``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.scim.attributes import Attribute, find
from app.scim.errors import ScimError, invalid_syntax, invalid_value
from app.scim.schema import ci_get, ci_key

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 100
_PATH = re.compile(
    r"""(?P<urn>urn:[\w.:-]+:)?(?P<attr>[A-Za-z$][\w$-]*)
        (?:\[\s*(?P<fattr>[A-Za-z$][\w$-]*)\s+eq\s+(?P<fval>"(?:[^"\\]|\\.)*"|true|false)\s*\])?
        (?:\.(?P<sub>[A-Za-z$][\w$-]*))?""",
    re.VERBOSE | re.IGNORECASE,
)


def invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidPath")


class Patcher:
    """Applies operations to a resource of ``schemas`` (its core schema's URN first)."""

    def __init__(self, schemas: dict[str, tuple[Attribute, ...]]):
        self.schemas = schemas
        self.core = next(iter(schemas))

    def apply(self, resource: dict, body: Any) -> dict:
        """Apply a PatchOp request to ``resource`` (modified in place and returned)."""
        if not isinstance(body, dict) or PATCH_SCHEMA not in (body.get("schemas") or []):
            raise invalid_syntax(f"a PATCH body must list {PATCH_SCHEMA} in 'schemas'")
        operations = ci_get(body, "Operations")
        if not isinstance(operations, list) or not operations or len(operations) > MAX_OPERATIONS:
            raise invalid_syntax(f"'Operations' must be a list of 1 to {MAX_OPERATIONS} operations")
        for operation in operations:
            self._one(resource, operation)
        return resource

    def _extension(self, name: str) -> str | None:
        return next((u for u in self.schemas if u != self.core and u.lower() == name.lower()), None)

    def _one(self, resource: dict, operation: Any) -> None:
        if not isinstance(operation, dict):
            raise invalid_syntax("each operation must be an object")
        op = str(ci_get(operation, "op") or "").lower()
        if op not in ("add", "replace", "remove"):
            raise invalid_syntax(f"unknown op {ci_get(operation, 'op')!r} (add, replace, remove)")
        path, value = ci_get(operation, "path"), ci_get(operation, "value")
        if path is None or path == "":
            self._without_path(resource, op, value)
            return
        if not isinstance(path, str):
            raise invalid_path(f"unsupported path {path!r}")
        if op != "remove" and value is None:
            raise invalid_value(f"{op} of '{path}' needs a 'value'")
        urn = self._extension(path)
        if urn is not None:  # the whole extension: its sub-attributes are merged (RFC 7644 3.5.2.3)
            self._whole_extension(resource, urn, op, value)
            return
        match = _PATH.fullmatch(path)
        if match is None:
            raise invalid_path(f"unsupported path {path!r}")
        attribute, container = self._target(resource, match, create=op != "remove")
        if attribute.mutability == "readOnly":
            raise ScimError(400, f"'{attribute.name}' is read-only", "mutability")
        if container is None:
            return  # removing from an extension the resource does not have: nothing to do
        if op == "remove" and attribute.required and not match["fattr"] and not match["sub"]:
            raise ScimError(400, f"'{attribute.name}' is required and cannot be removed", "mutability")
        if op == "remove" and attribute.multi_valued and isinstance(value, list) and not match["sub"]:
            _remove_values(container, attribute.name, value)  # Entra: remove these members, not all
        elif match["fattr"]:
            _filtered(container, attribute.name, match, value, op)
        elif match["sub"]:
            sub = attribute.child(match["sub"])
            _set(_child(container, attribute.name, dict, op), sub.name, value, op)
        else:
            _set(container, attribute.name, value, op)

    def _target(self, resource: dict, match: re.Match, create: bool) -> tuple[Attribute, dict | None]:
        urn = self.core
        if match["urn"]:
            named = match["urn"][:-1]
            urn = self._extension(named) or (self.core if named.lower() == self.core.lower() else None)
            if urn is None:
                raise invalid_path(f"unknown schema '{match['urn'][:-1]}'")
        attribute = find(self.schemas[urn], match["attr"])
        if attribute is None:
            raise invalid_path(f"unknown attribute '{match['attr']}' (see /Schemas)")
        for name in (match["fattr"], match["sub"]):
            if name and attribute.child(name) is None:
                raise invalid_path(f"unknown attribute '{attribute.name}.{name}' (see /Schemas)")
        if match["fattr"] and not attribute.multi_valued:
            raise invalid_path(f"'{attribute.name}' is not multi-valued: it takes no filter")
        if urn == self.core:
            return attribute, resource
        key = ci_key(resource, urn)
        if key is None:
            if not create:
                return attribute, None
            resource[urn] = {}
            key = urn
        return attribute, resource[key]

    def _without_path(self, resource: dict, op: str, value: Any) -> None:
        if op == "remove":
            raise ScimError(400, "remove needs a 'path'", "noTarget")
        if not isinstance(value, dict):
            raise invalid_value(f"{op} without a path needs an object 'value'")
        for key, item in value.items():
            if key.lower() in ("id", "meta", "schemas"):
                continue  # the server's; Okta's group rename repeats the id
            if self._extension(key) is not None and isinstance(item, dict):
                self._whole_extension(resource, self._extension(key), op, item)
            else:
                self._one(resource, {"op": op, "path": key, "value": item})

    def _whole_extension(self, resource: dict, urn: str, op: str, value: Any) -> None:
        key = ci_key(resource, urn)
        if op == "remove":
            if key is not None:
                del resource[key]
            return
        if not isinstance(value, dict):
            raise invalid_value(f"'{urn}' needs an object value")
        for sub_key, sub_value in value.items():
            if sub_key.lower() != "schemas":
                self._one(resource, {"op": op, "path": f"{urn}:{sub_key}", "value": sub_value})


def _child(container: dict, key: str, kind: type, op: str) -> Any:
    found = ci_key(container, key)
    if found is None or container[found] is None:
        container[key] = kind()
        return container[key]
    if not isinstance(container[found], kind):
        if kind is dict and isinstance(container[found], list) and container[found]:
            primary = next((i for i in container[found] if isinstance(i, dict) and i.get("primary") is True), None)
            return primary or container[found][0]
        raise invalid_value(f"'{key}' is not a {'list' if kind is list else 'complex attribute'}")
    return container[found]


def _set(container: dict, key: str, value: Any, op: str) -> None:
    found = ci_key(container, key) or key
    if found != key:
        container[key] = container.pop(found)
    if op == "remove":
        container.pop(key, None)
    elif op == "add" and isinstance(container.get(key), list):
        container[key].extend(value if isinstance(value, list) else [value])
        if isinstance(value, list) and any(isinstance(v, dict) and v.get("primary") is True for v in value):
            _one_primary(container[key], value)
    elif op in ("add", "replace") and isinstance(container.get(key), dict) and isinstance(value, dict):
        container[key].update(value)
    else:
        container[key] = value


def _remove_values(container: dict, attr: str, value: list) -> None:
    key = ci_key(container, attr)
    if key is None or not isinstance(container[key], list):
        return
    gone = {str(ci_get(v, "value")) for v in value if isinstance(v, dict) and ci_get(v, "value") is not None}
    if not gone:
        raise invalid_value(f"remove of '{attr}' with a 'value' needs each item's 'value'")
    kept = [i for i in container[key] if not (isinstance(i, dict) and str(ci_get(i, "value")) in gone)]
    if kept:
        container[key] = kept
    else:
        del container[key]


def _one_primary(items: list, added: list) -> None:
    """A value added as primary takes the flag from the others (RFC 7643 2.4: at most one primary)."""
    for item in items:
        if isinstance(item, dict) and item.get("primary") is True and not any(item is a for a in added):
            item["primary"] = False


def _filtered(container: dict, attr: str, match: re.Match, value: Any, op: str) -> None:
    items = _child(container, attr, list, op)
    wanted = json.loads(match["fval"].lower() if match["fval"][0] != '"' else match["fval"])
    chosen = [i for i in items if isinstance(i, dict) and _equal(ci_get(i, match["fattr"]), wanted)]
    if op == "remove":
        for item in chosen:
            if match["sub"]:
                item.pop(ci_key(item, match["sub"]) or match["sub"], None)
            else:
                items.remove(item)
        if not items:
            container.pop(ci_key(container, attr) or attr, None)
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


def _equal(have: Any, wanted: Any) -> bool:
    if isinstance(have, str) and isinstance(wanted, str):
        return have.lower() == wanted.lower()  # type values are not case-exact (RFC 7643 2.4)
    return have == wanted
