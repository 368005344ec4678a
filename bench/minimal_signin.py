"""Benchmark 2's floor: the least a Flask + SQLAlchemy application can do for the same federated sign-in.

Served by gunicorn with stepgate's settings (config/gunicorn.conf.py) beside
stepgate in ``bench.federated_signin``, against the same development provider,
visited by the same browsers, on the same URLs. It makes every check and every
write a sign-in needs, and nothing else:

1. ``GET /demo/jit-nopassword/welcome`` without a session: a flow row (state,
   nonce, PKCE verifier, target; keyed by the digest of a cookie's random id)
   and two audit rows, one commit, a 302 to the authorization endpoint.
2. ``GET /oam/server/oidc/callback``: the flow row by its cookie, ``state`` in
   constant time, RFC 9207 ``iss``; the code exchange (client_secret_basic,
   over a kept-alive ``http.client`` connection), the ID token's RS256
   signature (joserfc, keys imported once), ``iss``, ``aud``, ``exp``, ``iat``,
   ``nonce``; userinfo, whose ``sub`` must match; the user found by its
   (issuer, subject) link with their attributes, or created with them and the
   link; a session row, the flow closed, three audit rows, one commit, a 302
   back with the session cookie.
3. ``GET /demo/jit-nopassword/welcome`` with the session: the session row with
   its user and their attributes, and stepgate's own demo page (the same
   template, so both servers send the same page).

No engine, plugins, schemes, metrics, per-process caches, CSRF or logging: it
is the floor the access server's own work sits on. It runs only in that
benchmark; its tables (``floor_*``) are made with ``create_all`` in the
benchmark's scratch database and live nowhere else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import select as io_select
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlencode, urlsplit

from flask import Blueprint, Flask, abort, redirect, render_template, request
from jinja2 import FileSystemLoader
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)

from app import database
from app.i18n import web as i18n_web
from app.oidc.transport import POST_REUSE_SECONDS
from app.timeutil import utcnow

PAGE = "/demo/jit-nopassword/welcome"
CALLBACK = "/oam/server/oidc/callback"
CLAIMS_KEPT = {"email": "mail", "given_name": "first-name", "family_name": "last-name", "name": "display-name"}

ISSUER = os.environ.get("FLOOR_ISSUER", "http://127.0.0.1:9000")
CLIENT_ID = os.environ.get("FLOOR_CLIENT_ID", "stepgate")
CLIENT_SECRET = os.environ.get("FLOOR_CLIENT_SECRET", "bench-client-secret")
DATABASE_URL = os.environ.get("FLOOR_DATABASE_URL", "sqlite:///instance/floor.db")

metadata = MetaData()
flows = Table(
    "floor_flows",
    metadata,
    Column("id_digest", String(64), primary_key=True),
    Column("state", String(64)),
    Column("nonce", String(64)),
    Column("verifier", String(128)),
    Column("target", String(2048)),
    Column("status", String(16)),
    Column("expires_at", DateTime),
)
users = Table(
    "floor_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_name", String(255), unique=True),
    Column("status", String(16)),
)
attributes = Table(
    "floor_attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, index=True),
    Column("name", String(128)),
    Column("value", String(2048)),
)
links = Table(
    "floor_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issuer", String(512)),
    Column("subject", String(255)),
    Column("user_id", Integer),
    UniqueConstraint("issuer", "subject"),
)
sessions = Table(
    "floor_sessions",
    metadata,
    Column("id_digest", String(64), primary_key=True),
    Column("user_id", Integer),
    Column("level", Integer),
    Column("expires_at", DateTime),
)
audit = Table(
    "floor_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("time", DateTime),
    Column("event", String(64)),
    Column("user_id", Integer, nullable=True),
    Column("detail", JSON, nullable=True),
)

_LOAD_FLOW = select(flows).where(flows.c.id_digest == bindparam("id_digest"))
_CLOSE_FLOW = update(flows).where(flows.c.id_digest == bindparam("key")).values(status="done")
_LINKED_USER = (
    select(users.c.id, users.c.user_name, users.c.status, attributes.c.name, attributes.c.value)
    .select_from(
        links.join(users, users.c.id == links.c.user_id).outerjoin(attributes, attributes.c.user_id == users.c.id)
    )
    .where(links.c.issuer == bindparam("issuer"), links.c.subject == bindparam("subject"))
)
_SESSION_USER = (
    select(
        sessions.c.expires_at,
        sessions.c.level,
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
_NEW_USER = insert(users).returning(users.c.id)

engine = create_engine(DATABASE_URL, **database.engine_options(DATABASE_URL))
database.tune(engine)  # the same SQLite settings as stepgate (write-ahead log, synchronous=NORMAL)
metadata.create_all(engine)


class Provider:
    """The provider's endpoints and keys, read once; one kept-alive connection per thread."""

    def __init__(self, issuer: str):
        self.issuer = issuer.rstrip("/")
        parts = urlsplit(self.issuer)
        self.host, self.port = parts.hostname, parts.port or 80
        self._local = threading.local()
        self.metadata = self.call("GET", self.issuer + "/.well-known/openid-configuration")
        self.keys = KeySet.import_key_set(self.call("GET", self.metadata["jwks_uri"]))
        self.basic = (
            "Basic "
            + base64.b64encode(f"{quote(CLIENT_ID, safe='')}:{quote(CLIENT_SECRET, safe='')}".encode()).decode()
        )

    def call(self, method: str, url: str, body: str | None = None, headers: dict | None = None) -> dict:
        connection = getattr(self._local, "connection", None)
        if connection is not None and (
            (connection.sock is not None and io_select.select([connection.sock], [], [], 0)[0])
            or (method != "GET" and time.monotonic() - self._local.idle_since >= POST_REUSE_SECONDS)
        ):
            connection.close()  # closed by the provider, or idle long enough to meet its keep-alive close in flight
            connection = None
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        connection.request(method, urlsplit(url).path, body, {"Accept": "application/json", **(headers or {})})
        response = connection.getresponse()
        answer = json.loads(response.read())
        self._local.idle_since = time.monotonic()
        if response.status != 200 or not isinstance(answer, dict):
            abort(502)
        return answer


