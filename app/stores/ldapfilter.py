"""LDAP search filters (RFC 4515): templates with ``{USERNAME}``-style placeholders, escaping, and a parser.

``KEY_LDAP_FILTER`` is a real LDAP filter written by an administrator, such as
``(&(objectClass=inetOrgPerson)(|(uid={USERNAME})(mail={USERNAME})))``. Each
``{NAME}`` is replaced by a value from the flow, and every value is escaped
first (``*``, ``(``, ``)``, ``\\`` and NUL become ``\\2a``, ``\\28``, ``\\29``,
``\\5c``, ``\\00``), so whatever a person types stays one assertion value:
``*)(uid=*`` searches for that odd name, never for everyone.

The parser reads a filled filter back into a tree, for stores that evaluate it
themselves (the SQL store) and for load-time checks of a template.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")
_SPECIAL = {"\\": r"\5c", "*": r"\2a", "(": r"\28", ")": r"\29", "\x00": r"\00"}
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*|[0-9]+(\.[0-9]+)+")


def escape(value: str) -> str:
    """``value`` as an RFC 4515 assertion value: the five special characters hex-escaped, the rest as is (UTF-8)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in value)


def placeholders(template: str) -> list[str]:
    """The names of the template's placeholders, in order (``USERNAME`` for ``{USERNAME}``)."""
    return PLACEHOLDER.findall(template)


def fill(template: str, lookup: Callable[[str], object]) -> str | None:
    """The template with each placeholder replaced by its escaped value; None when a value is missing or empty."""
    missing = False

    def value(match: re.Match) -> str:
        nonlocal missing
        found = lookup(match.group(1))
        if found is None or found == "":
            missing = True
            return ""
        return escape(str(found))

    filled = PLACEHOLDER.sub(value, template)
    return None if missing else filled


# -- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Equal:
    attribute: str
    value: str


@dataclass(frozen=True)
class Present:
    attribute: str


@dataclass(frozen=True)
class Other:
    """An assertion the SQL store does not evaluate (substring, ``>=``, ``<=``, ``~=``)."""

    attribute: str
    operator: str
    value: str


@dataclass(frozen=True)
class And:
    parts: tuple


@dataclass(frozen=True)
class Or:
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


class FilterError(ValueError):
    """Not an RFC 4515 filter; the message says where."""


def parse(text: str):
    """The tree of a filled filter; FilterError when it is not one filter."""
    node, end = _filter(text.strip(), 0)
    if end != len(text.strip()):
        raise FilterError(f"unexpected text after the filter at character {end + 1}")
    return node


def check_template(template: str) -> str | None:
    """Why ``template`` is not a filter with placeholders, or None (checked with a harmless value filled in)."""
    if not placeholders(template):
        return "it holds no placeholder such as {USERNAME}: every sign-in would find the same users"
    try:
        parse(fill(template, lambda _: "x") or "")
    except FilterError as exc:
        return f"not an LDAP filter (RFC 4515): {exc}"
    return None


def _filter(text: str, at: int):
    if at >= len(text) or text[at] != "(":
        raise FilterError(f"expected '(' at character {at + 1}")
    at += 1
    if at < len(text) and text[at] in "&|":
        kind, parts, at = text[at], [], at + 1
        while at < len(text) and text[at] == "(":
            part, at = _filter(text, at)
            parts.append(part)
        if not parts:
            raise FilterError(f"'{kind}' needs at least one filter, at character {at + 1}")
        node = And(tuple(parts)) if kind == "&" else Or(tuple(parts))
    elif at < len(text) and text[at] == "!":
        part, at = _filter(text, at + 1)
        node = Not(part)
    else:
        node, at = _item(text, at)
    if at >= len(text) or text[at] != ")":
        raise FilterError(f"expected ')' at character {at + 1}")
    return node, at + 1


def _item(text: str, at: int):
    close = text.find(")", at)
    if close < 0:
        raise FilterError(f"unclosed '(' before character {at + 1}")
    body = text[at:close]
    if "(" in body:
        raise FilterError(f"unescaped '(' in a value at character {at + body.index('(') + 1}")
    match = re.match(r"([^=~<>]+)(=|~=|>=|<=)(.*)", body, re.S)
    if not match or not _ATTRIBUTE.fullmatch(match.group(1)):
        raise FilterError(f"expected attribute=value at character {at + 1}")
    attribute, operator, raw = match.groups()
    if operator == "=" and raw == "*":
        return Present(attribute), close
    if operator == "=" and "*" not in raw:
        return Equal(attribute, unescape(raw)), close
    return Other(attribute, operator, raw), close


def unescape(raw: str) -> str:
    """An assertion value's text: ``\\XX`` pairs decoded as UTF-8 bytes."""
    out, at = bytearray(), 0
    while at < len(raw):
        if raw[at] == "\\":
            pair = raw[at + 1 : at + 3]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                raise FilterError(f"bad escape '\\{pair}' in a value")
            out.append(int(pair, 16))
            at += 3
        else:
            out += raw[at].encode("utf-8")
            at += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise FilterError("a value is not UTF-8 once unescaped") from None
