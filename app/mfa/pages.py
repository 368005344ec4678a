"""The pages the second-factor plugins answer the browser with: one code form, the recovery codes once."""

from __future__ import annotations

from flask import render_template
from flask_wtf import FlaskForm
from wtforms import StringField

from app.engine import FlowContext, StepResult
from app.web.messages import page_message_for


class CodeForm(FlaskForm):
    otp = StringField("Code")


def submitted_code(ctx: FlowContext) -> str | None:
    """The code POSTed to this step (its CSRF token checked): None when nothing was posted, "" when it was empty."""
    if ctx.submission is None or ctx.submission.method != "POST" or "otp" not in ctx.submission.form:
        return None
    form = CodeForm()
    if not form.validate_on_submit():
        return None
    return (form.otp.data or "").strip()


def code_prompt(
    title: str,
    label: str,
    reason: str | None = None,
    *,
    intro: str | None = None,
    enrolment: dict | None = None,
    resend: bool = False,
    inputmode: str = "numeric",
) -> StepResult:
    page = render_template(
        "mfa_code.html",
        form=CodeForm(formdata=None),
        title=title,
        label=label,
        error=page_message_for(reason) if reason else None,
        intro=intro,
        enrolment=enrolment,
        resend=resend,
        inputmode=inputmode,
    )
    return StepResult.challenge(page, reason=reason)


def recovery_codes_page(codes: list[str]) -> StepResult:
    return StepResult.challenge(render_template("mfa_recovery_codes.html", form=CodeForm(formdata=None), codes=codes))
