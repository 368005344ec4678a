"""The SQL identity store: users, their named attributes, and the operations on them.

Users live in named stores (``identity_stores`` in settings); a user name is
unique within its store in its normalised form (``app.usernames.key``: ``Admin``
and ``ＡＤＭＩＮ`` are one name), enforced by a unique index on
``users.user_name_key``. Attributes are rows indexed by (name, value), so "find
users whose mail is X" is an index lookup, never a table scan, at any store size.

Each attribute row also records its provenance: where its value came from
(``admin``, ``scim``, ``provider:<name>``, ``self-registration``, ``user``),
whether that source proved it, and when it was set. Only a proven value may
link a federated identity to an account (``find_by_proven_attribute``);
docs/identity-provenance.md says who proves what. The hot read paths
(``with_attributes``/``view_of``, the session check) read name and value only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    FromClause,
    Index,
    Row,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    event,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from app import usernames
from app.extensions import db, execute_core
from app.passwords import hash_password, spend_one_check, verify_password
from app.stores import ldapfilter
from app.stores.base import (  # noqa: F401 - re-exported: callers import them from here
    ADMIN,
    BY_USER,
    DIRECTORY,
    SCIM,
    SELF_REGISTRATION,
    Link,
    PasswordAnswer,
    Provenance,
    Store,
    UserStatus,
    UserView,
    provenance_for,
)
from app.timeutil import utcnow

ATTRIBUTE_VALUE_MAX = 2048
USER_NAME_KEY_MAX = 1024
"""Case folding may lengthen a name (``ß`` → ``ss``, ``ﬃ`` → ``ffi``)."""


def _key_of_inserted_name(context) -> str:
    """The key of a row inserted without one (bulk loads); the ORM and ``insert_user`` set it themselves."""
    return usernames.key(context.get_current_parameters()["user_name"])


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("store", "user_name"),
        Index("uq_users_store_user_name_key", "store", "user_name_key", unique=True),
        # external_id first: an index led by store alone would compete with the name-key index on store = ...
        Index("uq_users_store_external_id", "external_id", "store", unique=True),
        # a deleted user's id is never given to another: audit events, links and SCIM ids name one person
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store: Mapped[str] = mapped_column(String(64))
    user_name: Mapped[str] = mapped_column(String(255))
    user_name_key: Mapped[str] = mapped_column(String(USER_NAME_KEY_MAX), default=_key_of_inserted_name)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """The person's stable id in a store outside SQL (entryUUID, objectGUID); None for SQL users."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    attribute_rows: Mapped[list[UserAttribute]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @validates("user_name")
    def _keep_key(self, _, user_name: str) -> str:
        self.user_name_key = usernames.key(user_name)
        return user_name

    @property
    def active(self) -> bool:
        return self.status == UserStatus.ACTIVE.value

    @property
    def attributes(self) -> dict[str, str]:
        return {row.name: row.value for row in self.sorted_attribute_rows}

    @property
    def sorted_attribute_rows(self) -> list[UserAttribute]:
        return sorted(self.attribute_rows, key=lambda r: r.name)

    def set_attribute(self, name: str, value: str | None, provenance: Provenance = ADMIN) -> bool:
        """Set, change or (``None``) remove an attribute; True when the stored row changed.

        A changed value takes the new source's provenance, so a value an
        untrusted source changes is unproven again. The same value from a
        source that proves it becomes proven; from one that doesn't, it keeps
        the provenance it had.
        """
        row = next((r for r in self.attribute_rows if r.name == name), None)
        if value is None:
            if row is not None:
                self.attribute_rows.remove(row)
            return row is not None
        value = attribute_value(value)
        if row is None:
            self.attribute_rows.append(_row(name, value, provenance))
            return True
        if row.value == value and (row.verified or not provenance.verified):
            return False
        row.value, row.source, row.verified, row.set_at = value, provenance.source, provenance.verified, utcnow()
        return True

    def view(self) -> UserView:
        """This user as plain values, as ``UserView`` readers see it."""
        return UserView(self.id, self.store, self.user_name, self.status, self.attributes)

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)

    def set_password(self, password: str | None) -> None:
        self.password_hash = hash_password(password) if password else None


