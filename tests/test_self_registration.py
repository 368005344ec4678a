"""Self-registration through an external page (OAM 42.1, mode 1), end to end over real HTTP.

stepgate and the example registration page run as two servers on loopback;
a scripted browser signs in at a stand-in IdP, is sent to the page, creates
its account there (the page talks to stepgate's regdata and SCIM endpoints
itself) and comes back to ``/oam/server/auth_cred_submit``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, jsonify, request

from app import registrations
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from app.timeutil import utcnow
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.selfregistration_site import ISSUER, PAGE_SECRET, SCIM_TOKEN, start_site

RESOURCE = "/demo/reports?year=2026"


@pytest.fixture
def site(make_settings):
    running = start_site(make_settings)
    yield running
    running.stop()


@pytest.fixture
def app(site):
    """The stepgate of the site (so conftest's ``add_user`` writes into its database)."""
    return site.app


@pytest.fixture
def person(site):
    with Browser(site.stepgate.url) as browser:
        yield browser


def sign_in_at_idp(browser, sub="idp-user-1", email="carol@example.org", verified="true", **claims):
    """Open the protected resource and sign in at the stand-in IdP; return the page we land on."""
    page = browser.get(RESOURCE)
    assert browser.form(page)["id"] == "idp"
    return browser.submit({"sub": sub, "email": email, "email_verified": verified, **claims})


def registration_id_of(page) -> str:
    return parse_qs(urlsplit(page.url).query)["registrationid"][0]


def user_named(site, user_name):
    with site.app.app_context():
        user = identity.find_by_user_name("default", user_name)
        return None if user is None else (user.id, user.status, user.attributes)


def regdata(site, registration_id):
    return requests.get(
        f"{site.stepgate.url}/oamfed/user/regdata", params={"registrationid": registration_id}, timeout=5
    )


def test_the_full_walk_creates_the_account_with_the_pages_fields_and_lands_on_the_resource(site, person):
    form = sign_in_at_idp(person, given_name="Carol", family_name="Jones")
    assert form.url.startswith(f"{site.page.url}/register?registrationid=")
    assert 'id="email">carol@example.org<' in form.text
    assert person.form(form)["fields"]["givenName"] == "Carol"
    done = person.submit({"userName": "carol", "department": "Research"})
    assert done.url == person.url(RESOURCE)
    assert '<strong id="user-name">carol</strong>' in done.text
    user_id, status, attributes = user_named(site, "carol")
    assert status == "active"
    assert attributes == {
        "department": "Research",
        "display-name": "Carol Jones",
        "first-name": "Carol",
        "last-name": "Jones",
        "mail": "carol@example.org",
    }
    with site.app.app_context():
        assert federation.find_linked_user(ISSUER, "idp-user-1").id == user_id


def test_a_returning_person_is_found_by_their_link_and_registers_only_once(site, person):
    sign_in_at_idp(person)
    person.submit({"userName": "carol", "department": "Research"})
    with Browser(site.stepgate.url) as later:
        done = sign_in_at_idp(later)
        assert done.url == later.url(RESOURCE)
        assert '<strong id="user-name">carol</strong>' in done.text


def test_regdata_answers_in_oams_shape_with_a_padded_base64url_hmac(site, person):
    form = sign_in_at_idp(person, given_name="Carol")
    answer = regdata(site, registration_id_of(form))
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert set(body) == {"idtoken", "hmac"}
    mac = hmac.new(PAGE_SECRET.encode(), body["idtoken"].encode(), hashlib.sha256).digest()
    assert body["hmac"] == base64.urlsafe_b64encode(mac).decode() and body["hmac"].endswith("=")
    claims = json.loads(body["idtoken"])
    assert claims == {
        "iss": ISSUER,
        "sub": "idp-user-1",
        "email": "carol@example.org",
        "email_verified": True,
        "given_name": "Carol",
    }


def test_an_unknown_registrationid_gets_a_json_404(site):
    answer = regdata(site, "not-a-registration-id")
    assert answer.status_code == 404
    assert answer.json()["error"] == "registration.unknown"
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_registrationid_replayed_after_the_resume_gets_404_and_resumes_nothing(site, person):
    form = sign_in_at_idp(person)
    registration_id = registration_id_of(form)
    person.submit({"userName": "carol", "department": "Research"})
    answer = regdata(site, registration_id)
    assert answer.status_code == 404 and answer.json()["error"] == "registration.used"
    again = person.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id})
    assert again.status_code == 400 and "expired" in again.text
    page = person.get(f"{site.page.url}/register", params={"registrationid": registration_id})
    assert page.status_code == 404 and "unknown, already used or expired" in page.text


def test_an_expired_registrationid_gets_404_and_the_flow_ends_on_a_clear_page(site, person):
    form = sign_in_at_idp(person)
    registration_id = registration_id_of(form)
    with site.app.app_context():
        for row in db.session.scalars(db.select(registrations.RegistrationRecord)):
            row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert regdata(site, registration_id).status_code == 404
    refused = person.submit({"userName": "carol", "department": "Research"})
    assert refused.status_code == 404 and user_named(site, "carol") is None
    back = person.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id})
    assert back.status_code == 401
    assert "This registration has expired." in back.text
    assert person.cookie("stepgate_session") is None


