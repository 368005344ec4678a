"""What only a directory does: password policy answers, renames, failover, read-only stores, its status convention.

Against a real OpenLDAP slapd (tests/ldap_server.py); the scenarios every
store shares are in tests/test_identity_stores.py.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from ldap3 import MODIFY_REPLACE

from app import accounts, create_app, stores
from app.extensions import db
from app.secretbox import encrypt, new_master_key
from app.stores.base import PasswordAnswer, ReadOnly, UserStatus
from app.yamlsource import ConfigError
from tests.jit_steps import provider_sign_in
from tests.ldap_server import SUFFIX, free_port, ldap_store_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def directory(slapd_server, ldap_base, make_jit_site):
    """A stepgate whose default store is the directory, and the directory's manager connection."""
    made = []

    def make(with_devop: bool = False, **overrides):
        settings = {"default": ldap_store_settings(slapd_server, ldap_base, **overrides)}
        made.append(make_jit_site(with_devop=with_devop, extra={"identity_stores": settings}))
        return made[-1]

    manager = slapd_server.manager()
    yield make, manager
    manager.unbind()
    for site in made:
        stores.close_all(site.app)


def person(site, user_name: str, password: str | None = PASSWORD):
    with site.app.app_context():
        user = stores.get("default").create(user_name, {"mail": f"{user_name}@example.org"}, password=password)
        db.session.commit()
        return user


def sign_in(site, user_name: str, password: str = PASSWORD):
    with site.browser() as browser:
        browser.get("/demo/")
        return browser.submit({"USERNAME": user_name, "PASSWORD": password})


def signed_in(page, user_name: str) -> bool:
    return f'<strong id="user-name">{user_name}</strong>' in page.text


def policy(manager, name: str, **attributes) -> str:
    """A password policy entry of its own (ppolicy), for the people a test points at it."""
    dn = f"cn={name},ou=policies,{SUFFIX}"
    manager.add(dn, ["top", "device", "pwdPolicy"], {"pwdAttribute": "userPassword", **attributes})
    assert manager.result["result"] in (0, 68), manager.result
    return dn


def test_a_password_reset_by_an_administrator_must_be_changed_before_signing_in(directory):
    make, manager = directory
    site = make()
    user = person(site, "hana")
    changes = {"pwdReset": "TRUE", "pwdPolicySubentry": policy(manager, "must-change", pwdMustChange="TRUE")}
    manager.modify(user.ref, {name: [(MODIFY_REPLACE, [value])] for name, value in changes.items()})
    assert manager.result["result"] == 0, manager.result
    page = sign_in(site, "hana")
    assert "must be changed" in page.text and not signed_in(page, "hana")
    assert "incorrect" in sign_in(site, "hana", "wrong-password").text  # only the right password learns it


def test_an_expired_password_is_said_to_be_expired_only_to_its_owner(directory):
    make, manager = directory
    site = make()
    short = policy(manager, "short", pwdMaxAge="1")
    user = person(site, "ivan")
    manager.modify(user.ref, {"pwdPolicySubentry": [(MODIFY_REPLACE, [short])]})
    time.sleep(2.1)
    assert "has expired" in sign_in(site, "ivan").text
    assert "incorrect" in sign_in(site, "ivan", "wrong-password").text


def test_a_lock_from_the_console_writes_the_directory_and_the_directory_lock_is_read(directory):
    make, manager = directory
    site = make()
    user = person(site, "jack")
    with site.app.app_context():
        accounts.set_status(db.session.get(stores.sql.User, user.id), UserStatus.LOCKED, by="admin")
        db.session.commit()
    manager.search(user.ref, "(objectClass=*)", "BASE", attributes=["pwdAccountLockedTime"])
    assert manager.response[0]["attributes"]["pwdAccountLockedTime"], "ppolicy's lock is in the directory"
    assert not signed_in(sign_in(site, "jack"), "jack")
    with site.app.app_context():
        store = stores.get("default")
        assert store.check_password(store.get(user.id), PASSWORD) is PasswordAnswer.LOCKED
        accounts.set_status(db.session.get(stores.sql.User, user.id), UserStatus.ACTIVE, by="admin")
        db.session.commit()
    assert signed_in(sign_in(site, "jack"), "jack")


def test_an_empty_password_never_binds(directory):
    make, _ = directory
    site = make()
    user = person(site, "kate")
    with site.app.app_context():
        assert stores.get("default").check_password(user, "") is PasswordAnswer.WRONG


