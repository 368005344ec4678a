"""OpenIDConnectPlugin: sign the person in at an OpenID Provider (authorization code + PKCE).

First visit: redirect to the provider (or show a chooser when the step offers
several). The provider sends the browser back to ``/oam/server/oidc/callback``,
which resumes the flow here: ``state`` is checked first, in constant time, then
RFC 9207's ``iss`` and the error answer (``app.oidc.authorization_response``),
then the code is exchanged and the ID token validated (``app.oidc.id_token``). On success the flow holds
``federated = {provider, issuer, subject, claims}`` and ``USERNAME`` (from
``username_attr``) for later steps.

State, nonce and PKCE verifier live in the flow's persisted data, single use.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from flask import redirect, render_template

from app import routing
from app.engine import FlowContext, Outcome, Plugin, Scenario, StepResult
from app.engine.conditions import MFA, UPSTREAM_PREFIX
from app.oidc import authorization_response, logout
from app.oidc.client import AuthorizationRequest, FederatedIdentity, client_for
from app.oidc.documents import DatabaseDocuments
from app.oidc.errors import OIDCError
from app.oidc.id_token import MAX_SUBJECT
from app.oidc.providers import IdentityProvider
from app.web.urls import absolute_for

log = logging.getLogger("stepgate.oidc")

PENDING = "oidc_pending"
_AMR_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
ALL_PROVIDERS = "*"


@dataclass(frozen=True)
class Params:
    provider: list[str] = field(metadata={"help": "one provider, several (a chooser page), or * for every enabled one"})
    username_attr: str = field(default="sub", metadata={"help": "the claim that becomes USERNAME"})
    scopes: list[str] = field(default_factory=list, metadata={"help": "scopes to ask for; default: the provider's"})
    userinfo: bool = field(default=True, metadata={"help": "also read the userinfo endpoint (its sub must match)"})


class OpenIDConnectPlugin(Plugin):
    name = "OpenIDConnectPlugin"
    description = "Signs the person in at an OpenID Connect provider and validates the ID token."
    Params = Params

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        if settings is None:
            return []
        known = settings.identity_providers or {}
        problems: list[tuple[str | None, str]] = []
        for name in params.provider:
            if name != ALL_PROVIDERS and name not in known:
                problems.append(
                    ("provider", f"identity provider '{name}' is not defined (providers: {', '.join(known) or 'none'})")
                )
        if not problems and not _enabled(params.provider, known):
            problems.append(("provider", "none of the named identity providers is enabled (is its client_id set?)"))
        if params.scopes and "openid" not in params.scopes:
            problems.append(("scopes", "'scopes' must include 'openid'"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        providers = _enabled(self.params.provider, self.settings.identity_providers or {})
        submission = ctx.submission
        if submission is not None and any(k in submission.args for k in ("state", "code", "error")):
            return self._callback(ctx, submission.args)
        chosen = submission.args.get("provider") if submission is not None else None
        if chosen is not None:
            match = next((p for p in providers if p.name == chosen), None)
            return self._start(ctx, match) if match else StepResult.failure("oidc.unknown_provider")
        preset = _preset(ctx, providers)
        if preset is not None:  # routed by domain, or hinted on the URL: only among this step's providers
            return self._start(ctx, preset)
        if len(providers) == 1:
            return self._start(ctx, providers[0])
        page = render_template("oidc_chooser.html", providers=providers)
        return StepResult.challenge(page)

    def _start(self, ctx: FlowContext, provider: IdentityProvider) -> StepResult:
        redirect_uri = absolute_for("oidc.callback")
        client = client_for(provider, DatabaseDocuments())
        if client.unavailable():  # say so now, not after a round trip through the provider's login page
            return _outcome(
                OIDCError("idp.unavailable", "circuit open: not sent to the provider", malfunction=True), provider.name
            )
        try:
            request = client.authorization_request(
                redirect_uri, self.params.scopes, login_hint=_login_hint(ctx, provider)
            )
        except OIDCError as exc:
            return _outcome(exc, provider.name)
        ctx.data[PENDING] = {
            "provider": provider.name,
            "redirect_uri": redirect_uri,
            "state": request.state,
            "nonce": request.nonce,
            "code_verifier": request.code_verifier,
        }
        return StepResult(
            Outcome.CHALLENGE, "oidc.redirect", response=redirect(request.url, 302), detail={"provider": provider.name}
        )

    def _callback(self, ctx: FlowContext, args) -> StepResult:
        """The provider's answer, checked in order: bound to this flow, from its issuer, a code, then the tokens."""
        pending = ctx.data.pop(PENDING, None)  # single use, whatever happens next
        if not pending:
            return _outcome(OIDCError("oidc.state_mismatch", "no authorization request is pending"), "(none)")
        try:
            authorization_response.binding(args, pending["state"])
        except OIDCError as exc:
            return _outcome(exc, pending["provider"])
        provider = (self.settings.identity_providers or {}).get(pending["provider"])
        if provider is None or not provider.enabled:
            return StepResult.error("oidc.unknown_provider", {"provider": pending["provider"]})
        request = AuthorizationRequest("", pending["state"], pending["nonce"], pending["code_verifier"])
        client = client_for(provider, DatabaseDocuments())
        try:
            with client.deadline():  # discovery, keys, token and userinfo together: provider.total_timeout
                code = client.check_authorization_response(args)
                identity = client.sign_in(code, pending["redirect_uri"], request, self.params.userinfo)
        except OIDCError as exc:
            return _outcome(exc, provider.name)
        return self._signed_in(ctx, provider, identity)

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run (``schemes trace``): the scenario's claims stand in for the validated ID token.

        The provider is the step's provider whose issuer is the claims' ``iss``,
        or the step's only enabled provider when ``iss`` is left out.
        ``{"error": "access_denied"}`` stands for the provider's error answer.
        """
        claims = dict(scenario.claims)
        if claims.get("error"):
            reason = "idp.access_denied" if claims["error"] == "access_denied" else "idp.error"
            return StepResult.failure(reason, {"error": str(claims["error"])[:64]})
        providers = _enabled(self.params.provider, self.settings.identity_providers or {})
        issuer = str(claims.get("iss") or "").rstrip("/")
        if issuer:
            provider = next((p for p in providers if p.issuer == issuer), None)
        else:
            provider = providers[0] if len(providers) == 1 else None
        if provider is None:
            return StepResult.failure("oidc.unknown_provider", {"issuer": issuer or "(none given; several providers)"})
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT:
            return StepResult.failure("id_token.bad_claims", {"detail": "sub missing or longer than 255 characters"})
        claims["iss"] = provider.issuer
        return self._signed_in(ctx, provider, FederatedIdentity(provider.issuer, subject, claims))

    def _signed_in(self, ctx: FlowContext, provider: IdentityProvider, identity: FederatedIdentity) -> StepResult:
        """Publish the validated identity for later steps: ``federated`` and ``USERNAME``."""
        user_name = identity.claims.get(self.params.username_attr)
        if not isinstance(user_name, str) or not user_name.strip():
            return StepResult.failure("id_token.no_username", {"claim": self.params.username_attr})
        ctx.data["federated"] = {
            "provider": provider.name,
            "issuer": identity.issuer,
            "subject": identity.subject,
            "claims": identity.claims,
        }
        ctx.values["USERNAME"] = user_name.strip()
        record_methods(ctx, provider, identity.claims)
        if (hint := logout.hint_for(provider, identity.id_token)) is not None:
            ctx.data[logout.HINT_KEY] = hint  # the gate moves it to the session row
        return StepResult.success(detail={"provider": provider.name, "subject": identity.subject})


def _login_hint(ctx: FlowContext, provider: IdentityProvider) -> str | None:
    """What the person typed at an identifier-first step, only for the provider their domain routed them to:
    an address is not told to a provider the person merely picked on the chooser."""
    if ctx.data.get(routing.ROUTED_KEY) != provider.name:
        return None
    return ctx.data.get(routing.LOGIN_HINT_KEY)


def _preset(ctx: FlowContext, providers: list[IdentityProvider]) -> IdentityProvider | None:
    """The provider an identifier-first step routed to, else the one the URL hinted at, if this step offers it.

    A hint naming a provider the step does not offer is ignored (logged), never an error: the
    person sees the chooser as without it.
    """
    for key in (routing.ROUTED_KEY, routing.HINT_KEY):
        name = ctx.data.get(key)
        if name is None:
            continue
        match = next((p for p in providers if p.name == name), None)
        if match is not None:
            return match
        log.info("%s %r is not offered by step %s; ignored", key, name, ctx.step_name)
    return None


def record_methods(ctx: FlowContext, provider: IdentityProvider, claims: dict) -> None:
    """``fed``, the upstream ``amr`` values as ``idp:<value>``, and ``mfa`` when the provider is trusted for it.

    An upstream value is never recorded bare: ``mfa`` in the session means stepgate
    concluded it (``mfa_amr_values`` / ``mfa_acr_values``), not that a provider said so.
    """
    ctx.add_method("fed")
    amr = claims.get("amr")
    for value in amr if isinstance(amr, list) else ():
        if isinstance(value, str) and _AMR_VALUE.fullmatch(value):  # a header carries them, space-separated
            ctx.add_method(f"{UPSTREAM_PREFIX}{value}")
    if provider.asserts_mfa(claims):
        ctx.add_method(MFA)


def _enabled(names: list[str], known: dict[str, IdentityProvider]) -> list[IdentityProvider]:
    if ALL_PROVIDERS in names:
        return [p for p in known.values() if p.enabled]
    return [known[n] for n in names if n in known and known[n].enabled]


def _outcome(exc: OIDCError, provider: str) -> StepResult:
    """The step's result for a refused or failed answer, with one log line that says which rule refused it."""
    detail = {"provider": provider, "detail": exc.detail[:200]}
    log.warning("provider %s: %s refused the sign-in: %r", provider, exc.reason, exc.detail[:200])
    return StepResult.error(exc.reason, detail) if exc.malfunction else StepResult.failure(exc.reason, detail)
