"""UserAuthenticationPlugin: check the collected password of the identified user."""

from __future__ import annotations

from dataclasses import dataclass

from app import identity
from app.engine import FlowContext, Plugin, StepResult
from app.passwords import verify_password


@dataclass(frozen=True)
class Params:
    KEY_PASSWORD_PARAM: str = "PASSWORD"  # noqa: S105 - the name of a credential field, not a password


class UserAuthenticationPlugin(Plugin):
    name = "UserAuthenticationPlugin"
    description = "Verifies the password collected by a CredentialCollectorPlugin step."
    Params = Params

    def process(self, ctx: FlowContext) -> StepResult:
        password = ctx.secrets.get(self.params.KEY_PASSWORD_PARAM)
        user = identity.get_user(ctx.user_id) if ctx.user_id is not None else None
        if not password:
            return StepResult.failure("credentials.missing")
        if user is None:
            verify_password(None, password)  # same cost as a real check: no user enumeration by timing
            return StepResult.failure("user.not_found")
        if user.password_hash is None:
            return StepResult.failure("user.no_password", {"user_name": user.user_name})
        if not user.check_password(password):
            return StepResult.failure("credentials.invalid", {"user_name": user.user_name})
        if not user.active:
            return StepResult.failure(f"user.{user.status}", {"user_name": user.user_name})
        return StepResult.success(detail={"user_name": user.user_name})
