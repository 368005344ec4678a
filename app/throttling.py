"""Sign-in throttling: at most so many password attempts per client address and per account name per window.

Counters are rows of the shared database, one per (scope, value) and fixed
window, so every worker and every node counts together; no Redis is needed and
nothing lives in process memory. A hit is one atomic ``INSERT ... ON CONFLICT
DO UPDATE ... RETURNING`` (PostgreSQL and SQLite alike): concurrent attempts
never lose a count. Every attempt counts, the refused ones too and the right
passwords too, so a burst of parallel requests can't slip between a read and
a write, and signing in to one's own account can't reset an attacker's budget.

The count is written after the password hash (app/password_signin.py): on
SQLite a write holds the database's one write lock until the request commits,
and holding it through a hash would queue every sign-in of every worker behind
it. A read before the hash refuses a spent budget without hashing; the atomic
count after it refuses an attempt that went over, whatever its password.

Values are kept as keyed digests (HMAC with the server's secret key): a user
name field often receives a password typed in the wrong box, and addresses
are personal data; the table only needs to tell them apart.

A fixed window is enough here: its worst case is twice the limit across a
window boundary, and Retry-After is exact (the window's end).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app import usernames
from app.extensions import db, execute_core
from app.timeutil import utcnow
from app.yamlsource import Checker, Located


class ThrottleWindow(db.Model):
    __tablename__ = "signin_throttle"
    __table_args__ = (Index("ix_signin_throttle_window_start", "window_start"),)  # for the purge

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Rule:
    """``limit`` attempts per ``window_seconds``; a limit of 0 turns the rule off."""

    limit: int
    window_seconds: int


@dataclass(frozen=True)
class ThrottleSettings:
    per_address: Rule = Rule(30, 60)
    per_name: Rule = Rule(10, 60)


@dataclass(frozen=True)
class Throttled:
    """A refused attempt: which rule refused it and how long until its window ends."""

    scope: str
    retry_after: int


def normalise_name(name: str) -> str:
    """``Alice``, ``ALICE``, full-width ``Ａｌｉｃｅ`` and ``Al\u200bice`` count as one name: the key that
    user names are unique in (app/usernames.py: NFKC, case folded, invisible characters dropped)."""
    return usernames.key(name)


def over_limit(settings: ThrottleSettings, secret: str, address: str | None, name: str | None) -> Throttled | None:
    """The first rule whose budget is already spent, read without writing (an attempt refused for nothing)."""
    for scope, key, rule in _keys(settings, secret, address, name):
        row = db.session.execute(select(_table.c.hits, _table.c.window_start).where(_table.c.key == key)).first()
        if row is not None and row.hits >= rule.limit and _ends(row.window_start, rule) > 0:
            return Throttled(scope, _ends(row.window_start, rule))
    return None


def hit(settings: ThrottleSettings, secret: str, address: str | None, name: str | None) -> Throttled | None:
    """Count one attempt from ``address`` on ``name``; the first rule it goes over, or None."""
    refused = None
    for scope, key, rule in _keys(settings, secret, address, name):
        hits, started = _count(key, rule.window_seconds)
        if hits > rule.limit and refused is None:
            refused = Throttled(scope, max(1, _ends(started, rule)))
    return refused


def _keys(settings: ThrottleSettings, secret: str, address: str | None, name: str | None):
    for scope, value, rule in (
        ("address", address, settings.per_address),
        ("name", normalise_name(name) if name else None, settings.per_name),
    ):
        if value and rule.limit > 0:
            yield scope, _key(secret, scope, value), rule


def _ends(started: datetime, rule: Rule) -> int:
    """Whole seconds until the window that began at ``started`` ends (Retry-After)."""
    return math.ceil((started + timedelta(seconds=rule.window_seconds) - utcnow()).total_seconds())


def purge_expired(settings: ThrottleSettings) -> int:
    """Delete windows that ended (``flask purge``)."""
    longest = max(settings.per_address.window_seconds, settings.per_name.window_seconds)
    cutoff = utcnow() - timedelta(seconds=longest)
    return db.session.execute(delete(ThrottleWindow).where(ThrottleWindow.window_start < cutoff)).rowcount


def _key(secret: str, scope: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{scope}\0{value}".encode(), hashlib.sha256).hexdigest()


_table = ThrottleWindow.__table__


def _count(key: str, window_seconds: int) -> tuple[int, datetime]:
    """One more hit on ``key``: a new window when the last one ended. Returns (hits, window start)."""
    now = utcnow()
    ended = _table.c.window_start <= now - timedelta(seconds=window_seconds)
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_table).values(key=key, window_start=now, hits=1)
    statement = statement.on_conflict_do_update(
        index_elements=[_table.c.key],
        set_={
            "hits": case((ended, 1), else_=_table.c.hits + 1),
            "window_start": case((ended, now), else_=_table.c.window_start),
        },
    ).returning(_table.c.hits, _table.c.window_start)
    row = execute_core(statement).one()
    return row.hits, row.window_start


def parse_throttling(raw: object, where: Located, check: Checker) -> ThrottleSettings:
    """The ``throttling:`` block of ``password_signin``, checked with file and line."""
    if raw is None:
        return ThrottleSettings()
    raw = check.require_mapping(raw, where, "throttling", "password_signin.throttling")
    if raw is None:
        return ThrottleSettings()
    check.unknown_keys(raw, {"per_address", "per_name"}, "password_signin.throttling")
    defaults = ThrottleSettings()
    return ThrottleSettings(
        per_address=_rule(raw, "per_address", defaults.per_address, check),
        per_name=_rule(raw, "per_name", defaults.per_name, check),
    )


def _rule(where: Located, key: str, default: Rule, check: Checker) -> Rule:
    raw = where.get(key)
    if raw is None:
        return default
    raw = check.require_mapping(raw, where, key, f"password_signin.throttling.{key}")
    if raw is None:
        return default
    check.unknown_keys(raw, {"limit", "window_seconds"}, f"password_signin.throttling.{key}")
    limit = raw.get("limit", default.limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 1_000_000:
        check.add(raw.problem("limit", f"'{key}.limit' must be a whole number from 0 (off) to 1000000"))
        limit = default.limit
    seconds = raw.get("window_seconds", default.window_seconds)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 86400:
        check.add(raw.problem("window_seconds", f"'{key}.window_seconds' must be a whole number from 1 to 86400"))
        seconds = default.window_seconds
    return Rule(limit, seconds)
