"""CredentialCollectorPlugin: ask the person for credentials with a CSRF-protected form.

A field a later step of the scheme has rules for (``FlowContext.value_rules``:
a password being chosen) is a new password: the browser is told so
(``autocomplete="new-password"``), the rules are listed under its label before
the person types, and after a refusal the rule that failed is marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import render_template, request

from app.credentials import Labels, build_form, parse_cred_param
from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.web.messages import message_for


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
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        form = build_form(self.fields, ctx.values)
        if ctx.submission is None or ctx.submission.method != "POST" or not form.validate_on_submit():
            return self._prompt(form, ctx.error, ctx.value_rules)
        collected = {}
        for f in self.fields:
            value = ctx.lookup(f.id) if f.server_side else getattr(form, f.id).data
            value = f.value if f.server_side and value is None else value
            if not f.secret and isinstance(value, str):
                value = value.strip()
            if not value and f.type != "hidden":
                return self._prompt(form, "credentials.missing", ctx.value_rules)
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

    def _prompt(self, form, reason: str | None, value_rules) -> StepResult:
        labels = self.labels.for_request(request.accept_languages)
        rules = {f.id: value_rules[f.id].rules() for f in self.fields if f.id in value_rules}
        page = render_template(
            "credentials.html",
            form=form,
            fields=self.fields,
            labels=labels,
            error=message_for(reason) if reason else None,
            reason=reason,
            rules=rules,
        )
        return StepResult.challenge(page, prompt=True, reason=reason)


def _properties_path(params: Params, settings) -> Path | None:
    if not params.properties_file:
        return None
    base = Path(settings.schemes_dir) if settings is not None else Path.cwd()
    return (base / params.properties_file).resolve()
