"""What a person reads for each reason code.

Reason codes are stable strings shared by logs, audit and metrics; the text is
for people, kept in the catalogue (app/i18n/messages.properties, ``reason.<code>``)
with its translations. Unknown user and wrong password read the same, on purpose,
and so does every other refusal given before the password is proven (``CONCEALED``).

``message_for`` is the English text, for machine-readable answers (API and SCIM
JSON bodies) that must not change with the caller's language; a page shows
``page_message_for``, in the request's locale.
"""

from app.i18n import DEFAULT_LOCALE, catalogue, current_locale

_ENGLISH = catalogue().by_locale[DEFAULT_LOCALE]

MESSAGES: dict[str, str] = {key[len("reason.") :]: text for key, text in _ENGLISH.items() if key.startswith("reason.")}
DEFAULT = MESSAGES.pop("default")

# -- password sign-ins: no user enumeration (app/password_signin.py) -----------------------------

INCORRECT = MESSAGES["credentials.invalid"]
CONCEALED: dict[str, str] = {
    "user.no_password": MESSAGES["user.no_password"],
    **{key[len("concealed.") :]: text for key, text in _ENGLISH.items() if key.startswith("concealed.")},
}
"""Refusals given before the password is proven: each reads as INCORRECT unless
``password_signin.reveal_account_state`` is on (intranets), when this text is shown."""

STATUSES: dict[str, int] = {
    # a peer at fault, not the person: a gateway's codes (RFC 9110 15.6), never 401; and the throttle
    "idp.timeout": 504,
    "idp.unreachable": 502,
    "idp.bad_response": 502,
    "idp.unavailable": 503,  # the circuit breaker is open (app/oidc/breaker.py)
    "idp.busy": 503,  # the bulkhead is full (app/oidc/bulkhead.py)
    "signin.throttled": 429,  # app/throttling.py; Retry-After comes from the flow
    "consent.declined": 403,  # the person said no: refused, not unauthenticated
    "database.unavailable": 503,
    "redis.unavailable": 503,
    "federation.link_locked": 403,
    "flow.needs_local_account": 403,
    "provisioning.jit_off": 403,
    "otp.mail_unavailable": 503,  # the mail server of e-mail codes (app/mfa/smtp.py)
    "authn.methods_missing": 403,  # signed in at the provider, but not with the factor the resource requires
}
RETRY_AFTER: dict[str, int] = {"idp.unavailable": 5, "idp.busy": 2, "otp.mail_unavailable": 30}
"""Seconds a browser (or a person) should wait before trying again, sent as ``Retry-After`` with a 503."""


def message_for(reason: str | None, locale: str = DEFAULT_LOCALE) -> str:
    """The text for ``reason``: English unless ``locale`` is given (the API's stable wording)."""
    if reason in CONCEALED:
        key = ("concealed." if reason != "user.no_password" else "reason.") + reason
        return catalogue().raw(key if _reveal() else "reason.credentials.invalid", locale)
    return catalogue().raw(f"reason.{reason}" if reason in MESSAGES else "reason.default", locale)


def page_message_for(reason: str | None) -> str:
    """The text for ``reason`` in the request's language: what an HTML page shows."""
    return message_for(reason, current_locale())


def status_for(reason: str | None, default: int = 401) -> int:
    """The HTTP status of a failed sign-in: 401 for a "no", 429 when throttled, 502/503/504 when a peer is at fault."""
    return STATUSES.get(reason or "", default)


def retry_after_for(reason: str | None) -> int | None:
    return RETRY_AFTER.get(reason or "")


def public_reason(reason: str | None) -> str | None:
    """The reason code a page may show: a concealed one reads as ``credentials.invalid``."""
    return "credentials.invalid" if reason in CONCEALED and not _reveal() else reason


def _reveal() -> bool:
    from app.password_signin import current_settings

    return current_settings().reveal_account_state
