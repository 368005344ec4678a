"""The identity store interface: what plugins, provisioning, SCIM and the console may ask of any store.

A store holds people and their attributes: the embedded SQL tables
(``app/stores/sql.py``), an LDAP directory (``app/stores/ldap.py``), or a
third-party kind joining through the ``stepgate.identity_stores`` entry point
group. Callers hold a ``Store`` and never learn which kind it is.

Whatever the store, stepgate's own bookkeeping stays in its SQL database:
sessions, flows, audit, lockout, consent and the (issuer, subject) links. They
refer to a user by ``UserView.id``, the id of the user's row in ``users``; a
store that keeps people elsewhere keeps one row per person there too, keyed by
the person's stable id in that store (``users.external_id``: entryUUID,
objectGUID), never by a DN or a name, so a rename or a move keeps every link.

Errors are values the caller can act on: ``Conflict`` (the store's own
uniqueness said no: a race or a name taken), ``ReadOnly`` (the store is
declared read-only), ``Refused`` (the store refused the values themselves: a
schema, syntax or policy rule of a directory) and ``StoreUnavailable`` (the
store did not answer; the step is an ERROR, never a FAILURE that would
provision someone again).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Provenance:
    """Where an attribute's value came from, and whether that source proved it.

    ``verified`` means the value is known to belong to the person: an
    administrator, SCIM or the organisation's directory set it, or a provider
    trusted for e-mail (``trust_email``) sent it with ``email_verified: true``.
    Nothing else proves a value.
    """

    source: str
    verified: bool = False

    @classmethod
    def provider(cls, name: str, verified: bool = False) -> Provenance:
        return cls(f"provider:{name}", verified)


ADMIN = Provenance("admin", True)
SCIM = Provenance("scim", True)
SELF_REGISTRATION = Provenance("self-registration", False)
BY_USER = Provenance("user", False)
DIRECTORY = Provenance("directory", True)
"""A value read from the organisation's own directory (an LDAP store): its word is the organisation's."""


@dataclass(frozen=True)
class UserView:
    """A user with their attributes as read for one request: plain values, not tracked by the ORM.

    ``ref`` is the store's own handle for this read (an LDAP entry's DN), good
    for this request only: a DN changes on a rename, ``id`` never does.
    """

    id: int
    store: str
    user_name: str
    status: str
    attributes: dict[str, str]
    ref: str | None = field(default=None, compare=False)

    @property
    def active(self) -> bool:
        return self.status == UserStatus.ACTIVE.value


class PasswordAnswer(enum.StrEnum):
    """A store's answer to "is this the user's password?", with what a directory adds."""

    PROVEN = "proven"
    WRONG = "wrong"
    NO_PASSWORD = "no_password"  # noqa: S105 - an answer, not a password
    EXPIRED = "expired"
    """The password is right but expired (ppolicy passwordExpired, AD 532): proven, yet no sign-in."""
    MUST_CHANGE = "must_change"
    """The password is right but was reset by an administrator (ppolicy changeAfterReset, AD 773)."""
    LOCKED = "locked"
    """The directory refuses every password for now (ppolicy accountLocked, AD 775): nothing is proven."""
    DISABLED = "disabled"
    """The directory's account is disabled (AD 533): nothing is proven."""

    @property
    def proven(self) -> bool:
        return self in (PasswordAnswer.PROVEN, PasswordAnswer.EXPIRED, PasswordAnswer.MUST_CHANGE)


@dataclass(frozen=True)
class Link:
    """A federated identity to link to a user being created, in the same unit of work."""

    issuer: str
    subject: str
    provider: str


class StoreError(Exception):
    """A store said no; ``reason`` is a stable reason code."""

    reason = "store.error"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or self.reason


class Conflict(StoreError):
    """The store's uniqueness refused a create: the name is taken, or a concurrent create won."""

    reason = "store.conflict"


class ReadOnly(StoreError):
    """The store is declared read-only: stepgate reads people there, never writes them."""

    reason = "store.read_only"


class Refused(StoreError):
    """The store refused the values themselves (a directory's schema, syntax or password policy): the caller's doing."""

    reason = "store.refused"


class StoreUnavailable(StoreError):
    """The store did not answer in time, or answered with an error that is not the person's doing."""

    reason = "store.unavailable"


COMMON_KEYS = {"description", "kind", "read_only"}
"""What every store's settings may hold; a kind adds its own block."""


@dataclass(frozen=True)
class StoreConfig:
    """One entry of ``identity_stores`` in the settings, as the loader checked it."""

    name: str
    description: str = ""
    kind: str = "sql"
    read_only: bool = False
    options: Any = None
    """The kind's own typed settings (``LdapOptions`` for ``ldap``), None for ``sql``."""


