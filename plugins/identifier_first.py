"""IdentifierFirstPlugin: ask who the person is first, then send them to their organisation's provider.

The person types an e-mail address or a user name. The step publishes it as
``USERNAME`` (a later password prompt shows it, a later provider gets it as
``login_hint``) and, when the address's domain is in ``domains`` (home realm
discovery: ``corp.example.com: corp``), marks the flow ``routed_provider``.
The step always succeeds; the scheme decides with a condition
(``when: {routed: true}``) whether the provider step or the password step
comes next. Domains are compared as ``app/routing.py`` says: canonical, exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template

from app import routing
from app.credentials import build_form, parse_cred_param
from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.i18n import say
from app.web.messages import page_message_for

FIELD = "{ID=USERNAME},{DISPLAY_NAME=USERNAME},{TYPE=text}"
LABELS = {"TITLE": "signin.title", "USERNAME": "signin.identifier", "SUBMIT": "signin.continue"}
"""The prompt's labels: catalogue keys (app/i18n/messages.properties), looked up in the request's language."""


@dataclass(frozen=True)
class Params:
    domains: dict[str, str] = field(
        default_factory=dict, metadata={"help": "e-mail domain → identity provider name (home realm discovery)"}
    )


class IdentifierFirstPlugin(Plugin):
    name = "IdentifierFirstPlugin"
    description = "Asks for an e-mail address or user name and routes it to the organisation's provider by domain."
    Params = Params

    def __init__(self, params: Params, settings=None):
        super().__init__(params, settings)
        self.fields = [parse_cred_param(FIELD)]
        self.table = {routing.canonical_domain(d): p for d, p in params.domains.items()}

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        known = getattr(settings, "identity_providers", None)
        for domain, provider in params.domains.items():
            if routing.canonical_domain(domain) is None:
                problems.append(("domains", f"'{domain}' is not a valid domain name"))
            if known is not None and provider not in known:
                problems.append(
                    ("domains", f"identity provider '{provider}' is not defined (providers: {', '.join(known)})")
                )
        canonical = [routing.canonical_domain(d) for d in params.domains]
        if len(set(canonical)) != len(canonical):
            problems.append(("domains", "two entries of 'domains' name the same domain"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        form = build_form(self.fields, ctx.values)
        if ctx.submission is None or ctx.submission.method != "POST" or not form.validate_on_submit():
            return self._prompt(form, ctx.error)
        identifier = (form.USERNAME.data or "").strip()
        if not identifier or len(identifier) > routing.MAX_IDENTIFIER:
            return self._prompt(form, "credentials.missing")
        return self._identified(ctx, identifier)

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run types the scenario's ``USERNAME`` (``--value USERNAME=alice@corp.example.com``)."""
        identifier = str(scenario.values.get("USERNAME") or "").strip()
        if not identifier:
            return StepResult.failure("credentials.missing", {"why": "the scenario gives no USERNAME"})
        return self._identified(ctx, identifier)

    def _identified(self, ctx: FlowContext, identifier: str) -> StepResult:
        ctx.values["USERNAME"] = identifier
        ctx.data[routing.LOGIN_HINT_KEY] = identifier
        provider = routing.provider_for(identifier, self.table)
        if provider is None:
            ctx.data.pop(routing.ROUTED_KEY, None)
            return StepResult.success("routing.local", {"domain": routing.domain_of(identifier) or "-"})
        ctx.data[routing.ROUTED_KEY] = provider
        return StepResult.success("routing.provider", {"provider": provider})

    def _prompt(self, form, reason: str | None) -> StepResult:
        error = page_message_for(reason) if reason else None
        page = render_template(
            "credentials.html",
            form=form,
            fields=self.fields,
            labels={k: say(v) for k, v in LABELS.items()},
            error=error,
        )
        return StepResult.challenge(page, prompt=True, reason=reason)
