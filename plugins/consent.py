"""ConsentPlugin: ask a federated person to agree to what will be stored (WSO2's JIT consent).

The scheme lists its purposes as ``PURPOSE_n`` parameters (``app.consent.purposes``).
The page shows each purpose with its description and attributes; a required
one is ticked and must stay ticked. Declining (the Decline button, or
unticking a required purpose) is an ERROR ``consent.declined``: the flow ends
on a clear page and nothing is created. An optional purpose left unticked
withholds the attributes only it names: provisioning and later syncs store
only attributes an accepted purpose names (``app.consent.narrowed``), so an
attribute the scheme maps but no purpose lists is never stored either.

A person who already has an account linked to this sign-in is asked only when
their newest receipt does not cover every purpose at its current version; the
new answer is kept as a receipt at once. A newcomer's answer waits in the
flow (``ctx.data["consent"]``) and becomes a receipt in the transaction that
creates the account (OAuthUserSelfRegistrationPlugin), so a flow that ends
before that leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template
from flask_wtf import FlaskForm
from wtforms import BooleanField

from app import audit
from app.consent import KEY, purposes, receipts
from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.i18n import say
from app.stores import federation
from app.stores import sql as identity
from app.web.messages import page_message_for


@dataclass(frozen=True)
class Params:
    PURPOSES: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "pattern": r"PURPOSE_\d+",
            "help": "{NAME=..},{DESCRIPTION=..},{VERSION=..},{REQUIRED=true|false},{ATTRIBUTES=attr attr}",
        },
    )
    title: str = field(default="", metadata={"help": "the page's heading (default: the catalogue's consent.title)"})


class ConsentPlugin(Plugin):
    name = "ConsentPlugin"
    description = "Asks a federated person's consent to the purposes and attributes a scheme stores."
    Params = Params

    def __init__(self, params: Params, settings=None):
        super().__init__(params, settings)
        ordered = sorted(params.PURPOSES.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[1]))
        self.purposes = [purposes.parse_purpose(value) for _, value in ordered]

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if not params.PURPOSES:
            problems.append((None, "ConsentPlugin needs at least one PURPOSE_n"))
        names = []
        for key, value in params.PURPOSES.items():
            try:
                names.append(purposes.parse_purpose(value).name)
            except ValueError as exc:
                problems.append((key, f"{key}: {exc}"))
        if len(names) != len(set(names)):
            problems.append((None, "two PURPOSEs use the same NAME"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        federated = ctx.data.get("federated")
        if not federated:
            return StepResult.error("consent.no_federated_identity")
        if KEY in ctx.data:  # answered earlier in this flow (the orchestration came back here)
            return StepResult.success("consent.answered")
        user = federation.find_linked_user(federated["issuer"], federated["subject"])
        if user is not None and not user.active:
            return StepResult.success("consent.not_asked")  # identification refuses the account, with its reason
        if user is not None and (answer := receipts.current_decision(user.id, self.purposes)) is not None:
            ctx.data[KEY] = answer
            return StepResult.success("consent.on_record")
        form = _form(self.purposes)
        submission = ctx.submission
        if submission is None or submission.method != "POST" or not form.validate_on_submit():
            return self._page(form, federated)
        accepted = {p.name for p in self.purposes if form[_field(p)].data}
        declined = [p.name for p in self.purposes if p.required and p.name not in accepted]
        if submission.form.get("action") == "decline" or declined:
            audit.record(
                "consent.declined",
                user_id=user.id if user else None,
                scheme=ctx.scheme_name,
                detail={"provider": federated["provider"], "declined": declined or [p.name for p in self.purposes]},
            )
            return StepResult.error("consent.declined", {"provider": federated["provider"]})
        answer = receipts.decision(self.purposes, accepted, purposes.withheld(self.purposes, accepted))
        ctx.data[KEY] = answer
        if user is not None:
            receipts.record(user, answer, ctx.scheme_name, federated)
            _forget_withheld(user.id, answer["withheld"])
        return StepResult.success("consent.given", {"withheld": answer["withheld"]})

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run accepts every purpose unless the scenario's values say ``CONSENT: decline``."""
        if str(scenario.values.get("CONSENT", "")).lower() == "decline":
            return StepResult.error("consent.declined")
        ctx.data[KEY] = receipts.decision(self.purposes, {p.name for p in self.purposes}, [])
        return StepResult.success("consent.given")

    def _page(self, form, federated: dict) -> StepResult:
        page = render_template(
            "consent.html",
            form=form,
            purposes=[(p, form[_field(p)]) for p in self.purposes],
            title=self.params.title or say("consent.title"),
            provider=federated["provider"],
            error=page_message_for("form.csrf") if form.is_submitted() and form.errors else None,
        )
        return StepResult.challenge(page)


def _field(purpose: purposes.Purpose) -> str:
    return f"purpose_{purpose.name}"


def _form(items: list[purposes.Purpose]) -> FlaskForm:
    class ConsentForm(FlaskForm):
        pass

    for p in items:
        setattr(ConsentForm, _field(p), BooleanField(p.name, default=True))
    return ConsentForm()


def _forget_withheld(user_id: int, withheld: list[str]) -> None:
    """Values a provider set for attributes the person now withholds are removed (theirs or an admin's stay)."""
    if not withheld:
        return
    stored = identity.get_user(user_id)
    for row in list(stored.sorted_attribute_rows):
        if row.name in withheld and row.source.startswith("provider:"):
            stored.set_attribute(row.name, None)
            audit.record(
                "user.attribute_changed",
                user_id=user_id,
                detail={"attribute": row.name, "old": row.value, "new": None, "why": "consent withdrawn"},
            )
