"""Account pre-hijacking (Sudhodanan & Paverd, 2022) through e-mail linking, end to end.

The attacker signs up first, with the victim's address, through a lax provider
(the misbehaving test provider, ``lax``: not trusted for e-mail) or without a
verified address; later the victim signs in through the trusted provider (the
real development provider, ``devop``, ``trust_email: true``) on a scheme that
links an unlinked sign-in to an account by e-mail, else provisions one. The
victim must land in an account of their own, never the attacker's; only an
address an administrator, SCIM or a trusted provider proved is a link target.
"""

from __future__ import annotations

import pytest
import requests

from app import audit
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.jit_steps import provider_sign_in

VICTIM = "victim@example.com"
SCIM_TOKEN = "scim-token-prehijacking-0123456789"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

JIT_STEPS = """
    OAuth_Self_Registration:
      plugin: OAuthUserSelfRegistrationPlugin
      params:
        autoprovisioning: true
        autoprovision_key_user_record_attribute_list: email, given_name
        autoprovision_idtoken_to_user_attribute_mapping: "email:mail, given_name:first-name"
    User_Identification2:
      plugin: UserIdentificationPlugin
"""
ORCHESTRATION = """
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: User_Identification1, on_failure: failure, on_error: failure}
    User_Identification1: {on_success: success, on_failure: OAuth_Self_Registration, on_error: failure}
    OAuth_Self_Registration: {on_success: User_Identification2, on_failure: failure, on_error: failure}
    User_Identification2: {on_success: success, on_failure: failure, on_error: failure}
"""


def scheme(name: str, provider: str) -> str:
    """JIT without password through ``provider``, linking an unlinked sign-in by e-mail first."""
    return (
        f"""
name: {name}
module:
  steps:
    OpenID_Connect:
      plugin: OpenIDConnectPlugin
      params: {{provider: {provider}, username_attr: preferred_username}}
    User_Identification1:
      plugin: UserIdentificationPlugin
      params: {{KEY_FEDERATED_MATCH: "(mail={{email}})"}}
"""
        + JIT_STEPS
        + ORCHESTRATION
    )


@pytest.fixture
def site(make_jit_site, rogue_op):
    return make_jit_site(
        providers={"lax": rogue_op.settings(read_timeout=5)},
        devop_options={"trust_email": True},
        schemes={"LaxScheme.yaml": scheme("LaxScheme", "lax"), "TrustedScheme.yaml": scheme("TrustedScheme", "devop")},
        policies={"Lax": {"scheme": "LaxScheme"}, "Trusted": {"scheme": "TrustedScheme"}},
        resources=[{"url": "/demo/lax/**", "policy": "Lax"}, {"url": "/demo/trusted/**", "policy": "Trusted"}],
        extra={"scim": {"tokens": [SCIM_TOKEN]}},
    )


def signed_in_as(page) -> str | None:
    marker = '<strong id="user-name">'
    return page.text.split(marker, 1)[1].split("<", 1)[0] if marker in page.text else None


def lax_sign_in(site, rogue_op, **claims):
    rogue_op.claims = {"preferred_username": "mallory", **claims}
    with site.browser() as browser:
        return browser.get("/demo/lax/")


def trusted_sign_in(site, login="victim", email=VICTIM, **claims):
    with site.browser() as browser:
        return provider_sign_in(browser, "/demo/trusted/", login, email=email, **claims)


def mail_row(site, user_name: str) -> identity.UserAttribute | None:
    with site.app.app_context():
        user = identity.find_by_user_name("default", user_name)
        row = next((r for r in user.attribute_rows if r.name == "mail"), None)
        if row is not None:
            db.session.expunge(row)
        return row


def scim(site, method: str, path: str, **kw):
    headers = {"Authorization": f"Bearer {SCIM_TOKEN}"}
    return requests.request(method, f"{site.url}/scim/v2{path}", headers=headers, timeout=10, **kw)


