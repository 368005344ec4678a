"""Links between local users and federated identities, keyed on (issuer, subject).

Links live in SQL whatever the user's store is, and point at the user's row
in ``users`` (for a directory user, the row keyed by the entry's entryUUID or
objectGUID: app/stores/base.py).

An OpenID Provider's ``sub`` never changes for a person, while their email and
name may; so a returning person is found by this link, recorded when the
account was provisioned. The pair is unique in the database: a race between two
first sign-ins ends in one link, and the loser identifies again (social-core's
``associate_user``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, bindparam, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db, execute_core
from app.stores import sql as identity
from app.stores.sql import User
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


_links = FederatedLink.__table__
_LINKED_USER = (
    select(*identity.USER_VIEW_COLUMNS, *identity.ATTRIBUTE_COLUMNS)
    .select_from(identity.with_attributes(_links.join(User.__table__, User.__table__.c.id == _links.c.user_id)))
    .where(_links.c.issuer == bindparam("issuer"), _links.c.subject == bindparam("subject"))
)


_INSERT_LINK = insert(_links)
_SIGNED_IN = (
    update(_links)
    .where(
        _links.c.issuer == bindparam("link_issuer"),
        _links.c.subject == bindparam("link_subject"),
        _links.c.user_id == bindparam("link_user_id"),
    )
    .values(last_login_at=bindparam("now"))
)


def find_linked_user(issuer: str, subject: str) -> identity.UserView | None:
    """The local user linked to this federated identity, whatever their status (one statement).

    A user this transaction has already read or provisioned by this link is not read again.
    """
    known = identity.recall((issuer, subject))
    if known is not None:
        return known
    user = identity.view_of(execute_core(_LINKED_USER, {"issuer": issuer, "subject": subject}))
    return identity.remember(user, (issuer, subject)) if user is not None else None


def link_user(user_id: int, issuer: str, subject: str, provider: str) -> None:
    """Insert the link now, in the current transaction.

    A race (or an identity already linked) raises IntegrityError here, so the
    caller runs this in a savepoint or turns the error into its own answer.
    """
    execute_core(
        _INSERT_LINK,
        {"user_id": user_id, "issuer": issuer, "subject": subject, "provider": provider, "created_at": utcnow()},
    )


def signed_in_through(federated: object, user_id: int) -> None:
    """Note the link's last sign-in (shown in the console), when the flow's person came through one.

    One UPDATE in the sign-in's own transaction; nothing when no link of this user matches.
    """
    if not isinstance(federated, dict) or not federated.get("issuer") or not federated.get("subject"):
        return
    execute_core(
        _SIGNED_IN,
        {
            "link_issuer": federated["issuer"],
            "link_subject": federated["subject"],
            "link_user_id": user_id,
            "now": utcnow(),
        },
    )


def email_proven(federated: dict, settings=None) -> bool:
    """Whether this sign-in proves its ``email`` claim belongs to the person.

    Only a provider marked ``trust_email: true`` proves it, and only when its
    token says ``email_verified: true``. Anything else may be an address the
    person typed and never confirmed, or one a lax provider lets anyone claim:
    such an address may be stored, never used to link an account.
    """
    if settings is None:
        from app.runtime import current

        settings = current().settings
    provider = (getattr(settings, "identity_providers", None) or {}).get(federated.get("provider"))
    claims = federated.get("claims") or {}
    return (
        provider is not None
        and provider.trust_email
        and claims.get("email_verified") in (True, "true")
        and isinstance(claims.get("email"), str)
    )


def links_of(user_id: int) -> list[FederatedLink]:
    return list(db.session.scalars(select(FederatedLink).where(FederatedLink.user_id == user_id)))


def unlink_user(user_id: int, issuer: str | None = None) -> int:
    """Remove the user's links (only ``issuer``'s when given); the number removed."""
    statement = delete(FederatedLink).where(FederatedLink.user_id == user_id)
    if issuer is not None:
        statement = statement.where(FederatedLink.issuer == issuer)
    return db.session.execute(statement).rowcount
