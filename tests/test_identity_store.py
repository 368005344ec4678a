"""The identity store: users per store, unique names enforced by the database, attributes found by index."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.stores import sql as identity


def test_user_names_are_unique_within_a_store_by_database_constraint(app):
    with app.app_context():
        identity.create_user("default", "alice")
        db.session.commit()
        identity.create_user("default", "alice")
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        identity.create_user("partners", "alice")
        db.session.commit()
        assert {u.store for u in identity.list_users()} == {"default", "partners"}


def test_users_are_found_by_attribute_name_and_value(app, add_user):
    add_user("alice", mail="alice@example.org")
    add_user("bob", mail="bob@example.org")
    with app.app_context():
        assert [u.user_name for u in identity.find_by_attribute("default", "mail", "bob@example.org")] == ["bob"]
        assert identity.find_by_attribute("default", "mail", "carol@example.org") == []
        assert identity.find_by_attribute("partners", "mail", "bob@example.org") == []
        assert [u.user_name for u in identity.find_by_attribute("default", "uid", "alice")] == ["alice"]


def test_attribute_search_uses_the_name_value_index_not_a_table_scan(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the query plan text checked here is SQLite's")
        query = (
            identity.select(identity.User)
            .join(identity.UserAttribute)
            .where(
                identity.UserAttribute.name == "mail",
                identity.UserAttribute.value == "x",
                identity.User.store == "default",
            )
        )
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = " | ".join(row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "INDEX ix_user_attributes_name_value (name=? AND value=?)" in plan, plan
        assert "SCAN user_attributes" not in plan, plan


def test_an_attribute_has_one_value_and_can_be_changed_or_removed(app, add_user):
    user_id = add_user("alice", mail="old@example.org")
    with app.app_context():
        user = identity.get_user(user_id)
        user.set_attribute("mail", "new@example.org")
        user.set_attribute("first-name", "Alice")
        db.session.commit()
        assert identity.get_user(user_id).attributes == {"first-name": "Alice", "mail": "new@example.org"}
        identity.get_user(user_id).set_attribute("first-name", None)
        db.session.commit()
        assert identity.get_user(user_id).attributes == {"mail": "new@example.org"}


def test_passwords_are_stored_as_argon2id_hashes(app, add_user):
    user_id = add_user("alice", password="s3cret-password")
    with app.app_context():
        user = identity.get_user(user_id)
        assert user.password_hash.startswith("$argon2id$")
        assert user.check_password("s3cret-password") and not user.check_password("S3cret-password")


def test_cli_adds_lists_shows_locks_and_unlocks_users(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "add",
            "dave",
            "--password",
            "pw-dave-123",
            "--attr",
            "mail=dave@example.org",
            "--attr",
            "first-name=Dave",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created default/dave" in result.output
    assert runner.invoke(args=["users", "add", "dave"]).exit_code == 1
    assert "default/dave  active" in runner.invoke(args=["users", "list"]).output
    shown = runner.invoke(args=["users", "show", "dave"]).output
    assert "status=active  password=set" in shown and "mail: dave@example.org" in shown
    assert "active -> locked" in runner.invoke(args=["users", "lock", "dave"]).output
    assert "locked -> active" in runner.invoke(args=["users", "unlock", "dave"]).output
    history = runner.invoke(args=["audit", "list", "--user", "dave"]).output
    assert "user.status" in history and "'new': 'locked'" in history


def test_cli_refuses_an_unknown_store_and_a_malformed_attribute(runner):
    assert "unknown identity store 'hr'" in runner.invoke(args=["users", "add", "x", "--store", "hr"]).output
    assert "'mail' is not NAME=VALUE" in runner.invoke(args=["users", "add", "x", "--attr", "mail"]).output


def test_schemes_show_prints_oam_table_layout(runner):
    output = runner.invoke(args=["schemes", "show", "PasswordScheme"]).output
    assert "Name                  Plugin                     On Success           On Failure  On Error" in output
    assert "User_Authentication   UserAuthenticationPlugin   Success              Failure     Failure" in output
    missing = runner.invoke(args=["schemes", "show", "Nope"])
    assert missing.exit_code == 2 and "no scheme named 'Nope'" in missing.output


def test_demo_seed_creates_a_user_who_can_sign_in(app, runner):
    result = runner.invoke(args=["demo", "seed", "--password", "pw-demo-123"])
    assert "Demo user:  demo" in result.output and "Password:   pw-demo-123" in result.output
    with app.app_context():
        assert identity.find_by_user_name("default", "demo").check_password("pw-demo-123")