class UserAttribute(db.Model):
    __tablename__ = "user_attributes"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        # user_id last: the users holding one value come out of the index in id order, so the
        # console pages through a value shared by a million users without sorting them
        Index("ix_user_attributes_name_value", "name", "value", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(ATTRIBUTE_VALUE_MAX))
    # a row inserted without its provenance (a bulk load) is of unknown source, and unproven
    source: Mapped[str] = mapped_column(String(160), default="unknown")
    verified: Mapped[bool] = mapped_column(default=False)
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship(back_populates="attribute_rows")

    @property
    def provenance(self) -> Provenance:
        return Provenance(self.source, self.verified)


def _row(name: str, value: str, provenance: Provenance) -> UserAttribute:
    return UserAttribute(
        name=name, value=value, source=provenance.source, verified=provenance.verified, set_at=utcnow()
    )


_users, _attributes = User.__table__, UserAttribute.__table__
USER_VIEW_COLUMNS = (_users.c.id, _users.c.store, _users.c.user_name, _users.c.status)
ATTRIBUTE_COLUMNS = (_attributes.c.name.label("attribute_name"), _attributes.c.value.label("attribute_value"))


def with_attributes(source: FromClause) -> FromClause:
    """``source`` (which includes ``users``) joined to the user's attributes, one row per attribute."""
    return source.outerjoin(_attributes, _attributes.c.user_id == _users.c.id)


def view_of(rows: Iterable[Row]) -> UserView | None:
    """The user of rows selected with ``USER_VIEW_COLUMNS`` and ``ATTRIBUTE_COLUMNS``, or None."""
    first, attributes = None, {}
    for row in rows:
        first = first or row
        if row.attribute_name is not None:
            attributes[row.attribute_name] = row.attribute_value
    if first is None:
        return None
    return UserView(first.id, first.store, first.user_name, first.status, dict(sorted(attributes.items())))


# -- users this transaction has read or written ------------------------------------------------

_KNOWN = "stepgate.identity.known"


def remember(view: UserView, link: tuple[str, str] | None = None) -> UserView:
    """Keep ``view`` for the rest of this transaction, by id and by its (issuer, subject) link if given.

    One sign-in meets its user up to three times: identification, identification
    again after provisioning, and the session it opens (which the session cache
    keeps, app/session_cache.py). Within the transaction that read or wrote the
    user, the view is reused instead of read again. Any change to a user or an
    attribute through the ORM forgets every view, and so does the end of the
    transaction; changes made by other transactions are the session cache's
    revocation generation's business.
    """
    known = db.session.info.setdefault(_KNOWN, {})
    known[view.id] = view
    if link is not None:
        known[link] = view
    return view


def recall(key: int | tuple[str, str]) -> UserView | None:
    """A view this transaction remembered, by user id or by (issuer, subject); None when it has none."""
    session = db.session()
    session.flush()  # pending ORM changes to users are written first, which forgets the views they change
    return session.info.get(_KNOWN, {}).get(key)


def _forget(session: Session) -> None:
    session.info.pop(_KNOWN, None)


@event.listens_for(Session, "before_flush")
def _forget_on_change(session: Session, flush_context, instances) -> None:
    if _KNOWN in session.info and any(
        isinstance(obj, User | UserAttribute) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        _forget(session)


@event.listens_for(Session, "do_orm_execute")
def _forget_on_bulk_change(state) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        if state.bind_mapper.class_ in (User, UserAttribute):
            _forget(state.session)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction) -> None:
    if transaction.parent is None:
        _forget(session)


def store_problem(settings, store: str) -> str | None:
    """Why ``store`` is not a configured identity store, or None (for plugins' load-time checks)."""
    stores = getattr(settings, "identity_stores", None)
    if stores is None or store in stores:
        return None
    return f"identity store '{store}' is not defined (stores: {', '.join(stores)})"


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def find_by_user_name(store: str, user_name: str) -> User | None:
    """The user of ``store`` with this name, compared in normalised form (``Admin`` finds ``admin``).

    One probe of the key index answers, unless the name found is not the one
    typed: then an account kept from before names were normalised may hold the
    exact name (the migration keyed it apart), and the exact name wins.
    """
    found = db.session.scalar(select(User).where(User.store == store, User.user_name_key == usernames.key(user_name)))
    if found is not None and found.user_name == user_name:
        return found
    exact = db.session.scalar(select(User).where(User.store == store, User.user_name == user_name))
    return exact or found


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