def test_a_rename_in_the_directory_keeps_the_account_and_its_link(directory):
    make, manager = directory
    site = make(with_devop=True)
    with site.browser() as browser:
        assert signed_in(provider_sign_in(browser, "/demo/jit-nopassword/", "liam"), "liam")
    with site.app.app_context():
        [before] = stores.get("default").find("(uid=liam)")
    parent = before.ref.split(",", 1)[1]
    manager.modify_dn(before.ref, "uid=liam2")
    assert manager.result["result"] == 0, manager.result
    with site.browser() as browser:  # the provider still says "liam"; the link says which entry
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "liam")
        assert signed_in(page, "liam2"), page.text[:400]
    with site.app.app_context():
        [after] = stores.get("default").find("(uid=liam2)")
        assert after.id == before.id and after.ref == f"uid=liam2,{parent}"


def test_a_jit_account_without_a_password_has_no_userpassword_in_the_directory(directory):
    make, manager = directory
    site = make(with_devop=True)
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "mona")
    with site.app.app_context():
        [mona] = stores.get("default").find("(uid=mona)")
    manager.search(mona.ref, "(objectClass=*)", "BASE", attributes=["userPassword", "mail"])
    attributes = manager.response[0]["attributes"]
    assert attributes["mail"] == ["mona@example.org"] and not attributes.get("userPassword")


def test_the_first_url_that_answers_serves(directory, slapd_server):
    make, _ = directory
    dead = f"ldap://127.0.0.1:{free_port()}"
    site = make(urls=[dead, slapd_server.url], connect_timeout_seconds=1)
    person(site, "nina")
    assert signed_in(sign_in(site, "nina"), "nina")


def test_a_directory_that_does_not_answer_is_an_error_page_not_a_500(directory):
    make, _ = directory
    site = make(urls=[f"ldap://127.0.0.1:{free_port()}"], connect_timeout_seconds=0.5)
    page = sign_in(site, "anyone")
    assert page.status_code < 500 and "store.unavailable" in page.text


def test_jit_into_a_read_only_store_is_a_scheme_error(make_settings, slapd_server, ldap_base):
    settings = {"default": ldap_store_settings(slapd_server, ldap_base, read_only=True)}
    with pytest.raises(ConfigError) as refused:
        create_app(make_settings(extra={"identity_stores": settings}), testing=True)
    assert "read-only: JIT provisioning cannot create accounts in it" in str(refused.value)
    assert "AutoProvisioningScheme.yaml" in str(refused.value)


def test_a_bind_password_may_be_an_aes_value(directory, monkeypatch):
    make, _ = directory
    key = new_master_key()
    monkeypatch.setenv("STEPGATE_MASTER_KEY", key)
    from app.secretbox import master_key
    from tests.ldap_server import ROOT_PASSWORD

    site = make(bind_password=encrypt(ROOT_PASSWORD, master_key()))
    person(site, "omar")
    assert signed_in(sign_in(site, "omar"), "omar")


def test_a_read_only_store_says_so_when_asked_to_write(slapd_server, ldap_base):
    from app.settings import IdentityStore
    from app.stores.ldap_settings import LdapOptions

    settings = ldap_store_settings(slapd_server, ldap_base)["ldap"]
    options = LdapOptions(**{k: tuple(v) if k == "urls" else v for k, v in settings.items()})
    store = stores.kinds()["ldap"](IdentityStore("corp", kind="ldap", read_only=True, options=options))
    with pytest.raises(ReadOnly, match="read-only"):
        store.create("pat", {})


def test_the_shipped_example_settings_sign_in_against_the_directory(slapd_server, ldap_base, tmp_path, monkeypatch):
    from pathlib import Path

    from tests.ldap_server import ROOT_DN, ROOT_PASSWORD
    from tests.oidc_fixtures import PortServer
    from tests.oidc_fixtures import free_port as free_http_port

    port = free_http_port()
    env = {
        "LDAP_URL": slapd_server.url,
        "LDAP_FAILOVER_URL": f"ldap://127.0.0.1:{free_port()}",
        "LDAP_BIND_DN": ROOT_DN,
        "LDAP_BIND_PASSWORD": ROOT_PASSWORD,
        "LDAP_USER_BASE": ldap_base,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'example.db'}",
        "STEPGATE_EXTERNAL_URL": f"http://127.0.0.1:{port}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    example = Path(__file__).resolve().parent.parent / "config" / "settings.ldap-example.yaml"
    app = create_app(example, testing=True)
    with app.app_context():
        db.create_all()
        stores.get("corp").create("quinn", {"mail": "quinn@example.org"}, password=PASSWORD)
        db.session.commit()
    server = PortServer(app, port)
    try:
        from tests.browser import Browser

        with Browser(server.url) as browser:
            browser.get("/demo/")
            page = browser.submit({"USERNAME": "quinn@example.org", "PASSWORD": PASSWORD})  # found by mail
            assert signed_in(page, "quinn"), page.text[:400]
    finally:
        server.stop()
        stores.close_all(app)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_read_only_directory_is_read_and_checked_but_never_written(make_jit_site, slapd_server, ldap_base):
    manager = slapd_server.manager()
    dn = f"uid=vera,{ldap_base}"
    manager.add(dn, ["inetOrgPerson"], {"uid": "vera", "cn": "Vera", "sn": "Lind", "mail": "vera@example.org"})
    manager.extend.standard.modify_password(dn, new_password=PASSWORD)
    manager.unbind()
    corp = ldap_store_settings(slapd_server, ldap_base, read_only=True)
    site = make_jit_site(with_devop=False, extra={"identity_stores": {"default": {}, "corp": corp}})
    try:
        with site.app.app_context():
            store = stores.get("corp")
            [vera] = store.find("(mail=vera@example.org)")
            assert vera.attributes == {"last-name": "Lind", "mail": "vera@example.org"}
            assert store.check_password(vera, PASSWORD) is PasswordAnswer.PROVEN
            with pytest.raises(ReadOnly, match="read-only"):
                accounts.set_status(db.session.get(stores.sql.User, vera.id), UserStatus.LOCKED, by="admin")
            with pytest.raises(ReadOnly):
                store.update_attributes(vera, {"mail": "x@example.org"}, stores.base.ADMIN)
    finally:
        stores.close_all(site.app)


