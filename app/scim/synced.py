"""SCIM's side of WSO2's enhanced JIT (app/synced_attributes.py): refuse, and say so in /Schemas.

A PUT or PATCH that changes an attribute the user's provider forces is
``400`` with ``scimType: mutability`` (RFC 7644 section 3.12: "the attempted
modification is not compatible with the target attribute's mutability").
/Schemas marks such attributes ``mutability: readOnly`` with a description
naming the providers: they are read-only for those providers' users (SCIM
itself may still create other users with them).
"""

from __future__ import annotations

import copy

from app import synced_attributes
from app.runtime import current
from app.scim.errors import ScimError


def refuse_read_only(user, new_attributes: dict) -> None:
    runtime = current()
    try:
        synced_attributes.refuse_changes(
            user, new_attributes, runtime.settings.identity_providers or {}, runtime.schemes.values()
        )
    except synced_attributes.ReadOnlyAttribute as exc:
        raise ScimError(400, str(exc), "mutability") from None


def annotate(document: dict, mapping: dict[str, str], store: str) -> dict:
    """``document`` (one schema) with the attributes read-only for synced users marked so; a copy when changed."""
    runtime = current()
    providers = runtime.settings.identity_providers or {}
    read_only = synced_attributes.schema_read_only(store, providers, runtime.schemes.values())
    paths = [path for path, attribute in mapping.items() if attribute in read_only]
    if not paths:
        return document
    locking = ", ".join(sorted(n for n, p in providers.items() if getattr(p, "lock_synced_attributes", False)))
    document = copy.deepcopy(document)
    for path in paths:
        urn, _, rest = path.rpartition(":")
        if urn and urn != document["id"]:
            continue
        names = rest.split(".")
        found = _find(document["attributes"], names[0])
        if found is None:
            continue
        found["mutability"] = "readOnly"
        found["description"] = (
            f"readOnly for users provisioned from identity provider(s) {locking}: synced at every sign-in (force)"
        )
    return document


def _find(attributes: list[dict], name: str) -> dict | None:
    return next((a for a in attributes if a["name"].lower() == name.lower()), None)
