"""The shipped UserSelfRegistrationScheme end to end (OAM 42.1, Table 42-2).

Three real servers on loopback: the development OpenID Provider, stepgate with
the scheme exactly as shipped in ``schemes/``, and the example registration
page. A browser signs in at the provider, registers on the page, and lands on
the resource it first asked for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.stores import federation
from app.stores import sql as identity
from examples.registration_page.app import create_app as create_page
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.jit_steps import attributes_shown, provider_sign_in

SCHEME = (Path(__file__).resolve().parent.parent / "schemes" / "UserSelfRegistrationScheme.yaml").read_text()
SCIM_TOKEN = "scim-token-for-this-test-0123456789"
SECRET = "registration-secret-for-this-test"


@pytest.fixture
def selfreg_site(make_jit_site, monkeypatch):
    page_app = create_page(
        {"REGISTRATION_SECRET_KEY": SECRET, "SCIM_TOKEN": SCIM_TOKEN, "PAGE_SECRET_KEY": "page-secret-0123456789"}
    )
    page = LiveServer(page_app).start()
    monkeypatch.setenv("REGISTRATION_URL", f"{page.url}/register")
    monkeypatch.setenv("REGISTRATION_SECRET_KEY", SECRET)
    site = make_jit_site(
        policies={"Self-registration": {"scheme": "UserSelfRegistrationScheme"}},
        resources=[{"url": "/demo/selfreg/**", "policy": "Self-registration"}],
        extra={"scim": {"tokens": [SCIM_TOKEN]}},
    )
    page_app.config.update(STEPGATE_URL=site.url, STEPGATE_PUBLIC_URL=site.url)
    yield site, page
    page.stop()


def test_a_new_person_registers_on_the_page_and_lands_on_the_resource(selfreg_site):
    site, page = selfreg_site
    with Browser(site.url) as browser:
        form = provider_sign_in(browser, "/demo/selfreg/projects?tab=mine", "ivy", given_name="Ivy", family_name="Ng")
        assert form.url.startswith(f"{page.url}/register?registrationid=")
        assert browser.form(form)["fields"]["givenName"] == "Ivy"
        done = browser.submit({"userName": "ivy", "department": "Design"})
        assert done.url == browser.url("/demo/selfreg/projects?tab=mine")
        assert '<strong id="user-name">ivy</strong>' in done.text
        shown = attributes_shown(done)
        assert shown["department"] == "Design" and shown["mail"] == "ivy@example.org"
    with site.app.app_context():
        user = identity.find_by_user_name("default", "ivy")
        [link] = federation.links_of(user.id)
        assert link.provider == "devop"
        assert user.password_hash is None


def test_a_registered_person_is_recognised_next_time_without_the_page(selfreg_site):
    site, page = selfreg_site
    with Browser(site.url) as browser:
        provider_sign_in(browser, "/demo/selfreg/", "jon")
        browser.submit({"userName": "jon", "department": "Sales"})
    with Browser(site.url) as browser:
        done = provider_sign_in(browser, "/demo/selfreg/", "jon")
        assert done.url == browser.url("/demo/selfreg/")
        assert '<strong id="user-name">jon</strong>' in done.text


def test_leaving_the_page_without_registering_ends_on_a_clear_failure(selfreg_site):
    site, page = selfreg_site
    with Browser(site.url) as browser:
        form = provider_sign_in(browser, "/demo/selfreg/", "kim")
        registration_id = form.url.split("registrationid=", 1)[1]
        back = browser.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id})
        assert back.status_code == 401
        assert "No account was created during registration" in back.text
        assert browser.cookie("stepgate_session") is None
    with site.app.app_context():
        assert identity.find_by_user_name("default", "kim") is None