def test_coming_back_without_creating_an_account_ends_on_a_clear_failure(site, person):
    form = sign_in_at_idp(person)
    back = person.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id_of(form)})
    assert back.status_code == 401
    assert "No account was created during registration" in back.text
    assert "registration.no_account" in back.text
    assert person.cookie("stepgate_session") is None


def test_an_account_that_merely_shares_the_mail_is_never_signed_in(site, person, add_user):
    alice = add_user("alice", password="alice's own password", mail="alice@example.org")
    form = sign_in_at_idp(person, sub="attacker", email="alice@example.org")
    back = person.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id_of(form)})
    assert back.status_code == 401 and person.cookie("stepgate_session") is None
    with site.app.app_context():
        assert federation.links_of(alice) == []


def test_a_registration_cannot_take_over_an_existing_user_name(site, person, add_user):
    alice = add_user("alice", password="alice's own password", mail="alice@example.org")
    sign_in_at_idp(person, sub="attacker", email="alice@example.org")
    taken = person.submit({"userName": "alice", "department": "Research"})
    assert taken.status_code == 409 and "That user name is taken" in taken.text
    done = person.submit({"userName": "mallory", "department": "Research"}, response=taken)
    assert '<strong id="user-name">mallory</strong>' in done.text
    with site.app.app_context():
        assert federation.links_of(alice) == []
        assert federation.find_linked_user(ISSUER, "attacker").user_name == "mallory"


def test_a_registrationid_carried_to_another_browser_fails(site, person):
    form = sign_in_at_idp(person)
    registration_id = registration_id_of(form)
    with Browser(site.stepgate.url) as other:
        no_flow = other.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id})
        assert no_flow.status_code == 400 and "started in another browser" in no_flow.text
        sign_in_at_idp(other, sub="someone-else", email="dave@example.org")
        wrong_flow = other.get("/oam/server/auth_cred_submit", params={"registrationid": registration_id})
        assert wrong_flow.status_code == 401 and "registration.unknown" in wrong_flow.text
        assert other.cookie("stepgate_session") is None
    done = person.submit({"userName": "carol", "department": "Research"}, response=form)
    assert '<strong id="user-name">carol</strong>' in done.text


def test_the_page_refuses_without_the_terms_and_creates_nothing(site, person):
    sign_in_at_idp(person)
    refused = person.submit({"userName": "carol", "department": "Research", "accept_terms": ""})
    assert refused.status_code == 400 and "Accept the terms of use" in refused.text
    assert user_named(site, "carol") is None


def test_the_page_escapes_every_claim(site, person):
    form = sign_in_at_idp(person, given_name='<script>alert("x")</script>', email="<b>x</b>@example.org")
    assert "<script>alert" not in form.text and "<b>x</b>" not in form.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in form.text


def test_an_unverified_email_is_not_given_to_the_new_account(site, person):
    form = sign_in_at_idp(person, verified="false")
    assert 'id="email"' not in form.text
    person.submit({"userName": "carol", "department": "Research"})
    assert "mail" not in user_named(site, "carol")[2]


@pytest.fixture
def tampering_stepgate(site):
    """A man in the middle between the page and stepgate's regdata endpoint."""
    proxy = Flask("tampering")
    proxy.config["TAMPER"] = None

    @proxy.get("/oamfed/user/regdata")
    def forward():
        body = regdata(site, request.args["registrationid"]).json()
        if proxy.config["TAMPER"] == "idtoken":
            body["idtoken"] = body["idtoken"].replace("carol@example.org", "boss@example.org")
        else:
            body["hmac"] = ("A" if body["hmac"][0] != "A" else "B") + body["hmac"][1:]
        return jsonify(body)

    server = LiveServer(proxy).start()
    site.page_app.config["STEPGATE_URL"] = server.url
    yield proxy
    server.stop()


@pytest.mark.parametrize("tamper", ["idtoken", "hmac"])
def test_the_page_refuses_a_tampered_regdata_answer(site, person, tampering_stepgate, tamper):
    tampering_stepgate.config["TAMPER"] = tamper
    refused = sign_in_at_idp(person)
    assert refused.status_code == 400
    assert "could not be verified" in refused.text
    assert "<form" not in refused.text


def test_a_scim_create_with_a_used_registrationid_creates_nothing(site, person):
    form = sign_in_at_idp(person)
    registration_id = registration_id_of(form)
    person.submit({"userName": "carol", "department": "Research"})
    second = requests.post(
        f"{site.stepgate.url}/scim/v2/Users",
        json={
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:stepgate:params:scim:schemas:extension:registration:2.0:User",
            ],
            "userName": "carol-again",
            "urn:stepgate:params:scim:schemas:extension:registration:2.0:User": {"registrationId": registration_id},
        },
        headers={"Authorization": f"Bearer {SCIM_TOKEN}"},
        timeout=5,
    )
    assert second.status_code == 400
    assert second.json()["scimType"] == "invalidValue"
    assert "registration.used" in second.json()["detail"]
    assert user_named(site, "carol-again") is None
