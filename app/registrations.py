"""Registration records: one row per hand-off to an external self-registration page.

A record is created when a flow sends a person to the registration page
(OAM's ``registrationid``). The id itself goes to the browser; the row keeps
only its SHA-256, like flows and sessions. The record holds what the page may
read through ``/oamfed/user/regdata`` (the claims as a JSON string and its
HMAC, computed once at creation so the key is never stored), the federated
identity the new account must be linked to, the digest of the flow that made
it, an expiry and a status:

``pending``  the page may read the data and create one account with the id;
``created``  an account was created for this registration (``user_id``);
``used``     the flow came back and consumed the id: it is worthless now.

Every status change is a conditional UPDATE, so two requests racing with the
same id can never both win.
"""

from __future__ import annotations

import enum
import hmac
from datetime import datetime

from sqlalchemy import Index, String, Text, delete, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import in_seconds, utcnow
from app.tokens import digest, new_token


class RegistrationStatus(enum.StrEnum):
    PENDING = "pending"
    CREATED = "created"
    USED = "used"


class RegistrationRecord(db.Model):
    __tablename__ = "registration_records"
    __table_args__ = (Index("ix_registration_records_expires_at", "expires_at"),)

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_digest: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(128))
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    idtoken: Mapped[str] = mapped_column(Text)
    hmac: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=RegistrationStatus.PENDING.value)
    user_id: Mapped[int | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()

    def bound_to(self, flow_id: str) -> bool:
        """Whether this record was made by the flow ``flow_id`` (constant-time)."""
        return hmac.compare_digest(self.flow_digest, digest(flow_id))


def create_record(
    flow_id: str, provider: str, issuer: str, subject: str, idtoken: str, mac: str, lifetime: int
) -> tuple[str, RegistrationRecord]:
    """Add a pending record (not committed); return the registrationid for the browser and the row."""
    registration_id = new_token()
    row = RegistrationRecord(
        id_digest=digest(registration_id),
        flow_digest=digest(flow_id),
        provider=provider,
        issuer=issuer,
        subject=subject,
        idtoken=idtoken,
        hmac=mac,
        status=RegistrationStatus.PENDING.value,
        expires_at=in_seconds(lifetime),
    )
    db.session.add(row)
    return registration_id, row


def find_record(registration_id: str | None) -> RegistrationRecord | None:
    """The record for this id whatever its status or expiry, or None."""
    if not registration_id:
        return None
    return db.session.get(RegistrationRecord, digest(registration_id))


def find_pending(registration_id: str | None) -> RegistrationRecord | None:
    """The record for this id if the page may still use it: pending and unexpired."""
    row = find_record(registration_id)
    if row is None or row.status != RegistrationStatus.PENDING.value or row.expired:
        return None
    return row


def why_unusable(row: RegistrationRecord | None) -> str:
    """The reason code for a record the page may not use (for logs and errors)."""
    if row is None:
        return "registration.unknown"
    if row.status == RegistrationStatus.USED.value:
        return "registration.used"
    if row.status == RegistrationStatus.CREATED.value:
        return "registration.account_exists"
    return "registration.expired"


def claim_for_account(row: RegistrationRecord, user_id: int) -> bool:
    """Move a pending, unexpired record to ``created`` for ``user_id``; False if another request won."""
    result = db.session.execute(
        update(RegistrationRecord)
        .where(
            RegistrationRecord.id_digest == row.id_digest,
            RegistrationRecord.status == RegistrationStatus.PENDING.value,
            RegistrationRecord.expires_at > utcnow(),
        )
        .values(status=RegistrationStatus.CREATED.value, user_id=user_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_used(row: RegistrationRecord) -> bool:
    """Consume the id (pending or created -> used); False if it was already used."""
    result = db.session.execute(
        update(RegistrationRecord)
        .where(
            RegistrationRecord.id_digest == row.id_digest,
            RegistrationRecord.status != RegistrationStatus.USED.value,
        )
        .values(status=RegistrationStatus.USED.value)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def purge_expired() -> int:
    result = db.session.execute(delete(RegistrationRecord).where(RegistrationRecord.expires_at <= utcnow()))
    return result.rowcount or 0
