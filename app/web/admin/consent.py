"""Console views of consent receipts: a user's receipts on their page, and their export as JSON."""

from __future__ import annotations

from flask import abort, jsonify

from app.consent import receipts
from app.stores import sql as identity
from app.web.admin import bp


@bp.app_template_global("consent_receipts_of")
def consent_receipts_of(user_id: int) -> list[receipts.ConsentReceipt]:
    return receipts.of_user(user_id)


@bp.route("/users/<int:user_id>/consent.json")
def consent_export(user_id: int):
    """Every receipt of one user, newest first, as a JSON download."""
    found = identity.get_user(user_id) or abort(404)
    response = jsonify(
        {
            "user_id": found.id,
            "user_name": found.user_name,
            "receipts": [receipts.as_json(r) for r in receipts.of_user(found.id)],
        }
    )
    response.headers["Content-Disposition"] = f'attachment; filename="consent-receipts-{found.id}.json"'
    return response
