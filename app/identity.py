"""The identity store: users, their named attributes, and the operations on them.

Users live in named stores (``identity_stores`` in settings); a user name is
unique within its store, enforced by the database. Attributes are rows indexed
by (name, value), so "find users whose mail is X" is an index lookup, never a
table scan, at any store size.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.passwords import hash_password, verify_password
from app.timeutil import utcnow

ATTRIBUTE_VALUE_MAX = 2048


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    DISABLED = "disabled"


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("store", "user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    attribute_rows: Mapped[list[UserAttribute]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def active(self) -> bool:
        return self.status == UserStatus.ACTIVE.value

    @property
    def attributes(self) -> dict[str, str]:
        return {row.name: row.value for row in sorted(self.attribute_rows, key=lambda r: r.name)}

    def set_attribute(self, name: str, value: str | None) -> None:
        row = next((r for r in self.attribute_rows if r.name == name), None)
        if value is None:
            if row is not None:
                self.attribute_rows.remove(row)
        elif row is None:
            self.attribute_rows.append(UserAttribute(name=name, value=str(value)[:ATTRIBUTE_VALUE_MAX]))
        else:
            row.value = str(value)[:ATTRIBUTE_VALUE_MAX]

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)

    def set_password(self, password: str | None) -> None:
        self.password_hash = hash_password(password) if password else None


class UserAttribute(db.Model):
    __tablename__ = "user_attributes"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        Index("ix_user_attributes_name_value", "name", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(ATTRIBUTE_VALUE_MAX))
    user: Mapped[User] = relationship(back_populates="attribute_rows")


def store_problem(settings, store: str) -> str | None:
    """Why ``store`` is not a configured identity store, or None (for plugins' load-time checks)."""
    stores = getattr(settings, "identity_stores", None)
    if stores is None or store in stores:
        return None
    return f"identity store '{store}' is not defined (stores: {', '.join(stores)})"


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def find_by_user_name(store: str, user_name: str) -> User | None:
    return db.session.scalar(select(User).where(User.store == store, User.user_name == user_name))


def find_by_attribute(store: str, name: str, value: str, limit: int = 2) -> list[User]:
    """Users of ``store`` whose attribute ``name`` equals ``value`` (``uid`` is the user name)."""
    if name == "uid":
        user = find_by_user_name(store, value)
        return [user] if user else []
    query = (
        select(User)
        .join(UserAttribute)
        .where(UserAttribute.name == name, UserAttribute.value == value, User.store == store)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def create_user(
    store: str,
    user_name: str,
    attributes: dict[str, str] | None = None,
    password: str | None = None,
    status: UserStatus = UserStatus.ACTIVE,
) -> User:
    """Add a user to the session (not committed); the caller commits and handles IntegrityError."""
    user = User(store=store, user_name=user_name, status=status.value)
    user.set_password(password)
    for name, value in (attributes or {}).items():
        user.set_attribute(name, value)
    db.session.add(user)
    return user


def list_users(store: str | None = None, limit: int = 50, offset: int = 0) -> Iterable[User]:
    query = select(User).order_by(User.id).limit(limit).offset(offset)
    if store:
        query = query.where(User.store == store)
    return db.session.scalars(query)
