"""One password sign-in attempt: throttled, counted against lockout, answered alike until the password is proven.

UserIdentificationPlugin (when it refuses a name typed with a password) and
UserAuthenticationPlugin both end here, so every attempt costs the same and
says the same to someone who does not know the password:

1. throttling (app/throttling.py) per client address and per typed name,
   known or not: a spent budget is refused before anything else, without a
   hash; a throttled attempt is an ERROR ``signin.throttled`` (asking again at
   once cannot succeed), which the gate answers with 429 and ``Retry-After``;
2. one argon2 verification, always: against the account's hash, or a dummy
   hash for unknown names, ambiguous names, accounts without a password and
   accounts locked out (whose own hash is not even tried: a locked-out person
   sees the same page whether the password was right or not);
3. the attempt counted, atomically, against the throttling budgets and the
   account's lockout (app/lockout.py); an attempt that went over either is
   refused whatever its password.

The reason codes stay precise for the audit, logs and metrics
(``user.not_found``, ``account.locked``, ``account.locked_out``,
``user.no_password``...); app/web/messages.py shows all of these as the same
"user name or password is incorrect" unless ``reveal_account_state`` is on.
Only a proven password learns that its account is locked or disabled
(``user.locked``, ``user.disabled``).

Settings: the ``password_signin:`` block of the settings file, read and checked
here (file:line), once, when the app is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app, has_app_context, has_request_context, request

from app import lockout, stores, throttling
from app.engine import FlowContext, StepResult
from app.lockout import LockoutSettings
from app.passwords import spend_one_check
from app.stores.base import PasswordAnswer
from app.throttling import ThrottleSettings
from app.yamlsource import Checker, Located, load_block

KEY = "password_signin"
_EXTENSION = "stepgate.password_signin"
RETRY_AFTER = "retry_after"
"""Flow data key: the seconds a throttled (or outage-refused) attempt should wait, for the gate's ``Retry-After``."""


@dataclass(frozen=True)
class PasswordSigninSettings:
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    throttling: ThrottleSettings = field(default_factory=ThrottleSettings)
    reveal_account_state: bool = False
    """True (intranets): say "locked", "disabled", "no password" before the password is proven."""


def load(settings_file: str | Path) -> PasswordSigninSettings:
    """The ``password_signin`` block of ``settings_file``; ConfigError with file:line on any problem."""
    return load_block(settings_file, KEY, parse)


def parse(raw: object, doc: Located, check: Checker) -> PasswordSigninSettings:
    if raw is None:
        return PasswordSigninSettings()
    raw = check.require_mapping(raw, doc, KEY, KEY)
    if raw is None:
        return PasswordSigninSettings()
    check.unknown_keys(raw, {"lockout", "throttling", "reveal_account_state"}, KEY)
    reveal = raw.get("reveal_account_state", False)
    if not isinstance(reveal, bool):
        check.add(raw.problem("reveal_account_state", "'reveal_account_state' must be true or false"))
        reveal = False
    return PasswordSigninSettings(
        lockout=lockout.parse_lockout(raw.get("lockout"), raw, check),
        throttling=throttling.parse_throttling(raw.get("throttling"), raw, check),
        reveal_account_state=reveal,
    )


def init_app(app: Flask, settings: PasswordSigninSettings) -> None:
    app.extensions[_EXTENSION] = settings


def current_settings() -> PasswordSigninSettings:
    found = current_app.extensions.get(_EXTENSION) if has_app_context() else None
    return found or PasswordSigninSettings()


def collected_password(ctx: FlowContext) -> str | None:
    """The password typed in this request, if a credential prompt collected one (``ctx.secrets``)."""
    return next((value for value in ctx.secrets.values() if value), None)


def attempt(
    ctx: FlowContext, user, name: str | None, password: str, cause: str = "user.not_found", store=None
) -> StepResult:
    """Check ``password`` for ``user`` (None: ``cause`` says why there is none) as one throttled attempt.

    The user's store checks the password (an LDAP store by binding as the
    user); ``store`` is the store searched when there is no user, which spends
    one check of its own kind so that an unknown name costs what a known one does.

    The counts are written after a hash that takes a while; a database that
    stops answering in between is an outage, not a bug: the gate's fault
    handler makes the step an ERROR ``database.unavailable``, answered 503
    with Retry-After (app/web/gate.py, app/outage.py).
    """
    settings = current_settings()
    budget = (
        settings.throttling,
        current_app.config["SECRET_KEY"],
        request.remote_addr if has_request_context() else None,
        name,
    )
    if (spent := throttling.over_limit(*budget)) is not None:
        return _throttled(ctx, spent)
    locked_out = user is not None and lockout.locked_until(user.id) is not None
    store = stores.of(user) if user is not None else store
    if user is None or locked_out:
        store.spend_one_check(password) if store is not None else spend_one_check(password)
        answer = PasswordAnswer.WRONG
    else:
        answer = store.check_password(user, password)  # SQL: no hash costs the dummy one
    proven = answer.proven
    if (over := throttling.hit(*budget)) is not None:  # counted after the hash: see app/throttling.py
        return _throttled(ctx, over)
    if user is None:
        return StepResult.failure(cause)
    detail = {"user_name": user.user_name}
    number = None if locked_out else lockout.count_check(settings.lockout, user.id)
    if number is None:
        return StepResult.failure("account.locked_out", detail)
    if not proven:
        locked = lockout.failed(settings.lockout, user.id, number, user.user_name)
        if answer is PasswordAnswer.NO_PASSWORD:
            return StepResult.failure("user.no_password", detail)
        if answer in (PasswordAnswer.LOCKED, PasswordAnswer.DISABLED):  # the directory's own refusal
            return StepResult.failure(f"account.{answer.value}", {**detail, "by": "directory"})
        if not user.active:  # the password was not proven: the state is for the audit, not the page
            return StepResult.failure(f"account.{user.status}", {**detail, "password": "wrong"})
        return StepResult.failure("credentials.invalid", {**detail, "locked": True} if locked else detail)
    lockout.succeeded(user.id)
    if not user.active:
        return StepResult.failure(f"user.{user.status}", detail)
    if answer is not PasswordAnswer.PROVEN:  # right, but expired or to be changed: told, as it is proven
        return StepResult.failure(f"password.{answer.value}", detail)
    return StepResult.success(detail=detail)


def _throttled(ctx: FlowContext, refused: throttling.Throttled) -> StepResult:
    ctx.data[RETRY_AFTER] = refused.retry_after
    return StepResult.error("signin.throttled", {"scope": refused.scope, "retry_after": refused.retry_after})
