"""Signing out: a POST with a CSRF token after a confirmation page, and RP-initiated logout at the provider.

A GET of ``/logout`` only asks (a link or an ``<img>`` on another site must
not end anyone's session); the confirmation form POSTs with the CSRF token.
A session from a provider set with ``rp_initiated_logout`` keeps the ID token
with its row, and signing out sends the browser on to the provider's
``end_session_endpoint`` (OpenID Connect RP-Initiated Logout 1.0) once the
session here is revoked; the provider then returns it to the configured
``post_logout_redirect_uri``. End to end against the real development provider.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app import audit
from app.extensions import db
from app.oidc.logout import unseal
from app.sessions import SignInSession
from tests.browser import Browser
from tests.jit_steps import provider_sign_in
from tests.test_oidc_settings import problems, write_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(add_user):
    return add_user("alice", password=PASSWORD)


def sign_in(browser) -> str:
    browser.get("/demo/")
    page = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert '<strong id="user-name">alice</strong>' in page.text
    return browser.cookie("stepgate_session")


def still_signed_in(base_url: str, cookie: str) -> bool:
    page = requests.get(base_url + "/demo/", cookies={"stepgate_session": cookie}, timeout=10)
    return '<strong id="user-name">alice</strong>' in page.text


def test_opening_the_logout_address_only_asks(browser, live_server, alice):
    cookie = sign_in(browser)
    page = browser.get("/logout")
    assert page.status_code == 200 and "Sign out?" in page.text and "alice" in page.text
    form = browser.form()
    assert form["method"] == "post" and form["action"] == "/logout" and form["fields"]["csrf_token"]
    assert still_signed_in(live_server.url, cookie)


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_logout_post_without_a_valid_csrf_token_is_refused_and_ends_nothing(browser, live_server, alice, token):
    """What a cross-site form (or fetch) can send: the session cookie, but never this site's CSRF token."""
    cookie = sign_in(browser)
    page = browser.post("/logout", data={} if token is None else {"csrf_token": token})
    assert page.status_code == 400 and "form.csrf" in page.text
    assert still_signed_in(live_server.url, cookie)


def test_the_confirmed_logout_revokes_the_session_and_is_audited(app, browser, live_server, alice):
    cookie = sign_in(browser)
    page = browser.sign_out()
    assert page.status_code == 200 and "You are signed out" in page.text
    assert browser.cookie("stepgate_session") is None
    assert not still_signed_in(live_server.url, cookie)
    with app.app_context():
        (event,) = audit.query(event="signout")
        assert event.user_id == alice


def test_the_demo_page_signs_out_through_a_form_not_a_link(browser, alice):
    sign_in(browser)
    page = browser.get("/demo/")
    assert 'href="/logout"' not in page.text
    signout = next(f for f in _forms(page.text) if f["id"] == "signout")
    assert signout["method"] == "post" and signout["fields"]["csrf_token"]


def test_a_logout_returns_to_a_configured_resource_only(browser, alice):
    sign_in(browser)
    browser.get("/logout?next=/demo/elsewhere")
    assert browser.form()["fields"]["next"] == "/demo/elsewhere"
    done = browser.submit(allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == "/demo/elsewhere"
    sign_in(browser)
    browser.get("/logout?next=https://evil.example/")
    assert "next" not in browser.form()["fields"]
    forged = browser.submit({"next": "https://evil.example/"}, allow_redirects=False)
    assert forged.status_code == 200 and "You are signed out" in forged.text


def _forms(html: str) -> list[dict]:
    from tests.browser import parse_forms

    return parse_forms(html)


# -- RP-initiated logout, against the real development provider ----------------------------------------------------


def logout_site(make_jit_site):
    return make_jit_site(
        devop_options=lambda url: {"rp_initiated_logout": True, "post_logout_redirect_uri": url + "/"},
    )


def session_rows(site) -> list[SignInSession]:
    with site.app.app_context():
        rows = list(db.session.scalars(select(SignInSession)))
        db.session.expunge_all()
        return rows


def test_signing_out_continues_at_the_provider_and_returns_to_the_configured_page(make_jit_site, devop):
    site = logout_site(make_jit_site)
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "olivia")
        cookie = browser.cookie("stepgate_session")
        [row] = session_rows(site)
        assert row.logout_provider == "devop" and row.logout_id_token.startswith("{AES}")  # kept, sealed
        assert "eyJ" not in row.logout_id_token  # no JWT part (its header or claims) readable in the row

        browser.get("/logout")
        answer = browser.submit(allow_redirects=False)
        assert answer.status_code == 303
        at_provider = urlsplit(answer.headers["Location"])
        assert f"{at_provider.scheme}://{at_provider.netloc}" == devop.issuer
        assert at_provider.path == "/session/end"
        query = {k: v[0] for k, v in parse_qs(at_provider.query).items()}
        assert set(query) == {"id_token_hint", "post_logout_redirect_uri", "client_id", "state"}
        with site.app.app_context():
            assert query["id_token_hint"] == unseal(row.logout_id_token)
        assert query["id_token_hint"].count(".") == 2 and query["post_logout_redirect_uri"] == site.url + "/"
        assert not still_signed_in(site.url, cookie)  # revoked here before the browser left

        confirm = browser.get(answer.headers["Location"])  # the provider asks "Do you want to sign-out?"
        assert "sign-out" in confirm.text
        back = browser.submit({"logout": "yes"})
        assert back.url.split("?")[0] == site.url + "/" and "stepgate demo" in back.text
        assert parse_qs(urlsplit(back.url).query)["state"] == [query["state"]]
    with site.app.app_context():
        (event,) = audit.query(event="signout")
        assert event.detail == {"provider": "devop"}


