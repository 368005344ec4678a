"""UserIdentificationPlugin: find exactly one active user in an identity store."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app import identity
from app.engine import FlowContext, Plugin, StepResult

_FILTER = re.compile(r"\(\s*([A-Za-z][\w-]*)\s*=\s*\{([A-Za-z][\w]*)\}\s*\)")


@dataclass(frozen=True)
class Params:
    KEY_IDENTITY_STORE_REF: str = "default"
    KEY_LDAP_FILTER: str = "(uid={USERNAME})"


def parse_filter(text: str) -> tuple[str, str]:
    """``(mail={USERNAME})`` → ("mail", "USERNAME"): one attribute equal to one flow value."""
    match = _FILTER.fullmatch(text.strip())
    if not match:
        raise ValueError(f"KEY_LDAP_FILTER {text!r} must look like (attribute={{VALUE_NAME}}), e.g. (uid={{USERNAME}})")
    return match.group(1), match.group(2)


class UserIdentificationPlugin(Plugin):
    name = "UserIdentificationPlugin"
    description = "Finds the user in an identity store by one attribute and a value from the flow."
    Params = Params

    def __init__(self, params: Params, settings=None):
        super().__init__(params, settings)
        self.attribute, self.value_name = parse_filter(params.KEY_LDAP_FILTER)

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        try:
            parse_filter(params.KEY_LDAP_FILTER)
        except ValueError as exc:
            problems.append(("KEY_LDAP_FILTER", str(exc)))
        if settings is not None and params.KEY_IDENTITY_STORE_REF not in settings.identity_stores:
            problems.append(
                (
                    "KEY_IDENTITY_STORE_REF",
                    f"identity store '{params.KEY_IDENTITY_STORE_REF}' is not "
                    f"defined (stores: {', '.join(settings.identity_stores)})",
                )
            )
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        ctx.user_id = None
        value = ctx.lookup(self.value_name)
        if not value:
            return StepResult.failure("user.not_found", {"why": f"no {self.value_name} in the flow"})
        users = identity.find_by_attribute(self.params.KEY_IDENTITY_STORE_REF, self.attribute, str(value))
        if not users:
            return StepResult.failure("user.not_found")
        if len(users) > 1:
            return StepResult.failure("user.ambiguous")
        user = users[0]
        if not user.active:
            return StepResult.failure(f"user.{user.status}", {"user_name": user.user_name})
        ctx.user_id = user.id
        return StepResult.success(detail={"user_name": user.user_name})