class Store(ABC):
    """One identity store. Every method runs inside the caller's SQL transaction; the caller commits."""

    kind: ClassVar[str]

    def __init__(self, config: StoreConfig):
        self.config = config
        self.name = config.name

    @property
    def read_only(self) -> bool:
        return self.config.read_only

    # -- settings ------------------------------------------------------------------------------
    @classmethod
    def parse_options(cls, body: Any, check: Any, name: str) -> Any:
        """This kind's settings from the store's YAML mapping (``Located``), problems to ``check`` (file:line)."""
        check.unknown_keys(body, COMMON_KEYS, f"identity_stores.{name}")
        return None

    def filter_problem(self, filter_text: str) -> str | None:
        """Why this store cannot evaluate ``filter_text`` (placeholders already filled), or None."""
        return None

    def attribute_problem(self, attribute: str) -> str | None:
        """Why this store cannot hold the stepgate attribute ``attribute``, or None."""
        return None

    # -- reading -------------------------------------------------------------------------------
    @abstractmethod
    def find(self, filter_text: str, limit: int = 2) -> list[UserView]:
        """Users matching an LDAP filter (RFC 4515, values already escaped), at most ``limit``."""

    @abstractmethod
    def find_by_attribute(self, name: str, value: str, limit: int = 2) -> list[UserView]:
        """Users whose attribute ``name`` (a stepgate name; ``uid`` is the user name) equals ``value``."""

    @abstractmethod
    def find_by_proven_attribute(self, name: str, values: Iterable[str], limit: int = 2) -> list[UserView]:
        """Users whose attribute ``name`` holds one of ``values`` and is proven (a link target)."""

    @abstractmethod
    def get(self, user_id: int) -> UserView | None:
        """The user with this id as the store has them now, or None."""

    def fresh(self, user: UserView) -> UserView | None:
        """``user`` (read from stepgate's tables, by a link) as the store has them now; None when gone.

        The SQL store's tables are the store: the view is fresh already.
        """
        return user

    @abstractmethod
    def search(self, filter_text: str | None = None, offset: int = 0, limit: int = 50) -> list[UserView]:
        """A page of users, optionally matching a filter, in a stable order."""

    def count(self, filter_text: str | None = None) -> int:
        """How many users ``search`` would page through; a store that can count cheaper says so itself."""
        total, page = 0, 500
        while found := len(self.search(filter_text, total, page)):
            total += found
            if found < page:
                break
        return total

    # -- passwords -----------------------------------------------------------------------------
    @abstractmethod
    def check_password(self, user: UserView, password: str) -> PasswordAnswer:
        """Whether ``password`` is ``user``'s; costs one real check whatever the answer."""

    @abstractmethod
    def spend_one_check(self, password: str) -> None:
        """The cost of one refused check, for a refusal that needs none (no such user)."""

    # -- writing -------------------------------------------------------------------------------
    @abstractmethod
    def create(
        self,
        user_name: str,
        attributes: Mapping[str, str],
        *,
        password: str | None = None,
        status: UserStatus = UserStatus.ACTIVE,
        provenance: Mapping[str, Provenance] | Provenance = ADMIN,
        link: Link | None = None,
    ) -> UserView:
        """Create a user (and link ``link`` to them); ``Conflict`` when the store's uniqueness says no.

        The caller runs this in a savepoint: on any error nothing of it stays
        in the SQL database. The caller has checked the name (``usernames.require``).
        """

    @abstractmethod
    def update_attributes(
        self, user: UserView, changes: Mapping[str, str | None], provenance: Mapping[str, Provenance] | Provenance
    ) -> None:
        """Set (or, with None, remove) attributes."""

    @abstractmethod
    def set_status(self, user: UserView, status: UserStatus) -> None:
        """Write the user's status where this store keeps it."""

    def set_password(self, user: UserView, password: str) -> None:
        """Replace the user's password (the store hashes it by its own rules)."""
        raise Refused(f"identity store '{self.name}' keeps no passwords stepgate can set", "store.no_passwords")

    def rename(self, user: UserView, user_name: str) -> None:
        """Give the user another user name; ``Conflict`` when the store's uniqueness says no."""
        raise Refused(f"identity store '{self.name}' does not rename users", "store.no_rename")

    @abstractmethod
    def delete(self, user: UserView) -> None:
        """Remove the user from the store and their row from ``users``.

        The caller has removed stepgate's bookkeeping of them (sessions,
        links, lockout, SCIM documents) in the same transaction and commits;
        a store outside SQL deletes its entry last, so a refusal there leaves
        the SQL side to roll back whole.
        """

    def require_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnly(f"identity store '{self.name}' is read-only: {what} is refused")

    # -- federated identities (always in SQL) --------------------------------------------------
    def link(self, user: UserView, issuer: str, subject: str, provider: str) -> None:
        """Link a federated identity to ``user``; IntegrityError when it is linked already (savepoint)."""
        from app.stores import federation

        federation.link_user(user.id, issuer, subject, provider)

    def unlink(self, user: UserView, issuer: str | None = None) -> int:
        """Remove the user's links (only those of ``issuer`` if given); the number removed."""
        from app.stores import federation

        return federation.unlink_user(user.id, issuer)


def provenance_for(provenance: Mapping[str, Provenance] | Provenance, name: str) -> Provenance:
    return provenance if isinstance(provenance, Provenance) else provenance[name]