def assert_victim_in_own_account(site, page):
    assert page.status_code == 200, page.text[:500]
    assert signed_in_as(page) == "victim", "the victim's sign-in must never open the attacker's account"
    with site.app.app_context():
        mallory = identity.find_by_user_name("default", "mallory")
        assert [link.provider for link in federation.links_of(mallory.id)] == ["lax"], "nothing linked to mallory"
        assert audit.query(event="federation.linked") == []
    victim_mail = mail_row(site, "victim")
    assert (victim_mail.value, victim_mail.source, victim_mail.verified) == (VICTIM, "provider:devop", True)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"email": VICTIM, "email_verified": True}, id="verified-claim-from-untrusted-provider"),
        pytest.param({"email": VICTIM, "email_verified": False}, id="unverified-claim-from-untrusted-provider"),
        pytest.param({"email": VICTIM}, id="no-email_verified-claim"),
        pytest.param({"email": "Victim@Example.com", "email_verified": True}, id="case-variant-of-the-address"),
    ],
)
def test_an_attacker_who_signs_up_first_through_a_lax_provider_never_receives_the_victims_sign_in(
    site, rogue_op, claims
):
    first = lax_sign_in(site, rogue_op, **claims)
    assert signed_in_as(first) == "mallory", first.text[:500]
    stored = mail_row(site, "mallory")
    if claims.get("email_verified") is True:
        assert (stored.value, stored.source, stored.verified) == (claims["email"], "provider:lax", False)
    else:
        assert stored is None, "an unverified address is not even stored"

    assert_victim_in_own_account(site, trusted_sign_in(site))
    assert signed_in_as(lax_sign_in(site, rogue_op, **claims)) == "mallory", "and the attacker keeps only theirs"


def test_an_unverified_address_from_the_trusted_provider_is_no_link_target_either(site, rogue_op):
    lax_sign_in(site, rogue_op)  # mallory exists, linked to the lax provider only
    page = trusted_sign_in(site, login="early-bird", email_verified=False)
    assert signed_in_as(page) == "early-bird" and mail_row(site, "early-bird") is None
    assert_victim_in_own_account(site, trusted_sign_in(site))


def test_a_mail_set_through_scim_is_proven_and_links_the_persons_first_trusted_sign_in_in_any_case(site):
    created = scim(
        site,
        "POST",
        "/Users",
        json={"schemas": [USER_SCHEMA], "userName": "vera", "emails": [{"value": VICTIM, "primary": True}]},
    )
    assert created.status_code == 201, created.text
    row = mail_row(site, "vera")
    assert (row.source, row.verified) == ("scim", True)

    page = trusted_sign_in(site, login="vera-at-the-provider", email="Victim@EXAMPLE.com")
    assert signed_in_as(page) == "vera", "a proven address links, whatever the case of its domain and letters"
    with site.app.app_context():
        [event] = audit.query(event="federation.linked")
        assert event.detail["matched_by"] == "email"
        vera = identity.find_by_user_name("default", "vera")
        assert [link.provider for link in federation.links_of(vera.id)] == ["devop"]


def test_an_address_no_longer_links_once_an_untrusted_sync_changed_it(site, rogue_op):
    lax_sign_in(site, rogue_op, email="mallory@example.com", email_verified=True)
    with site.app.app_context():
        mallory_id = identity.find_by_user_name("default", "mallory").id
    # the organisation's directory sets the address: proven, and a link target
    put = scim(
        site,
        "PUT",
        f"/Users/{mallory_id}",
        json={"schemas": [USER_SCHEMA], "userName": "mallory", "emails": [{"value": "ops@example.com"}]},
    )
    assert put.status_code == 200, put.text
    with site.app.app_context():
        assert [u.user_name for u in identity.find_by_proven_attribute("default", "mail", ["ops@example.com"])] == [
            "mallory"
        ]
    # the lax provider's next sign-in changes it to the victim's: the new value is unproven
    assert signed_in_as(lax_sign_in(site, rogue_op, email=VICTIM, email_verified=True)) == "mallory"
    row = mail_row(site, "mallory")
    assert (row.value, row.source, row.verified) == (VICTIM, "provider:lax", False)
    with site.app.app_context():
        [changed] = [e for e in audit.query(event="user.attribute_changed") if e.detail["attribute"] == "mail"]
        assert changed.detail["source"] == "provider:lax" and changed.detail["verified"] is False

    assert_victim_in_own_account(site, trusted_sign_in(site))


def test_two_accounts_proven_for_one_address_link_neither(site, rogue_op):
    for name in ("twin-a", "twin-b"):
        made = scim(
            site, "POST", "/Users", json={"schemas": [USER_SCHEMA], "userName": name, "emails": [{"value": VICTIM}]}
        )
        assert made.status_code == 201
    page = trusted_sign_in(site)
    assert signed_in_as(page) == "victim", "an ambiguous address links nobody; provisioning makes the person's own"


