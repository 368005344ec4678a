"""Console page for identity providers: settings (never a client secret), discovery, key ids, last error.

Discovery documents and key sets are what the OIDC client stored in the
database (``oidc_provider_documents``), shared by every process. The last
error is the newest IdP or ID-token refusal among recent audit events (a
bounded window, so the page never scans the whole audit table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template
from sqlalchemy import func, or_, select

from app.audit import AuditEvent
from app.extensions import db
from app.oidc.documents import DISCOVERY_TTL, JWKS_TTL, DatabaseDocuments
from app.runtime import current
from app.web.admin import bp

SHOWN = ("display_name", "issuer", "client_id", "scopes", "token_endpoint_auth_method", "trust_email", "enabled")
SHOWN += ("jit_provisioning", "lock_synced_attributes")  # Asgardeo's JIT off, WSO2's enhanced JIT
RECENT_EVENTS = 10_000


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    declared: dict[str, Any]
    discovery: tuple[dict, Any] | None
    discovery_fresh: bool
    key_ids: list[str]
    jwks_fetched_at: Any
    last_error: AuditEvent | None


def declared_fields(body: Any) -> dict[str, Any]:
    """The non-secret fields of one provider, from a raw mapping or a typed settings object."""
    if isinstance(body, dict):
        values = {key: body.get(key) for key in SHOWN}
    else:
        values = {key: getattr(body, key, None) for key in SHOWN}
    return {key: value for key, value in values.items() if value not in (None, "", [], ())}


def status_of(name: str, provider: Any) -> ProviderStatus:
    documents = DatabaseDocuments()
    issuer = getattr(provider, "issuer", None) or (provider.get("issuer") if isinstance(provider, dict) else None)
    discovery = documents.get(issuer, "discovery", reread=True) if issuer else None
    jwks = documents.get(issuer, "jwks", reread=True) if issuer else None
    keys = (jwks[0].get("keys") or []) if jwks else []
    return ProviderStatus(
        name=name,
        declared=declared_fields(provider),
        discovery=discovery,
        discovery_fresh=bool(discovery) and documents.fresh(discovery[1], DISCOVERY_TTL),
        key_ids=[str(k.get("kid", "(no kid)")) for k in keys if isinstance(k, dict)],
        jwks_fetched_at=jwks[1] if jwks else None,
        last_error=_last_error(name),
    )


def _last_error(name: str) -> AuditEvent | None:
    newest = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    query = (
        select(AuditEvent)
        .where(AuditEvent.id > newest - RECENT_EVENTS)
        .where(AuditEvent.outcome.in_(("failure", "error")))  # not the routine oidc.redirect challenge
        .where(
            or_(
                AuditEvent.reason.like("idp.%"),
                AuditEvent.reason.like("id_token.%"),
                AuditEvent.reason.like("oidc.%"),
                AuditEvent.reason.like("userinfo.%"),
            )
        )
        .order_by(AuditEvent.id.desc())
        .limit(50)
    )
    return next((e for e in db.session.scalars(query) if (e.detail or {}).get("provider") == name), None)


@bp.route("/providers")
def providers():
    declared = current().settings.identity_providers or {}
    rows = [status_of(name, body) for name, body in declared.items()] if isinstance(declared, dict) else []
    return render_template("admin/providers.html", providers=rows, jwks_ttl=JWKS_TTL)
