"""Statements, commits and requests counted inside a gunicorn worker, for ``bench.federated_signin``.

    gunicorn ... 'bench.counted:stepgate'      # stepgate, counted
    gunicorn ... 'bench.counted:floor'         # bench/minimal_signin.py, counted

Every SQL statement any engine of the worker sends (SQLAlchemy's
``before_cursor_execute``) and every commit are counted, and so is every
request; ``GET /__bench_counts`` answers the counts so far as JSON (not
counted itself). Only the benchmarks load this module.
"""

from __future__ import annotations

import json
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine

COUNTS_PATH = "/__bench_counts"
_counts = {"requests": 0, "statements": 0, "commits": 0}
_lock = threading.Lock()


def _add(name: str) -> None:
    with _lock:
        _counts[name] += 1


event.listen(Engine, "before_cursor_execute", lambda *args: _add("statements"))
event.listen(Engine, "commit", lambda *args: _add("commits"))


class Counted:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == COUNTS_PATH:
            body = json.dumps(_counts).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        _add("requests")
        return self.wsgi_app(environ, start_response)


def __getattr__(name: str):
    if name == "stepgate":
        from app import create_app

        return Counted(create_app())
    if name == "floor":
        from bench.minimal_signin import app

        return Counted(app)
    raise AttributeError(name)
