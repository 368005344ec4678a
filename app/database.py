"""How stepgate talks to its database: engine options per dialect, and a deadline on every call.

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

PostgreSQL is across a network, and every thread of every worker waits on it,
so nothing may wait on it without a bound (the ``database:`` settings block):

- connecting: ``connect_timeout``;
- a peer that vanished (host crash, cable): TCP keepalives find an idle
  connection dead, ``tcp_user_timeout`` ends a write nobody acknowledges;
- a slow statement: ``statement_timeout`` and
  ``idle_in_transaction_session_timeout``, enforced by the server;
- a peer that accepts bytes and never answers (a hung PgBouncer or load
  balancer, a half-open firewall): nothing above fires, since the kernel on
  the other side acknowledges everything. ``BoundedConnection`` bounds every
  wait for an answer on the client side (``response_timeout_seconds``,
  longer than ``statement_timeout``) and closes the connection when it
  expires, which SQLAlchemy sees as a disconnect: the pool is invalidated and
  rebuilt. The pool's pre-ping goes through the same bounded wait.
- once a connection has failed, ``Reconnection`` lets one thread per process
  try again every ``retry_seconds`` while the others fail at once: during an
  outage requests are answered (503) in milliseconds instead of each holding
  a thread for the connect timeout, and the first attempt after the database
  is back restores service for every thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from app.yamlsource import Checker, Located

SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000")


@dataclass(frozen=True)
class DatabaseSettings:
    """Deadlines for PostgreSQL (``database:`` in the settings); SQLite, a local file, uses none of them."""

    connect_timeout_seconds: int = 3
    statement_timeout_seconds: int = 5
    response_timeout_seconds: int = 7  # client side: the longest the server may stay silent on one call
    idle_in_transaction_timeout_seconds: int = 60  # above the longest provider call a sign-in waits on
    keepalive_idle_seconds: int = 10
    keepalive_interval_seconds: int = 3
    keepalive_count: int = 3
    tcp_user_timeout_seconds: int = 10
    pool_timeout_seconds: int = 5
    retry_seconds: int = 1  # after a failed connection, how often one thread tries again
    retry_after_seconds: int = 5  # the Retry-After of a 503 answered while the database is unavailable


LIMITS = {  # key: (lowest, highest)
    "connect_timeout_seconds": (2, 60),  # libpq's minimum is 2
    "statement_timeout_seconds": (1, 3600),
    "response_timeout_seconds": (1, 3600),
    "idle_in_transaction_timeout_seconds": (1, 86400),
    "keepalive_idle_seconds": (1, 7200),
    "keepalive_interval_seconds": (1, 600),
    "keepalive_count": (1, 100),
    "tcp_user_timeout_seconds": (1, 3600),
    "pool_timeout_seconds": (1, 300),
    "retry_seconds": (1, 60),
    "retry_after_seconds": (1, 3600),
}


def parse_database(doc: Located, check: Checker) -> DatabaseSettings:
    """The ``database:`` block, each value a whole number of seconds within its limits."""
    raw = doc.get("database")
    if raw is None:
        return DatabaseSettings()
    raw = check.require_mapping(raw, doc, "database", "database")
    if raw is None:
        return DatabaseSettings()
    check.unknown_keys(raw, set(LIMITS), "database")
    values = {}
    for key, (low, high) in LIMITS.items():
        if key not in raw:
            continue
        value = raw[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            check.add(raw.problem(key, f"'{key}' must be a whole number from {low} to {high}"))
        else:
            values[key] = value
    settings = DatabaseSettings(**values)
    if settings.response_timeout_seconds <= settings.statement_timeout_seconds:
        key = "response_timeout_seconds" if "response_timeout_seconds" in raw else "statement_timeout_seconds"
        check.add(
            raw.problem(
                key,
                "'response_timeout_seconds' must be longer than 'statement_timeout_seconds' "
                f"({settings.response_timeout_seconds} <= {settings.statement_timeout_seconds}): "
                "the server cancels a slow statement first, the client bound is for a server that went silent",
            )
        )
    return settings


def engine_options(url: str, settings: DatabaseSettings = DatabaseSettings()) -> dict:  # noqa: B008 - frozen
    """``SQLALCHEMY_ENGINE_OPTIONS`` for this database URL."""
    if make_url(url).get_backend_name() == "sqlite":
        return {}
    options: dict = {"pool_pre_ping": True, "pool_timeout": settings.pool_timeout_seconds}
    if make_url(url).get_driver_name() == "psycopg":
        options["connect_args"] = libpq_parameters(settings)
    return options


def libpq_parameters(settings: DatabaseSettings) -> dict:
    """Connection parameters bounding the connect, an unanswered write, an idle dead peer, and the server's work."""
    server = (
        f"-c statement_timeout={settings.statement_timeout_seconds * 1000} "
        f"-c idle_in_transaction_session_timeout={settings.idle_in_transaction_timeout_seconds * 1000}"
    )
    return {
        "connect_timeout": settings.connect_timeout_seconds,
        "keepalives": 1,
        "keepalives_idle": settings.keepalive_idle_seconds,
        "keepalives_interval": settings.keepalive_interval_seconds,
        "keepalives_count": settings.keepalive_count,
        "tcp_user_timeout": settings.tcp_user_timeout_seconds * 1000,
        "options": server,
    }


