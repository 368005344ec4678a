"""Console page for identity providers: what the settings declare (never a client secret)."""

from __future__ import annotations

from flask import render_template

from app.runtime import current
from app.web.admin import bp

SHOWN = ("issuer", "discovery_url", "server_metadata_url", "client_id", "scope", "scopes", "description")


@bp.route("/providers")
def providers():
    declared = current().settings.identity_providers or {}
    rows = []
    if isinstance(declared, dict):
        for name, body in declared.items():
            body = body if isinstance(body, dict) else {}
            rows.append((name, {k: body[k] for k in SHOWN if k in body}))
    return render_template("admin/providers.html", providers=rows)
