"""How stepgate talks to its database: engine options per dialect.

SQLite ships as the embedded default, and its default rollback journal makes
every commit create, write, sync and delete a journal file: about 0.45 ms of
CPU per commit on the reference machine, more than everything else a
returning sign-in does in the database. In write-ahead-log mode with
``synchronous=NORMAL`` a commit appends to the log (about 0.05 ms), readers no
longer wait for a writer (several gunicorn workers share the file), and the
database cannot be corrupted by a crash; what a power cut may lose is the last
transactions before it, which for an access server are sessions and flows
that the person repeats by signing in again. ``busy_timeout`` makes a writer
wait for another instead of failing at once.

A pooled SQLite connection to a local file cannot go stale, so only other
databases (PostgreSQL) pay for the pool's pre-ping on every checkout.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000")


def engine_options(url: str) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for this database URL."""
    if make_url(url).get_backend_name() == "sqlite":
        return {}
    return {"pool_pre_ping": True}


def tune(engine: Engine) -> None:
    """Per-connection settings, applied to every new connection of ``engine``."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()
