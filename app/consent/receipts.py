"""Consent receipts: what a person agreed to, kept in ``consent_receipts``, one row per decision.

A receipt says who (user, store, provider, subject), when, and for each
purpose its name, version, attributes and whether it was accepted; it also
lists the attributes withheld because of a declined purpose. Receipts are
append-only: a later decision adds a receipt, and the newest one that names
every current purpose at its current version is the one in force
(``current_decision``). The console shows them per user and exports them as
JSON (``as_json``), shaped after the Kantara consent receipt's main fields.

A receipt is written in the transaction that creates the account (or, for
an existing account, in the request that took the decision): never for an
account that was not created.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from app import audit
from app.consent.purposes import Purpose
from app.extensions import db
from app.timeutil import utcnow


class ConsentReceipt(db.Model):
    __tablename__ = "consent_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_name: Mapped[str] = mapped_column(String(255))
    store: Mapped[str] = mapped_column(String(64))
    scheme: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str | None] = mapped_column(String(128), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    purposes: Mapped[list] = mapped_column(JSON)
    withheld: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def decision(purposes: list[Purpose], accepted: set[str], withheld: list[str]) -> dict[str, Any]:
    """The flow's record of an answer (JSON-serialisable), before it becomes a receipt."""
    return {
        "purposes": [{**p.as_dict(), "accepted": p.name in accepted} for p in purposes],
        "withheld": withheld,
    }


def record(user, answer: dict[str, Any], scheme: str, federated: dict | None) -> ConsentReceipt:
    """Store ``answer`` (from ``decision``) as a receipt for ``user`` in the current transaction."""
    receipt = ConsentReceipt(
        receipt_id=str(uuid.uuid4()),
        user_id=user.id,
        user_name=user.user_name,
        store=user.store,
        scheme=scheme,
        provider=(federated or {}).get("provider"),
        subject=(federated or {}).get("subject"),
        purposes=answer["purposes"],
        withheld=list(answer["withheld"]),
    )
    db.session.add(receipt)
    db.session.flush()
    audit.record(
        "consent.given",
        user_id=user.id,
        scheme=scheme,
        detail={
            "receipt": receipt.receipt_id,
            "accepted": [f"{p['name']}@{p['version']}" for p in answer["purposes"] if p["accepted"]],
            "declined": [f"{p['name']}@{p['version']}" for p in answer["purposes"] if not p["accepted"]],
        },
    )
    return receipt


def of_user(user_id: int) -> list[ConsentReceipt]:
    """A user's receipts, newest first."""
    query = select(ConsentReceipt).where(ConsentReceipt.user_id == user_id)
    return list(db.session.scalars(query.order_by(ConsentReceipt.id.desc())))


def current_decision(user_id: int, purposes: list[Purpose]) -> dict[str, Any] | None:
    """The user's newest answer if it covers every purpose at its current version, else None (ask again)."""
    wanted = {p.name: p.version for p in purposes}
    for receipt in of_user(user_id):
        answered = {p.get("name"): p.get("version") for p in receipt.purposes}
        if set(wanted) <= set(answered):  # the newest answer about these purposes is the one in force
            if all(answered[name] == version for name, version in wanted.items()):
                return {"purposes": receipt.purposes, "withheld": receipt.withheld}
            return None
    return None


def as_json(receipt: ConsentReceipt) -> dict[str, Any]:
    """A receipt for export: who, when, which purposes at which version, which attributes."""
    return {
        "receipt_id": receipt.receipt_id,
        "time": receipt.created_at.isoformat() + "Z",
        "subject": {
            "user_id": receipt.user_id,
            "user_name": receipt.user_name,
            "store": receipt.store,
            "provider": receipt.provider,
            "provider_subject": receipt.subject,
        },
        "scheme": receipt.scheme,
        "purposes": receipt.purposes,
        "withheld_attributes": receipt.withheld,
    }
