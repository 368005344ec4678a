"""The session check's row read on a raw DBAPI cursor answers, and fails, exactly as SQLAlchemy's ``Connection``.

``app/session_read.py`` skips SQLAlchemy's ``Connection`` on the check's cache
miss. What it must not lose: the values (SQLite's stored datetimes and
booleans), the exception classes and their ``connection_invalidated`` (which
``app/outage.py`` turns into a 503), and the statement events a listener relies on.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy import exc as sa_exc

from app import session_cache, sessions
from app.extensions import db
from app.session_read import RowRead
from app.timeutil import utcnow
from app.tokens import digest, new_token

FA_HEADERS = {"X-Original-URL": "http://app.test/demo/reports"}


def both_reads(token: str):
    """The check through the request's SQLAlchemy session, and through the raw read."""
    through_sqlalchemy = sessions.check_with_user(token)
    through_cursor = sessions.check_with_user(token, RowRead(db.engine, sessions.check_statement()))
    return through_sqlalchemy, through_cursor


def open_session(user_id: int, **changes) -> str:
    token, _ = sessions.open_session(user_id, "", 2, "PasswordScheme", 600, amr=("pwd", "otp", "mfa"))
    if changes:
        row = sessions.SignInSession.__table__.update().where(sessions.SignInSession.id_digest == digest(token))
        db.session.execute(row.values(**changes))
    db.session.commit()
    return token


def test_every_kind_of_session_reads_the_same_through_the_cursor_as_through_sqlalchemy(app, add_user):
    with_attributes = add_user("alice", password="pw-alice-0123", mail="alice@example.org", given_name="Alice Ä")
    without = add_user("bob")
    locked = add_user("carol", status="locked")
    with app.app_context():
        cases = {
            "attributes, methods": open_session(with_attributes),
            "no attributes": open_session(without),
            "revoked": open_session(with_attributes, revoked=True),
            "expired": open_session(with_attributes, expires_at=utcnow() - timedelta(seconds=1)),
            "locked user": open_session(locked),
            "unknown cookie": new_token(),
        }
        found = {name: both_reads(token) for name, token in cases.items()}
    for name, (through_sqlalchemy, through_cursor) in found.items():
        assert through_cursor == through_sqlalchemy, name
    session, user = found["attributes, methods"][1]
    assert session.amr == ("pwd", "otp", "mfa") and session.expires_at > utcnow() and session.level == 2
    assert user.attributes == {"given-name": "Alice Ä", "mail": "alice@example.org"}
    assert found["no attributes"][1][1].attributes == {}
    assert [name for name, (_, read) in found.items() if read is None] == [
        "revoked",
        "expired",
        "locked user",
        "unknown cookie",
    ]


def test_a_failing_statement_raises_what_sqlalchemy_raises_for_it(tmp_path):
    """A real error from the database (here a missing table), through both paths: same class, same flags."""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        statement = sessions.check_statement()
        with pytest.raises(sa_exc.DBAPIError) as through_sqlalchemy, engine.connect() as connection:
            connection.execute(statement, {"id_digest": "x"})
        with pytest.raises(sa_exc.DBAPIError) as through_cursor:
            RowRead(engine, statement).rows({"id_digest": "x"})
        assert type(through_cursor.value) is type(through_sqlalchemy.value) is sa_exc.OperationalError
        assert type(through_cursor.value.orig) is type(through_sqlalchemy.value.orig)
        assert through_cursor.value.connection_invalidated is through_sqlalchemy.value.connection_invalidated is False
        assert "no such table" in str(through_cursor.value)
        assert engine.pool.checkedout() == 0, "the connection went back to the pool"
    finally:
        engine.dispose()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_forward_auth_on_a_database_that_cannot_be_reached_is_a_503_with_retry_after(make_settings):
    """The raw read's checkout fails on connect: wrapped as SQLAlchemy would, so outage handling answers 503."""
    pytest.importorskip("psycopg")
    from app import create_app

    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    application = create_app(
        make_settings(extra={"database_url": url, "forward_auth": {"proxies": ["127.0.0.1"]}}), testing=True
    )
    try:
        client = application.test_client()
        client.set_cookie("stepgate_session", new_token())
        answer = client.get("/forward-auth", headers=FA_HEADERS)
        assert answer.status_code == 503 and answer.json["error"] == "database.unavailable"
        assert answer.headers["Retry-After"].isdigit()
        with application.app_context():
            with pytest.raises(sa_exc.OperationalError) as through_cursor:
                RowRead(db.engine, sessions.check_statement()).rows({"id_digest": "x"})
            with pytest.raises(sa_exc.OperationalError) as through_sqlalchemy, db.engine.connect():
                pass
        assert type(through_cursor.value.orig) is type(through_sqlalchemy.value.orig)
        assert through_cursor.value.connection_invalidated is through_sqlalchemy.value.connection_invalidated
    finally:
        with application.app_context():
            db.engine.dispose()


def test_a_statement_listener_still_sees_every_session_read(app, add_user):
    """Tracing or counting statements (tests, bench/counted.py) must not lose the check's read."""
    user_id = add_user("alice")
    with app.app_context():
        token = open_session(user_id)
        seen: list[str] = []

        def executed(conn, cursor, statement, *rest):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", executed)
        try:
            with app.test_request_context("/"):
                assert session_cache.check_uncached_in_request(token) is not None
        finally:
            event.remove(db.engine, "before_cursor_execute", executed)
        assert any("FROM sessions" in statement for statement in seen)
        with db.engine.connect() as connection:  # and without a listener the read still answers
            connection.execute(text("SELECT 1"))
        with app.test_request_context("/"):
            assert session_cache.check_uncached_in_request(new_token()) is None
