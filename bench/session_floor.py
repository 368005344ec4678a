"""Benchmark 1's floor: the least a Flask application can do to answer the same session check on the same rows.

Served by gunicorn with stepgate's settings beside stepgate in
``bench.session_check``, on stepgate's own database (the same ``sessions``,
``users`` and ``user_attributes`` rows, so the same 100,000 cookies work on
both). Per request it does what a server-side session check cannot skip and
nothing else:

- ``GET /forward-auth``, answered in front of Flask's routing as stepgate
  answers it (a WSGI middleware: a check needs no request object, routing or
  response object): the cookie, its SHA-256 digest, one statement (the session
  with its user and their attributes, by primary key) on a pooled DBAPI cursor,
  expiry, revoked and the user's status, and a 200 with the same headers
  stepgate sends (user, subject, provider and mail, each made header-safe,
  ``Cache-Control``, ``nosniff``); a 401 otherwise. No proxy check, no path
  judgement, no resource matching, no session cache, no metrics, no outage
  handling.
- ``GET /demo/``: a Flask route doing the same check, then stepgate's own
  demo page (the same template, so both servers send the same page), without
  CSRF token or security headers.

The row read is ``app/session_read.py``'s, the cheapest read that still turns
stored values into Python ones (SQLite keeps datetimes as text); the engine
has stepgate's settings for the database (``app/database.py``). Nothing is
done at import that a forked worker could share: the engine and its
connections are made in each worker on its first request. It runs only in
that benchmark.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

from flask import Blueprint, Flask, redirect, render_template, request
from jinja2 import FileSystemLoader
from sqlalchemy import MetaData, Table, bindparam, create_engine, select

from app import database
from app.i18n import web as i18n_web
from app.session_read import RowRead
from app.timeutil import utcnow

COOKIE = "stepgate_session="
_PLAIN = re.compile(r"[ !#-$&-~]*")
_HEADER_SAFE = " !#$&'()*+,-./:;<=>?@[]^_`{|}~"
_READ: list[RowRead] = []
_LOCK = threading.Lock()


def row_read() -> RowRead:
    """The statement on this worker's engine, made on first use (after the fork, never shared with the master)."""
    if not _READ:
        with _LOCK:
            if not _READ:
                url = os.environ["FLOOR_DATABASE_URL"]
                engine = create_engine(url, **database.engine_options(url))
                database.tune(engine)
                metadata = MetaData()
                sessions = Table("sessions", metadata, autoload_with=engine)
                users = Table("users", metadata, autoload_with=engine)
                attributes = Table("user_attributes", metadata, autoload_with=engine)
                statement = (
                    select(
                        sessions.c.expires_at,
                        sessions.c.revoked,
                        sessions.c.level,
                        sessions.c.scheme,
                        users.c.user_name,
                        users.c.status,
                        attributes.c.name,
                        attributes.c.value,
                    )
                    .select_from(
                        sessions.join(users, users.c.id == sessions.c.user_id).outerjoin(
                            attributes, attributes.c.user_id == users.c.id
                        )
                    )
                    .where(sessions.c.id_digest == bindparam("id_digest"))
                )
                _READ.append(RowRead(engine, statement))
    return _READ[0]


def checked(token: str | None):
    """(level, scheme, user name, attributes) of the live session behind ``token``, or None."""
    if not token:
        return None
    rows = row_read().rows({"id_digest": hashlib.sha256(token.encode()).hexdigest()})
    if not rows:
        return None
    expires_at, revoked, level, scheme, user_name, status = rows[0][:6]
    if revoked or expires_at <= utcnow() or status != "active":
        return None
    return level, scheme, user_name, dict(sorted((row[6], row[7]) for row in rows if row[6] is not None))


def header_value(value: str) -> str:
    return value if _PLAIN.fullmatch(value) else quote(value, safe=_HEADER_SAFE)


def cookie_of(environ) -> str | None:
    raw = environ.get("HTTP_COOKIE") or ""
    start = raw.find(COOKIE)
    if start < 0:
        return None
    end = raw.find(";", start)
    return raw[start + len(COOKIE) : end if end >= 0 else None]


class ForwardAuth:
    """``/forward-auth`` in front of the Flask application; every other path passes on."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/forward-auth":
            return self.wsgi_app(environ, start_response)
        found = checked(cookie_of(environ))
        if found is None:
            start_response("401 Unauthorized", [("Cache-Control", "no-store"), ("Content-Length", "0")])
            return [b""]
        mail = found[3].get("mail")
        start_response(
            "200 OK",
            [
                ("Cache-Control", "no-store"),
                ("X-Stepgate-User", header_value(found[2])),
                ("X-Stepgate-Subject", ""),
                ("X-Stepgate-Provider", ""),
                ("X-Stepgate-Mail", header_value(mail) if mail is not None else ""),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Length", "0"),
            ],
        )
        return [b""]


app = Flask(__name__)
app.jinja_loader = FileSystemLoader(Path(__file__).resolve().parent.parent / "app" / "templates")
gate = Blueprint("gate", __name__)  # the demo page links to gate.logout, as stepgate's does
gate.add_url_rule("/logout", "logout", lambda: redirect("/"))
app.register_blueprint(gate)
app.jinja_env.globals["csrf_token"] = lambda: ""  # the demo page's sign-out form asks for one
i18n_web.init_app(app)  # the page's texts come from the catalogue, in the browser's language, as stepgate's do
app.wsgi_app = ForwardAuth(app.wsgi_app)


@app.route("/demo/")
def page():
    found = checked(request.cookies.get("stepgate_session"))
    if found is None:
        return "", 401
    level, scheme, user_name, attributes = found
    user = SimpleNamespace(user_name=user_name, store="default", attributes=attributes)
    return render_template("demo.html", user=user, session=SimpleNamespace(scheme=scheme, level=level), area="")


@app.route("/")
def index():
    return "floor"
