"""Render a prompt inside an administrator's custom HTML page (OAM's context type ``customHTML``).

The page's own text is trusted configuration and is inserted as it is, never
through Jinja (so ``{{`` in it is text, not code). Everything stepgate adds is
built here with ``markupsafe`` escaping: the fields (labels, read-only values
that came from an ID token), the CSRF token and the error message. The
result is shown inside stepgate's base layout, so its security headers and
stylesheet apply; an inline ``onclick`` such as the seed's sample is blocked
by the content security policy, and the form still submits without it.
"""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from app.credentials import CredentialField
from app.engine.challenge_page import CREDENTIALS_SLOT, ERRORS_SLOT, SUBMIT_FORM, ChallengePage
from app.i18n import say


def render(
    page: ChallengePage,
    form,
    fields: list[CredentialField],
    labels: dict[str, str],
    error: str | None,
    reason: str | None = None,
    rules: dict | None = None,
) -> str:
    """The administrator's page with the fields (as on stepgate's own page), the CSRF token and the error put in."""
    html = page.html
    notice = Markup('<p class="error" role="alert" id="form-error">{}</p>').format(error) if error else Markup("")
    errors_slot = ERRORS_SLOT.search(html)
    inputs = Markup(  # noqa: S704 - a Jinja template's output, escaped by autoescaping
        render_template(
            "_credential_fields.html", form=form, fields=fields, labels=labels, rules=rules or {}, reason=reason
        )
    )
    if errors_slot is None:
        inputs = notice + inputs  # OAM shows its error codes with the fields unless the page takes them
    html = _insert_after(html, CREDENTIALS_SLOT, inputs)
    if errors_slot is not None:
        html = _insert_after(html, ERRORS_SLOT, notice)
    html = _insert_after(html, SUBMIT_FORM, form.csrf_token())  # WTForms widgets render escaped Markup
    trusted = Markup(html)  # noqa: S704 - the administrator's page, with only escaped markup inserted above
    return render_template("custom_challenge.html", body=trusted, title=labels.get("TITLE") or say("signin.title"))


def _insert_after(html: str, pattern, markup: Markup) -> str:
    match = pattern.search(html)
    return html[: match.end()] + str(markup) + html[match.end() :]
