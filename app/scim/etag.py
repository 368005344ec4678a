"""Resource versions (RFC 7644 section 3.14): ``meta.version`` and ``ETag`` from the representation itself.

The version is a digest of the resource as rendered (without ``meta``), so it
changes with every change, whoever made it (SCIM, the console, a sign-in that
updates a mapped attribute), with no counter to keep in step. ``If-Match`` on
PUT, PATCH and DELETE must name the current version (or ``*``), else 412.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from app.scim.errors import ScimError


def version_of(resource: dict) -> str:
    body = {k: v for k, v in resource.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def stamp(resource: dict) -> dict:
    """``resource`` with ``meta.version`` set."""
    resource["meta"]["version"] = version_of(resource)
    return resource


def require_match(if_match: str | None, resource: dict) -> None:
    """Refuse (412) when ``If-Match`` is given and names neither ``*`` nor the current version."""
    if if_match is None:
        return
    current = version_of(resource)
    given = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if "*" in given:
        return
    # weak comparison (RFC 9110 8.8.3.2): W/"x" and "x" name the same version
    bare = current.removeprefix("W/")
    if not any(hmac.compare_digest(tag.removeprefix("W/").encode(), bare.encode()) for tag in given):
        raise ScimError(412, f"the resource changed: its version is {current}, not {if_match}")
