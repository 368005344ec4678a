"""Audit events: every step outcome and every change to a user, queryable later.

Reason codes are the same stable strings used in logs and metrics.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

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
) -> AuditEvent:
    """Add an audit event to the current transaction and log it as one line."""
    row = AuditEvent(
        event=event,
        flow=flow_ref(flow_id) if flow_id else None,
        scheme=scheme,
        step=step,
        plugin=plugin,
        outcome=outcome,
        reason=reason,
        user_id=user_id,
        detail=detail,
    )
    db.session.add(row)
    log.info(
        "audit event=%s flow=%s scheme=%s step=%s plugin=%s outcome=%s reason=%s user=%s",
        event,
        row.flow,
        scheme,
        step,
        plugin,
        outcome,
        reason,
        user_id,
    )
    return row


def query(
    *,
    user_id: int | None = None,
    event: str | None = None,
    flow: str | None = None,
    reason: str | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
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
