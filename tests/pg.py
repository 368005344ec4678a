"""PostgreSQL for the test suite: throw-away databases on the server named by STEPGATE_TEST_DATABASE_URL.

Other people's test runs use the same server, so the suite never touches the
database in the URL itself: it creates ``stepgate_<random>`` databases next to
it and drops them afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

ENV = "STEPGATE_TEST_DATABASE_URL"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def server_url() -> str | None:
    """The PostgreSQL server this leg of the suite runs on, or None on the SQLite leg."""
    return os.environ.get(ENV) or None


def reachable_server() -> str | None:
    """The server of this leg, or the machine's default one on the SQLite leg, if it answers; else None.

    For the tests that need PostgreSQL whatever the leg (two nodes sharing a database, database faults).
    """
    url = server_url() or DEFAULT_SERVER
    u = make_url(url)
    try:
        psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, connect_timeout=3).close()
    except psycopg.OperationalError:
        return None
    return url


def throwaway_database(needed_for: str) -> Iterator[str]:
    """For a fixture: a fresh database on the reachable server, dropped afterwards; skip when none answers."""
    server = reachable_server()
    if server is None:
        pytest.skip(f"no PostgreSQL answers at 127.0.0.1:5432: {needed_for}")
    url = create_database(server)
    yield url
    drop_database(url)


def _connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=u.database,
        autocommit=True,
    )


def create_database(url: str) -> str:
    """Create an empty database beside the one in ``url``; return its SQLAlchemy URL."""
    name = f"stepgate_{secrets.token_hex(6)}"
    with _connect(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by ``create_database`` even if a forgotten pool still holds connections."""
    name = make_url(url).database
    assert name and name.startswith("stepgate_"), name
    with _connect(make_url(url).set(database="postgres").render_as_string(hide_password=False)) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(url: str) -> None:
    """Empty every table (fast per-test isolation; the schema stays)."""
    with _connect(url) as conn:
        conn.execute("SET lock_timeout = '20s'")
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        tables = [t for t in tables if t != "alembic_version"]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
