"""WSO2's enhanced JIT: retiring an identity provider locks or deletes every account provisioned from it.

By hand (``flask providers retire NAME --lock|--delete``) and at start-up for a
provider gone from the settings, only when ``provider_retirement`` confirms it.
Each account's sessions end and each is audited.
"""

from __future__ import annotations

import pytest

from app import audit, create_app
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from app.yamlsource import ConfigError
from tests.jit_people import PASSWORD, provisioned_without_password, signed_in
from tests.jit_steps import provider_sign_in

NAMING_DEVOP = ("AsgardeoMfaScheme.yaml", "IdentifierFirstScheme.yaml")
"""Shipped schemes whose domain tables name devop: a site without devop can't load them, as an operator's can't."""


@pytest.fixture
def make_settings(make_settings):
    """Sites that drop devop from their settings drop the shipped schemes that name it, as an operator would."""

    def make(*args, **kwargs):
        path = make_settings(*args, **kwargs)
        providers = (kwargs.get("extra") or {}).get("identity_providers")
        if providers is not None and "devop" not in providers:
            for name in NAMING_DEVOP:
                (path.parent.parent / "schemes" / name).unlink(missing_ok=True)
        return path

    return make


def retire(site, *args):
    return site.app.test_cli_runner().invoke(args=["providers", "retire", *args])


def test_retire_lock_locks_each_provisioned_account_ends_its_sessions_and_audits_it(jit_site, add_user):
    cookies = provisioned_without_password(jit_site, "ann", "ben")
    assert all(signed_in(jit_site, cookie) for cookie in cookies.values())
    result = retire(jit_site, "devop", "--lock")
    assert result.exit_code == 0, result.output
    assert "provider devop: locked 2 account(s)" in result.output
    assert not any(signed_in(jit_site, cookie) for cookie in cookies.values())
    with jit_site.app.app_context():
        for name in ("ann", "ben"):
            user = identity.find_by_user_name("default", name)
            assert user.status == "locked"
            [event] = audit.query(user_id=user.id, event="user.status")
            assert event.detail["after"] == {"status": "locked"} and event.detail["cause"] == "provider devop retired"
        [retired] = audit.query(event="provider.retired")
        assert retired.detail["users"] == 2 and retired.detail["mode"] == "lock"
    with jit_site.browser() as browser:  # the next sign-in through the provider ends on a clear page
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "ann")
        assert "This account is locked" in page.text and browser.cookie("stepgate_session") is None


def test_retire_delete_deletes_each_provisioned_account_and_leaves_local_ones(jit_site):
    with jit_site.app.app_context():
        identity.create_user("default", "carl", {"mail": "carl@corp.example"}, PASSWORD)
        db.session.commit()
    cookies = provisioned_without_password(jit_site, "cora", "dan")
    result = retire(jit_site, "devop", "--delete")
    assert result.exit_code == 0 and "provider devop: deleted 2 account(s)" in result.output
    assert not any(signed_in(jit_site, cookie) for cookie in cookies.values())
    with jit_site.app.app_context():
        assert [u.user_name for u in identity.list_users()] == ["carl"]
        deleted = audit.query(event="user.deleted")
        assert sorted(e.detail["before"]["user_name"] for e in deleted) == ["cora", "dan"]
        assert all(e.detail["cause"] == "provider devop retired" for e in deleted)


def test_retire_needs_to_be_told_lock_or_delete(jit_site):
    result = retire(jit_site, "devop")
    assert result.exit_code != 0 and "--lock or --delete" in result.output


def test_a_provider_gone_from_the_settings_is_retired_at_start_up_only_when_confirmed(jit_site, make_settings):
    provisioned_without_password(jit_site, "eva")
    others = {"other": {"issuer": "http://127.0.0.1:9", "client_id": "stepgate", "client_secret": "unused"}}
    kept = create_app(make_settings(extra={"identity_providers": others}), testing=True)
    with kept.app_context():
        assert identity.find_by_user_name("default", "eva").status == "active"  # no provider_retirement: kept
    with pytest.raises(ConfigError) as refused:
        create_app(
            make_settings(extra={"identity_providers": others, "provider_retirement": {"removed_providers": "delete"}}),
            testing=True,
        )
    assert "settings.yaml:" in str(refused.value) and "add 'confirm: true'" in str(refused.value)
    confirmed = {"removed_providers": "lock", "confirm": True}
    for _ in range(2):  # every worker starts it; each account is locked and audited once
        started = create_app(
            make_settings(extra={"identity_providers": others, "provider_retirement": confirmed}), testing=True
        )
    with started.app_context():
        eva = identity.find_by_user_name("default", "eva")
        assert eva.status == "locked" and federation.links_of(eva.id)[0].provider == "devop"
        assert len(audit.query(user_id=eva.id, event="user.status")) == 1
        [retired] = audit.query(event="provider.retired")
        assert retired.detail["by"] == "start-up"


def test_retiring_a_provider_ends_its_sessions_without_a_local_account(make_jit_site):
    site = make_jit_site(
        policies={"JIT off": {"scheme": "JITOffScheme"}}, resources=[{"url": "/demo/jit-off/**", "policy": "JIT off"}]
    )
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-off/", "hugo")
        cookie = browser.cookie("stepgate_session")
    assert signed_in(site, cookie, "/demo/jit-off/")
    result = retire(site, "devop", "--lock")
    assert "locked 0 account(s), ended 1 JIT-off session(s)" in result.output
    assert "warning: provider devop is still enabled" in result.output
    assert not signed_in(site, cookie, "/demo/jit-off/")


def test_a_removed_provider_with_only_jit_off_sessions_is_retired_at_start_up(make_jit_site, make_settings):
    site = make_jit_site(
        policies={"JIT off": {"scheme": "JITOffScheme"}}, resources=[{"url": "/demo/jit-off/**", "policy": "JIT off"}]
    )
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-off/", "ines")
        cookie = browser.cookie("stepgate_session")
    others = {"other": {"issuer": "http://127.0.0.1:9", "client_id": "stepgate", "client_secret": "unused"}}
    confirmed = {"removed_providers": "delete", "confirm": True}
    create_app(make_settings(extra={"identity_providers": others, "provider_retirement": confirmed}), testing=True)
    assert not signed_in(site, cookie, "/demo/jit-off/")
