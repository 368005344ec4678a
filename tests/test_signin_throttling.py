"""Throttling password sign-ins per client address and per typed name, over real HTTP, shared through the database."""

from __future__ import annotations

import re
import time

import pytest

from app import create_app, password_signin
from app.extensions import db
from app.stores import sql as sql_store
from tests.browser import Browser
from tests.conftest import LiveServer

PASSWORD = "correct horse battery staple"
OFF = {"limit": 0}


@pytest.fixture
def throttling_block() -> dict:
    """The ``password_signin.throttling`` settings of the test's app; tests parametrise it."""
    return {"per_address": {"limit": 3, "window_seconds": 60}, "per_name": OFF}


@pytest.fixture
def extra_settings() -> dict:
    return {}


@pytest.fixture
def make_settings(make_settings, throttling_block, extra_settings):
    def make(extra=None, **kwargs):
        block = {"password_signin": {"throttling": throttling_block, "lockout": {"max_failures": 0}}}
        return make_settings({**block, **extra_settings, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def alice(add_user):
    return add_user("alice", password=PASSWORD)


def attempt(browser: Browser, user: str, password: str = "wrong", headers: dict | None = None):  # noqa: S107
    """One sign-in attempt in a fresh flow, as after "Start again"."""
    browser.session.cookies.clear()
    browser.get("/demo/", headers=headers)
    return browser.submit({"USERNAME": user, "PASSWORD": password}, headers=headers)


def assert_throttled(page, window_seconds: int = 60) -> None:
    assert page.status_code == 429
    assert 1 <= int(page.headers["Retry-After"]) <= window_seconds
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Too many sign-in attempts" in page.text and "Start again" in page.text


def test_the_fourth_attempt_from_one_address_gets_429_with_retry_after(browser, alice):
    for user in ("alice", "bob", "ghost"):
        assert attempt(browser, user).status_code == 200
    refused = attempt(browser, "alice", PASSWORD)  # even the right password: the check does not run
    assert_throttled(refused)
    assert browser.cookie("stepgate_session") is None


def test_a_throttled_attempt_runs_no_password_hash(monkeypatch, browser, alice):
    checks = []
    # the SQL store checks the hash (app/stores/sql.py); sign-in spends a dummy check for unknown names
    monkeypatch.setattr(sql_store, "verify_password", lambda *a: checks.append("real") or False)
    monkeypatch.setattr(sql_store, "spend_one_check", lambda *a: checks.append("dummy"))
    monkeypatch.setattr(password_signin, "spend_one_check", lambda *a: checks.append("dummy"))
    for user in ("alice", "ghost", "alice"):
        attempt(browser, user)
    assert len(checks) == 3
    assert_throttled(attempt(browser, "ghost"))
    assert_throttled(attempt(browser, "alice"))
    assert len(checks) == 3


@pytest.mark.parametrize("throttling_block", [{"per_address": OFF, "per_name": {"limit": 3, "window_seconds": 60}}])
def test_case_and_width_variants_of_an_unknown_name_share_one_budget(browser):
    for user in ("ghost", "Ghost", "GHOST"):
        assert attempt(browser, user).status_code == 200
    assert_throttled(attempt(browser, "ｇｈｏｓｔ"))  # full-width letters: the same name after NFKC
    assert_throttled(attempt(browser, "gh\u200bost"))  # a zero-width space: the same name too
    assert attempt(browser, "someone-else").status_code == 200  # other names keep their own budget


@pytest.mark.parametrize("throttling_block", [{"per_address": OFF, "per_name": {"limit": 2, "window_seconds": 60}}])
def test_a_known_name_is_throttled_like_an_unknown_one_and_the_pages_match(browser, alice):
    for user in ("alice", "ALICE", "ghost", "Ghost"):
        assert attempt(browser, user).status_code == 200
    known, unknown = attempt(browser, "Alice"), attempt(browser, "GHOST")
    assert_throttled(known)
    assert_throttled(unknown)
    assert _comparable(known.text) == _comparable(unknown.text)


@pytest.mark.parametrize("throttling_block", [{"per_address": {"limit": 1, "window_seconds": 5}, "per_name": OFF}])
def test_the_budget_comes_back_when_the_window_ends(browser, alice):
    attempt(browser, "alice")
    refused = attempt(browser, "alice", PASSWORD)
    assert_throttled(refused, window_seconds=5)
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)  # what Retry-After says is enough
    page = attempt(browser, "alice", PASSWORD)
    assert page.status_code == 200 and '<strong id="user-name">alice</strong>' in page.text


def test_two_nodes_sharing_the_database_count_together(app, make_settings, browser, alice):
    other_node = create_app(make_settings(), testing=True)
    server = LiveServer(other_node).start()
    try:
        with Browser(server.url) as elsewhere:
            assert attempt(browser, "alice").status_code == 200
            assert attempt(elsewhere, "alice").status_code == 200
            assert attempt(browser, "alice").status_code == 200
            assert_throttled(attempt(elsewhere, "alice"))
    finally:
        server.stop()
        with other_node.app_context():
            db.engine.dispose()


def test_a_forged_x_forwarded_for_does_not_buy_new_budget_without_a_trusted_proxy(browser, alice):
    for n in range(3):
        attempt(browser, "alice", headers={"X-Forwarded-For": f"203.0.113.{n}"})
    assert_throttled(attempt(browser, "alice", headers={"X-Forwarded-For": "203.0.113.99"}))


@pytest.mark.parametrize("extra_settings", [{"trusted_proxies": ["127.0.0.1"]}])
def test_behind_a_trusted_proxy_each_client_address_has_its_own_budget(browser, alice):
    one, other = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}
    for _ in range(3):
        assert attempt(browser, "alice", headers=one).status_code == 200
    assert_throttled(attempt(browser, "alice", headers=one))
    assert attempt(browser, "alice", PASSWORD, headers=other).status_code == 200


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"per_address": {"limit": -1}}, "'per_address.limit' must be a whole number from 0 (off) to 1000000"),
        ({"per_name": {"window_seconds": 0}}, "'per_name.window_seconds' must be a whole number from 1 to 86400"),
        ({"per_name": 5}, "'password_signin.throttling.per_name' must be a mapping"),
        ({"per_user": {}}, "unknown key 'per_user' in password_signin.throttling"),
    ],
)
def test_bad_throttling_settings_stop_the_server_with_file_and_line(make_settings, block, message):
    from app.yamlsource import ConfigError

    path = make_settings({"password_signin": {"throttling": block}})
    with pytest.raises(ConfigError) as refused:
        create_app(path, testing=True)
    (problem,) = refused.value.problems
    assert problem.file == str(path) and problem.line > 1 and message in problem.message


def _comparable(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", html)
