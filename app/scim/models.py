"""What SCIM keeps beside the identity store: each user's resource document, and groups with members.

``scim_users`` holds, per user, the ``externalId`` (indexed per store, so
``externalId eq`` is a lookup) and the rest of the resource as the client
sent it (every email with its type and primary flag, addresses...). The
identity store stays the truth for what the ``attribute_mapping`` maps: a
value an administrator or a sign-in changes there is what SCIM returns.

``scim_groups`` and ``scim_group_members`` are the ``/Groups`` resources.
Their names never reach the console's ``groups`` attribute: a provisioned
group grants nothing until an administrator maps it (docs/scim.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow

NAME_MAX = 255


class ScimUser(db.Model):
    __tablename__ = "scim_users"
    __table_args__ = (Index("ix_scim_users_store_external_id", "store", "external_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    store: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(NAME_MAX), nullable=True)
    document: Mapped[str] = mapped_column(Text, default="{}")


class ScimGroup(db.Model):
    __tablename__ = "scim_groups"
    __table_args__ = (
        Index("ix_scim_groups_store_display_name", "store", "display_name"),
        Index("ix_scim_groups_store_external_id", "store", "external_id"),
        {"sqlite_autoincrement": True},  # a deleted group's id is never given to another
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(NAME_MAX))
    external_id: Mapped[str | None] = mapped_column(String(NAME_MAX), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScimGroupMember(db.Model):
    __tablename__ = "scim_group_members"
    __table_args__ = (Index("ix_scim_group_members_user_id", "user_id"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
