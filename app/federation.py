"""Links between local users and federated identities, keyed on (issuer, subject).

An OpenID Provider's ``sub`` never changes for a person, while their email and
name may; so a returning person is found by this link, recorded when the
account was provisioned. The pair is unique in the database: a race between two
first sign-ins ends in one link, and the loser identifies again (social-core's
``associate_user``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.identity import User
from app.timeutil import utcnow


class FederatedLink(db.Model):
    __tablename__ = "federated_links"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)


def find_linked_user(issuer: str, subject: str) -> User | None:
    """The local user linked to this federated identity, whatever their status."""
    return db.session.scalar(
        select(User)
        .join(FederatedLink, FederatedLink.user_id == User.id)
        .where(FederatedLink.issuer == issuer, FederatedLink.subject == subject)
    )


def link_user(user_id: int, issuer: str, subject: str, provider: str) -> FederatedLink:
    """Add a link to the session; the caller commits and handles the IntegrityError of a race."""
    link = FederatedLink(user_id=user_id, issuer=issuer, subject=subject, provider=provider)
    db.session.add(link)
    return link


def links_of(user_id: int) -> list[FederatedLink]:
    return list(db.session.scalars(select(FederatedLink).where(FederatedLink.user_id == user_id)))