provider = Provider(ISSUER)
app = Flask(__name__)
app.jinja_loader = FileSystemLoader(Path(__file__).resolve().parent.parent / "app" / "templates")
logout = Blueprint("gate", __name__)  # the demo page links to gate.logout, as stepgate's does
logout.add_url_rule("/logout", "logout", lambda: redirect("/"))
app.register_blueprint(logout)
app.jinja_env.globals["csrf_token"] = lambda: ""  # the demo page's sign-out form asks for one
i18n_web.init_app(app)  # the page's texts come from the catalogue, as stepgate's do


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _event(name: str, user_id: int | None = None, detail: dict | None = None) -> dict:
    return {"time": utcnow(), "event": name, "user_id": user_id, "detail": detail}


@app.route(PAGE)
def page():
    token = request.cookies.get("floor_session")
    if token:
        with engine.connect() as connection:
            rows = connection.execute(_SESSION_USER, {"id_digest": _digest(token)}).all()
        if rows and rows[0].expires_at > utcnow() and rows[0].status == "active":
            user = SimpleNamespace(
                user_name=rows[0].user_name,
                store="default",
                attributes={row.name: row.value for row in sorted(rows, key=lambda r: r.name or "") if row.name},
            )
            session = SimpleNamespace(scheme="AutoProvisioningNoPasswordScheme", level=rows[0].level)
            # stepgate's own demo page, so both servers send the same page
            return render_template("demo.html", user=user, session=session, area=PAGE.removeprefix("/demo/"))
    return _start(PAGE)


def _start(target: str):
    flow_id = secrets.token_urlsafe(32)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    with engine.begin() as connection:
        connection.execute(
            insert(flows),
            {
                "id_digest": _digest(flow_id),
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "target": target,
                "status": "active",
                "expires_at": utcnow() + timedelta(minutes=10),
            },
        )
        connection.execute(insert(audit), [_event("flow.start"), _event("step", detail={"provider": "devop"})])
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": request.host_url.rstrip("/") + CALLBACK,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = redirect(provider.metadata["authorization_endpoint"] + "?" + query)
    response.set_cookie("floor_flow", flow_id, max_age=600, httponly=True, samesite="Lax")
    return response