def test_a_pooled_connection_that_was_cut_is_replaced_without_the_person_noticing(directory):
    import socket

    make, _ = directory
    site = make()
    person(site, "wade")
    assert signed_in(sign_in(site, "wade"), "wade")
    with site.app.app_context():
        pool = stores.get("default").pool
        idle = list(pool._idle.queue)
    assert idle, "the sign-in left a connection in the pool"
    for conn in idle:  # as a directory restart or an idle timeout on a firewall would
        conn.socket.shutdown(socket.SHUT_RDWR)
    assert signed_in(sign_in(site, "wade"), "wade")


@pytest.mark.parametrize("mode", ["lock", "delete"])
def test_retiring_a_provider_locks_or_deletes_its_accounts_in_the_directory(directory, mode):
    from app import retirement

    make, manager = directory
    site = make(with_devop=True)
    with site.browser() as browser:
        assert signed_in(provider_sign_in(browser, "/demo/jit-nopassword/", "rita"), "rita")
    with site.app.app_context():
        [rita] = stores.get("default").find("(uid=rita)")
        retired = retirement.retire("devop", mode, by="admin")
        db.session.commit()
        assert retired.users == 1
    manager.search(rita.ref, "(objectClass=*)", "BASE", attributes=["pwdAccountLockedTime"])
    if mode == "lock":
        assert manager.response[0]["attributes"]["pwdAccountLockedTime"], "the lock is in the directory"
        with site.app.app_context():
            assert stores.get("default").get(rita.id).status == UserStatus.LOCKED.value, "and is read back as locked"
    else:
        assert manager.result["result"] == 32, f"the entry is gone (noSuchObject): {manager.result}"
        with site.app.app_context():
            assert stores.get("default").find("(uid=rita)") == []


def test_retiring_a_provider_leaves_a_read_only_directorys_account_as_it_is_and_ends_its_sessions(directory):
    from app import retirement
    from app.sessions import SignInSession

    make, manager = directory
    site = make(with_devop=True)
    with site.browser() as browser:
        assert signed_in(provider_sign_in(browser, "/demo/jit-nopassword/", "rhea"), "rhea")
    with site.app.app_context():
        [rhea] = stores.get("default").find("(uid=rhea)")
        # the operator has since declared the directory read-only (JIT into one is a scheme error)
        store = stores.get("default")
        store.config = dataclasses.replace(store.config, read_only=True)
        retired = retirement.retire("devop", "delete", by="admin")
        db.session.commit()
        assert retired.users == 0
        assert stores.get("default").find("(uid=rhea)") != [], "a read-only directory is never written"
        assert {s.revoked for s in db.session.query(SignInSession).filter_by(user_id=rhea.id)} == {True}, "sessions end"


def test_new_entries_may_be_named_by_another_attribute_as_active_directory_names_them_by_cn(directory):
    make, manager = directory
    site = make(with_devop=True, rdn_attribute="cn", new_entry={"cn": "{user_name} (JIT)", "sn": "{user_name}"})
    with site.browser() as browser:
        assert signed_in(provider_sign_in(browser, "/demo/jit-nopassword/", "odin"), "odin")
    with site.app.app_context():
        [odin] = stores.get("default").find("(uid=odin)")
    assert odin.ref.startswith("cn=odin (JIT),"), odin.ref
    with site.app.app_context():  # a rename keeps the entry's name and changes the user name attribute
        stores.get("default").rename(odin, "odin2")
        db.session.commit()
        [renamed] = stores.get("default").find("(uid=odin2)")
    assert renamed.id == odin.id and renamed.ref == odin.ref
    with site.browser() as browser:  # the link is by entryUUID, whatever names the entry
        assert signed_in(provider_sign_in(browser, "/demo/jit-nopassword/", "odin"), "odin2")
