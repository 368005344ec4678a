"""SessionIdentificationPlugin: a step-up flow identifies the person by the session they already hold.

When a resource needs more than the browser's valid session has (a higher
level, or ``amr: [mfa]`` on its policy), the gate starts the resource's scheme
with that session in the flow (``session``: user, level, methods). This step
succeeds with the session's user, so the orchestration can go straight to the
missing factor (``when: {mfa: true}`` skips it, otherwise a second-factor step)
instead of asking for the password again. Without such a session, or when its
user is no longer active, it is a FAILURE and the scheme goes on to its usual
first step. The session's methods count only while the flow's user stays its
user (``app/engine/conditions.py``, ``methods_of``).
"""

from __future__ import annotations

from datetime import datetime

from app.engine import FlowContext, Plugin, StepResult
from app.stores import sql as identity
from app.timeutil import utcnow


class SessionIdentificationPlugin(Plugin):
    name = "SessionIdentificationPlugin"
    description = "Identifies the person by the valid session a step-up flow began from."

    def process(self, ctx: FlowContext) -> StepResult:
        session = ctx.data.get("session") or {}
        user_id = session.get("user_id")
        if user_id is None:
            return StepResult.failure("session.none")
        expires = session.get("expires_at")
        if expires and datetime.fromisoformat(expires) <= utcnow():  # a flow resumed after its session ended
            return StepResult.failure("session.expired")
        user = identity.get_user(int(user_id))
        if user is None or not user.active:
            return StepResult.failure("session.user_inactive")
        ctx.user_id = user.id
        ctx.values["USERNAME"] = user.user_name  # a later password prompt shows it read-only
        return StepResult.success(detail={"user_name": user.user_name, "level": session.get("level")})
