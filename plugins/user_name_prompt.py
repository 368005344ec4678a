"""UserNamePromptPlugin: the federated person chooses the user name of the account about to be created.

WSO2's "prompt for username" (``ask: always``), and the way out of the dead
end where the provider's user name is already held by someone else
(``ask: when_taken``: the provider's name is kept when it is free and usable,
and the form appears only when it is not).

The form never leads into an existing account (CVE-2023-6837 in WSO2 was
exactly that): a name is checked in its normalised form (``app.usernames``),
so ``Admin``, ``ADMIN`` and ``Ａｄｍｉｎ`` are all "taken" by ``admin``, and a
taken name is refused on the form with a free suggestion. The check is only
for the person's comfort: the database's unique index on the name key decides,
in the provisioning step's INSERT. A name taken between the form and that
INSERT (two people choosing it at once) makes provisioning an ERROR
``registration.user_name_taken``; the schemes route that ERROR back here
(``on_error: User_Name``) and the form asks again, with a suggestion.

The identity store is the one the scheme's provisioning step writes to. The
person may try at most ``max_attempts`` names in one flow: the form tells
whether a name exists, and it is reached only after a provider sign-in, so a
flow cannot be used to list accounts.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field

from flask import render_template
from flask_wtf import FlaskForm
from wtforms import StringField

from app import provisioning, usernames
from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.i18n import say
from app.stores import sql as identity

CHOSEN = "user_name_chosen"
TRIES = "user_name_tries"
ASK = ("always", "when_taken")


@dataclass(frozen=True)
class Params:
    ask: str = field(
        default="always",
        metadata={"help": "always: the person chooses the name; when_taken: only when the provider's name is taken"},
    )
    max_attempts: int = field(default=10, metadata={"help": "names one flow may try"})


class UserNameForm(FlaskForm):
    user_name = StringField("User name")


class UserNamePromptPlugin(Plugin):
    name = "UserNamePromptPlugin"
    description = "Lets a federated person choose the user name of their new account; never a taken one."
    Params = Params

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if params.ask not in ASK:
            problems.append(("ask", f"ask must be one of {', '.join(ASK)}"))
        if params.max_attempts < 1:
            problems.append(("max_attempts", "max_attempts must be at least 1"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        if not ctx.data.get("federated"):
            return StepResult.error("registration.no_federated_identity")
        store = _store_of(ctx.scheme_name)
        submission = ctx.submission
        if submission is not None and submission.method == "POST":
            return self._submitted(ctx, store)
        chosen = ctx.data.get(CHOSEN)
        if chosen is not None:  # back from provisioning, which could not create the account with this name
            if identity.find_by_user_name(store, chosen) is not None:
                return self._form(store, chosen, "user_name.taken_meanwhile", chosen)
            return StepResult.error("registration.not_completed", {"user_name": chosen})
        proposed = str(ctx.values.get("USERNAME") or "")
        problem = _problem(store, proposed)
        if problem is None and self.params.ask == "when_taken":
            ctx.data[CHOSEN] = proposed
            return StepResult.success("user_name.as_provided", {"user_name": proposed})
        if self.params.ask == "when_taken":
            return self._form(store, proposed, problem, proposed)
        return self._form(store, proposed if problem is None else suggest(store, proposed), None, proposed)

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run takes the scenario's ``USERNAME`` (or keeps the provider's) and checks it like the form."""
        name = str(scenario.values.get("USERNAME") or ctx.values.get("USERNAME") or "")
        if problem := _problem(_store_of(ctx.scheme_name), name):
            return StepResult.failure(problem, {"user_name": name[:64]})
        ctx.values["USERNAME"] = name
        return StepResult.success(detail={"user_name": name})

    def _submitted(self, ctx: FlowContext, store: str) -> StepResult:
        form = UserNameForm()
        typed = (form.user_name.data or "").strip() if form.validate_on_submit() else ""
        tries = ctx.data.get(TRIES, 0) + 1
        ctx.data[TRIES] = tries
        problem = _problem(store, typed) if typed else "user_name.missing"
        if problem is None:
            ctx.data[CHOSEN] = typed
            ctx.values["USERNAME"] = typed
            return StepResult.success("user_name.chosen", {"user_name": typed})
        if tries >= self.params.max_attempts:
            return StepResult.error("user_name.too_many_attempts", {"tries": tries})
        return self._form(store, typed, problem, typed)

    def _form(self, store: str, prefill: str, problem: str | None, base: str) -> StepResult:
        form = UserNameForm(formdata=None, data={"user_name": prefill[:255]})
        taken = problem in ("user_name.taken", "user_name.taken_meanwhile")
        page = render_template(
            "user_name.html",
            form=form,
            problem=problem,
            why=say(problem) if problem in _PROBLEMS else "",
            detail=_detail(prefill) if problem == "user_name.unusable" else "",
            suggestion=suggest(store, base) if taken or problem == "user_name.unusable" else None,
        )
        return StepResult.challenge(page, prompt=True, reason=problem)


_PROBLEMS = frozenset({"user_name.taken", "user_name.taken_meanwhile", "user_name.unusable", "user_name.missing"})
"""Problems the form explains; each one's code is its text's key in the catalogue (app/i18n/messages.properties)."""


def _problem(store: str, name: str) -> str | None:
    """Why ``name`` can't be given to a new account of ``store``, as a reason code; None when it can."""
    if not name:
        return "user_name.missing"
    try:
        usernames.require(name)
    except usernames.UserNameRefused:
        return "user_name.unusable"
    return "user_name.taken" if identity.find_by_user_name(store, name) is not None else None


def _detail(name: str) -> str:
    try:
        usernames.require(name)
    except usernames.UserNameRefused as exc:
        params = dict(exc.params)
        if "why" in params:
            params["why"] = say(f"user_name.why.{params['why']}")
        if "scripts" in params:
            params["scripts"] = f" {say('user_name.and')} ".join(params["scripts"].split(", "))
        return say(exc.key, **params)
    return ""


def suggest(store: str, base: str) -> str:
    """A free user name close to ``base``: ``base2`` … ``base9``, then ``base`` and four random digits.

    ``base`` is taken in its NFKC form, or its normalised key, or else ``user``: the first usable one.
    """
    plain = unicodedata.normalize("NFKC", base)  # a look-alike's plain form: "Ｈｅｎｒｙ" suggests "Henry3"
    folded = usernames.key(base)
    stem = next((c for c in (plain, folded) if c and _usable(c)), "user")[:240]
    candidates = [f"{stem}{n}" for n in range(2, 10)] + [f"{stem}{secrets.randbelow(9000) + 1000}" for _ in range(5)]
    for candidate in candidates:
        if _usable(candidate) and identity.find_by_user_name(store, candidate) is None:
            return candidate
    return f"{stem}{secrets.token_hex(4)}"


def _usable(name: str) -> bool:
    try:
        usernames.require(name)
    except usernames.UserNameRefused:
        return False
    return True


def _store_of(scheme_name: str) -> str:
    """The identity store the scheme's provisioning step writes to (where the name must be free)."""
    from app.runtime import current

    policy = provisioning.policy_of_scheme(current().schemes.get(scheme_name))
    return policy.store if policy is not None else "default"
