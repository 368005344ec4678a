"""User ids are never reused, on a database built by the migrations as on one built from the models.

Before migration 9e15583b83f8, SQLite gave a deleted user's id to the next user
created: the console then showed the deleted user's audit history, links and
SCIM id as the new user's. The migration rebuilds ``users`` with AUTOINCREMENT
and keeps every row, index and reference.
"""

from __future__ import annotations

import flask_migrate
from sqlalchemy import delete, insert, inspect, select

from app import audit, create_app
from app.extensions import db
from app.passwords import hash_password
from app.stores import sql as identity
from app.timeutil import utcnow

PREVIOUS_HEAD = "e00715494cf6"
"""The revision before 9e15583b83f8. Rows are written with Core inserts naming only the columns that exist
there: the models describe the newest schema (later migrations add columns, such as users.external_id)."""


def _old_user(name: str, password: str | None) -> int:
    users = identity.User.__table__
    now = utcnow()
    row = {"store": "default", "user_name": name, "user_name_key": name, "status": "active", "created_at": now}
    row |= {"updated_at": now, "password_hash": hash_password(password) if password else None}
    return db.session.execute(insert(users).values(**row)).inserted_primary_key[0]


def test_the_migration_keeps_users_and_stops_id_reuse(make_settings, empty_database_url):
    app = create_app(make_settings(extra={"database_url": empty_database_url}), testing=True)
    with app.app_context():
        flask_migrate.upgrade(revision=PREVIOUS_HEAD)
        first_id = _old_user("alice", "alice's password 1")
        attribute = {"user_id": first_id, "name": "mail", "value": "alice@example.org", "source": "admin"}
        db.session.execute(insert(identity.UserAttribute.__table__).values(**attribute, verified=True, set_at=utcnow()))
        second_id = _old_user("bob", None)
        db.session.commit()
        audit.record("user.created", user_id=second_id, detail={"user_name": "bob"})
        db.session.execute(delete(identity.User.__table__).where(identity.User.__table__.c.id == second_id))
        db.session.commit()  # bob, the highest id, is deleted before the migration
        db.session.remove()

        flask_migrate.upgrade()
        alice = identity.find_by_user_name("default", "ALICE")  # the normalised-name index survived the rebuild
        assert alice.id == first_id and alice.attributes == {"mail": "alice@example.org"}
        assert alice.check_password("alice's password 1")
        names = {i["name"] for i in inspect(db.engine).get_indexes("users")}
        assert "uq_users_store_user_name_key" in names
        carol = identity.create_user("default", "carol", {}, None)
        db.session.commit()
        assert carol.id > second_id  # the audit trail remembers bob's id: it is not carol's
        db.session.remove()
        db.engine.dispose()


def test_a_deleted_users_id_stays_unused_after_the_last_user_is_deleted(app):
    with app.app_context():
        ids = []
        for name in ("alice", "bob"):
            user = identity.create_user("default", name, {}, None)
            db.session.commit()
            ids.append(user.id)
            db.session.delete(user)
            db.session.commit()
        assert ids[1] > ids[0]
        assert db.session.scalars(select(identity.User)).all() == []
