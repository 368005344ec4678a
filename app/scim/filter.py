"""SCIM filters (RFC 7644 section 3.4.2.2) parsed into a small tree, framework-free.

Grammar served: ``and``, ``or``, ``not (...)``, parentheses, and comparisons
``eq``, ``ne``, ``sw``, ``ew``, ``co`` and ``pr`` on an attribute path
(``userName``, ``name.familyName``, ``urn:...:User:department``), plus the
value path ``members[value eq "..."]``. ``gt``/``ge``/``lt``/``le`` and other
value paths are refused with ``invalidFilter`` rather than guessed at.
Which attributes can be filtered, and how the tree becomes an indexed query,
is ``app.scim.query``'s.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Union

from app.scim.errors import ScimError

OPERATORS = {"eq", "ne", "sw", "ew", "co", "pr"}
MAX_DEPTH = 16
MAX_LENGTH = 4096
_TOKEN = re.compile(r'\s*(\(|\)|\[|\]|"(?:[^"\\]|\\.)*"|[^\s()\[\]"]+)')
_PATH = re.compile(r"(?:urn:[\w.:-]+:)?[A-Za-z$][\w$-]*(?:\.[A-Za-z$][\w$-]*)?", re.IGNORECASE)


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: Any = None
    within: str | None = None  # "members" for members[value eq "..."]


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


Node = Union[Compare, Logical, Not]


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def parse(text: str) -> Node:
    if len(text) > MAX_LENGTH:
        raise invalid_filter(f"the filter is longer than {MAX_LENGTH} characters")
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise invalid_filter(f"cannot read the filter at {text[pos:]!r}")
            break
        tokens.append(match.group(1))
        pos = match.end()
    parser = _Parser(tokens, text)
    node = parser.or_expr(0)
    if parser.i != len(tokens):
        raise invalid_filter(f"unexpected {tokens[parser.i]!r} in filter {text!r}")
    return node


class _Parser:
    def __init__(self, tokens: list[str], text: str):
        self.tokens, self.text, self.i = tokens, text, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise invalid_filter(f"the filter {self.text!r} ends too early")
        self.i += 1
        return token

    def expect(self, wanted: str) -> None:
        if self.take() != wanted:
            raise invalid_filter(f"expected {wanted!r} in filter {self.text!r}")

    def or_expr(self, depth: int) -> Node:
        node = self.and_expr(depth)
        while (self.peek() or "").lower() == "or":
            self.take()
            node = Logical("or", node, self.and_expr(depth))
        return node

    def and_expr(self, depth: int) -> Node:
        node = self.unary(depth)
        while (self.peek() or "").lower() == "and":
            self.take()
            node = Logical("and", node, self.unary(depth))
        return node

    def unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise invalid_filter(f"the filter nests deeper than {MAX_DEPTH}")
        word = self.take()
        if word.lower() == "not":
            self.expect("(")
            inner = self.or_expr(depth + 1)
            self.expect(")")
            return Not(inner)
        if word == "(":
            inner = self.or_expr(depth + 1)
            self.expect(")")
            return inner
        if not _PATH.fullmatch(word):
            raise invalid_filter(f"{word!r} is not an attribute path")
        if self.peek() == "[":
            return self.value_path(word)
        return self.comparison(word)

    def comparison(self, path: str, within: str | None = None) -> Compare:
        op = self.take().lower()
        if op not in OPERATORS:
            raise invalid_filter(f"unsupported filter operator {op!r} (supported: {', '.join(sorted(OPERATORS))})")
        if op == "pr":
            return Compare(path, op, None, within)
        return Compare(path, op, _value(self.take()), within)

    def value_path(self, attr: str) -> Compare:
        """``members[value eq "x"]``: the one value path served (group membership)."""
        self.expect("[")
        path = self.take()
        node = self.comparison(f"{attr}.{path}", within=attr)
        self.expect("]")
        if node.op != "eq":
            raise invalid_filter(f"only '{attr}[<sub> eq \"...\"]' is supported inside brackets")
        return node


def _value(token: str) -> Any:
    if token.startswith('"'):
        try:
            return json.loads(token)
        except ValueError:
            raise invalid_filter(f"bad string {token!r} in filter") from None
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"-?\d+(?:\.\d+)?", token):
        return json.loads(token)
    raise invalid_filter(f"{token!r} is not a filter value (quote strings)")
