"""Console page for identity providers: what the settings declare (never a client secret)."""

from __future__ import annotations

from typing import Any

from flask import render_template

from app.runtime import current
from app.web.admin import bp

SHOWN = ("issuer", "discovery_url", "server_metadata_url", "client_id", "scope", "scopes", "enabled", "description")


def declared_fields(body: Any) -> dict[str, Any]:
    """The non-secret fields of one provider, from a raw mapping or a typed settings object."""
    if isinstance(body, dict):
        values = {key: body.get(key) for key in SHOWN}
    else:
        values = {key: getattr(body, key, None) for key in SHOWN}
    return {key: value for key, value in values.items() if value not in (None, "", [], ())}


@bp.route("/providers")
def providers():
    declared = current().settings.identity_providers or {}
    rows = [(name, declared_fields(body)) for name, body in declared.items()] if isinstance(declared, dict) else []
    return render_template("admin/providers.html", providers=rows)
