"""``/healthz`` and ``/readyz``: may a load balancer or a kubelet send this process traffic?

- ``/healthz``: the process is up and answers (liveness). It reads nothing, so
  a database outage never gets a healthy process restarted.
- ``/readyz``: the process can serve sign-ins now (readiness): the database
  answers ``SELECT 1``, Redis answers ``PING`` when ``session_cache.redis_url``
  is set, and the schemes are loaded with every policy's scheme among them.
  503 while any of them fails, so the proxy sends traffic elsewhere.

Both answer in front of Flask's request machinery (like app/forward_auth.py):
no session lookup, no cookie, no CSRF, and no Host check. A probe from a
kubelet addresses the pod by its IP, which no ``allowed_hosts`` lists; the
check exists so that no URL is ever built from a forged Host, and these
answers build none. Their bodies hold fixed words only (``ok``,
``unavailable``, ``not configured``), never an error text, a URL or a version,
so they tell a stranger nothing; the cause of a failure goes to the log, once
per change of state. Readiness is measured at most once a second per process
(concurrent probes share one measurement): a flood of probes costs the
database one ``SELECT 1`` a second.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from flask import Flask
from sqlalchemy import text

log = logging.getLogger("stepgate.health")
LIVENESS, READINESS = "/healthz", "/readyz"
MEASURE_EVERY = 1.0  # seconds a readiness measurement is reused for
_STATUS = {200: "200 OK", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}
_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


class HealthMiddleware:
    """Answers the two probe paths; every other request passes on untouched."""

    def __init__(self, wsgi_app, flask_app: Flask):
        self.wsgi_app = wsgi_app
        self.readiness = Readiness(flask_app)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path not in (LIVENESS, READINESS):
            return self.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body, extra = 405, {"error": "method.not_allowed"}, [("Allow", "GET, HEAD")]
        elif path == LIVENESS:
            status, body, extra = 200, {"status": "ok"}, []
        else:
            checks = self.readiness.checks()
            ready = all(value != "unavailable" for value in checks.values())
            status, body, extra = (200 if ready else 503), {"status": "ok" if ready else "unavailable", **checks}, []
        payload = json.dumps(body, sort_keys=True).encode() + b"\n"
        start_response(_STATUS[status], [*_HEADERS, *extra, ("Content-Length", str(len(payload)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [payload]


class Readiness:
    """The last readiness measurement of this process, renewed at most every ``MEASURE_EVERY`` seconds."""

    def __init__(self, flask_app: Flask):
        self.app = flask_app
        self._lock = threading.Lock()
        self._measured_at = float("-inf")
        self._checks: dict[str, str] = {}
        self._causes: dict[str, str] = {}

    def checks(self) -> dict[str, str]:
        with self._lock:  # one measurement at a time; the probes waiting meanwhile take its result
            if time.monotonic() - self._measured_at >= MEASURE_EVERY:
                self._checks = self._measure()
                self._measured_at = time.monotonic()
            return dict(self._checks)

    def _measure(self) -> dict[str, str]:
        with self.app.app_context():
            causes = {"database": _database_fault(), "redis": _redis_fault(), "schemes": _schemes_fault()}
        for name, cause in causes.items():
            if cause != self._causes.get(name):
                if cause not in (None, "not configured"):
                    log.warning("not ready: %s %s", name, cause, extra={"dependency": name, "cause": cause})
                elif self._causes.get(name) not in (None, "not configured"):
                    log.info("ready again: %s answers", name, extra={"dependency": name})
        self._causes = causes
        return {
            name: "ok" if cause is None else ("not configured" if cause == "not configured" else "unavailable")
            for name, cause in causes.items()
        }


def _database_fault() -> str | None:
    """None when the database answers; else why not (for the log only)."""
    from app.extensions import db

    try:
        with db.engine.connect() as connection:  # bounded by the pool and connect timeouts (app/database.py)
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class is logged, never answered
        return f"does not answer ({type(exc).__name__})"
    return None


def _redis_fault() -> str | None:
    from app.runtime import current
    from app.session_cache import _redis

    url = current().settings.deployment.session_cache.redis_url
    if not url:
        return "not configured"
    try:
        with _redis(url, name="stepgate-readiness") as client:
            client.ping()
    except Exception as exc:  # noqa: BLE001 - as above
        return f"does not answer ({type(exc).__name__})"
    return None


def _schemes_fault() -> str | None:
    from app.runtime import current

    runtime = current()
    if not runtime.schemes:
        return "none loaded"
    missing = runtime.settings.application_domains.policies_without(runtime.schemes)
    return f"{len(missing)} policy(ies) name a scheme not loaded" if missing else None


def init_app(app: Flask) -> None:
    app.wsgi_app = HealthMiddleware(app.wsgi_app, app)
