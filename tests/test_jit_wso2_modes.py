"""WSO2's JIT options, each on its shipped scheme and demo path, over real HTTP against the real provider.

"Provision silently" and "No provisioning", the provisioning user store
(``autoprovision_useridentitystore``), and the wiring: every mode has a
scheme under schemes/ and a demo path in config/settings.yaml.
"""

from __future__ import annotations

import pytest

from app.consent import receipts
from app.engine.registry import PluginRegistry
from app.engine.scheme import parse_scheme
from app.extensions import db
from app.settings import load_settings
from app.stores import federation
from app.stores import sql as identity
from app.yamlsource import ConfigError
from tests.jit_steps import attributes_shown, provider_sign_in
from tests.wso2_jit_steps import (
    ROOT,
    WSO2_SCHEMES,
    answer_consent,
    on_consent_page,
    shipped_demo_wiring,
    subject_of,
)


def test_every_wso2_mode_has_a_shipped_scheme_and_a_demo_path():
    policies, resources = shipped_demo_wiring()
    assert sorted(p["scheme"] for p in policies.values()) == sorted(WSO2_SCHEMES)
    assert {r["policy"] for r in resources} == set(policies)
    for scheme in WSO2_SCHEMES:
        assert (ROOT / "schemes" / f"{scheme}.yaml").is_file()
        assert f"{scheme}" in (ROOT / "docs" / "provisioning-modes.md").read_text()


def test_silent_provisioning_names_the_account_after_the_subject_and_asks_nothing(wso2_site):
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-silent/", "uma", given_name="Uma", locale="de")
        assert page.url == browser.url("/demo/jit-silent/")
        assert f'<strong id="user-name">{subject_of("uma")}</strong>' in page.text
        assert attributes_shown(page)["first-name"] == "Uma"
    with wso2_site.browser() as browser:
        again = provider_sign_in(browser, "/demo/jit-silent/", "uma", given_name="Ulla")
        assert attributes_shown(again)["first-name"] == "Ulla", "a returning person's claims are synced"
    with wso2_site.app.app_context():
        [user] = identity.list_users()
        assert user.password_hash is None and receipts.of_user(user.id) == []


def test_no_provisioning_admits_a_linked_account_and_refuses_anyone_else_creating_nothing(wso2_site):
    with wso2_site.browser() as browser:
        refused = provider_sign_in(browser, "/demo/jit-none/", "vera")
        assert refused.status_code == 401 and "<code>user.not_linked</code>" in refused.text
    with wso2_site.app.app_context():
        assert list(identity.list_users()) == []
    with wso2_site.browser() as browser:  # linked through another scheme, she is let in here
        provider_sign_in(browser, "/demo/jit-silent/", "vera")
    with wso2_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-none/", "vera")
        assert page.url == browser.url("/demo/jit-none/")
        assert f'<strong id="user-name">{subject_of("vera")}</strong>' in page.text
    with wso2_site.app.app_context():
        assert len(list(identity.list_users())) == 1


def test_the_provisioning_user_store_is_where_the_account_lands_and_is_found_on_return(make_jit_site):
    scheme = (ROOT / "schemes" / "JitConsentScheme.yaml").read_text()
    scheme = scheme.replace("name: JitConsentScheme", "name: PartnerConsentScheme")
    scheme = scheme.replace("autoprovision_useridentitystore: default", "autoprovision_useridentitystore: partners")
    scheme = scheme.replace("KEY_IDENTITY_STORE_REF: default", "KEY_IDENTITY_STORE_REF: partners")
    assert scheme.count("partners") == 3
    site = make_jit_site(
        schemes={"PartnerConsentScheme.yaml": scheme},
        policies={"Partners": {"scheme": "PartnerConsentScheme"}},
        resources=[{"url": "/demo/partners/**", "policy": "Partners"}],
        extra={"identity_stores": {"default": {"description": "staff"}, "partners": {"description": "partners"}}},
    )
    with site.app.app_context():  # the same name in the default store does not stand in the way
        identity.create_user("default", subject_of("wim"), {}, "local-password-1")
        db.session.commit()
    with site.browser() as browser:
        page = answer_consent(browser, provider_sign_in(browser, "/demo/partners/", "wim"))
        assert "(store <code>partners</code>)" in page.text
    with site.browser() as browser:
        again = provider_sign_in(browser, "/demo/partners/", "wim")
        assert not on_consent_page(again) and "(store <code>partners</code>)" in again.text
    with site.app.app_context():
        partner = identity.find_by_user_name("partners", subject_of("wim"))
        staff = identity.find_by_user_name("default", subject_of("wim"))
        assert partner is not None and staff is not None and partner.id != staff.id
        assert [link.provider for link in federation.links_of(partner.id)] == ["devop"]
        assert federation.links_of(staff.id) == []
        assert [r.store for r in receipts.of_user(partner.id)] == ["partners"]


BROKEN_STEPS = """name: Broken
module:
  steps:
    Consent:
      plugin: ConsentPlugin
      params:
        PURPOSE_1: "{NAME=account},{REQUIRED=yes},{ATTRIBUTES=mail}"
        PURPOSE_2: "{NAME=extra},{ATTRIBUTES=locale},{COLOUR=red}"
    User_Name:
      plugin: UserNamePromptPlugin
      params:
        ask: sometimes
    Identify: {plugin: UserIdentificationPlugin}
  orchestration:
    initial_step: Consent
    Consent: {on_success: User_Name}
    User_Name: {on_success: Identify}
    Identify: {on_success: success}
"""


def test_a_misspelled_purpose_or_ask_is_reported_with_the_file_line_and_field():
    settings = load_settings(ROOT / "config" / "settings.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_scheme(BROKEN_STEPS, "broken.yaml", PluginRegistry.discover(), settings)
    problems = [str(p) for p in caught.value.problems]
    assert "broken.yaml:7: PURPOSE_1: REQUIRED must be true or false" in problems
    assert (
        "broken.yaml:8: PURPOSE_2: unknown item(s) COLOUR (known: NAME, DESCRIPTION, VERSION, REQUIRED, ATTRIBUTES)"
        in (problems)
    )
    assert "broken.yaml:12: ask must be one of always, when_taken" in problems
