"""CredentialCollectorPlugin: ask the person for credentials with a CSRF-protected form.

OAM's ``actiontype`` and ``loginPageURL`` (Table 42-4) choose where the form is
shown. ``FORM`` (the default) answers with stepgate's page, or the scheme's
custom HTML page (``context_type: customHTML``). ``REDIRECT`` sends the browser
to ``loginPageURL``: either the scheme's ``challenge_url``, which stepgate
serves, or an external page that posts the fields back to
``/oam/server/auth_cred_submit`` with the ``loginid`` it was sent, like the
self-registration page. That ``loginid`` stands in for the CSRF token the
external page can't have (``app/engine/external_post.py``).

A field a later step of the scheme has rules for (``FlowContext.value_rules``:
a password being chosen) is a new password: the browser is told so
(``autocomplete="new-password"``), the rules are listed under its label before
the person types, and after a refusal the rule that failed is marked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import render_template, request
from werkzeug.utils import redirect

from app.credentials import Labels, build_form, parse_cred_param
from app.engine import FlowContext, Plugin, Scenario, StepResult, external_post
from app.engine.challenge_page import valid_challenge_url
from app.selfregistration import with_query
from app.web import custom_page
from app.web.messages import page_message_for, public_reason

log = logging.getLogger("stepgate.plugins.credential_collector")
ACTION_TYPES = ("FORM", "REDIRECT")


@dataclass(frozen=True)
class Params:
    CRED_PARAMS: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "pattern": r"CRED_PARAM_\d+",
            "help": "{ID=..},{DISPLAY_NAME=..},{TYPE=text|password|text_readonly|hidden},{VALUE=..}",
        },
    )
    properties_file: str = field(default="", metadata={"help": "labels, relative to the schemes folder"})
    actiontype: str = field(default="FORM", metadata={"help": "FORM (answer with the prompt) or REDIRECT"})
    loginPageURL: str = field(
        default="", metadata={"help": "REDIRECT: the scheme's challenge_url, or an external page's http(s) URL"}
    )


class CredentialCollectorPlugin(Plugin):
    name = "CredentialCollectorPlugin"
    description = "Shows a credential form built from CRED_PARAM_n definitions and collects what is typed."
    Params = Params

    def __init__(self, params: Params, settings=None):
        super().__init__(params, settings)
        ordered = sorted(params.CRED_PARAMS.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[1]))
        self.fields = [parse_cred_param(value) for _, value in ordered]
        self.labels = Labels(_properties_path(params, settings))

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if not params.CRED_PARAMS:
            problems.append((None, "CredentialCollectorPlugin needs at least one CRED_PARAM_n"))
        ids = []
        for key, value in params.CRED_PARAMS.items():
            try:
                ids.append(parse_cred_param(value).id)
            except ValueError as exc:
                problems.append((key, f"{key}: {exc}"))
        if len(ids) != len(set(ids)):
            problems.append((None, "two CRED_PARAMs use the same ID"))
        path = _properties_path(params, settings)
        if path is not None and not path.is_file():
            problems.append(("properties_file", f"properties_file '{params.properties_file}' not found at {path}"))
        return problems + _login_page_problems(params)

    @property
    def redirects(self) -> bool:
        return self.params.actiontype.upper() == "REDIRECT"

    def process(self, ctx: FlowContext) -> StepResult:
        posted = ctx.submission is not None and ctx.submission.method == "POST"
        form = build_form(self.fields, ctx.values, csrf=not (posted and ctx.submission.external))
        if not posted or not form.validate_on_submit():
            return self._ask(ctx, form, ctx.error)
        collected = {}
        for f in self.fields:
            value = ctx.lookup(f.id) if f.server_side else getattr(form, f.id).data
            value = f.value if f.server_side and value is None else value
            if not f.secret and isinstance(value, str):
                value = value.strip()
            if not value and f.type != "hidden":
                return self._ask(ctx, form, "credentials.missing")
            collected[f.id] = value or ""
        for f in self.fields:
            (ctx.secrets if f.secret else ctx.values)[f.id] = collected[f.id]
        ctx.data.pop("error", None)
        return StepResult.success()

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run types the scenario's values into the prompt (server-side fields keep theirs)."""
        collected = {}
        for f in self.fields:
            value = (ctx.lookup(f.id) or f.value) if f.server_side else scenario.values.get(f.id)
            if not value and f.type != "hidden":
                return StepResult.failure("credentials.missing", {"why": f"the scenario gives no {f.id}"})
            collected[f.id] = str(value or "")
        for f in self.fields:
            (ctx.secrets if f.secret else ctx.values)[f.id] = collected[f.id]
        return StepResult.success(detail={"collected": sorted(collected)})

    def _ask(self, ctx: FlowContext, form, reason: str | None) -> StepResult:
        """Show the prompt here, or send the browser (back) to the login page with ``reason`` to show there."""
        if self.redirects and not self._at_login_page(ctx):
            if reason:
                ctx.data["error"] = reason
            return self._send_to_login_page(ctx)
        return self._prompt(form, reason, ctx)

    def _prompt(self, form, reason: str | None, ctx: FlowContext) -> StepResult:
        labels = self.labels.for_request()
        error = page_message_for(reason) if reason else None
        rules = {f.id: ctx.value_rules[f.id].rules() for f in self.fields if f.id in ctx.value_rules}
        page = ctx.challenge_page
        if page is not None and page.custom:
            labels |= _page_labels(page.labels_path).for_request()
            html = custom_page.render(page, form, self.fields, labels, error, reason, rules)
        else:
            html = render_template(
                "credentials.html",
                form=form,
                fields=self.fields,
                labels=labels,
                error=error,
                reason=reason,
                rules=rules,
            )
        return StepResult.challenge(html, prompt=True, reason=reason)

    def _at_login_page(self, ctx: FlowContext) -> bool:
        """Did this browser come to stepgate's own login page (the scheme's challenge_url) for the prompt?"""
        return self.params.loginPageURL.startswith("/") and request.path == self.params.loginPageURL

    def _send_to_login_page(self, ctx: FlowContext) -> StepResult:
        url = self.params.loginPageURL
        if url.startswith("/"):
            page = ctx.challenge_page
            if page is None or page.challenge_url != url:
                log.error(
                    "step %s of %s: loginPageURL %s is not the scheme's challenge_url %r",
                    ctx.step_name,
                    ctx.scheme_name,
                    url,
                    page.challenge_url if page else "",
                )
                return StepResult.error("login_page.misconfigured")
            return StepResult.challenge(redirect(url), prompt=True)
        query = {external_post.PARAM: external_post.issue(ctx.data)}
        if ctx.error:
            query["error"] = public_reason(ctx.error)
        return StepResult.challenge(redirect(with_query(url, query)), prompt=True)


@lru_cache(maxsize=64)
def _page_labels(path: Path | None) -> Labels:
    return Labels(path)


def _login_page_problems(params: Params) -> list[tuple[str | None, str]]:
    action, url = params.actiontype.upper(), params.loginPageURL
    if action not in ACTION_TYPES:
        return [("actiontype", f"actiontype '{params.actiontype}' must be one of {', '.join(ACTION_TYPES)}")]
    if action == "FORM":
        return [("loginPageURL", "loginPageURL is only read with actiontype REDIRECT")] if url else []
    if not url:
        return [("actiontype", "actiontype REDIRECT needs loginPageURL")]
    if url.startswith("/"):
        if valid_challenge_url(url):
            return []
        return [("loginPageURL", f"loginPageURL '{url}' is not a usable path (see challenge_url)")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment or "\\" in url:
        return [("loginPageURL", f"loginPageURL '{url}' must be a path or an absolute http(s) URL without #fragment")]
    return []


def _properties_path(params: Params, settings) -> Path | None:
    if not params.properties_file:
        return None
    base = Path(settings.schemes_dir) if settings is not None else Path.cwd()
    return (base / params.properties_file).resolve()
