"""WSO2's JIT consent: purposes asked before an account is created, kept as consent receipts.

Over real HTTP against the real development provider, through the shipped
JitConsentScheme (/demo/jit-consent/) and JitPasswordConsentScheme.
"""

from __future__ import annotations

import json

from app import audit, reload
from app.consent import receipts
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.jit_steps import attributes_shown, provider_sign_in
from tests.wso2_jit_steps import ROOT, answer_consent, on_consent_page, subject_of

PERSON = {"given_name": "Nora", "family_name": "Lind", "locale": "sv"}


def test_a_newcomer_agrees_and_the_account_and_its_receipt_are_created_together(wso2_site):
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-consent/welcome", "nora", **PERSON)
        assert on_consent_page(page) and page.status_code == 200
        for shown in ("account", "personalisation", "required", "optional", "<code>mail</code>", "<code>locale</code>"):
            assert shown in page.text
        with wso2_site.app.app_context():
            assert list(identity.list_users()) == [], "nothing exists before the person answers"
        done = answer_consent(browser, page)
        assert done.url == browser.url("/demo/jit-consent/welcome")
        assert f'<strong id="user-name">{subject_of("nora")}</strong>' in done.text
        assert attributes_shown(done) == {
            "display-name": "Nora Lind",
            "first-name": "Nora",
            "last-name": "Lind",
            "locale": "sv",
            "mail": "nora@example.org",
        }
    with wso2_site.app.app_context():
        user = identity.find_by_user_name("default", subject_of("nora"))
        assert user.password_hash is None, "consent-only accounts get no usable password"
        [receipt] = receipts.of_user(user.id)
        assert receipt.scheme == "JitConsentScheme" and receipt.provider == "devop"
        assert receipt.subject == subject_of("nora") and receipt.withheld == []
        assert [(p["name"], p["version"], p["accepted"]) for p in receipt.purposes] == [
            ("account", "1", True),
            ("personalisation", "1", True),
        ]
        [event] = audit.query(user_id=user.id, event="consent.given")
        assert event.detail["receipt"] == receipt.receipt_id


def test_declining_an_optional_purpose_stores_the_account_without_its_attributes_now_and_later(wso2_site):
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-consent/", "olle", **PERSON)
        done = answer_consent(browser, page, decline=("personalisation",))
        assert attributes_shown(done) == {"display-name": "Nora Lind", "mail": "olle@example.org"}
    with wso2_site.browser() as browser:  # returning: the receipt is in force, nothing asked, nothing synced
        again = provider_sign_in(browser, "/demo/jit-consent/", "olle", **{**PERSON, "locale": "fi"})
        assert not on_consent_page(again)
        assert attributes_shown(again) == {"display-name": "Nora Lind", "mail": "olle@example.org"}
    with wso2_site.app.app_context():
        user = identity.find_by_user_name("default", subject_of("olle"))
        [receipt] = receipts.of_user(user.id)
        assert receipt.withheld == ["first-name", "last-name", "locale"]
        assert [p["accepted"] for p in receipt.purposes] == [True, False]


def test_declining_a_required_purpose_ends_on_a_clear_page_and_creates_nothing(wso2_site):
    for how in ({"action": "decline"}, {"decline": ("account",)}):
        with wso2_site.browser() as browser:
            page = provider_sign_in(browser, "/demo/jit-consent/", "pia", **PERSON)
            refused = answer_consent(browser, page, **how)
            assert refused.status_code == 403
            assert "no account was created" in refused.text and "<code>consent.declined</code>" in refused.text
            assert browser.cookie("stepgate_session") is None
    with wso2_site.app.app_context():
        assert list(identity.list_users()) == []
        assert db.session.query(receipts.ConsentReceipt).count() == 0
        issuer = wso2_site.app.extensions["stepgate"].settings.identity_providers["devop"].issuer
        assert federation.find_linked_user(issuer, subject_of("pia")) is None
        assert len(audit.query(event="consent.declined")) == 2


def test_a_returning_person_is_asked_again_when_a_purpose_version_changes(wso2_site):
    with wso2_site.browser() as browser:
        answer_consent(browser, provider_sign_in(browser, "/demo/jit-consent/", "quentin", **PERSON))
    scheme = wso2_site.app.extensions["stepgate"].settings.schemes_dir / "JitConsentScheme.yaml"
    scheme.write_text(
        scheme.read_text().replace("{NAME=personalisation},{VERSION=1}", "{NAME=personalisation},{VERSION=2}")
    )
    with wso2_site.app.app_context():
        assert reload.reloader_of(wso2_site.app).reload().changed
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-consent/", "quentin", **PERSON)
        assert on_consent_page(page) and "version 2" in page.text
        done = answer_consent(browser, page, decline=("personalisation",))
        assert attributes_shown(done) == {"display-name": "Nora Lind", "mail": "quentin@example.org"}, (
            "values a provider set for a purpose now declined are removed"
        )
    with wso2_site.browser() as browser:
        assert not on_consent_page(provider_sign_in(browser, "/demo/jit-consent/", "quentin", **PERSON))
    with wso2_site.app.app_context():
        user = identity.find_by_user_name("default", subject_of("quentin"))
        newest, first = receipts.of_user(user.id)
        assert [p["version"] for p in first.purposes] == ["1", "1"]
        assert [(p["version"], p["accepted"]) for p in newest.purposes] == [("1", True), ("2", False)]


