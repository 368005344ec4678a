"""One second-factor check: throttled and locked out together with password sign-ins.

A code check (TOTP, recovery code, e-mail code) spends the same budgets as a
password attempt (app/throttling.py, per client address and per user name) and
is refused while the account is locked out (app/lockout.py), so a password and
its second factor are one target for a guesser, not two.

Wrong codes are counted here, in ``second_factor_failures``, not in the
password's count: a right password resets that one, and someone who knows the
password must not be able to reset the count of their guesses at the code.
When a window's wrong codes reach ``password_signin.lockout.max_failures``, the
account is locked out through app/lockout.py (``lock_now``), for passwords too.
The check is numbered before the code is verified (one atomic upsert), so of
parallel guesses at most ``max_failures`` are ever verified.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import ForeignKey, Integer, case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app import lockout, password_signin, throttling
from app.engine import FlowContext, StepResult
from app.extensions import db, execute_core
from app.password_signin import RETRY_AFTER
from app.timeutil import utcnow


class SecondFactorFailures(db.Model):
    __tablename__ = "second_factor_failures"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime]


_table = SecondFactorFailures.__table__


def attempt(ctx: FlowContext, user, verify: Callable[[], str | None], detail: dict | None = None) -> StepResult:
    """Run ``verify`` (None: the code is right; else the failure's reason code) as one counted attempt."""
    settings = password_signin.current_settings()
    detail = {"user_name": user.user_name, **(detail or {})}
    if (throttled := spend_budget(ctx, user)) is not None:
        return throttled
    if lockout.locked_until(user.id) is not None:
        return StepResult.failure("otp.locked_out", detail)
    number = _count(settings.lockout, user.id)
    limit = settings.lockout.max_failures
    if limit > 0 and number > limit:  # parallel guesses used up the window a moment ago
        return StepResult.failure("otp.locked_out", detail)
    refused = verify()
    if refused is None:
        execute_core(delete(_table).where(_table.c.user_id == user.id))
        return StepResult.success(detail=detail)
    if limit > 0 and number == limit:
        lockout.lock_now(settings.lockout, user.id, user.user_name, "lockout.second_factor")
        return StepResult.failure("otp.locked_out", {**detail, "locked": True, "why": refused})
    return StepResult.failure(refused, detail)


def spend_budget(ctx: FlowContext, user) -> StepResult | None:
    """Count one attempt against the throttling budgets (per address, per user name), as a password attempt is;
    the ERROR ``signin.throttled`` (429) when a budget is spent. Sending an e-mail code spends one too, so
    someone who knows the password can't flood the person's mailbox."""
    settings = password_signin.current_settings()
    budget = (
        settings.throttling,
        current_app.config["SECRET_KEY"],
        request.remote_addr if has_request_context() else None,
        user.user_name,
    )
    if (spent := throttling.over_limit(*budget)) is not None:
        return _throttled(ctx, spent)
    if (over := throttling.hit(*budget)) is not None:
        return _throttled(ctx, over)
    return None


def failures_of(user_id: int) -> int:
    row = db.session.get(SecondFactorFailures, user_id)
    return row.failures if row else 0


def forget(user_id: int) -> None:
    execute_core(delete(_table).where(_table.c.user_id == user_id))


def _count(settings: lockout.LockoutSettings, user_id: int) -> int:
    """Number this check within the window (a new window once the last one ended)."""
    now = utcnow()
    ended = _table.c.window_start <= now - timedelta(seconds=settings.window_seconds)
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_table)
        .values(user_id=user_id, failures=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[_table.c.user_id],
            set_={
                "failures": case((ended, 1), else_=_table.c.failures + 1),
                "window_start": case((ended, now), else_=_table.c.window_start),
            },
        )
        .returning(_table.c.failures)
    )
    return execute_core(statement).scalar_one()


def _throttled(ctx: FlowContext, refused: throttling.Throttled) -> StepResult:
    ctx.data[RETRY_AFTER] = refused.retry_after
    return StepResult.error("signin.throttled", {"scope": refused.scope, "retry_after": refused.retry_after})
