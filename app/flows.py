"""The flow store: one row per run of a scheme for one browser, with an expiry.

The browser holds the flow id in a cookie; the row is keyed by its digest. Any
process can load the row and resume the flow, so nothing a login needs lives
in one process's memory.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from app.engine.runner import FlowState
from app.extensions import db
from app.timeutil import in_seconds, utcnow
from app.tokens import digest, new_token


class Flow(db.Model):
    __tablename__ = "flows"
    __table_args__ = (Index("ix_flows_expires_at", "expires_at"),)

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    scheme_name: Mapped[str] = mapped_column(String(128))
    scheme_version: Mapped[str] = mapped_column(String(32))
    target_url: Mapped[str] = mapped_column(String(2048))
    current_step: Mapped[str | None] = mapped_column(String(128), nullable=True)
    waiting: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    failures: Mapped[int] = mapped_column(default=0)
    prompt_step: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


def start_flow(scheme_name: str, scheme_version: str, target_url: str, lifetime: int) -> tuple[str, Flow]:
    """Create a flow; return the id for the browser's cookie and the row."""
    flow_id = new_token()
    row = Flow(
        id_digest=digest(flow_id),
        scheme_name=scheme_name,
        scheme_version=scheme_version,
        target_url=target_url,
        data={},
        expires_at=in_seconds(lifetime),
    )
    db.session.add(row)
    return flow_id, row


def load_flow(flow_id: str | None) -> Flow | None:
    """The active, unexpired flow for this id, or None."""
    if not flow_id:
        return None
    row = db.session.get(Flow, digest(flow_id))
    if row is None or row.status != "active" or row.expires_at <= utcnow():
        return None
    return row


def state_of(flow_id: str, row: Flow) -> FlowState:
    return FlowState(
        id=flow_id,
        scheme_name=row.scheme_name,
        scheme_version=row.scheme_version,
        target_url=row.target_url,
        current_step=row.current_step,
        waiting=row.waiting,
        data=dict(row.data or {}),
        failures=row.failures or 0,  # unset until the row is first flushed
        prompt_step=row.prompt_step,
    )


def save_state(row: Flow, state: FlowState, status: str = "active") -> None:
    row.current_step, row.waiting, row.data = state.current_step, state.waiting, dict(state.data)
    row.failures, row.prompt_step, row.status = state.failures, state.prompt_step, status


def purge_expired() -> int:
    result = db.session.execute(delete(Flow).where(Flow.expires_at <= utcnow()))
    return result.rowcount or 0
