"""Returning federated users: recognised by their link, synced, and refused when locked (Xurrent)."""

from __future__ import annotations

from app import audit
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.jit_steps import attributes_shown, provider_sign_in

STRONG = "sunny-meadow-42"


def sign_out(browser):
    browser.sign_out()


def test_the_second_sign_in_recognises_the_person_and_syncs_changed_claims(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "jane", given_name="Jane", family_name="Doe")
    with jit_site.browser() as browser:
        page = provider_sign_in(
            browser, "/demo/jit-nopassword/", "jane", given_name="Jane", family_name="Smith", email="jane@new.example"
        )
        assert attributes_shown(page)["last-name"] == "Smith"
        assert attributes_shown(page)["mail"] == "jane@new.example"
    with jit_site.app.app_context():
        [jane] = identity.list_users()
        assert jane.attributes["display-name"] == "Jane Smith"
        changes = {e.detail["attribute"]: e.detail for e in audit.query(event="user.attribute_changed")}
        assert set(changes) == {"last-name", "display-name", "mail"}
        assert changes["last-name"]["old"] == "Doe" and changes["last-name"]["new"] == "Smith"
        assert changes["mail"]["old"] == "jane@example.org" and changes["mail"]["new"] == "jane@new.example"
        assert all(e.user_id == jane.id for e in audit.query(event="user.attribute_changed"))
        assert len(audit.query(event="user.created")) == 1


def test_an_import_attribute_keeps_its_local_value_while_force_attributes_follow_the_provider(jit_site):
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit/", "kim", given_name="Kim", locale="de")
        browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit/", "kim", given_name="Kimberly", locale="en")
        assert page.url == browser.url("/demo/jit/"), "a returning person is not asked for a password again"
        shown = attributes_shown(page)
        assert shown["first-name"] == "Kimberly"
        assert shown["locale"] == "de", "locale is 'import' in the shipped scheme: set once, then kept"
    with jit_site.app.app_context():
        assert {e.detail["attribute"] for e in audit.query(event="user.attribute_changed")} == {
            "first-name",
            "display-name",
        }


def _lock(site, user_name, status="locked"):
    with site.app.app_context():
        user = identity.find_by_user_name("default", user_name)
        user.status = status
        db.session.commit()
        return user.id


def test_a_locked_account_is_refused_on_a_clear_page_and_never_recreated_or_reenabled(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "leo")
    user_id = _lock(jit_site, "leo")
    for path in ("/demo/jit-nopassword/", "/demo/jit/"):
        with jit_site.browser() as browser:
            page = provider_sign_in(browser, path, "leo", given_name="Changed")
            assert page.status_code == 401, path
            assert "This account is locked" in page.text and "<code>user.locked</code>" in page.text
            assert 'id="loginData"' not in page.text, "never asked to choose a password"
            assert browser.cookie("stepgate_session") is None
    with jit_site.app.app_context():
        [leo] = identity.list_users()
        assert leo.id == user_id and leo.status == "locked"
        assert leo.attributes["first-name"] == "Leo", "a refused sign-in syncs nothing"
        assert audit.query(event="user.attribute_changed") == []


def test_a_disabled_account_is_refused_too(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "mia")
    _lock(jit_site, "mia", "disabled")
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "mia")
    assert page.status_code == 401 and "<code>user.disabled</code>" in page.text


EMAIL_MATCH_SCHEME = """
name: EmailMatchScheme
module:
  steps:
    OpenID_Connect:
      plugin: OpenIDConnectPlugin
      params: {provider: devop, username_attr: preferred_username}
    User_Identification:
      plugin: UserIdentificationPlugin
      params: {KEY_FEDERATED_MATCH: "(mail={email})"}
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: User_Identification, on_failure: failure, on_error: failure}
    User_Identification: {on_success: success, on_failure: failure, on_error: failure}
"""


def email_site(make_jit_site, **devop_options):
    return make_jit_site(
        schemes={"EmailMatchScheme.yaml": EMAIL_MATCH_SCHEME},
        policies={"Email": {"scheme": "EmailMatchScheme"}},
        resources=[{"url": "/demo/email/**", "policy": "Email"}],
        devop_options=devop_options,
    )


def test_an_account_is_never_matched_by_email_from_a_provider_not_trusted_for_it(make_jit_site):
    untrusted = email_site(make_jit_site)
    with untrusted.app.app_context():
        identity.create_user("default", "nora.local", {"mail": "nora@corp.example"}, "local-password-1")
        db.session.commit()
    with untrusted.browser() as browser:
        page = provider_sign_in(browser, "/demo/email/", "nora", email="nora@corp.example")
    assert page.status_code == 401 and "<code>user.not_linked</code>" in page.text, "provider not trusted for email"


def test_a_trusted_provider_matches_a_verified_email_and_links_it_but_never_an_unverified_one(make_jit_site):
    site = email_site(make_jit_site, trust_email=True)
    with site.app.app_context():
        identity.create_user("default", "olga.local", {"mail": "olga@corp.example"}, "local-password-1")
        db.session.commit()
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/email/", "olga", email="olga@corp.example", email_verified=False)
    assert page.status_code == 401 and "<code>user.not_linked</code>" in page.text, "unverified email matches nothing"
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/email/", "olga", email="olga@corp.example")
    assert '<strong id="user-name">olga.local</strong>' in page.text
    with site.app.app_context():
        olga = identity.find_by_user_name("default", "olga.local")
        [link] = federation.links_of(olga.id)
        assert link.provider == "devop"
        assert [e.detail["matched_by"] for e in audit.query(event="federation.linked")] == ["email"]
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/email/", "olga", email="olga@elsewhere.example")
    assert '<strong id="user-name">olga.local</strong>' in page.text, "once linked, found by (issuer, sub)"


def test_a_links_last_sign_in_is_written_at_each_sign_in_through_it(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "nora")
    with jit_site.app.app_context():
        [link] = federation.links_of(identity.find_by_user_name("default", "nora").id)
        first = link.last_login_at
        assert first is not None and first >= link.created_at
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "nora")
    with jit_site.app.app_context():
        [link] = federation.links_of(identity.find_by_user_name("default", "nora").id)
        assert link.last_login_at > first
