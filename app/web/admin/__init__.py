"""The admin console at ``/admin``: schemes, identity providers, users, flows and the audit log.

The console is a resource like any other: the settings protect ``/admin/**``
with a scheme, so administrators sign in through stepgate itself. On top of
that every request checks that the signed-in user is in ``admin_group``; a
signed-in non-admin gets 403. Every form carries a CSRF token (Flask-WTF
checks all POSTs) and every value is escaped by Jinja: claims and attributes
are attacker-controlled.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, g, redirect, request, send_file, url_for

from app import audit
from app.accounts import groups_of
from app.extensions import db
from app.graph import MERMAID_JS
from app.i18n import say
from app.runtime import current
from app.stores import sql as identity
from app.web.gate import error_page

log = logging.getLogger("stepgate.admin")
bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_admin() -> Response | None:
    session = g.get("session")
    if session is None:
        return error_page("authn.required", 401, say("error.detail.admin_sign_in"))
    user = identity.get_user(session.user_id) if session.user_id is not None else None  # None: JIT off, no account
    if user is None or current().settings.admin_group not in groups_of(user):
        log.warning("refused the admin console to user %s at %s", session.user_name, request.path)
        audit.record("admin.forbidden", user_id=session.user_id, detail={"path": request.path})
        db.session.commit()
        return error_page("admin.forbidden", 403)
    g.admin = user
    return None


@bp.app_template_filter("as_json")
def as_json(value: object) -> str:
    """JSON for people to read; a plain string, so Jinja escapes it like any other value."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@bp.app_template_global("user_names_of")
def user_names_of(events) -> dict[int, str]:
    """User names of the users an events table mentions, in one query (deleted users are left out)."""
    ids = {e.user_id for e in events if e.user_id is not None}
    return queries.user_names(ids)


@bp.app_template_global("branch_of")
def branch_of(event) -> str | None:
    """The step a step event's outcome led to, when that is another step: an expected branch, not a failure.

    Read from the scheme as loaded now (a flow on an older version may have differed; the console says so).
    """
    if event.event != "step" or event.outcome not in ("failure", "error") or not event.scheme or not event.step:
        return None
    scheme = current().schemes.get(event.scheme)
    transitions = scheme.orchestration.get(event.step) if scheme is not None else None
    if transitions is None:
        return None
    target = transitions.on_failure if event.outcome == "failure" else transitions.on_error
    return target if target in scheme.steps else None


@bp.route("/")
def index() -> Response:
    return redirect(url_for("admin.schemes"))


@bp.route("/assets/mermaid.min.js")
def mermaid() -> Response:
    """The console's Mermaid, from the npm package the Makefile installs (no CDN is reachable)."""
    return send_file(MERMAID_JS, mimetype="text/javascript", max_age=3600)


from app.web.admin import (  # noqa: E402, F401 - routes on bp
    activity,
    consent,
    factors,
    federated_identities,
    providers,
    queries,
    registrations,
    schemes,
    users,
)
