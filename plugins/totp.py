"""TOTPPlugin: a time-based one-time code (RFC 6238) from an authenticator app, enrolled inside the flow.

An identified user who has no TOTP secret yet enrols here (when
``allow_enrolment``): a new secret is shown as a QR code and as text, and is
kept only once a code from it is typed back; the recovery codes are then shown,
once. A user who has one types the current code, or a recovery code.

Every check is one throttled attempt counted toward the account lockout shared
with passwords (app/mfa/attempts.py). A code is accepted within one step
either side of now, once: a code already used, or an older one, is refused
(``otp.replayed``). A wrong code asks again in this step, up to ``max_attempts``
per flow; then the step is a FAILURE. Success records ``otp`` in the flow's ``amr``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from app import audit, secretbox
from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.engine.outcome import Outcome
from app.i18n import say
from app.mfa import attempts, factors, pages, qr, rfc6238
from app.stores import sql as identity

log = logging.getLogger("stepgate.mfa")

PENDING = "totp_enrolment"
"""Flow data: the secret being enrolled, as an ``{AES}`` box (never in clear in the flow row)."""
CODES_SHOWN = "totp_recovery_codes_shown"
ATTEMPTS = "totp_attempts"
RETRY = ("otp.invalid", "otp.replayed", "otp.missing")


@dataclass(frozen=True)
class Params:
    issuer: str = field(default="stepgate", metadata={"help": "the name authenticator apps show for the account"})
    allow_enrolment: bool = field(default=True, metadata={"help": "a user without TOTP enrols here; false: FAILURE"})
    recovery_codes: int = field(default=10, metadata={"help": "recovery codes made at enrolment (0: none)"})
    max_attempts: int = field(default=5, metadata={"help": "wrong codes per flow before the step fails"})
    window: int = field(default=1, metadata={"help": "time steps (30 s) accepted either side of now"})


class TOTPPlugin(Plugin):
    name = "TOTPPlugin"
    description = "Asks for a time-based one-time code (RFC 6238); enrols an authenticator app in the flow."
    Params = Params
    needs_local_account = True  # Asgardeo: MFA needs a local account; after JIT off: flow.needs_local_account

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if not 0 <= params.recovery_codes <= 50:
            problems.append(("recovery_codes", "'recovery_codes' must be from 0 to 50"))
        if not 1 <= params.max_attempts <= 20:
            problems.append(("max_attempts", "'max_attempts' must be from 1 to 20"))
        if not 0 <= params.window <= 2:
            problems.append(("window", "'window' must be 0, 1 or 2 time steps"))
        if not params.issuer.strip() or ":" in params.issuer:
            problems.append(("issuer", "'issuer' must be a non-empty name without ':'"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        user = identity.get_user(ctx.user_id) if ctx.user_id is not None else None
        if user is None:
            return StepResult.error("otp.no_user_identified")
        if ctx.data.get(CODES_SHOWN):  # the recovery codes were shown; the person goes on
            return self._done(ctx, {"user_name": user.user_name, "enrolled": True})
        try:
            secret = factors.totp_secret(user.id)
        except secretbox.SecretError as exc:
            log.error("TOTP for %s: %s", user.user_name, exc)
            return StepResult.error("otp.master_key_unavailable")
        if secret is None:
            if not self.params.allow_enrolment:
                return StepResult.failure("otp.not_enrolled", {"user_name": user.user_name})
            return self._enrol(ctx, user)
        typed = pages.submitted_code(ctx)
        if not typed:
            return self._prompt(None if typed is None else "otp.missing")
        result = attempts.attempt(ctx, user, lambda: self._verify(ctx, user.id, secret, typed))
        if result.outcome is Outcome.SUCCESS:
            return self._done(ctx, result.detail)
        return self._again_or(ctx, result, self._prompt)

    def _verify(self, ctx: FlowContext, user_id: int, secret: str, typed: str) -> str | None:
        if self.params.recovery_codes and factors.looks_like_recovery_code(typed):
            if not factors.use_recovery_code(user_id, typed):
                return "otp.invalid"
            ctx.data["mfa_method"] = "recovery_code"
            return None
        step = rfc6238.matching_step(rfc6238.secret_bytes(secret), typed, time.time(), self.params.window)
        if step is None:
            return "otp.invalid"
        if not factors.claim_step(user_id, step):
            return "otp.replayed"
        ctx.data["mfa_method"] = "totp"
        return None

    def _enrol(self, ctx: FlowContext, user) -> StepResult:
        try:
            box = ctx.data.get(PENDING)
            if box is None:
                box = ctx.data[PENDING] = factors.seal(rfc6238.new_secret())
            secret = secretbox.decrypt(box, secretbox.master_key())
        except secretbox.SecretError as exc:
            log.error("TOTP enrolment for %s: %s", user.user_name, exc)
            return StepResult.error("otp.master_key_unavailable")
        page = self._enrolment_page(secret, user.user_name)
        typed = pages.submitted_code(ctx)
        if not typed:
            return page(None if typed is None else "otp.missing")
        step = rfc6238.matching_step(rfc6238.secret_bytes(secret), typed, time.time(), self.params.window)
        if step is None:
            return self._again_or(ctx, StepResult.failure("otp.invalid", {"user_name": user.user_name}), page)
        if not factors.enrol(user.id, box, step):
            return StepResult.failure("otp.already_enrolled", {"user_name": user.user_name})
        ctx.data.pop(PENDING, None)
        codes = factors.new_recovery_codes(user.id, self.params.recovery_codes)
        audit.record(
            "mfa.enrolled",
            flow_id=ctx.flow_id,
            user_id=user.id,
            detail={"user_name": user.user_name, "factor": "totp", "recovery_codes": len(codes)},
        )
        ctx.data["mfa_method"] = "totp"
        if not codes:
            return self._done(ctx, {"user_name": user.user_name, "enrolled": True})
        ctx.data[CODES_SHOWN] = True
        return pages.recovery_codes_page([factors.format_code(c) for c in codes])

    def _enrolment_page(self, secret: str, user_name: str):
        uri = rfc6238.provisioning_uri(secret, user_name, self.params.issuer)
        grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        enrolment = {"svg": qr.svg(uri), "secret_grouped": grouped}
        return lambda reason: pages.code_prompt(
            say("mfa.enrol_title"), say("mfa.code_from_app"), reason, enrolment=enrolment
        )

    def _prompt(self, reason: str | None) -> StepResult:
        intro = say("mfa.totp_intro_recovery" if self.params.recovery_codes else "mfa.totp_intro")
        return pages.code_prompt(say("mfa.second_step"), say("mfa.code"), reason, intro=intro, inputmode="text")

    def _again_or(self, ctx: FlowContext, result: StepResult, prompt) -> StepResult:
        """A wrong code asks again, up to ``max_attempts`` per flow; anything else is the step's result."""
        if result.outcome is not Outcome.FAILURE or result.reason not in RETRY:
            return result
        spent = ctx.data[ATTEMPTS] = ctx.data.get(ATTEMPTS, 0) + 1
        if spent >= self.params.max_attempts:
            return StepResult.failure("otp.too_many_attempts", result.detail)
        challenge = prompt(result.reason)
        return StepResult(challenge.outcome, result.reason, challenge.response, detail=result.detail)

    def _done(self, ctx: FlowContext, detail: dict | None) -> StepResult:
        for key in (PENDING, CODES_SHOWN, ATTEMPTS):
            ctx.data.pop(key, None)
        ctx.add_method("otp")
        method = ctx.data.pop("mfa_method", "totp")
        return StepResult.success(detail={**(detail or {}), "method": method})

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run: the scenario's ``OTP`` value stands for a right code; none is a FAILURE."""
        if ctx.user_id is None:
            return StepResult.error("otp.no_user_identified")
        if not scenario.values.get("OTP"):
            return StepResult.failure("otp.missing", {"why": "the scenario gives no OTP"})
        ctx.add_method("otp")
        return StepResult.success(detail={"simulated": "a right TOTP code"})
