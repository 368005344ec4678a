"""The session check's row read: one prebuilt statement on a pooled DBAPI cursor, failing as SQLAlchemy would.

With sessions spread over many people most checks miss the session cache, and
the row read is the check. Through a SQLAlchemy ``Connection`` that read costs
about four times the statement itself (the connection object, the execution
context, the result and its ``Row`` objects: about 190 µs against 50 µs on the
reference machine), so the check reads on the pool's own proxied connection.

What a ``Connection`` would add and the rest of stepgate relies on is kept:

- the pool: checkout, its events (``app/outage.py`` notes the database was
  used), PostgreSQL's pre-ping, the reconnection gate and deadlines of
  ``app/database.py`` (connection events, not statement ones), return with a
  rollback;
- the statement and its column types: compiled once per engine by SQLAlchemy
  for the dialect, and each value passed through the type's own result
  processor (SQLite's stored datetimes and booleans), so the values are the
  ones a ``Connection`` returns;
- the errors: a DBAPI error (on connect or on the statement) is raised as the
  ``sqlalchemy.exc.DBAPIError`` subclass SQLAlchemy raises for it, with
  ``connection_invalidated`` set by the dialect's own disconnect test, and a
  connection found broken is invalidated (dropped, not returned to the pool);
  any other failure invalidates the connection too, since its state is unknown.
  ``app/outage.py`` reads exactly these, so a database outage during a check
  is a 503 with ``Retry-After``, as before.

The pool's other connections are not invalidated at once on a disconnect (as
``Connection`` does through the pool's private ``_invalidate``): PostgreSQL's
pre-ping tests each at its next checkout, and a SQLite file does not
disconnect.

Statement events are SQLAlchemy's and run only through a ``Connection``:
stepgate registers none, but a listener may (tracing, the benchmarks' statement
counts in ``bench/counted.py``, tests that count the session reads). While the
engine has one, the read goes through a ``Connection`` as before, so whatever
listens sees every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select


class RowRead:
    """``statement`` compiled for one engine, read by its one bound parameter's name."""

    def __init__(self, engine: Engine, statement: Select):
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.engine = engine
        self.statement = statement
        self.sql = str(compiled)
        self.positions = tuple(compiled.positiontup) if compiled.positional else None
        processors = [column.type._cached_result_processor(dialect, None) for column in statement.selected_columns]
        self.processors: tuple[tuple[int, Callable], ...] = tuple(
            (index, processor) for index, processor in enumerate(processors) if processor is not None
        )

    def rows(self, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Every row the statement selects with ``params``, each value as SQLAlchemy would return it."""
        if _observed(self.engine):
            with self.engine.connect() as connection:
                return connection.execute(self.statement, params).all()
        dialect = self.engine.dialect
        error = dialect.loaded_dbapi.Error
        try:
            connection = self.engine.raw_connection()
        except error as exc:
            raise _wrapped(None, None, exc, dialect, dialect.is_disconnect(exc, None, None)) from exc
        cursor = None
        try:
            cursor = connection.cursor()
            cursor.execute(self.sql, tuple(params[name] for name in self.positions) if self.positions else params)
            fetched = cursor.fetchall()
            cursor.close()
        except error as exc:
            broken = dialect.is_disconnect(exc, connection.dbapi_connection, cursor)
            if broken:
                connection.invalidate(exc)
            raise _wrapped(self.sql, params, exc, dialect, broken) from exc
        except BaseException as exc:
            connection.invalidate(exc)
            raise
        finally:
            connection.close()  # back to the pool (rolled back), or discarded if invalidated
        if not self.processors:
            return fetched
        return [self._processed(row) for row in fetched]

    def _processed(self, row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, processor in self.processors:
            values[index] = processor(values[index])
        return values


_STATEMENT_EVENTS = ("before_execute", "after_execute", "before_cursor_execute", "after_cursor_execute")


def _observed(engine: Engine) -> bool:
    """Whether anything listens to the engine's statements (listeners on ``Engine`` itself included)."""
    dispatch = engine.dispatch
    return any(getattr(dispatch, name) for name in _STATEMENT_EVENTS) or bool(engine.dialect.dispatch.handle_error)


def _wrapped(sql, params, exc: Exception, dialect, invalidated: bool) -> sa_exc.DBAPIError:
    """The exception SQLAlchemy raises for this DBAPI error (OperationalError, IntegrityError, ...)."""
    return sa_exc.DBAPIError.instance(
        sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=invalidated, dialect=dialect
    )