@app.route(CALLBACK)
def callback():
    flow_id = request.cookies.get("floor_flow") or abort(400)
    with engine.begin() as connection:
        flow = connection.execute(_LOAD_FLOW, {"id_digest": _digest(flow_id)}).first()
        if flow is None or flow.status != "active" or flow.expires_at <= utcnow():
            abort(400)
        if not hmac.compare_digest(request.args.get("state", "").encode(), flow.state.encode()):
            abort(400)
        if request.args.get("iss", provider.issuer).rstrip("/") != provider.issuer:
            abort(400)
        claims = _claims(request.args.get("code") or abort(400), flow)
        user_id = _user(connection, claims)
        token = secrets.token_urlsafe(32)
        connection.execute(
            insert(sessions),
            {"id_digest": _digest(token), "user_id": user_id, "level": 1, "expires_at": utcnow() + timedelta(hours=8)},
        )
        connection.execute(_CLOSE_FLOW, {"key": _digest(flow_id)})
        connection.execute(
            insert(audit),
            [_event("step", user_id), _event("step", user_id), _event("signin.success", user_id)],
        )
    response = redirect(flow.target)
    response.set_cookie("floor_session", token, max_age=28800, httponly=True, samesite="Lax")
    response.delete_cookie("floor_flow")
    return response


def _claims(code: str, flow) -> dict:
    """Exchange the code, check the ID token, merge userinfo: the claims the provider vouches for."""
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.host_url.rstrip("/") + CALLBACK,
            "code_verifier": flow.verifier,
        }
    )
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": provider.basic}
    tokens = provider.call("POST", provider.metadata["token_endpoint"], body, form)
    claims = jwt.decode(tokens["id_token"], provider.keys, algorithms=["RS256"]).claims
    audience = claims.get("aud")
    now = time.time()
    if (
        claims.get("iss") != provider.issuer
        or CLIENT_ID not in (audience if isinstance(audience, list) else [audience])
        or not isinstance(claims.get("exp"), int | float)
        or claims["exp"] < now - 60
        or not isinstance(claims.get("iat"), int | float)
        or not hmac.compare_digest(str(claims.get("nonce", "")).encode(), flow.nonce.encode())
        or not isinstance(claims.get("sub"), str)
    ):
        abort(401)
    info = provider.call(
        "GET", provider.metadata["userinfo_endpoint"], None, {"Authorization": "Bearer " + tokens["access_token"]}
    )
    if info.get("sub") != claims["sub"]:
        abort(401)
    return {**claims, **{k: v for k, v in info.items() if k not in ("iss", "sub", "aud", "exp", "iat", "nonce")}}


def _user(connection, claims: dict) -> int:
    """The linked user with changed claims synced, or a new one with the mapped claims and the link."""
    kept = {
        attribute: str(claims[claim])
        for claim, attribute in CLAIMS_KEPT.items()
        if isinstance(claims.get(claim), str) and (claim != "email" or claims.get("email_verified") is True)
    }
    rows = connection.execute(_LINKED_USER, {"issuer": provider.issuer, "subject": claims["sub"]}).all()
    if rows:
        if rows[0].status != "active":
            abort(403)
        stored = {row.name: row.value for row in rows if row.name is not None}
        for name, value in kept.items():  # the provider's value wins (stepgate's "force" sync)
            if name not in stored:
                connection.execute(insert(attributes), {"user_id": rows[0].id, "name": name, "value": value})
            elif stored[name] != value:
                connection.execute(
                    update(attributes).where(attributes.c.user_id == rows[0].id, attributes.c.name == name),
                    {"value": value},
                )
        return rows[0].id
    user_id = connection.execute(
        _NEW_USER, {"user_name": claims["preferred_username"], "status": "active"}
    ).scalar_one()
    if kept:
        connection.execute(
            insert(attributes), [{"user_id": user_id, "name": name, "value": value} for name, value in kept.items()]
        )
    connection.execute(insert(links), {"issuer": provider.issuer, "subject": claims["sub"], "user_id": user_id})
    connection.execute(insert(audit), [_event("user.created", user_id, {"attributes": sorted(kept)})])
    return user_id
