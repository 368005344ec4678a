"""Java ``.properties`` files as OAM's resource bundles write them: the subset stepgate reads.

``key=value``, ``key: value`` or ``key value``; ``#`` and ``!`` comments; a line
ending in an odd number of backslashes continues on the next one; ``\\uXXXX``,
``\\t``, ``\\n`` and ``\\\\`` escapes. Files are read as UTF-8 (Java 9's default for
resource bundles), so a bundle written with escapes and one written with accents
read the same.
"""

from __future__ import annotations

import re
from pathlib import Path

_SEPARATOR = re.compile(r"(?<!\\)(?:\s*[=:]\s*|\s+)")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
_SIMPLE = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def read_properties(path: Path) -> dict[str, str]:
    return parse_properties(path.read_text(encoding="utf-8"))


def parse_properties(source: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in _logical_lines(source):
        match = _SEPARATOR.search(line)
        key, value = (line[: match.start()], line[match.end() :]) if match else (line, "")
        entries[_unescape(key)] = _unescape(value)
    return entries


def _logical_lines(source: str):
    pending = ""
    for raw in source.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", "!"))):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending += line[:-1]
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _unescape(text: str) -> str:
    def one(match: re.Match) -> str:
        code = match.group(1)
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        return _SIMPLE.get(code, code)

    return _ESCAPE.sub(one, text)
