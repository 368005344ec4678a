"""Account lockout after failed password checks, over real HTTP: across flows, in parallel, and how it ends."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import audit, lockout
from app.stores import sql as identity
from tests.browser import Browser, parse_forms
from tests.conftest import DEMO_DOMAIN

PASSWORD = "correct horse battery staple"
ADMIN_DOMAIN = {
    "Administration": {
        "authentication_policies": {"Admin Console Policy": {"scheme": "AdminScheme"}},
        "resources": [{"url": "/admin/**", "policy": "Admin Console Policy"}],
    }
}
NO_THROTTLING = {"per_address": {"limit": 0}, "per_name": {"limit": 0}}


def lockout_settings(**lockout_block) -> dict:
    return {"password_signin": {"lockout": lockout_block, "throttling": NO_THROTTLING}}


@pytest.fixture
def lockout_block() -> dict:
    """The ``password_signin.lockout`` settings of the test's app; a test parametrises it to change them."""
    return {"max_failures": 3}


@pytest.fixture
def make_settings(make_settings, lockout_block):
    def make(extra=None, **kwargs):
        settings = {"application_domains": {**DEMO_DOMAIN, **ADMIN_DOMAIN}, **lockout_settings(**lockout_block)}
        return make_settings({**settings, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def people(add_user):
    return {
        "admin": add_user("admin", password=PASSWORD, groups="admins"),
        "alice": add_user("alice", password=PASSWORD),
    }


def attempt(browser: Browser, password: str, user: str = "alice", path: str = "/demo/"):
    """One sign-in attempt in a fresh flow (a new visit, as after "Start again")."""
    browser.session.cookies.clear()
    page = browser.get(path)
    assert browser.form()["id"] == "loginData", page.text[:300]
    return browser.submit({"USERNAME": user, "PASSWORD": password})


def signed_in(page) -> bool:
    return '<strong id="user-name">' in page.text


def lock_alice(browser: Browser, failures: int = 3) -> None:
    for _ in range(failures):
        assert not signed_in(attempt(browser, "wrong"))


def test_the_account_locks_after_max_failures_and_the_right_password_then_fails(app, browser, people):
    lock_alice(browser)
    refused = attempt(browser, PASSWORD)
    assert not signed_in(refused) and browser.cookie("stepgate_session") is None
    with app.app_context():
        (locked,) = audit.query(event="account.locked")
        assert locked.user_id == people["alice"] and locked.detail["failures"] == 3
        assert lockout.state_of(people["alice"]).locked_out
        reasons = [e.reason for e in audit.query(event="step") if e.plugin == "UserAuthenticationPlugin"]
        assert reasons[0] == "account.locked_out"  # the audit says why; the page does not


def test_a_locked_out_person_sees_the_same_page_whether_the_password_was_right_or_not(browser, people):
    lock_alice(browser)
    right, wrong = attempt(browser, PASSWORD), attempt(browser, "wrong again")
    assert right.status_code == wrong.status_code == 200
    assert _without_csrf(right.text) == _without_csrf(wrong.text)
    assert "The user name or password is incorrect." in right.text


def test_failures_count_across_flows_and_browsers(app, live_server, people):
    with Browser(live_server.url) as first, Browser(live_server.url) as second:
        first.get("/demo/")
        first.submit({"USERNAME": "alice", "PASSWORD": "wrong"})
        first.submit({"USERNAME": "alice", "PASSWORD": "wrong"})  # the same flow's retry
        attempt(second, "wrong")  # another browser, another flow
        assert not signed_in(attempt(second, PASSWORD))
    with app.app_context():
        assert lockout.state_of(people["alice"]).locked_out


@pytest.mark.parametrize("lockout_block", [{"max_failures": 2, "duration_seconds": 1}])
def test_the_lockout_ends_by_itself_after_its_duration(browser, people):
    lock_alice(browser, 2)
    assert not signed_in(attempt(browser, PASSWORD))
    time.sleep(1.2)
    assert signed_in(attempt(browser, PASSWORD))


def test_a_right_password_before_the_limit_starts_the_count_again(app, browser, people):
    lock_alice(browser, 2)
    assert signed_in(attempt(browser, PASSWORD))
    lock_alice(browser, 2)
    assert signed_in(attempt(browser, PASSWORD))
    with app.app_context():
        assert audit.query(event="account.locked") == []


@pytest.mark.parametrize("lockout_block", [{"max_failures": 2, "window_seconds": 1}])
def test_failures_outside_the_window_do_not_add_up(browser, people):
    lock_alice(browser, 1)
    time.sleep(1.2)
    lock_alice(browser, 1)
    assert signed_in(attempt(browser, PASSWORD))


@pytest.mark.parametrize("lockout_block", [{"max_failures": 10}])
def test_concurrent_failures_are_each_counted(app, live_server, people):
    """Parallel wrong passwords, each in its own flow: no count is lost (one atomic UPDATE per check)."""

    def wrong(_):
        with Browser(live_server.url) as b:
            return attempt(b, "wrong").status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(wrong, range(4))) == [200] * 4
    with app.app_context():
        assert lockout.state_of(people["alice"]).failures == 4


def test_a_burst_beyond_the_limit_checks_at_most_max_failures_passwords_and_locks_once(app, live_server, people):
    def wrong(_):
        with Browser(live_server.url) as b:
            return attempt(b, "wrong").status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(wrong, range(6))) == {200}
    with app.app_context():
        assert len(audit.query(event="account.locked")) == 1
        reasons = [e.reason for e in audit.query(event="step") if e.plugin == "UserAuthenticationPlugin"]
        assert reasons.count("credentials.invalid") <= 3 and len(reasons) == 6
        assert lockout.state_of(people["alice"]).locked_out