def test_the_console_shows_each_attributes_source_and_whether_it_is_verified(make_jit_site, rogue_op):
    site = make_jit_site(
        providers={"lax": rogue_op.settings(read_timeout=5)},
        schemes={"LaxScheme.yaml": scheme("LaxScheme", "lax")},
        policies={"Lax": {"scheme": "LaxScheme"}, "Admin": {"scheme": "AdminScheme"}},
        resources=[{"url": "/demo/lax/**", "policy": "Lax"}, {"url": "/admin/**", "policy": "Admin"}],
    )
    lax_sign_in(site, rogue_op, email=VICTIM, email_verified=True, given_name="Mal")
    password = "console password 123"
    with site.app.app_context():
        identity.create_user("default", "root", {"groups": "admins"}, password)
        db.session.commit()
        mallory_id = identity.find_by_user_name("default", "mallory").id
    with site.browser() as browser:
        browser.get("/admin/")
        browser.submit({"USERNAME": "root", "PASSWORD": password})
        page = browser.get(f"/admin/users/{mallory_id}")
    assert page.status_code == 200, page.text[:300]
    table = page.text.split('id="attributes"', 1)[1].split("</table>", 1)[0]
    mail = table.split("<th>mail</th>", 1)[1].split("</tr>", 1)[0]
    assert "<code>provider:lax</code> · unverified" in mail
    with site.app.app_context():
        [created] = audit.query(event="user.created")
        assert created.detail["provenance"] == {
            "first-name": "provider:lax (unverified)",
            "mail": "provider:lax (unverified)",
        }


def test_an_address_given_on_the_self_registration_page_is_no_link_target(make_jit_site, rogue_op, monkeypatch):
    """The attacker self-registers first through a provider not trusted for e-mail (the development
    provider, here), with the victim's address; the victim later signs in through one that is (the
    test provider, here, sending the victim's verified address)."""
    from pathlib import Path

    from examples.registration_page.app import create_app as create_page
    from tests.conftest import LiveServer

    shipped = (Path(__file__).resolve().parent.parent / "schemes" / "UserSelfRegistrationScheme.yaml").read_text()
    secret = "registration-secret-for-this-test"
    page_app = create_page(
        {"REGISTRATION_SECRET_KEY": secret, "SCIM_TOKEN": SCIM_TOKEN, "PAGE_SECRET_KEY": "page-secret-0123456789"}
    )
    page = LiveServer(page_app).start()
    monkeypatch.setenv("REGISTRATION_URL", f"{page.url}/register")
    monkeypatch.setenv("REGISTRATION_SECRET_KEY", secret)
    try:
        site = make_jit_site(
            providers={"corp": rogue_op.settings(read_timeout=5, trust_email=True)},
            schemes={
                "UserSelfRegistrationScheme.yaml": shipped.replace('provider: "*"', "provider: devop"),
                "TrustedScheme.yaml": scheme("TrustedScheme", "corp"),
            },
            policies={"Self": {"scheme": "UserSelfRegistrationScheme"}, "Trusted": {"scheme": "TrustedScheme"}},
            resources=[{"url": "/demo/selfreg/**", "policy": "Self"}, {"url": "/demo/trusted/**", "policy": "Trusted"}],
            extra={"scim": {"tokens": [SCIM_TOKEN]}},
        )
        page_app.config.update(STEPGATE_URL=site.url, STEPGATE_PUBLIC_URL=site.url)
        with site.browser() as browser:
            provider_sign_in(browser, "/demo/selfreg/", "mallory", email=VICTIM)
            done = browser.submit({"userName": "mallory", "department": "Sales"})
            assert signed_in_as(done) == "mallory", done.text[:500]
        row = mail_row(site, "mallory")
        assert (row.value, row.source, row.verified) == (VICTIM, "self-registration", False)

        rogue_op.claims = {
            "sub": "victim-at-corp",
            "preferred_username": "victim",
            "email": VICTIM,
            "email_verified": True,
        }
        with site.browser() as browser:
            page_reached = browser.get("/demo/trusted/")
        assert signed_in_as(page_reached) == "victim", "the victim's sign-in never opens the self-registered account"
        with site.app.app_context():
            assert audit.query(event="federation.linked") == []
    finally:
        page.stop()


def test_a_changed_value_takes_its_new_sources_provenance_and_only_proof_upgrades_an_unchanged_one(app):
    lax, trusted = identity.Provenance.provider("lax"), identity.Provenance.provider("corp", verified=True)
    with app.app_context():
        user = identity.create_user("default", "pat", {"mail": "pat@example.com"})  # an administrator's: proven
        assert user.attribute_rows[0].provenance == identity.ADMIN
        assert user.set_attribute("mail", "pat@example.com", lax) is False, "the same value keeps its proof"
        assert user.attribute_rows[0].provenance == identity.ADMIN
        assert user.set_attribute("mail", VICTIM, lax) is True
        assert user.attribute_rows[0].provenance == lax, "a changed value is unproven again"
        assert user.set_attribute("mail", VICTIM, identity.SELF_REGISTRATION) is False
        assert user.set_attribute("mail", VICTIM, trusted) is True
        assert user.attribute_rows[0].provenance == trusted, "a source that proves the same value proves it"
        db.session.commit()
        assert [u.user_name for u in identity.find_by_proven_attribute("default", "mail", [VICTIM])] == ["pat"]
