"""Consent purposes as a scheme declares them, in OAM's ``{KEY=value}`` item syntax.

``PURPOSE_1: "{NAME=account},{VERSION=1},{REQUIRED=true},{ATTRIBUTES=mail display-name},{DESCRIPTION=...}"``

A required purpose must be accepted or no account is created; an optional
one may be declined, and the attributes only it names are then not stored.
The version is part of what was agreed: a receipt for another version of a
purpose does not cover it, so a changed purpose is asked again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ITEM = re.compile(r"\{\s*([A-Z_]+)\s*=\s*([^{}]*?)\s*\}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ATTRIBUTE = re.compile(r"[A-Za-z][\w-]{0,63}")
KNOWN = ("NAME", "DESCRIPTION", "VERSION", "REQUIRED", "ATTRIBUTES")


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    version: str
    required: bool
    attributes: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "required": self.required,
            "attributes": list(self.attributes),
        }


def parse_purpose(text: str) -> Purpose:
    """One ``PURPOSE_n`` value; ValueError with a readable message."""
    items, pos = {}, 0
    for match in _ITEM.finditer(text):
        if text[pos : match.start()].strip() not in ("", ","):
            raise ValueError(f"unexpected text {text[pos : match.start()].strip()!r}; write {{KEY=value}} items")
        items[match.group(1)] = match.group(2)
        pos = match.end()
    if text[pos:].strip() not in ("", ","):
        raise ValueError(f"unexpected text {text[pos:].strip()!r}; write {{KEY=value}} items")
    if unknown := set(items) - set(KNOWN):
        raise ValueError(f"unknown item(s) {', '.join(sorted(unknown))} (known: {', '.join(KNOWN)})")
    name = items.get("NAME", "")
    if not _NAME.fullmatch(name):
        raise ValueError("needs {NAME=name}: lower-case letters, digits or _, a letter first")
    required = items.get("REQUIRED", "false").lower()
    if required not in ("true", "false"):
        raise ValueError("REQUIRED must be true or false")
    attributes = tuple(a for a in re.split(r"[\s,]+", items.get("ATTRIBUTES", "")) if a)
    if not attributes:
        raise ValueError("needs {ATTRIBUTES=...}: the attributes this purpose stores")
    if bad := [a for a in attributes if not _ATTRIBUTE.fullmatch(a)]:
        raise ValueError(f"attribute name {bad[0]!r} is not valid")
    version = items.get("VERSION", "1")
    if not version or len(version) > 32:
        raise ValueError("VERSION must be 1 to 32 characters")
    return Purpose(name, items.get("DESCRIPTION", ""), version, required == "true", attributes)


def withheld(purposes: list[Purpose], accepted: set[str]) -> list[str]:
    """Attributes only declined purposes name: an attribute an accepted purpose also names is stored."""
    kept = {a for p in purposes if p.name in accepted for a in p.attributes}
    return sorted({a for p in purposes if p.name not in accepted for a in p.attributes} - kept)
