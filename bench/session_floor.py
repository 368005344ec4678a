"""Benchmark 1's floor: the least a Flask application can do for the same session check.

Served by gunicorn with stepgate's settings beside stepgate in
``bench.session_check``, on stepgate's own database (the same ``sessions``,
``users`` and ``user_attributes`` rows, so the same 100,000 cookies work on
both). Per request it does what a server-side session check cannot skip and
nothing else:

- ``GET /forward-auth``: the cookie, its SHA-256 digest, one statement (the
  session with its user and their attributes, by primary key), expiry, revoked
  and the user's status, and a 200 with the user and mail headers; a 401
  otherwise. No proxy check, no path judgement, no resource matching, no cache.
- ``GET /demo/``: the same check, then stepgate's own demo page (the same
  template, so both servers send the same page).

SQLAlchemy Core on one pooled connection per request, the same SQLite settings
as stepgate (``app/database.py``). It runs only in that benchmark.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

from flask import Blueprint, Flask, redirect, render_template, request
from jinja2 import FileSystemLoader
from sqlalchemy import MetaData, Table, bindparam, create_engine, select

from app import database
from app.timeutil import utcnow

DATABASE_URL = os.environ["FLOOR_DATABASE_URL"]
engine = create_engine(DATABASE_URL, **database.engine_options(DATABASE_URL))
database.tune(engine)
metadata = MetaData()
sessions = Table("sessions", metadata, autoload_with=engine)
users = Table("users", metadata, autoload_with=engine)
attributes = Table("user_attributes", metadata, autoload_with=engine)
_CHECK = (
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
        sessions.join(users, users.c.id == sessions.c.user_id).outerjoin(attributes, attributes.c.user_id == users.c.id)
    )
    .where(sessions.c.id_digest == bindparam("id_digest"))
)

app = Flask(__name__)
app.jinja_loader = FileSystemLoader(Path(__file__).resolve().parent.parent / "app" / "templates")
gate = Blueprint("gate", __name__)  # the demo page links to gate.logout, as stepgate's does
gate.add_url_rule("/logout", "logout", lambda: redirect("/"))
app.register_blueprint(gate)
app.jinja_env.globals["csrf_token"] = lambda: ""  # the demo page's sign-out form asks for one


def checked():
    token = request.cookies.get("stepgate_session")
    if not token:
        return None
    with engine.connect() as connection:
        rows = connection.execute(_CHECK, {"id_digest": hashlib.sha256(token.encode()).hexdigest()}).all()
    if not rows or rows[0].revoked or rows[0].expires_at <= utcnow() or rows[0].status != "active":
        return None
    first = rows[0]
    user = SimpleNamespace(
        user_name=first.user_name,
        store="default",
        attributes={row.name: row.value for row in rows if row.name is not None},
    )
    return SimpleNamespace(scheme=first.scheme, level=first.level), user


@app.route("/forward-auth")
def forward_auth():
    found = checked()
    if found is None:
        return "", 401
    user = found[1]
    return "", 200, {"X-Stepgate-User": user.user_name, "X-Stepgate-Mail": user.attributes.get("mail", "")}


@app.route("/demo/")
def page():
    found = checked()
    if found is None:
        return "", 401
    session, user = found
    return render_template("demo.html", user=user, session=session, area="")


@app.route("/")
def index():
    return "floor"