def tune(engine: Engine, settings: DatabaseSettings = DatabaseSettings()) -> None:  # noqa: B008 - frozen
    """Per-connection settings, applied to every new connection of ``engine``."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        _bound_postgresql(engine, settings)
        return
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


def _bound_postgresql(engine: Engine, settings: DatabaseSettings) -> None:
    connection_class = bounded_connection_class()
    reconnection = Reconnection(settings.retry_seconds)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        connection = reconnection.connect(lambda: connection_class.connect(*cargs, **cparams))
        connection.response_timeout = float(settings.response_timeout_seconds)
        return connection


_connection_class = None


def bounded_connection_class():
    """``BoundedConnection``, built on first use: psycopg is an optional dependency (SQLite needs none)."""
    global _connection_class
    if _connection_class is not None:
        return _connection_class
    import psycopg

    class BoundedConnection(psycopg.Connection):
        """A psycopg connection whose every wait for the server ends after ``response_timeout`` seconds.

        psycopg waits for an answer with no deadline of its own (``Connection.wait``);
        the statement, the commit, the rollback when the pool takes the connection
        back and the pool's pre-ping all go through it. When the bound expires the
        connection is closed (its protocol state is unknown) and an
        ``OperationalError`` raised, which SQLAlchemy reads as a disconnect.
        """

        response_timeout: float | None = None

        def wait(self, gen, interval=0.1, timeout=None):
            bound = self.response_timeout
            if bound is None or (timeout is not None and timeout < bound):
                return super().wait(gen, interval=interval, timeout=timeout)
            started = time.monotonic()
            try:
                return super().wait(gen, interval=interval, timeout=bound)
            except psycopg.OperationalError as exc:
                if exc.sqlstate is not None or time.monotonic() - started < bound:
                    raise  # the server answered with an error, or the connection broke: not our deadline
                self.close()
                raise psycopg.OperationalError(
                    f"the database did not answer within {bound:g} s (database.response_timeout_seconds); "
                    "connection closed"
                ) from None

    _connection_class = BoundedConnection
    return BoundedConnection


class Reconnection:
    """After a failed connection, one thread per process tries again every ``retry`` seconds; others fail at once."""

    def __init__(self, retry: float):
        self.retry = retry
        self.failing_since: float | None = None  # monotonic time of the first failure of this outage
        self._next_attempt = 0.0
        self._attempting = False
        self._lock = threading.Lock()

    def connect(self, make):
        import psycopg

        with self._lock:
            failing = self.failing_since is not None
            if failing and (self._attempting or time.monotonic() < self._next_attempt):
                raise psycopg.OperationalError(
                    f"the database has been unreachable for {time.monotonic() - self.failing_since:.1f} s; "
                    f"one connection is tried every {self.retry:g} s (database.retry_seconds)"
                )
            self._attempting = failing
        try:
            connection = make()
        except Exception:
            with self._lock:
                now = time.monotonic()
                self.failing_since = self.failing_since or now
                self._next_attempt = now + self.retry
                self._attempting = False
            raise
        with self._lock:
            self.failing_since = None
            self._attempting = False
        return connection
