"""Signing in with a local user name and password, over real HTTP, as a browser does."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from app import audit, flows
from app.extensions import db
from app.timeutil import utcnow

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(add_user):
    return add_user("alice", password=PASSWORD, mail="alice@example.org", first_name="Alice")


def sign_in(browser, password=PASSWORD, user="alice", path="/demo/reports?year=2026"):
    page = browser.get(path)
    assert page.status_code == 200 and browser.form()["id"] == "loginData"
    return browser.submit({"USERNAME": user, "PASSWORD": password})


def test_protected_resource_asks_for_credentials_then_returns_to_the_url_first_asked_for(browser, alice):
    page = browser.get("/demo/reports?year=2026")
    assert "User name" in page.text and "Password" in page.text
    wrong = browser.submit({"USERNAME": "alice", "PASSWORD": "nope"})
    assert wrong.status_code == 200
    assert "The user name or password is incorrect." in wrong.text
    done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert done.url == browser.url("/demo/reports?year=2026")
    assert '<strong id="user-name">alice</strong>' in done.text
    assert "alice@example.org" in done.text


def test_session_cookie_is_httponly_lax_and_new_after_sign_in(browser, alice):
    browser.get("/demo/")
    browser.session.cookies.set("stepgate_session", "planted-by-an-attacker", domain="127.0.0.1", path="/")
    done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    header = next(r for r in done.history if "stepgate_session" in r.headers.get("Set-Cookie", ""))
    set_cookie = header.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert browser.cookie("stepgate_session") not in (None, "planted-by-an-attacker")


def test_unknown_user_reads_like_a_wrong_password(browser, alice):
    page = sign_in(browser, user="mallory")
    assert "The user name or password is incorrect." in page.text


def test_retry_limit_ends_the_flow_with_a_clear_page(app, make_settings, browser, alice):
    browser.get("/demo/")
    for _ in range(4):
        page = browser.submit({"USERNAME": "alice", "PASSWORD": "wrong"})
        assert page.status_code == 200
    page = browser.submit({"USERNAME": "alice", "PASSWORD": "wrong"})
    assert page.status_code == 401
    assert "Too many failed attempts" in page.text
    # the flow is over: the correct password now changes nothing
    again = (
        browser.post(
            "/oam/server/auth_cred_submit",
            {
                "USERNAME": "alice",
                "PASSWORD": PASSWORD,
                "csrf_token": browser.form(page)["fields"].get("csrf_token", ""),
            },
        )
        if "<form" in page.text
        else browser.get("/oam/server/auth_cred_submit")
    )
    assert again.status_code == 400 and "expired" in again.text
    assert browser.cookie("stepgate_session") is None


def test_a_form_without_the_csrf_token_is_refused_and_the_flow_survives(browser, alice):
    browser.get("/demo/")
    forged = browser.post("/oam/server/auth_cred_submit", {"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert forged.status_code == 400
    assert "did not come from this site" in forged.text
    assert browser.cookie("stepgate_session") is None
    page = browser.get("/oam/server/auth_cred_submit")
    done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD}, response=page)
    assert '<strong id="user-name">alice</strong>' in done.text


def test_a_form_posted_from_another_browser_is_refused(browser, live_server, alice):
    browser.get("/demo/")
    token = browser.form()["fields"]["csrf_token"]
    with requests.Session() as attacker:
        attacker.cookies.set("stepgate_flow", browser.cookie("stepgate_flow"), domain="127.0.0.1", path="/")
        forged = attacker.post(
            f"{live_server.url}/oam/server/auth_cred_submit",
            data={"USERNAME": "alice", "PASSWORD": PASSWORD, "csrf_token": token},
            timeout=5,
        )
    assert forged.status_code == 400
    assert "stepgate_session" not in forged.cookies


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/demo/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "/not-a-configured-resource",
        "http://127.0.0.1/demo/",
    ],
)
def test_sign_in_never_redirects_to_an_address_that_is_not_a_configured_resource(browser, target):
    page = browser.get("/login", params={"next": target}, allow_redirects=False)
    assert page.status_code == 400
    assert "not a resource protected by this server" in page.text


def test_login_with_a_configured_resource_returns_there(browser, alice):
    browser.get("/login", params={"next": "/demo/settings"})
    done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert done.url == browser.url("/demo/settings")


def test_an_expired_flow_starts_nothing_and_says_so(app, browser, alice):
    browser.get("/demo/")
    with app.app_context():
        for row in db.session.scalars(db.select(flows.Flow)):
            row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    page = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert page.status_code == 400
    assert "expired" in page.text
    assert browser.cookie("stepgate_session") is None


def test_a_locked_user_is_refused(browser, add_user):
    add_user("bob", password=PASSWORD, status="locked")
    page = sign_in(browser, user="bob")
    assert "This account is locked." in page.text
    assert browser.cookie("stepgate_session") is None


def test_an_account_without_a_password_cannot_use_a_password_sign_in(browser, add_user):
    add_user("federated-only")
    page = sign_in(browser, user="federated-only", password="anything at all")
    assert "The user name or password is incorrect." in page.text  # no hint that the account exists
    assert browser.cookie("stepgate_session") is None


def test_logout_makes_a_copied_session_cookie_worthless(browser, live_server, alice):
    sign_in(browser)
    stolen = browser.cookie("stepgate_session")
    browser.sign_out()
    with requests.Session() as thief:
        thief.cookies.set("stepgate_session", stolen, domain="127.0.0.1", path="/")
        page = thief.get(f"{live_server.url}/demo/", timeout=5)
    assert 'id="loginData"' in page.text


def test_locking_a_user_ends_their_session(app, browser, alice):
    sign_in(browser)
    assert '<strong id="user-name">alice</strong>' in browser.get("/demo/").text
    result = app.test_cli_runner().invoke(args=["users", "lock", "alice"])
    assert result.exit_code == 0, result.output
    assert 'id="loginData"' in browser.get("/demo/").text


def test_public_resources_need_no_sign_in(browser):
    page = browser.get("/")
    assert page.status_code == 200 and "stepgate demo" in page.text


def test_a_post_to_a_protected_resource_without_a_session_is_refused(browser):
    assert browser.post("/demo/", {"x": "1"}).status_code in (400, 401)


def test_every_step_and_the_sign_in_are_audited(app, browser, alice):
    sign_in(browser, password="wrong")
    browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    with app.app_context():
        events = list(reversed(audit.query(limit=50)))
        steps = [(e.step, e.outcome, e.reason) for e in events if e.event == "step"]
        assert ("User_Authentication", "failure", "credentials.invalid") in steps
        assert steps[-1] == ("User_Authentication", "success", None)
        assert [e.event for e in events if e.event.startswith("signin")] == ["signin.success"]
        assert events[-1].user_id == alice
        assert all("PASSWORD" not in str(e.detail) and PASSWORD not in str(e.detail) for e in events)


def test_labels_follow_the_browsers_language(browser):
    page = browser.get("/demo/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Mot de passe" in page.text and "Se connecter" in page.text


def test_passwords_are_never_written_to_the_flow_store(app, browser, alice):
    sign_in(browser, password="wrong-but-secret")
    with app.app_context():
        for row in db.session.scalars(db.select(flows.Flow)):
            assert "wrong-but-secret" not in str(row.data)
