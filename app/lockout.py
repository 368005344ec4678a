"""Account lockout: after so many failed password checks within a window, the account is locked for a while.

This is the temporary lockout that directories and OAM apply by themselves. It
is kept apart from ``users.status``: an administrator's ``locked`` stays until
an administrator lifts it, while this one ends by itself after
``duration_seconds`` (or sooner through the console or ``flask users unlock``).
One row per account that has failed recently, in the shared database, so every
flow, worker and node sees the same count.

Counting never reads then writes: each check of the account's password is
numbered by one atomic ``INSERT ... ON CONFLICT DO UPDATE SET failures =
failures + 1 RETURNING`` (the same statement leaves a locked row alone and
starts a new count once a window or a lockout has ended). Parallel attempts
each get their own number; a number past ``max_failures`` is answered as
locked out whatever the password was, so however many arrive at once, at most
``max_failures`` of them learn anything, and only the one numbered
``max_failures`` can lock the account and write the audit event. The number is
taken after the hash (app/throttling.py says why: SQLite's write lock), with a
read before it so a locked-out account's own hash is never tried. A right
password ends the count (directories reset their bad-password count the same
way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app import audit
from app.extensions import db, execute_core
from app.timeutil import utcnow
from app.yamlsource import Checker, Located


class AccountLockout(db.Model):
    __tablename__ = "account_lockouts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime]
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)


@dataclass(frozen=True)
class LockoutSettings:
    """``max_failures`` failed checks within ``window_seconds`` lock for ``duration_seconds`` (0 failures: off)."""

    max_failures: int = 10
    window_seconds: int = 900
    duration_seconds: int = 900


@dataclass(frozen=True)
class LockoutState:
    """What the console shows: recent failures and, while locked out, until when."""

    failures: int
    locked_until: datetime | None

    @property
    def locked_out(self) -> bool:
        return self.locked_until is not None and self.locked_until > utcnow()


_table = AccountLockout.__table__


def state_of(user_id: int) -> LockoutState:
    row = db.session.execute(
        select(_table.c.failures, _table.c.locked_until).where(_table.c.user_id == user_id)
    ).first()
    return LockoutState(row.failures, row.locked_until) if row else LockoutState(0, None)


def locked_until(user_id: int) -> datetime | None:
    """When the account's lockout ends, or None when it is not locked out now."""
    state = state_of(user_id)
    return state.locked_until if state.locked_out else None


def count_check(settings: LockoutSettings, user_id: int) -> int | None:
    """Number this check of the account's password in its window; None when its answer must be "locked out".

    None: locked out already, or parallel attempts used up the window's checks
    a moment ago (the one numbered ``max_failures`` locks the account if its
    password was wrong too). With lockout off every check is number 0.
    """
    if settings.max_failures <= 0:
        return 0
    now = utcnow()
    c = _table.c
    locked = and_(c.locked_until.is_not(None), c.locked_until > now)
    fresh = or_(c.window_start <= now - timedelta(seconds=settings.window_seconds), c.locked_until.is_not(None))
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_table)
        .values(user_id=user_id, failures=1, window_start=now, locked_until=None)
        .on_conflict_do_update(
            index_elements=[c.user_id],
            set_={  # every expression reads the row as it was: one atomic step, whatever runs beside it
                "failures": case((locked, c.failures), (fresh, 1), else_=c.failures + 1),
                "window_start": case((locked, c.window_start), (fresh, now), else_=c.window_start),
                "locked_until": case((locked, c.locked_until), else_=None),
            },
        )
        .returning(c.failures, c.locked_until)
    )
    row = execute_core(statement).one()
    if row.locked_until is not None or row.failures > settings.max_failures:
        return None
    return row.failures


def failed(settings: LockoutSettings, user_id: int, number: int, user_name: str) -> bool:
    """Check ``number`` of the window failed: the window's last allowed one locks the account (audited).

    Only one check per window carries that number, so parallel failures lock
    and audit once. Returns True when this call locked the account.
    """
    if settings.max_failures <= 0 or number < settings.max_failures:
        return False
    until = utcnow() + timedelta(seconds=settings.duration_seconds)
    execute_core(update(_table).where(_table.c.user_id == user_id).values(locked_until=until))
    audit.record(
        "account.locked",
        user_id=user_id,
        reason="lockout.max_failures",
        detail={
            "user_name": user_name,
            "failures": settings.max_failures,
            "window_seconds": settings.window_seconds,
            "locked_until": until.isoformat(timespec="seconds"),
        },
    )
    return True


def lock_now(settings: LockoutSettings, user_id: int, user_name: str, reason: str) -> datetime:
    """Lock the account out for ``duration_seconds`` from now, whatever its count (audited).

    For failures counted elsewhere: the second factors (app/mfa/attempts.py)
    count their own wrong codes, which a right password must not reset, and
    lock through here so that password and codes share one lockout.
    """
    until = utcnow() + timedelta(seconds=settings.duration_seconds)
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_table).values(
        user_id=user_id, failures=settings.max_failures, window_start=utcnow(), locked_until=until
    )
    execute_core(statement.on_conflict_do_update(index_elements=[_table.c.user_id], set_={"locked_until": until}))
    audit.record(
        "account.locked",
        user_id=user_id,
        reason=reason,
        detail={"user_name": user_name, "locked_until": until.isoformat(timespec="seconds")},
    )
    return until


def succeeded(user_id: int) -> None:
    """The check proved the password: the count starts again."""
    over = or_(_table.c.locked_until.is_(None), _table.c.locked_until <= utcnow())
    execute_core(delete(_table).where(_table.c.user_id == user_id, over))


def unlock(user_id: int, user_name: str, by: str) -> bool:
    """End the account's lockout now (console, CLI); True when it was locked out. Audited."""
    until = locked_until(user_id)
    db.session.execute(delete(AccountLockout).where(AccountLockout.user_id == user_id))
    if until is None:
        return False
    audit.record(
        "account.unlocked",
        user_id=user_id,
        detail={"user_name": user_name, "locked_until": until.isoformat(timespec="seconds"), "by": by},
    )
    return True


def forget(user_id: int) -> None:
    """Drop the account's row (the user is being deleted; SQLite does not cascade)."""
    db.session.execute(delete(AccountLockout).where(AccountLockout.user_id == user_id))


def parse_lockout(raw: object, where: Located, check: Checker) -> LockoutSettings:
    """The ``lockout:`` block of ``password_signin``, checked with file and line."""
    if raw is None:
        return LockoutSettings()
    raw = check.require_mapping(raw, where, "lockout", "password_signin.lockout")
    if raw is None:
        return LockoutSettings()
    check.unknown_keys(raw, {"max_failures", "window_seconds", "duration_seconds"}, "password_signin.lockout")
    defaults = LockoutSettings()
    values = {}
    for key, low, high in (("max_failures", 0, 1000), ("window_seconds", 1, 86400), ("duration_seconds", 1, 86400)):
        value = raw.get(key, getattr(defaults, key))
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            check.add(raw.problem(key, f"'lockout.{key}' must be a whole number from {low} to {high}"))
            value = getattr(defaults, key)
        values[key] = value
    return LockoutSettings(**values)
