"""The flow context: what one run of a scheme knows, handed to each step.

``data`` is persisted with the flow between requests and must stay
JSON-serialisable. Its documented keys, shared by convention between plugins:

- ``values``: named values steps publish for later steps and for filters such
  as ``(uid={USERNAME})``: credentials collected by ID, ``USERNAME`` from an IdP.
- ``user_id``: the identified user; a flow can only reach ``success`` with one.
- ``error``: the reason code of the last failed attempt, shown on a re-prompt.
- ``federated``: the federated identity (issuer, subject, claims) of an IdP step.
- ``amr``: authentication methods used in this flow (``add_method``: ``pwd``, ``otp``, ``fed``, ``mfa``,
  ``idp:<upstream value>``); the session keeps them.
- ``identified_by``: ``{step, plugin}`` of the step that identified the user (set by the runner).
- ``provisioned``: true once a step created the user's account in this flow.
- ``session``: ``{user_id, level, amr}`` of the valid session a step-up flow began from.
- ``required_amr``: methods the protected resource's policy requires (the runner refuses success without them).

``secrets`` holds values such as passwords for this request only: they are
never written to the flow store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.engine.challenge_page import ChallengePage


@dataclass(frozen=True)
class Submission:
    """What the browser sent when it came back to a waiting step (framework-free)."""

    method: str
    args: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    external: bool = False
    """A post from an external page that returned this flow's one-time token (app/engine/external_post.py)."""

    def get(self, key: str, default: str | None = None) -> str | None:
        if key in self.form:
            return self.form[key]
        return self.args.get(key, default)


@dataclass(frozen=True)
class Scenario:
    """What a dry run (``schemes trace``) stands in for the outside world with.

    ``claims`` replace a validated ID token (and userinfo); ``values`` are what
    the person would type into credential prompts, by CRED_PARAM ID.
    """

    claims: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass
class FlowContext:
    flow_id: str
    scheme_name: str
    step_name: str
    data: dict[str, Any]
    secrets: dict[str, str]
    submission: Submission | None
    target_url: str
    attempt: int = 0
    challenge_page: ChallengePage | None = None
    """The scheme's challenge URL and custom page (OAM's Context Type/Value), for steps that prompt."""
    value_rules: Mapping[str, Any] = field(default_factory=dict)  # Scheme.value_rules: what prompts state

    @property
    def values(self) -> dict[str, Any]:
        return self.data.setdefault("values", {})

    @property
    def user_id(self) -> int | None:
        return self.data.get("user_id")

    @user_id.setter
    def user_id(self, value: int | None) -> None:
        if value is None:
            self.data.pop("user_id", None)
        else:
            self.data["user_id"] = value

    @property
    def error(self) -> str | None:
        return self.data.get("error")

    def add_method(self, method: str) -> None:
        """Record an authentication method used (RFC 8176 ``amr`` values; ``app/engine/conditions.py``)."""
        methods = self.data.setdefault("amr", [])
        if method not in methods:
            methods.append(method)

    def lookup(self, name: str) -> Any:
        """A named value for filters and prefills: published values, then secrets."""
        if name in self.values:
            return self.values[name]
        return self.secrets.get(name)
