"""Which available locale a request gets: Accept-Language (RFC 9110 12.5.4) with its quality values.

A tag matches a locale exactly or by its primary subtag (``fr-CA`` gets ``fr``);
``*`` matches the default. Whatever can't be read (garbage, a huge header, a
quality out of range) is skipped, and nothing acceptable gives the default:
the answer is always one of ``available``, never a value taken from the request.
"""

from __future__ import annotations

import re

MAX_HEADER = 1024  # characters read; a longer header is cut, not parsed in full
MAX_RANGES = 32
_RANGE = re.compile(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9](?:\.[0-9]{0,3})?))?\s*")


def best_locale(header: str | None, available: tuple[str, ...], default: str) -> str:
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "")[:MAX_HEADER].split(",")[:MAX_RANGES]):
        match = _RANGE.fullmatch(item)
        if match is None:
            continue
        quality = float(match.group(2)) if match.group(2) is not None else 1.0
        locale = _locale_for(match.group(1).lower(), available, default)
        if 0 < quality <= 1 and locale is not None:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else default


def _locale_for(tag: str, available: tuple[str, ...], default: str) -> str | None:
    if tag == "*":
        return default
    if tag in available:
        return tag
    primary = tag.split("-")[0]
    return primary if primary in available else None


def explicit_locale(value: str | None, available: tuple[str, ...]) -> str | None:
    """A locale named outright (the ``lang`` cookie): used only when it is exactly one of ``available``."""
    candidate = (value or "")[:16].strip().lower()
    return candidate if candidate in available else None
