"""The OpenID Connect callback: where providers send the browser back after sign-in.

It only hands the query to the waiting flow (``gate.resume``); the
OpenIDConnectPlugin checks ``state`` and everything else. The blueprint is the
server's own, so no resource policy ever matches it.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.engine.context import Submission
from app.oidc import documents  # noqa: F401 - registers the provider document table
from app.oidc.authorization_response import REPEATED
from app.web import gate

bp = gate.exempt(Blueprint("oidc", __name__))

MAX_PARAM = 4096
CALLBACK_PARAMS = ("state", "code", "error", "error_description", "iss")


@bp.route("/oam/server/oidc/callback")
def callback() -> Response:
    args = {key: request.args[key][:MAX_PARAM] for key in CALLBACK_PARAMS if key in request.args}
    repeated = [key for key in CALLBACK_PARAMS if len(request.args.getlist(key)) > 1]
    if repeated:  # refused by the plugin (RFC 6749 3.1), once the flow's state is spent
        args[REPEATED] = ",".join(repeated)
    return gate.resume(Submission("GET", args=args))
