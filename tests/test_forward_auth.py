"""The forward-auth endpoint, asked as nginx (auth_request) and Traefik/Caddy (forward_auth) ask it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app import create_app
from app.extensions import db
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.proxied import STRONG_SCHEME, apps_settings

PASSWORD = "correct horse battery staple"
APP_HOST = "app.example.org"


def serve(make_settings, extra: dict):
    application = create_app(
        make_settings(extra=extra, schemes={"StrongPasswordScheme.yaml": STRONG_SCHEME}), testing=True
    )
    with application.app_context():
        db.create_all()
    return application


@pytest.fixture
def stepgate(make_settings, app, add_user):
    add_user("alice", password=PASSWORD, mail="alice@example.org", display_name="Zoë Ålander\r\nX-Evil: 1")
    server = LiveServer(serve(make_settings, apps_settings(APP_HOST))).start()
    yield server
    server.stop()
    with server.app.app_context():
        db.engine.dispose()


@pytest.fixture
def session_cookie(stepgate):
    """Sign in as the proxy would send the browser to: /login?next=<the application's absolute URL>."""
    with Browser(stepgate.url) as browser:
        browser.get("/login?" + requests.compat.urlencode({"next": f"http://{APP_HOST}/reports?y=2026"}))
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD}, allow_redirects=False)
        assert done.status_code == 302
        assert done.headers["Location"] == f"http://{APP_HOST}/reports?y=2026"
        return browser.cookie("stepgate_session")


def ask(server, cookie=None, url=f"http://{APP_HOST}/reports", method="GET", **headers):
    sent = {"X-Original-URL": url, "X-Original-Method": method, **headers} if url else headers
    return requests.get(
        server.url + "/forward-auth",
        headers=sent,
        cookies={"stepgate_session": cookie} if cookie else None,
        allow_redirects=False,
        timeout=10,
    )


def test_anonymous_is_told_where_to_sign_in_and_comes_back_to_the_absolute_url(stepgate):
    answer = ask(stepgate)
    assert answer.status_code == 401
    assert answer.json()["error"] == "authn.required"
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [f"http://{APP_HOST}/reports"]}


def test_a_signed_in_user_is_let_through_with_identity_headers(stepgate, session_cookie):
    answer = ask(stepgate, session_cookie)
    assert answer.status_code == 200
    assert answer.headers["X-Stepgate-User"] == "alice"
    assert answer.headers["X-Stepgate-Mail"] == "alice@example.org"
    # a claim can't inject a header: non-ASCII and control characters arrive percent-encoded
    assert answer.headers["X-Stepgate-Name"] == "Zo%C3%AB %C3%85lander%0D%0AX-Evil: 1"
    assert "X-Evil" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"


def test_traefik_and_caddy_forwarded_headers_are_understood(stepgate, session_cookie):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": APP_HOST, "X-Forwarded-Uri": "/admin/users"}
    assert ask(stepgate, None, url=None, **headers).status_code == 401
    answer = ask(stepgate, session_cookie, url=None, **headers, **{"X-Forwarded-Method": "DELETE"})
    assert answer.status_code == 403 and answer.json()["error"] == "authn.level_too_low"
    assert ask(stepgate, session_cookie, url=None, **{**headers, "X-Forwarded-Uri": "/x"}).status_code == 200


def test_a_resource_of_a_policy_needing_a_higher_level_is_refused(stepgate, session_cookie):
    answer = ask(stepgate, session_cookie, url=f"http://{APP_HOST}/admin/")
    assert answer.status_code == 403
    assert answer.json()["error"] == "authn.level_too_low"
    assert "next=http%3A%2F%2Fapp.example.org%2Fadmin%2F" in answer.headers["Location"]


def test_public_resources_pass_and_unconfigured_urls_are_refused(stepgate):
    assert ask(stepgate, url=f"http://{APP_HOST}/public/logo.png").status_code == 200
    other = ask(stepgate, url="http://intranet.example.org/reports")
    assert other.status_code == 403 and other.json()["error"] == "forward_auth.no_resource"
    assert ask(stepgate, url=None).json()["error"] == "forward_auth.no_original_url"
    assert ask(stepgate, url="javascript:alert(1)").status_code == 400