def test_the_provider_session_is_gone_after_rp_initiated_logout(make_jit_site):
    site = logout_site(make_jit_site)
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "paula")
        browser.get("/logout")
        browser.get(browser.submit(allow_redirects=False).headers["Location"])
        browser.submit({"logout": "yes"})
        again = browser.get("/demo/jit-nopassword/")  # the provider asks for a login again
        assert 'id="devop-login"' in again.text


def test_the_confirmation_page_allows_its_form_to_lead_to_the_provider(make_jit_site, devop):
    site = logout_site(make_jit_site)
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "quinn")
        page = browser.get("/logout")
        assert devop.issuer in page.headers["Content-Security-Policy"].split("form-action", 1)[1]


def test_without_the_setting_no_id_token_is_kept_and_sign_out_stays_here(make_jit_site):
    site = make_jit_site()
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "rosa")
        [row] = session_rows(site)
        assert row.logout_provider is None and row.logout_id_token is None
        done = browser.sign_out()
        assert done.url == site.url + "/logout" and "You are signed out" in done.text


def test_a_finished_flow_keeps_no_id_token(make_jit_site):
    from app.flows import Flow

    site = logout_site(make_jit_site)
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "sam")
    with site.app.app_context():
        for flow in db.session.scalars(select(Flow)):
            assert "oidc_logout" not in (flow.data or {}) and "eyJ" not in str(flow.data)


def test_rp_initiated_logout_needs_a_post_logout_redirect_uri(tmp_path):
    path = write_settings(
        tmp_path,
        "  corp:\n"
        "    issuer: https://idp.example.org\n"
        "    client_id: stepgate\n"
        "    client_secret: s\n"
        "    rp_initiated_logout: true\n",
    )
    assert problems(path) == [
        "7: provider 'corp': 'rp_initiated_logout' needs a 'post_logout_redirect_uri' (also registered there)"
    ]


@pytest.mark.parametrize(
    "uri, message",
    [
        ("/signed-out", "'post_logout_redirect_uri' must be an absolute URL"),
        ("javascript:alert(1)", "'post_logout_redirect_uri' must be an absolute URL"),
        ("https://app.example.org/#x", "'post_logout_redirect_uri' must be an absolute URL"),
        ("http://app.example.org/", "'post_logout_redirect_uri' must use https"),
    ],
)
def test_the_post_logout_redirect_uri_must_be_an_absolute_https_url(tmp_path, uri, message):
    path = write_settings(
        tmp_path,
        "  corp:\n"
        "    issuer: https://idp.example.org\n"
        "    client_id: stepgate\n"
        "    client_secret: s\n"
        f"    post_logout_redirect_uri: '{uri}'\n",
    )
    assert problems(path) == [f"7: {message}"]


def test_the_confirmation_page_with_nobody_signed_in_is_not_cached(live_server):
    with Browser(live_server.url) as browser:
        page = browser.get("/logout")
    assert page.headers["Cache-Control"] == "no-store" and "Nobody is signed in" in page.text


def test_an_id_token_waiting_in_an_unfinished_flow_is_sealed(make_jit_site):
    from app.flows import Flow

    site = logout_site(make_jit_site)
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit/", "tara")  # the password prompt: the flow is not finished
        assert 'name="PASSWORD"' in page.text
    with site.app.app_context():
        (flow,) = db.session.scalars(select(Flow).where(Flow.status == "active"))
        assert flow.data["oidc_logout"]["id_token"].startswith("{AES}") and "eyJ" not in str(flow.data)


def test_a_kept_id_token_opens_only_under_the_secret_key_that_sealed_it(caplog):
    from flask import Flask

    from app.oidc.logout import seal

    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    before, after = Flask("before"), Flask("after")
    before.secret_key, after.secret_key = "the key it was sealed under", "a rotated key"
    with before.app_context():
        sealed = seal(token)
        assert sealed != seal(token)  # a fresh nonce each time
        assert unseal(sealed) == token
        altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
        assert unseal(altered) is None
        assert unseal(token) == token  # a row kept before sealing: used as it is
    with after.app_context(), caplog.at_level(logging.WARNING, logger="stepgate.oidc"):
        assert unseal(sealed) is None
    assert "does not open with this secret_key: logout without id_token_hint" in caplog.text
    assert token not in caplog.text and sealed not in caplog.text