def find_by_proven_attribute(store: str, name: str, values: Iterable[str], limit: int = 2) -> list[User]:
    """Users of ``store`` whose attribute ``name`` holds one of ``values`` and was proven (a link target)."""
    query = (
        select(User)
        .join(UserAttribute)
        .where(
            UserAttribute.name == name,
            UserAttribute.value.in_(sorted(set(values))),
            UserAttribute.verified.is_(True),
            User.store == store,
        )
        .distinct()
        .limit(limit)
    )
    return list(db.session.scalars(query))


_INSERT_USER = insert(_users).returning(_users.c.id)  # built once, as JIT provisioning runs them on sign-in
_INSERT_ATTRIBUTE = insert(_attributes)


def insert_user(
    store: str,
    user_name: str,
    attributes: dict[str, str],
    password: str | None = None,
    provenance: Mapping[str, Provenance] | Provenance = ADMIN,
    status: UserStatus = UserStatus.ACTIVE,
    external_id: str | None = None,
) -> int:
    """Insert a user and their attributes with two statements (JIT provisioning's path); return the id.

    ``provenance`` is one for all attributes or one per attribute. The unique
    (store, user name key) index raises IntegrityError at once, so the caller
    runs this in a savepoint. Other paths use ``create_user``. The caller has
    checked the name (``usernames.require``).
    """
    now = utcnow()
    user_id = execute_core(
        _INSERT_USER,
        {
            "store": store,
            "user_name": user_name,
            "user_name_key": shadow_key(external_id) if external_id else usernames.key(user_name),
            "external_id": external_id,
            "status": status.value,
            "password_hash": hash_password(password) if password else None,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    if attributes:
        rows = []
        for name, value in attributes.items():
            of = provenance if isinstance(provenance, Provenance) else provenance[name]
            rows.append(
                {
                    "user_id": user_id,
                    "name": name,
                    "value": attribute_value(value),
                    "source": of.source,
                    "verified": of.verified,
                    "set_at": now,
                }
            )
        execute_core(_INSERT_ATTRIBUTE, rows)
    return user_id


def shadow_key(external_id: str) -> str:
    """The ``user_name_key`` of a row standing for a user of another store: its stable id, never its name.

    That store decides which names are unique; a name freed by a rename there
    may be taken by another entry before stepgate sees the first one again.
    """
    return f"entry:{external_id}"


def attribute_value(value: object) -> str:
    return str(value)[:ATTRIBUTE_VALUE_MAX]


def create_user(
    store: str,
    user_name: str,
    attributes: dict[str, str] | None = None,
    password: str | None = None,
    status: UserStatus = UserStatus.ACTIVE,
    provenance: Provenance = ADMIN,
) -> User:
    """Add a user to the session (not committed); the caller commits and handles IntegrityError.

    The administrators' tools' path (CLI, SCIM, the demo seed): attributes are
    ``ADMIN``-proven unless ``provenance`` says otherwise. The caller has checked
    the name (``usernames.require``).
    """
    user = User(store=store, user_name=user_name, status=status.value)
    user.set_password(password)
    for name, value in (attributes or {}).items():
        user.set_attribute(name, value, provenance)
    db.session.add(user)
    return user


def list_users(store: str | None = None, limit: int = 50, offset: int = 0) -> Iterable[User]:
    query = select(User).order_by(User.id).limit(limit).offset(offset)
    if store:
        query = query.where(User.store == store)
    return db.session.scalars(query)


def attributes_of(user_id: int) -> dict[str, str]:
    """A user's attributes, for orchestration conditions: the view this transaction read, else the row."""
    view = recall(user_id)
    if view is not None:
        return view.attributes
    user = get_user(user_id)
    return dict(user.attributes) if user is not None else {}


# -- the store interface, over these tables -----------------------------------------------------

_PASSWORD_HASH = select(_users.c.password_hash).where(_users.c.id == bindparam("user_id"))


class SqlStore(Store):
    """The embedded store: users and attributes in stepgate's own database (the ``sql`` kind).

    In a filter, ``uid`` is the user name (compared in normalised form); any
    other attribute is a stepgate attribute. The SQL store evaluates ``=``
    joined by ``&`` and ``|``; anything else is a ``schemes check`` error.
    """

    kind = "sql"

    def filter_problem(self, filter_text: str) -> str | None:
        try:
            tree = ldapfilter.parse(filter_text)
        except ldapfilter.FilterError as exc:
            return f"not an LDAP filter (RFC 4515): {exc}"
        if not _evaluable(tree):
            return f"the SQL store '{self.name}' evaluates only (attribute=value) joined by & and |"
        return None

    def find(self, filter_text: str, limit: int = 2) -> list[UserView]:
        tree = ldapfilter.parse(filter_text)
        if isinstance(tree, ldapfilter.Equal):
            return self.find_by_attribute(tree.attribute, tree.value, limit)
        query = select(User).where(User.store == self.name, _clause(tree)).order_by(User.id).limit(limit)
        return [user.view() for user in db.session.scalars(query)]

    def find_by_attribute(self, name: str, value: str, limit: int = 2) -> list[UserView]:
        return [user.view() for user in find_by_attribute(self.name, name, value, limit)]

    def find_by_proven_attribute(self, name: str, values: Iterable[str], limit: int = 2) -> list[UserView]:
        return [user.view() for user in find_by_proven_attribute(self.name, name, values, limit)]

    def get(self, user_id: int) -> UserView | None:
        user = get_user(user_id)
        return user.view() if user is not None and user.store == self.name else None

    def search(self, filter_text: str | None = None, offset: int = 0, limit: int = 50) -> list[UserView]:
        query = select(User).where(User.store == self.name).order_by(User.id).offset(offset).limit(limit)
        if filter_text:
            query = query.where(_clause(ldapfilter.parse(filter_text)))
        return [user.view() for user in db.session.scalars(query)]

    def count(self, filter_text: str | None = None) -> int:
        query = select(func.count()).select_from(User).where(User.store == self.name)
        if filter_text:
            query = query.where(_clause(ldapfilter.parse(filter_text)))
        return db.session.scalar(query)

    def check_password(self, user: UserView, password: str) -> PasswordAnswer:
        password_hash = execute_core(_PASSWORD_HASH, {"user_id": user.id}).scalar()
        if not verify_password(password_hash, password):  # no hash: the dummy one, same cost
            return PasswordAnswer.NO_PASSWORD if password_hash is None else PasswordAnswer.WRONG
        return PasswordAnswer.PROVEN

    def spend_one_check(self, password: str) -> None:
        spend_one_check(password)

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
        self.require_writable("creating a user")
        user_id = insert_user(self.name, user_name, dict(attributes), password, provenance, status)
        if link is not None:
            from app.stores import federation

            federation.link_user(user_id, link.issuer, link.subject, link.provider)
        shown = {name: attribute_value(value) for name, value in sorted(attributes.items())}
        return UserView(user_id, self.name, user_name, status.value, shown)

    def update_attributes(
        self, user: UserView, changes: Mapping[str, str | None], provenance: Mapping[str, Provenance] | Provenance
    ) -> None:
        self.require_writable("changing attributes")
        stored = get_user(user.id)
        for name, value in changes.items():
            stored.set_attribute(name, value, provenance_for(provenance, name))

    def set_status(self, user: UserView, status: UserStatus) -> None:
        self.require_writable("changing a user's status")
        get_user(user.id).status = status.value

    def set_password(self, user: UserView, password: str) -> None:
        self.require_writable("changing a password")
        get_user(user.id).set_password(password)

    def rename(self, user: UserView, user_name: str) -> None:
        """The unique (store, name key) index says no at the caller's flush (IntegrityError)."""
        self.require_writable("renaming a user")
        get_user(user.id).user_name = user_name

    def delete(self, user: UserView) -> None:
        self.require_writable("deleting a user")
        stored = get_user(user.id)
        if stored is not None:
            db.session.delete(stored)


def _evaluable(tree) -> bool:
    if isinstance(tree, ldapfilter.Equal):
        return tree.attribute.lower() != "objectclass"
    if isinstance(tree, ldapfilter.And | ldapfilter.Or):
        return all(_evaluable(part) for part in tree.parts)
    return False


def _clause(tree):
    """An SQL condition on ``User`` for a filter tree the SQL store evaluates (``_evaluable``)."""
    if isinstance(tree, ldapfilter.And):
        return and_(*(_clause(part) for part in tree.parts))
    if isinstance(tree, ldapfilter.Or):
        return or_(*(_clause(part) for part in tree.parts))
    if not _evaluable(tree):
        raise ldapfilter.FilterError("the SQL store evaluates only (attribute=value) joined by & and |")
    if tree.attribute == "uid":
        return or_(User.user_name_key == usernames.key(tree.value), User.user_name == tree.value)
    return (
        select(UserAttribute.id)
        .where(UserAttribute.user_id == User.id, UserAttribute.name == tree.attribute)
        .where(UserAttribute.value == tree.value)
        .exists()
    )
