"""UserAuthenticationPlugin: check the collected password of the identified user.

The check is one password sign-in attempt (app/password_signin.py): throttled,
counted against the account's lockout, and refused alike (wrong password, no
password, locked out) until the password is proven.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import password_signin, stores
from app.engine import FlowContext, Outcome, Plugin, StepResult
from app.stores.base import StoreError


@dataclass(frozen=True)
class Params:
    KEY_PASSWORD_PARAM: str = "PASSWORD"  # noqa: S105 - the name of a credential field, not a password


class UserAuthenticationPlugin(Plugin):
    name = "UserAuthenticationPlugin"
    description = "Verifies the password collected by a CredentialCollectorPlugin step."
    Params = Params

    def process(self, ctx: FlowContext) -> StepResult:
        password = ctx.secrets.get(self.params.KEY_PASSWORD_PARAM)
        if not password:
            return StepResult.failure("credentials.missing")
        try:
            user = stores.user(ctx.user_id) if ctx.user_id is not None else None
            result = password_signin.attempt(ctx, user, user.user_name if user else None, password)
        except StoreError as exc:
            return StepResult.error(exc.reason, {"why": str(exc)})
        if result.outcome is Outcome.SUCCESS:
            ctx.add_method("pwd")
        return result