def test_a_consent_form_without_its_csrf_token_is_refused_and_nothing_is_created(wso2_site):
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-consent/", "rita", **PERSON)
        fields = {k: v for k, v in browser.form(page)["fields"].items() if k != "csrf_token"}
        forged = browser.post("/oam/server/auth_cred_submit", data={**fields, "action": "accept"})
        assert forged.status_code == 400 and "did not come from this site" in forged.text
        wrong = browser.post(
            "/oam/server/auth_cred_submit", data={**fields, "csrf_token": "x" * 40, "action": "accept"}
        )
        assert wrong.status_code == 400
    with wso2_site.app.app_context():
        assert list(identity.list_users()) == []


def test_a_consent_form_replayed_after_the_sign_in_changes_nothing(wso2_site):
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-consent/", "sven", **PERSON)
        form = browser.form(page)
        answer_consent(browser, page)
        replay = browser.post("/oam/server/auth_cred_submit", data={**form["fields"], "action": "accept"})
        assert replay.status_code == 400 and "<code>flow.expired</code>" in replay.text
    with wso2_site.app.app_context():
        user = identity.find_by_user_name("default", subject_of("sven"))
        assert len(receipts.of_user(user.id)) == 1 and len(list(identity.list_users())) == 1


def test_the_console_shows_a_users_receipts_and_exports_them_as_json(wso2_site):
    with wso2_site.browser() as browser:
        answer_consent(
            browser, provider_sign_in(browser, "/demo/jit-consent/", "tove", **PERSON), decline=("personalisation",)
        )
    with wso2_site.app.app_context():
        identity.create_user("default", "root", {"groups": "admins"}, "admin-password-1")
        db.session.commit()
        user = identity.find_by_user_name("default", subject_of("tove"))
        user_id, [receipt] = user.id, receipts.of_user(user.id)
    with wso2_site.browser() as browser:
        browser.get("/admin/")
        browser.submit({"USERNAME": "root", "PASSWORD": "admin-password-1"})
        page = browser.get(f"/admin/users/{user_id}")
        assert 'id="consent-receipts"' in page.text and receipt.receipt_id in page.text
        assert "personalisation v1: declined" in page.text and "account v1: accepted" in page.text
        export = browser.get(f"/admin/users/{user_id}/consent.json")
        assert export.status_code == 200 and export.headers["Content-Type"].startswith("application/json")
        assert "attachment" in export.headers["Content-Disposition"]
        body = json.loads(export.text)
        [exported] = body["receipts"]
        assert exported["receipt_id"] == receipt.receipt_id
        assert exported["subject"]["user_name"] == subject_of("tove") and exported["subject"]["provider"] == "devop"
        assert exported["withheld_attributes"] == ["first-name", "last-name", "locale"]
        assert exported["time"].endswith("Z")
        assert browser.get("/admin/users/999999/consent.json").status_code == 404


def test_a_locked_account_is_refused_before_any_consent_is_asked(wso2_site):
    with wso2_site.browser() as browser:
        answer_consent(browser, provider_sign_in(browser, "/demo/jit-consent/", "ulf", **PERSON))
    with wso2_site.app.app_context():
        user = identity.find_by_user_name("default", subject_of("ulf"))
        user.status = identity.UserStatus.LOCKED.value
        db.session.commit()
    with wso2_site.browser() as browser:
        refused = provider_sign_in(browser, "/demo/jit-consent/", "ulf", **PERSON)
        assert not on_consent_page(refused) and "<code>user.locked</code>" in refused.text


def test_an_attribute_no_purpose_names_is_never_stored(make_jit_site):
    scheme = (ROOT / "schemes" / "JitConsentScheme.yaml").read_text().replace("name: JitConsentScheme", "name: Wider")
    scheme = scheme.replace(
        "autoprovision_key_user_record_attribute_list: email,",
        "autoprovision_key_user_record_attribute_list: preferred_username, email,",
    ).replace('"email:mail,', '"preferred_username:nickname, email:mail,')
    assert "preferred_username:nickname" in scheme
    site = make_jit_site(
        schemes={"Wider.yaml": scheme},
        policies={"Wider": {"scheme": "Wider"}},
        resources=[{"url": "/demo/wider/**", "policy": "Wider"}],
    )
    with site.browser() as browser:
        page = answer_consent(browser, provider_sign_in(browser, "/demo/wider/", "yann", **PERSON))
        assert "nickname" not in attributes_shown(page) and attributes_shown(page)["first-name"] == "Nora"
    with site.browser() as browser:
        again = provider_sign_in(browser, "/demo/wider/", "yann", **PERSON)
        assert "nickname" not in attributes_shown(again), "nor synced later"
