"""OAM's user information endpoint for self-registration pages: ``GET /oamfed/user/regdata``.

The page calls it server-to-server with the ``registrationid`` it got in its
query string and receives ``{"idtoken": ..., "hmac": ...}`` (see
``app.regdata``). Only pending, unexpired records answer; unknown, used or
expired ids get a JSON 404 and a log line (with a digest prefix, never the id).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from app import registrations
from app.extensions import csrf
from app.tokens import digest
from app.web.gate import exempt

log = logging.getLogger("stepgate.regdata")
bp = exempt(Blueprint("regdata", __name__))
csrf.exempt(bp)


@bp.route("/oamfed/user/regdata", methods=["GET"])
def regdata() -> Response:
    registration_id = request.args.get("registrationid", "")
    row = registrations.find_pending(registration_id)
    if row is None:
        reason = registrations.why_unusable(registrations.find_record(registration_id))
        log.warning(
            "regdata refused: %s (id digest %s)", reason, digest(registration_id)[:16] if registration_id else "-"
        )
        response = jsonify({"error": reason, "error_description": "the registrationid is unknown, used or expired"})
        response.status_code = 404
    else:
        response = jsonify({"idtoken": row.idtoken, "hmac": row.hmac})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