def test_an_administrator_ends_the_lockout_from_the_console_and_it_is_audited(
    app, browser, browser_for, live_server, people
):
    victim = browser_for(live_server)
    lock_alice(victim)
    page = attempt(browser, PASSWORD, user="admin", path="/admin/")
    assert page.status_code == 200
    user_page = browser.get(f"/admin/users/{people['alice']}")
    assert "locked out until" in user_page.text
    assert 'id="user-status" class="status-active">active' in user_page.text  # the status is not touched
    form = next(f for f in parse_forms(user_page.text) if f["action"].endswith("/end-lockout"))
    assert browser.post(form["action"], data={}).status_code == 400  # no CSRF token: refused
    done = browser.post(form["action"], data=form["fields"])
    assert "alice: lockout ended" in done.text and "locked out until" not in done.text
    assert signed_in(attempt(victim, PASSWORD))
    with app.app_context():
        (event,) = audit.query(event="account.unlocked")
        assert event.user_id == people["alice"] and event.detail["by"] == "admin"


def test_flask_users_unlock_ends_the_lockout(app, runner, browser, people):
    lock_alice(browser)
    result = runner.invoke(args=["users", "show", "alice"])
    assert "locked out after failed sign-ins until" in result.output
    result = runner.invoke(args=["users", "unlock", "alice"])
    assert result.exit_code == 0 and "lockout after failed sign-ins ended" in result.output
    assert signed_in(attempt(browser, PASSWORD))
    with app.app_context():
        (event,) = audit.query(event="account.unlocked")
        assert event.detail["by"] == "cli"


def test_an_administrative_lock_is_kept_apart_from_the_lockout(app, runner, browser, people):
    runner.invoke(args=["users", "lock", "alice"])
    lock_alice(browser)  # wrong passwords on an administratively locked account count too
    with app.app_context():
        assert lockout.state_of(people["alice"]).locked_out
    runner.invoke(args=["users", "unlock", "alice"])
    with app.app_context():
        assert identity.find_by_user_name("default", "alice").status == "active"
        assert not lockout.state_of(people["alice"]).locked_out
    assert signed_in(attempt(browser, PASSWORD))


def test_the_lockout_does_not_end_sessions_already_open(browser, browser_for, live_server, people):
    assert signed_in(attempt(browser, PASSWORD))
    lock_alice(browser_for(live_server))
    assert signed_in(browser.get("/demo/"))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"lockout": {"max_failures": "ten"}}, "'lockout.max_failures' must be a whole number from 0 to 1000"),
        ({"lockout": {"duration_seconds": 0}}, "'lockout.duration_seconds' must be a whole number from 1 to 86400"),
        ({"lockout": {"forever": True}}, "unknown key 'forever' in password_signin.lockout"),
        ({"reveal_account_state": "yes"}, "'reveal_account_state' must be true or false"),
        ({"lockouts": {}}, "unknown key 'lockouts' in password_signin"),
    ],
)
def test_bad_lockout_settings_stop_the_server_with_file_and_line(make_settings, block, message):
    from app import create_app
    from app.yamlsource import ConfigError

    path = make_settings({"password_signin": block})
    with pytest.raises(ConfigError) as refused:
        create_app(path, testing=True)
    (problem,) = refused.value.problems
    assert problem.file == str(path) and problem.line > 1 and message in problem.message


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", html)
