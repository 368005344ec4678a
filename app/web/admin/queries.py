"""The console's read queries: keyset-paged, each one served by an index, none counting a whole table.

A page asks for ``limit + 1`` rows to know whether there is a next page, and
the next page starts after the last key shown (``after`` / ``before``), so
page 1000 costs what page 1 costs, with a million users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import select

from app import audit
from app.audit import AuditEvent
from app.extensions import db
from app.flows import Flow
from app.stores.sql import User, UserAttribute
from app.timeutil import utcnow

PAGE = 50
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_key: int | str | None


def _page(rows: list, limit: int, key) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, key(rows[-1]) if more and rows else None)


def users_by_id(after: int = 0, limit: int = PAGE) -> Page[User]:
    rows = db.session.scalars(select(User).where(User.id > after).order_by(User.id).limit(limit + 1))
    return _page(list(rows), limit, lambda u: u.id)


def users_by_attribute(name: str, value: str, after: int = 0, limit: int = PAGE) -> Page[User]:
    """Users whose attribute ``name`` equals ``value``, any store: the (name, value, user_id) index, in its order."""
    query = (
        select(User)
        .join(UserAttribute, UserAttribute.user_id == User.id)
        .where(UserAttribute.name == name, UserAttribute.value == value, UserAttribute.user_id > after)
        .order_by(UserAttribute.user_id)
        .limit(limit + 1)
    )
    return _page(list(db.session.scalars(query)), limit, lambda u: u.id)


def users_by_name_prefix(store: str, prefix: str, after: str = "", limit: int = PAGE) -> Page[User]:
    """User names of ``store`` starting with ``prefix``: a range on the (store, user_name) unique index."""
    query = select(User).where(User.store == store, User.user_name < prefix + "\U0010ffff")
    query = query.where(User.user_name > after) if after else query.where(User.user_name >= prefix)
    rows = db.session.scalars(query.order_by(User.user_name).limit(limit + 1))
    return _page(list(rows), limit, lambda u: u.user_name)


def user_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.user_name).where(User.id.in_(sorted(ids))))
    return {user_id: name for user_id, name in rows}


def flows_in_progress(limit: int = PAGE) -> list[Flow]:
    """Active flows that have not expired, the newest first (the expires_at index)."""
    query = (
        select(Flow)
        .where(Flow.expires_at > utcnow(), Flow.status == "active")
        .order_by(Flow.expires_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class AuditFilter:
    event: str | None = None
    user_id: int | None = None
    reason: str | None = None
    flow: str | None = None
    scheme: str | None = None


def audit_events(filters: AuditFilter, before: int | None = None, limit: int = PAGE) -> Page[AuditEvent]:
    """Audit events newest first, filtered, paged backwards by id."""
    audit.write_pending()  # this request's own events too
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if before:
        query = query.where(AuditEvent.id < before)
    for column, value in (
        (AuditEvent.event, filters.event),
        (AuditEvent.user_id, filters.user_id),
        (AuditEvent.reason, filters.reason),
        (AuditEvent.flow, filters.flow),
        (AuditEvent.scheme, filters.scheme),
    ):
        if value is not None and value != "":
            query = query.where(column == value)
    return _page(list(db.session.scalars(query)), limit, lambda e: e.id)


def flow_trace(flow_ref: str) -> list[AuditEvent]:
    """Every audit event of one flow, in order (the flow index)."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.flow == flow_ref).order_by(AuditEvent.id)))


def registration_records(before: datetime | None = None, limit: int = PAGE) -> Page:
    """Registration records, the latest expiry first (the expires_at index), paged backwards by expiry."""
    from app.registrations import RegistrationRecord

    query = select(RegistrationRecord).order_by(RegistrationRecord.expires_at.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(RegistrationRecord.expires_at < before)
    return _page(list(db.session.scalars(query)), limit, lambda r: r.expires_at.isoformat())
