"""Integers from URLs, read one way everywhere: ASCII digits only, clamped to what the database can hold.

``int("١٢")`` is 12, ``int("1_000")`` is 1000 and ``int("9" * 20)`` overflows
every database integer column; each gave a different surprise (or a 500).
Here a parameter is an optional sign and ASCII digits, nothing else, and its
value is clamped to ``[minimum, maximum]`` (by default what an SQL
``INTEGER`` holds, the type of every id column), so a huge page offset is just "past the end". Anything else is a
``BadParameter`` that the caller turns into its own 400.

Path parameters get the same bound through ``BoundedInt``, which replaces
Flask's ``int`` converter: ``/admin/users/99999999999999999999`` is a 404 at
routing, before any query runs.
"""

from __future__ import annotations

import math
import re

from werkzeug.routing import IntegerConverter

SQL_INTEGER_MAX = 2**31 - 1  # ids here are SQL INTEGER columns: PostgreSQL's int4 refuses anything larger
_INTEGER = re.compile(r"([+-]?)0*([0-9]{1,4000})")  # [0-9], not \d: no other script's digits


class BadParameter(ValueError):
    """A query parameter that is not an integer as this server reads them."""

    def __init__(self, name: str, detail: str, key: str):
        super().__init__(f"'{name}' {detail}")
        self.name = name
        self.key = key  # the same detail in the catalogue (app/i18n/messages.properties), for a page


def integer(
    name: str, raw: str | None, default: int, minimum: int = -SQL_INTEGER_MAX, maximum: int = SQL_INTEGER_MAX
) -> int:
    """``raw`` as an integer clamped to ``[minimum, maximum]``; ``default`` when absent or empty."""
    if raw is None or raw == "":
        return default
    found = _INTEGER.fullmatch(raw.strip(" "))
    if found is None:
        raise BadParameter(name, "must be a whole number written with the digits 0-9", "param.not_integer")
    sign, digits = found.groups()
    value = int(digits) if len(digits) <= 30 else math.inf  # past any bound, without a 4000-digit conversion
    value = -value if sign == "-" else value
    return int(min(max(value, minimum), maximum))


def identifier(raw: str) -> int | None:
    """A row id from a path: 1 to 2**31-1 in ASCII digits, else None (no such row)."""
    return int(raw) if re.fullmatch(r"[1-9][0-9]{0,9}", raw) and int(raw) <= SQL_INTEGER_MAX else None


class BoundedInt(IntegerConverter):
    """Flask's ``int`` converter, bounded to what an integer column holds unless a route says otherwise.

    ASCII digits only (werkzeug's ``\\d+`` also matches other scripts' digits), at most 10 of them.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits, min, SQL_INTEGER_MAX if max is None else max, signed)
