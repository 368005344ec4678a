"""EmailOTPPlugin: a one-time code sent to the identified user's e-mail address.

The code is sent when the step is reached (through the ``smtp:`` settings
block, app/mfa/smtp.py), valid for ``lifetime_seconds``, single use, stored
only as a keyed digest and bound to this flow (app/mfa/email_codes.py). Each
check is one throttled attempt counted toward the account lockout shared with
passwords (app/mfa/attempts.py); a wrong code asks again until the flow's
``max_attempts`` are spent, then the step is a FAILURE. The person may ask for
a new code up to ``max_sends`` times. A mail server that can't be reached is
an ERROR (``otp.mail_unavailable``): a clear page, within the SMTP timeout.
Success records ``otp`` in the flow's ``amr``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.engine.outcome import Outcome
from app.i18n import say
from app.mfa import attempts, email_codes, pages, smtp
from app.stores import sql as identity

log = logging.getLogger("stepgate.mfa")

SENT = "email_otp_sent"
RETRY = ("otp.invalid", "otp.expired", "otp.missing")


@dataclass(frozen=True)
class Params:
    mail_attribute: str = field(default="mail", metadata={"help": "the user attribute holding the address"})
    verified_address_only: bool = field(
        default=False, metadata={"help": "send only to an address whose provenance is verified"}
    )
    code_length: int = field(default=6, metadata={"help": "digits in a code (6 to 10)"})
    lifetime_seconds: int = field(default=300, metadata={"help": "how long a code is valid"})
    max_attempts: int = field(default=5, metadata={"help": "codes checked per flow before the step fails"})
    max_sends: int = field(default=3, metadata={"help": "codes sent per flow (the first and the resends)"})
    subject: str = field(default="", metadata={"help": "the message's subject (default: mail.code.subject)"})


class EmailOTPPlugin(Plugin):
    name = "EmailOTPPlugin"
    description = "Sends a one-time code to the user's e-mail address and checks it."
    Params = Params
    needs_local_account = True  # Asgardeo: MFA needs a local account; after JIT off: flow.needs_local_account

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        for key, low, high in (
            ("code_length", 6, 10),
            ("lifetime_seconds", 30, 3600),
            ("max_attempts", 1, 20),
            ("max_sends", 1, 10),
        ):
            if not low <= getattr(params, key) <= high:
                problems.append((key, f"'{key}' must be from {low} to {high}"))
        if any(c in params.subject for c in "\r\n"):
            problems.append(("subject", "'subject' must be one line"))
        if settings is not None and smtp.load(settings.file) is None:
            problems.append((None, f"EmailOTPPlugin needs the 'smtp' block in {settings.file}"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        user = identity.get_user(ctx.user_id) if ctx.user_id is not None else None
        if user is None:
            return StepResult.error("otp.no_user_identified")
        detail = {"user_name": user.user_name}
        row = next((r for r in user.attribute_rows if r.name == self.params.mail_attribute), None)
        if row is None or not smtp.plain_address(row.value):
            return StepResult.failure("otp.no_address", detail)
        if self.params.verified_address_only and not row.verified:
            return StepResult.failure("otp.unverified_address", detail)
        submission = ctx.submission
        resend = submission is not None and submission.method == "POST" and bool(submission.get("resend"))
        if not ctx.data.get(SENT) or resend:
            return self._send(ctx, user, row.value, detail)
        typed = pages.submitted_code(ctx)
        if not typed:
            return self._prompt(row.value, None if typed is None else "otp.missing")
        max_attempts = self.params.max_attempts
        result = attempts.attempt(ctx, user, lambda: email_codes.verify(ctx.flow_id, user.id, typed, max_attempts))
        if result.outcome is Outcome.SUCCESS:
            ctx.data.pop(SENT, None)
            ctx.add_method("otp")
            return StepResult.success(detail={**(result.detail or {}), "method": "email_otp"})
        if result.outcome is Outcome.FAILURE and result.reason in RETRY:
            challenge = self._prompt(row.value, result.reason)
            return StepResult(challenge.outcome, result.reason, challenge.response, detail=result.detail)
        return result

    def _send(self, ctx: FlowContext, user, address: str, detail: dict) -> StepResult:
        settings = smtp.current_settings()
        if settings is None:
            return StepResult.error("otp.mail_unavailable", {**detail, "why": "no smtp settings"})
        if ctx.data.get(SENT) and email_codes.sends_of(ctx.flow_id) >= self.params.max_sends:
            return self._prompt(address, "otp.too_many_sends")
        if (throttled := attempts.spend_budget(ctx, user)) is not None:
            return throttled
        code = email_codes.new_code(self.params.code_length)
        minutes = max(1, self.params.lifetime_seconds // 60)
        valid = say("mail.code.minute" if minutes == 1 else "mail.code.minutes", minutes=minutes)
        body = say("mail.code.body", code=code, valid=valid)
        try:
            smtp.send(settings, address, self.params.subject or say("mail.code.subject"), body)
        except smtp.MailError as exc:
            log.error("e-mail code for %s not sent: %s", user.user_name, exc)
            return StepResult.error("otp.mail_unavailable", {**detail, "why": str(exc)})
        sends = email_codes.store(ctx.flow_id, user.id, code, self.params.lifetime_seconds)
        ctx.data[SENT] = True
        log.info("sent an e-mail code to %s (send %d of this flow)", user.user_name, sends)
        return self._prompt(address, None)

    def _prompt(self, address: str, reason: str | None) -> StepResult:
        return pages.code_prompt(
            say("mfa.email_title"),
            say("mfa.code"),
            reason,
            intro=say("mfa.email_intro", address=masked(address)),
            resend=True,
        )

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        """A dry run: the scenario's ``OTP`` value stands for the right code from the mail; none is a FAILURE."""
        if ctx.user_id is None:
            return StepResult.error("otp.no_user_identified")
        if not scenario.values.get("OTP"):
            return StepResult.failure("otp.missing", {"why": "the scenario gives no OTP"})
        ctx.add_method("otp")
        return StepResult.success(detail={"simulated": "the right e-mail code"})


def masked(address: str) -> str:
    """``alice@example.org`` → ``a****@example.org``: enough for the person to recognise, not to harvest."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}{'*' * max(3, len(local) - 1)}@{domain}"
