"""The ``scim`` settings: bearer tokens, the identity store it serves and the attribute mapping.

```yaml
scim:
  tokens: [${SCIM_TOKEN}]          # bearer tokens accepted (at least 16 characters each)
  identity_store: default
  registration_extension: true     # accept and publish the self-registration extension (default true)
  attribute_mapping:               # SCIM attribute path -> identity-store attribute name
    name.givenName: first-name
    emails.value: mail             # a multi-valued attribute's primary (or first) value
    urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department: department
```

Without ``attribute_mapping`` the ``DEFAULT_MAPPING`` below applies; a given
mapping replaces it entirely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.yamlsource import Checker, Located, LocatedList

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

DEFAULT_MAPPING = {
    "name.givenName": "first-name",
    "name.familyName": "last-name",
    "displayName": "display-name",
    "emails.value": "mail",
    "phoneNumbers.value": "telephone-number",
    "title": "title",
    f"{ENTERPRISE}:department": "department",
}
RESERVED = {"id", "username", "active", "password", "meta", "schemas", "externalid"}
PATH = re.compile(r"(?:urn:[\w.:-]+:)?[A-Za-z][\w$-]*(?:\.[A-Za-z][\w$-]*)?")
STORE_NAME = re.compile(r"[A-Za-z][\w.-]*")
MIN_TOKEN = 16


@dataclass(frozen=True)
class ScimSettings:
    tokens: tuple[str, ...] = ()
    identity_store: str = "default"
    attribute_mapping: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MAPPING))
    registration_extension: bool = True


def parse_scim(raw: Any, doc: Located, check: Checker, stores: dict) -> ScimSettings | None:
    """Build ScimSettings from the ``scim`` key (None when absent); problems go to ``check``."""
    if raw is None:
        return None
    raw = check.require_mapping(raw, doc, "scim", "scim")
    if raw is None:
        return None
    check.unknown_keys(raw, {"tokens", "identity_store", "attribute_mapping", "registration_extension"}, "scim")
    store = raw.get("identity_store", "default")
    if not isinstance(store, str) or store not in stores:
        check.add(
            raw.problem("identity_store", f"scim identity_store '{store}' is not defined (stores: {', '.join(stores)})")
        )
    registration = raw.get("registration_extension", True)
    if not isinstance(registration, bool):
        check.add(raw.problem("registration_extension", "scim registration_extension must be true or false"))
        registration = True
    return ScimSettings(_tokens(raw, check), str(store), _mapping(raw, check), registration)


def _tokens(raw: Located, check: Checker) -> tuple[str, ...]:
    tokens = raw.get("tokens")
    if not isinstance(tokens, LocatedList) or not tokens:
        check.add(raw.problem("tokens" if "tokens" in raw else None, "scim needs 'tokens': a list of bearer tokens"))
        return ()
    good = []
    for i, token in enumerate(tokens):
        if not isinstance(token, str) or len(token) < MIN_TOKEN:
            check.add(tokens.problem(i, f"each scim token must be a string of at least {MIN_TOKEN} characters"))
        else:
            good.append(token)
    return tuple(good)


def _mapping(raw: Located, check: Checker) -> dict[str, str]:
    mapping = raw.get("attribute_mapping")
    if mapping is None:
        return dict(DEFAULT_MAPPING)
    mapping = check.require_mapping(mapping, raw, "attribute_mapping", "scim.attribute_mapping")
    if mapping is None:
        return dict(DEFAULT_MAPPING)
    result: dict[str, str] = {}
    for path, target in mapping.items():
        if not PATH.fullmatch(path) or path.lower() in RESERVED:
            check.add(mapping.problem(path, f"'{path}' is not a SCIM attribute path that can be mapped"))
        elif not isinstance(target, str) or not STORE_NAME.fullmatch(target) or target == "uid":
            check.add(mapping.problem(path, f"'{path}' must map to an identity-store attribute name, not {target!r}"))
        elif target in result.values():
            check.add(mapping.problem(path, f"attribute '{target}' is mapped twice"))
        else:
            result[path] = target
    return result
