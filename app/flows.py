"""The flow store: one row per run of a scheme for one browser, with an expiry.

The browser holds the flow id in a cookie; the row is keyed by its digest. Any
process can load the row and resume the flow, so nothing a login needs lives
in one process's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Index, String, bindparam, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.engine.runner import FlowState
from app.extensions import db, execute_core
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


@dataclass
class FlowRecord:
    """A flow as the gate handles it: the runner's state, and whether its row exists yet."""

    state: FlowState
    expires_at: datetime
    stored: bool = False


_table = Flow.__table__
_COLUMNS = ("scheme_name", "scheme_version", "target_url", "current_step", "waiting", "data", "failures", "prompt_step")
# Built once: a flow is read and written on every request of a sign-in, and building
# (and cache-keying) the statement each time cost more than running it.
_LOAD = select(*(_table.c[name] for name in (*_COLUMNS, "status", "expires_at"))).where(
    _table.c.id_digest == bindparam("id_digest")
)
_INSERT = insert(_table)
_UPDATE = update(_table).where(_table.c.id_digest == bindparam("key"))  # SET: the columns passed


def start_flow(scheme_name: str, scheme_version: str, target_url: str, lifetime: int) -> FlowRecord:
    """A new flow (its id, for the browser's cookie, is ``record.state.id``); stored by its first ``save``."""
    state = FlowState(id=new_token(), scheme_name=scheme_name, scheme_version=scheme_version, target_url=target_url)
    return FlowRecord(state, in_seconds(lifetime))


def load_flow(flow_id: str | None) -> FlowRecord | None:
    """The active, unexpired flow for this id, or None."""
    if not flow_id:
        return None
    row = execute_core(_LOAD, {"id_digest": digest(flow_id)}).first()
    if row is None or row.status != "active" or row.expires_at <= utcnow():
        return None
    state = FlowState(
        id=flow_id,
        scheme_name=row.scheme_name,
        scheme_version=row.scheme_version,
        target_url=row.target_url,
        current_step=row.current_step,
        waiting=row.waiting,
        data=dict(row.data or {}),
        failures=row.failures,
        prompt_step=row.prompt_step,
    )
    return FlowRecord(state, row.expires_at, stored=True)


def save(record: FlowRecord, status: str = "active") -> None:
    """Write the flow's state in the current transaction: one INSERT the first time, one UPDATE after."""
    state = record.state
    values = {name: getattr(state, name) for name in _COLUMNS}
    values["data"] = dict(state.data)
    if record.stored:
        execute_core(_UPDATE, {**values, "status": status, "key": digest(state.id)})
        return
    execute_core(
        _INSERT,
        {
            **values,
            "id_digest": digest(state.id),
            "status": status,
            "created_at": utcnow(),
            "expires_at": record.expires_at,
        },
    )
    record.stored = True


def save_after_rollback(record: FlowRecord, status: str) -> None:
    """``save`` in a new transaction after the last one was rolled back, which may have held the row's INSERT."""
    state = record.state
    values = {name: getattr(state, name) for name in _COLUMNS}
    values["data"] = dict(state.data)
    if execute_core(_UPDATE, {**values, "status": status, "key": digest(state.id)}).rowcount == 1:
        record.stored = True
        return
    record.stored = False
    save(record, status)


def purge_expired() -> int:
    result = db.session.execute(delete(Flow).where(Flow.expires_at <= utcnow()))
    return result.rowcount or 0
