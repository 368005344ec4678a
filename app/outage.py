"""Answering while the database (or Redis) cannot serve: 503 with ``Retry-After``, and the outage told once.

A fault outside the process is not a bug: the person gets a clear page (SCIM
and JSON clients get JSON) saying to try again shortly, with ``Retry-After``,
and the log gets one warning when the outage starts and one line when it ends
(how long it lasted, how many requests were refused), never a traceback per
request. What counts as a fault is decided here (``database_fault``); any
other exception is left to the normal error path, so bugs still show.

An outage is tracked per process (each worker says so once). It ends with the
first request after it that used the database without a fault; when the fault
was about writing (a full disk, a lock held too long), only a committed write
ends it, since reads may work all along. A counter,
``stepgate_unavailable_answers_total{dependency,cause}``, counts the refusals.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from flask import Flask, Response, current_app, g, has_app_context, request
from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from app.web.messages import message_for

log = logging.getLogger("stepgate.outage")
UNAVAILABLE_ANSWERS = Counter(
    "stepgate_unavailable_answers",
    "Requests answered 503 because a dependency could not serve",
    ["dependency", "cause"],
)
WRITE_CAUSES = {"disk full", "database locked"}
QUIET_SECONDS = 1.0  # an outage ends only after this long without a refusal: a flapping link makes no line per request
SQLITE_FAULTS = {
    "database or disk is full": "disk full",
    "database is locked": "database locked",
    "database table is locked": "database locked",
    "disk i/o error": "disk I/O error",
}
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def database_fault(exc: BaseException) -> str | None:
    """Why ``exc`` means the database cannot serve now (a short cause for logs and metrics), or None."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "connection pool exhausted"
    if isinstance(exc, sa_exc.PendingRollbackError):
        return "connection lost" if "reconnect" in str(exc) else None
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return "connection lost"
    original = exc.orig
    module = type(original).__module__
    if module.startswith("sqlite3"):
        text = str(original).lower()
        return next((cause for known, cause in SQLITE_FAULTS.items() if known in text), None)
    if module.startswith("psycopg") and isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        sqlstate = getattr(original, "sqlstate", None)
        if sqlstate == "57014":
            return "statement timeout"
        return "unreachable" if sqlstate is None else f"server error {sqlstate}"
    return None


def redis_fault(exc: BaseException) -> str | None:
    try:
        from redis.exceptions import ConnectionError, TimeoutError
    except ImportError:
        return None
    return "unreachable" if isinstance(exc, ConnectionError | TimeoutError) else None


class Outage:
    """One dependency's outage as this process sees it."""

    def __init__(self, dependency: str):
        self.dependency = dependency
        self.started: float | None = None  # monotonic; None while it serves
        self.cause = ""
        self.refusals = 0
        self._last_refusal = 0.0
        self._lock = threading.Lock()

    def refused(self, cause: str) -> None:
        with self._lock:
            now = time.monotonic()
            first = self.started is None
            if first:
                self.started, self.cause, self.refusals = now, cause, 0
            self.refusals += 1
            self._last_refusal = now
        UNAVAILABLE_ANSWERS.labels(self.dependency, cause).inc()
        if first:
            log.warning(
                "%s unavailable (%s): answering 503 with Retry-After until it serves again; "
                "one line will say when it is back",
                self.dependency,
                cause,
                extra={"dependency": self.dependency, "cause": cause},
            )

    def served(self, wrote: bool) -> None:
        """A request used the dependency without a fault: the outage, if any, may be over."""
        if self.started is None:
            return
        with self._lock:
            now = time.monotonic()
            if self.started is None or now - self._last_refusal < QUIET_SECONDS:
                return
            if self.cause in WRITE_CAUSES and not wrote:
                return
            lasted, refusals, cause = now - self.started, self.refusals, self.cause
            self.started = None
        log.info(
            "%s is back after %.1f s unavailable (%s); %d request(s) were answered 503 meanwhile",
            self.dependency,
            lasted,
            cause,
            refusals,
            extra={"dependency": self.dependency, "cause": cause, "seconds": round(lasted, 1), "refused": refusals},
        )


OUTAGES = {"database": Outage("database"), "redis": Outage("redis")}


def fault_of(exc: BaseException) -> tuple[str, str] | None:
    """(dependency, cause) when ``exc`` is a dependency that cannot serve, else None."""
    cause = database_fault(exc)
    if cause is not None:
        return "database", cause
    cause = redis_fault(exc)
    return ("redis", cause) if cause is not None else None


def retry_after() -> int:
    return current_app.extensions["stepgate"].settings.database.retry_after_seconds


def refuse(dependency: str, cause: str) -> tuple[str, int]:
    """Note a request refused for ``dependency``; return its reason code and ``Retry-After`` seconds."""
    g.stepgate_refused = True
    OUTAGES[dependency].refused(cause)
    return f"{dependency}.unavailable", retry_after()


def answer(exc: Exception) -> Response:
    """The error handler: 503 for a dependency that cannot serve, the normal error path for anything else."""
    fault = fault_of(exc)
    if fault is None:
        raise exc
    reason, seconds = refuse(*fault)
    if request.path.startswith("/scim/"):
        body = {"schemas": [SCIM_ERROR], "status": "503", "detail": message_for(reason)}
        response = Response(json.dumps(body), 503, mimetype="application/scim+json")
    elif _wants_json():
        body = {"error": reason, "message": message_for(reason)}
        response = Response(json.dumps(body), 503, mimetype="application/json")
    else:
        from app.i18n import say
        from app.web.gate import error_page

        response = error_page(reason, 503, say("error.detail.retry_in", seconds=seconds))
    response.headers["Retry-After"] = str(seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    if request.path.startswith("/oamfed/"):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def init_app(app: Flask, engine) -> None:
    """Register the 503 answer and watch the engine's connections for the end of an outage."""
    app.register_error_handler(sa_exc.SQLAlchemyError, answer)
    try:
        from redis.exceptions import ConnectionError, TimeoutError
    except ImportError:
        pass
    else:
        app.register_error_handler(ConnectionError, answer)
        app.register_error_handler(TimeoutError, answer)

    @event.listens_for(engine, "checkout")
    def _used(_dbapi_connection, _record, _proxy) -> None:
        if has_app_context():
            g.stepgate_database_used = True

    @app.teardown_appcontext
    def _served(exc) -> None:
        if exc is None and g.get("stepgate_database_used") and not g.get("stepgate_refused"):
            OUTAGES["database"].served(wrote=g.get("stepgate_database_wrote", False))


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context) -> None:
    session.info["stepgate.flushed"] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop("stepgate.flushed", False) and has_app_context():
        g.stepgate_database_wrote = True


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop("stepgate.flushed", None)