def test_logout_makes_the_copied_cookie_worthless_to_the_proxy(stepgate, session_cookie):
    assert ask(stepgate, session_cookie).status_code == 200
    with Browser(stepgate.url) as browser:
        browser.session.cookies.set("stepgate_session", session_cookie)
        browser.sign_out()
    assert ask(stepgate, session_cookie).status_code == 401


def test_traefik_and_caddy_can_have_the_redirect_itself(make_settings, app):
    settings = apps_settings(APP_HOST)
    settings["forward_auth"]["signin_status"] = 302
    server = LiveServer(serve(make_settings, settings)).start()
    try:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": APP_HOST, "X-Forwarded-Uri": "/reports"}
        answer = ask(server, url=None, **headers)
        assert answer.status_code == 302
        assert answer.headers["Location"] == "/login?next=https%3A%2F%2Fapp.example.org%2Freports"
    finally:
        server.stop()
        with server.app.app_context():
            db.engine.dispose()


def test_forwarded_headers_from_an_unconfigured_address_are_not_believed(make_settings, app):
    server = LiveServer(serve(make_settings, apps_settings(APP_HOST, proxies=["10.0.0.0/8"]))).start()
    try:
        answer = ask(server, url=f"http://{APP_HOST}/public/logo.png")
        assert answer.status_code == 403
        assert answer.json()["error"] == "forward_auth.untrusted_proxy"
    finally:
        server.stop()
        with server.app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example.org/",
        f"http://{APP_HOST}@evil.example.org/",
        f"http://evil.example.org/?{APP_HOST}",
        f"javascript://{APP_HOST}/%0aalert(1)",
        f"http://{APP_HOST}\\@evil.example.org/",
        "//evil.example.org/",
    ],
)
def test_sign_in_never_returns_to_a_host_no_resource_names(stepgate, target):
    answer = requests.get(stepgate.url + "/login", params={"next": target}, allow_redirects=False, timeout=10)
    assert answer.status_code == 400
    assert "That return address is not a resource protected by this server." in answer.text


def test_a_changed_or_new_attribute_reaches_the_headers_at_once(stepgate, session_cookie):
    from app.stores import sql as identity

    assert ask(stepgate, session_cookie).headers["X-Stepgate-Mail"] == "alice@example.org"
    with stepgate.app.app_context():
        identity.find_by_user_name("default", "alice").set_attribute("mail", "alice@new.example.org")
        db.session.commit()
    assert ask(stepgate, session_cookie).headers["X-Stepgate-Mail"] == "alice@new.example.org"
    with stepgate.app.app_context():
        user = identity.find_by_user_name("default", "alice")
        user.set_attribute("display-name", None)
        db.session.commit()
    # answered empty, never left out: a proxy lets a client's own copy through for a header the answer omits
    assert ask(stepgate, session_cookie).headers["X-Stepgate-Name"] == ""
    with stepgate.app.app_context():
        identity.find_by_user_name("default", "alice").set_attribute("display-name", "Alice")
        db.session.commit()
    assert ask(stepgate, session_cookie).headers["X-Stepgate-Name"] == "Alice"


def test_the_session_cookie_can_cover_sibling_hosts(make_settings, app, add_user):
    add_user("bob", password=PASSWORD)
    settings = {**apps_settings(APP_HOST), "session_cookie_domain": ".example.org"}
    server = LiveServer(serve(make_settings, settings)).start()
    try:
        with Browser(server.url) as browser:
            browser.get("/login?" + requests.compat.urlencode({"next": f"http://{APP_HOST}/"}))
            done = browser.submit({"USERNAME": "bob", "PASSWORD": PASSWORD}, allow_redirects=False)
            set_cookie = done.headers["Set-Cookie"]
            assert "stepgate_session=" in set_cookie and "Domain=example.org" in set_cookie
            assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    finally:
        server.stop()
        with server.app.app_context():
            db.engine.dispose()
