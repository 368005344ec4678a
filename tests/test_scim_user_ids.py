"""User ids are never reused, on a database built by the migrations as on one built from the models.

Before migration 9e15583b83f8, SQLite gave a deleted user's id to the next user
created: the console then showed the deleted user's audit history, links and
SCIM id as the new user's. The migration rebuilds ``users`` with AUTOINCREMENT
and keeps every row, index and reference.
"""

from __future__ import annotations

import flask_migrate
from sqlalchemy import inspect, select

from app import audit, create_app, identity
from app.extensions import db

PREVIOUS_HEAD = "4d292d575751"


def test_the_migration_keeps_users_and_stops_id_reuse(make_settings, empty_database_url):
    app = create_app(make_settings(extra={"database_url": empty_database_url}), testing=True)
    with app.app_context():
        flask_migrate.upgrade(revision=PREVIOUS_HEAD)
        first = identity.create_user("default", "alice", {"mail": "alice@example.org"}, "alice's password 1")
        second = identity.create_user("default", "bob", {}, None)
        db.session.commit()
        first_id, second_id = first.id, second.id
        audit.record("user.created", user_id=second_id, detail={"user_name": "bob"})
        db.session.delete(second)  # bob, the highest id, is deleted before the migration
        db.session.commit()
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
