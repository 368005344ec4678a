"""Self-registration through an external page (OAM 42.1, "mode 1"), called by the plugin step.

``register(ctx, registration_url, secret_key)`` is the whole step:

1. First call (no ``ctx.submission``): the flow must carry a federated identity
   (``ctx.data["federated"]``). A registration record is made, bound to this
   flow, holding the claims and their HMAC; the browser goes to
   ``registration_url?registrationid=...``.
2. The browser comes back to ``/oam/server/auth_cred_submit?registrationid=...``
   and the gate resumes the flow in *its* cookie. The id must be the one this
   flow made, unexpired and unused; it is consumed. SUCCESS only when an
   account was created for this very registration (the SCIM create that
   carried the id linked it to the IdP identity), so the next step can find
   exactly that account by its link, never an older account that merely shares
   an email address with the claims.

Plain function with plain inputs: no Flask request, so it is easy to test.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.utils import redirect

from app import registrations
from app.engine.context import FlowContext
from app.engine.outcome import StepResult
from app.extensions import db
from app.regdata import idtoken_of, sign
from app.registrations import RegistrationRecord, RegistrationStatus
from app.secretbox import SecretError, resolve_secret
from app.stores import federation
from app.tokens import digest

log = logging.getLogger("stepgate.selfregistration")

DEFAULT_LIFETIME = 600
ID_PARAM = "registrationid"


def check_registration_url(url: str) -> str | None:
    """A problem with a configured registration page address, or None (for the plugin's ``check``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"registration_url '{url}' must be an absolute http(s) URL"
    if parts.fragment:
        return f"registration_url '{url}' must not have a #fragment"
    return None


def register(ctx: FlowContext, registration_url: str, secret_key: str, lifetime: int = DEFAULT_LIFETIME) -> StepResult:
    """Send the person to the registration page, or finish when they come back."""
    if ctx.submission is None:
        return _hand_off(ctx, registration_url, secret_key, lifetime)
    return _come_back(ctx)


def _hand_off(ctx: FlowContext, registration_url: str, secret_key: str, lifetime: int) -> StepResult:
    federated = ctx.data.get("federated")
    if not _is_federated(federated):
        log.error("step %s of %s has no federated identity to register", ctx.step_name, ctx.scheme_name)
        return StepResult.error("registration.no_federated_identity")
    try:
        key = resolve_secret(secret_key)
    except SecretError as exc:
        log.error("step %s of %s: secret_key unusable: %s", ctx.step_name, ctx.scheme_name, exc)
        return StepResult.error("registration.secret_unavailable")
    _discard_previous(ctx)
    idtoken = idtoken_of(federated["claims"])
    registration_id, row = registrations.create_record(
        ctx.flow_id,
        str(federated["provider"]),
        federated["issuer"],
        federated["subject"],
        idtoken,
        sign(key, idtoken),
        lifetime,
    )
    ctx.data["registration"] = {"id_digest": row.id_digest}
    return StepResult.challenge(redirect(with_query(registration_url, {ID_PARAM: registration_id})))


def _come_back(ctx: FlowContext) -> StepResult:
    registration_id = ctx.submission.get(ID_PARAM)
    if not registration_id:
        return StepResult.failure("registration.missing")
    expected = (ctx.data.get("registration") or {}).get("id_digest", "")
    row = registrations.find_record(registration_id)
    if not expected or not hmac.compare_digest(digest(registration_id), expected) or row is None:
        log.warning("flow came back with a registrationid it did not make (step %s)", ctx.step_name)
        return StepResult.failure("registration.unknown")
    if not row.bound_to(ctx.flow_id):
        return StepResult.failure("registration.unknown")
    status, user_id, expired = row.status, row.user_id, row.expired
    if status == RegistrationStatus.USED.value or not registrations.mark_used(row):
        return StepResult.failure("registration.used")
    ctx.data.pop("registration", None)
    if expired:
        return StepResult.failure("registration.expired")
    if status != RegistrationStatus.CREATED.value or user_id is None:
        return StepResult.failure("registration.no_account")
    linked = federation.find_linked_user(row.issuer, row.subject)
    if linked is None or linked.id != user_id:
        log.warning("registration's account %s is no longer linked to its IdP identity", user_id)
        return StepResult.failure("registration.no_account")
    return StepResult.success(detail={"registered_user_id": user_id})


def _is_federated(value: object) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("claims"), dict):
        return False
    return all(isinstance(value.get(k), str) and value.get(k) for k in ("provider", "issuer", "subject"))


def _discard_previous(ctx: FlowContext) -> None:
    """A flow that loops back to this step makes a new id; the old one is consumed."""
    previous = (ctx.data.get("registration") or {}).get("id_digest")
    row = db.session.get(RegistrationRecord, previous) if previous else None
    if row is not None:
        registrations.mark_used(row)


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to (or replacing in) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
