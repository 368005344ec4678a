"""Audit events: every step outcome and every change to a user, queryable later.

Reason codes are the same stable strings used in logs and metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, event, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import db
from app.timeutil import utcnow

log = logging.getLogger("stepgate.audit")


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "time"),
        Index("ix_audit_events_user_id", "user_id"),
        Index("ix_audit_events_flow", "flow"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(16), nullable=True)
    scheme: Mapped[str | None] = mapped_column(String(128), nullable=True)
    step: Mapped[str | None] = mapped_column(String(128), nullable=True)
    plugin: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user_id: Mapped[int | None] = mapped_column(nullable=True)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)


def flow_ref(flow_id: str) -> str:
    """A short, non-secret reference to a flow for logs and audit (never the id itself)."""
    from app.tokens import digest

    return digest(flow_id)[:16]


def record(
    event: str,
    *,
    flow_id: str | None = None,
    scheme: str | None = None,
    step: str | None = None,
    plugin: str | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    user_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add an audit event to the current transaction and log it as one line.

    The event is written when the transaction commits, together with the
    others of that transaction in one multi-row INSERT (a sign-in records five
    to nine), and dropped if the transaction rolls back. A savepoint rolled
    back inside it does not drop it: an event records what was attempted.
    """
    values = {
        "time": utcnow(),
        "event": event,
        "flow": flow_ref(flow_id) if flow_id else None,
        "scheme": scheme,
        "step": step,
        "plugin": plugin,
        "outcome": outcome,
        "reason": reason,
        "user_id": user_id,
        "detail": detail,
    }
    db.session.info.setdefault(_PENDING, []).append(values)
    log.info(
        "audit event=%s flow=%s scheme=%s step=%s plugin=%s outcome=%s reason=%s user=%s",
        event,
        values["flow"],
        scheme,
        step,
        plugin,
        outcome,
        reason,
        user_id,
    )
    return values


def write_pending(session: Session | None = None) -> None:
    """Insert the events recorded so far in this transaction (before reading them back in it)."""
    session = session or db.session
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.connection().execute(_INSERT, pending)
        session.info.setdefault(_WRITTEN, []).extend(pending)


def on_commit(subscriber: Callable[[dict[str, Any]], None]) -> None:
    """Call ``subscriber`` with each event's values once the transaction that wrote it has committed."""
    _subscribers.append(subscriber)


_INSERT = insert(AuditEvent.__table__)  # built once: a new statement per commit costs its cache key each time
_PENDING = "stepgate.audit.pending"
_WRITTEN = "stepgate.audit.written"
_subscribers: list[Callable[[dict[str, Any]], None]] = []


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        write_pending(session)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for values in session.info.pop(_WRITTEN, ()):
        for subscriber in _subscribers:
            subscriber(values)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction ended; after a commit both lists are already empty
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITTEN, None)


def query(
    *,
    user_id: int | None = None,
    event: str | None = None,
    flow: str | None = None,
    reason: str | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    write_pending()
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        q = q.where(AuditEvent.user_id == user_id)
    if event:
        q = q.where(AuditEvent.event == event)
    if flow:
        q = q.where(AuditEvent.flow == flow)
    if reason:
        q = q.where(AuditEvent.reason == reason)
    return list(db.session.scalars(q))
