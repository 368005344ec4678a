"""The process that opens a session keeps it: the page a sign-in returns to reads no session row.

A sign-in that opens a session hands it to its process's session cache
(app/session_cache.py) with the user as the sign-in's steps read or
provisioned them. That is only right while nothing was revoked since the
request began: a commit that changed the user (claims synced by this very
sign-in, a lock by another process) leaves the session for the row to decide.
"""

from __future__ import annotations

from contextlib import contextmanager

from flask import has_request_context, request
from sqlalchemy import event, text

from app import session_cache, sessions
from app.extensions import db
from app.stores import sql as identity
from tests.browser import Browser
from tests.jit_steps import attributes_shown, provider_sign_in

PASSWORD = "correct horse battery staple"


@contextmanager
def session_reads(app):
    """The paths of the requests that read a ``sessions`` row while the block runs."""
    paths: list[str] = []

    def executed(conn, cursor, statement, *rest):
        if has_request_context() and "FROM sessions" in statement:
            paths.append(request.path)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield paths
    finally:
        event.remove(engine, "before_cursor_execute", executed)


def test_the_page_a_federated_sign_in_returns_to_reads_no_session_row(jit_site):
    with jit_site.browser() as browser, session_reads(jit_site.app) as reads:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "jane", given_name="Jane")
        assert '<strong id="user-name">jane</strong>' in page.text
        assert attributes_shown(page)["first-name"] == "Jane"
    assert reads == []


def test_the_page_a_password_sign_in_returns_to_reads_no_session_row(app, live_server, add_user):
    add_user("alice", password=PASSWORD, mail="alice@example.org")
    with Browser(live_server.url) as browser, session_reads(app) as reads:
        browser.get("/demo/")
        page = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
        assert '<strong id="user-name">alice</strong>' in page.text
    assert reads == []


def test_a_sign_in_that_syncs_changed_claims_leaves_its_session_to_the_row(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "jane", given_name="Jane", family_name="Doe")
    with jit_site.browser() as browser, session_reads(jit_site.app) as reads:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "jane", given_name="Jane", family_name="Smith")
        assert attributes_shown(page)["last-name"] == "Smith"
    assert reads == ["/demo/jit-nopassword/"], "the sync's commit revoked cached sessions: the page reads the row"


def test_a_revocation_after_the_request_began_is_not_hidden_by_the_session_it_opens(app, add_user):
    """Another process locks the user while the sign-in runs: its commit bumps the generation, so no priming."""
    user_id = add_user("alice", password=PASSWORD)
    with app.test_request_context("/"):
        began = session_cache.generation()
        view = identity.get_user(user_id).view()  # read while alice is active
        db.session.execute(text("UPDATE users SET status = 'locked' WHERE id = :id"), {"id": user_id})
        db.session.commit()
        app.extensions["stepgate.session_cache"].revoked()  # what the other process does after its commit
        token, opened = sessions.open_session(user_id, "alice", 1, "PasswordScheme", 600)
        db.session.commit()
        session_cache.prime(token, opened, view, began)
    with app.test_request_context("/"):
        assert session_cache.check(token) is None, "the session was read from its row, where alice is locked"


def test_a_session_primed_under_the_current_generation_is_answered_from_the_cache(app, add_user):
    user_id = add_user("alice", password=PASSWORD)
    with app.test_request_context("/"):
        began = session_cache.generation()
        view = identity.get_user(user_id).view()
        token, opened = sessions.open_session(user_id, "alice", 1, "PasswordScheme", 600)
        db.session.commit()
        session_cache.prime(token, opened, view, began)
        db.session.execute(text("DELETE FROM sessions"))  # behind the cache's back: only the cache can answer now
        db.session.commit()
    with app.test_request_context("/"):
        checked = session_cache.check(token)
        assert checked is not None and checked.user.user_name == "alice" and checked.session.level == 1


def test_a_primed_session_still_ends_with_a_logout(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "jane", given_name="Jane")
        cookie = browser.cookie("stepgate_session")
        browser.sign_out()
    with Browser(jit_site.url) as other:
        other.session.cookies.set("stepgate_session", cookie)
        page = other.get("/demo/jit-nopassword/")
        assert '<strong id="user-name">' not in page.text
