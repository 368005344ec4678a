"""SCIM filters (RFC 7644 section 3.4.2.2), the subset stepgate serves: ``<attribute> eq <value>``.

``userName eq "alice"`` and any mapped attribute (``emails.value eq
"a@example.org"``, ``name.familyName eq "Doe"``) are answered by an index
lookup. ``userName`` compares without regard to case (RFC 7643 section 4.1.1,
``caseExact: false``), and without regard to width or invisible characters,
through the normalised key index (``app.usernames``). Anything else is refused
with ``invalidFilter`` rather than guessed at.
"""

from __future__ import annotations

import json
import re

from app.scim.errors import ScimError

_EQ = re.compile(
    r"""\s*(?P<path>(?:urn:[\w.:-]+:)?[A-Za-z][\w$-]*(?:\.[A-Za-z][\w$-]*)?)\s+eq\s+
        (?P<value>"(?:[^"\\]|\\.)*"|true|false|-?\d+(?:\.\d+)?)\s*""",
    re.IGNORECASE | re.VERBOSE,
)


def parse_filter(text: str, mapping: dict[str, str]) -> tuple[str, str]:
    """``(store attribute, value)`` for a filter; ``uid`` stands for ``userName``."""
    match = _EQ.fullmatch(text)
    if not match:
        raise ScimError(400, f"unsupported filter {text!r}: use '<attribute> eq \"value\"'", "invalidFilter")
    value = json.loads(match.group("value").lower() if match.group("value")[0] != '"' else match.group("value"))
    path = match.group("path").lower()
    if path == "username":
        return "uid", str(value)
    target = next((t for p, t in mapping.items() if p.lower() == path), None)
    if target is None:
        known = ", ".join(["userName", *mapping])
        raise ScimError(400, f"cannot filter on '{match.group('path')}' (filterable: {known})", "invalidFilter")
    return target, str(value).lower() if isinstance(value, bool) else str(value)
