"""Forward-auth reads its session cookie out of the header itself, and must read exactly what werkzeug reads.

A different reading would be a way around the check (a cookie one parser sees
and the other does not), so the fast path is compared with werkzeug's
``parse_cookie`` over every header built from the pieces that trip parsers up:
quotes, escapes, spaces and tabs, repeated and look-alike names, non-ASCII and
control bytes, empty values, ``=`` in values.
"""

from __future__ import annotations

import itertools
import random

import pytest
from werkzeug.http import parse_cookie

from app.forward_auth import _cookie

NAME = "stepgate_session"
PIECES = [NAME, f"{NAME}2", f"x_{NAME}", "a", "tok", "=", ";", " ", "\t", '"', "\\", "é", "%20", ",", "\x00", "\x7f"]


def werkzeug_reading(raw: str) -> str | None:
    return parse_cookie(raw).get(NAME) if raw and NAME in raw else None


def as_wsgi(header: str) -> dict:
    return {"HTTP_COOKIE": header.encode("utf-8").decode("latin-1")}  # how a WSGI server hands bytes over


@pytest.mark.parametrize(
    "header",
    [
        f"{NAME}=abc",
        f"theme=dark; {NAME}=abc-_.~; lang=fr",
        f"{NAME}=first; {NAME}=second",
        f"x_{NAME}=evil; {NAME}=good",
        f"{NAME}2=evil",
        f'other="a; {NAME}=evil"; {NAME}=good',
        f'{NAME}="quoted\\"value"',
        f"{NAME}=with space; {NAME}=after",
        f"{NAME}",
        f"{NAME}=",
        f"  {NAME}  =  padded  ",
        f"{NAME}=é",
        f"{NAME}=a\tb; {NAME}=c",
        f"{NAME}==x",
    ],
)
def test_the_cookie_read_is_werkzeugs(header):
    environ = as_wsgi(header)
    assert _cookie(environ, NAME) == werkzeug_reading(environ["HTTP_COOKIE"])


def test_the_cookie_read_is_werkzeugs_for_every_header_built_from_tricky_pieces():
    headers = ["".join(p) for p in itertools.product(PIECES[:10], repeat=3)]
    chance = random.Random(16)
    headers += ["".join(chance.choice(PIECES) for _ in range(chance.randint(1, 12))) for _ in range(50_000)]
    differ = [h for h in headers if _cookie(as_wsgi(h), NAME) != werkzeug_reading(as_wsgi(h)["HTTP_COOKIE"])]
    assert differ == []
