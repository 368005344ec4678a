"""The console's delete on a directory user: the entry goes too, or a read-only directory's refusal is said.

Over real HTTP with an administrator of the SQL store signed in, against a
real OpenLDAP slapd (tests/ldap_server.py; skipped, saying why, where none can
be had). The console's lock on a directory is tests/test_ldap_store.py's.
"""

from __future__ import annotations

import pytest

from app import audit, create_app, sessions, stores
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.browser import parse_forms
from tests.conftest import DEMO_DOMAIN
from tests.ldap_server import ldap_store_settings
from tests.test_admin_console import ADMIN_DOMAIN, PASSWORD, sign_in


@pytest.fixture
def read_only() -> bool:
    return False


@pytest.fixture
def app(make_settings, slapd_server, ldap_base, read_only):
    """A console over the SQL ``default`` store (its administrators) and the directory ``corp``."""
    corp = ldap_store_settings(slapd_server, ldap_base, read_only=read_only)
    extra = {
        "application_domains": {**DEMO_DOMAIN, **ADMIN_DOMAIN},
        "identity_stores": {"default": {}, "corp": corp},
    }
    application = create_app(make_settings(extra=extra), testing=True)
    with application.app_context():
        db.create_all()
    yield application
    stores.close_all(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def manager(slapd_server):
    conn = slapd_server.manager()
    yield conn
    conn.unbind()


def in_directory(manager, dn: str) -> bool:
    manager.search(dn, "(objectClass=*)", "BASE", attributes=["1.1"])
    return manager.result["result"] == 0


def delete_from_console(browser, user_id: int):
    page = browser.get(f"/admin/users/{user_id}")
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/delete"))
    return browser.post(form["action"], data=form["fields"])


def test_deleting_a_directory_user_deletes_their_entry_links_and_sessions(app, browser, add_user, manager):
    add_user("admin", password=PASSWORD, groups="admins")
    with app.app_context():
        wendy = stores.get("corp").create("wendy", {"mail": "wendy@example.org"}, password=PASSWORD)
        federation.link_user(wendy.id, "https://idp.example", "sub-wendy", "idp")
        token = sessions.create(wendy.id, 1, "PasswordScheme", 600)
        db.session.commit()
    assert in_directory(manager, wendy.ref)
    sign_in(browser)
    done = delete_from_console(browser, wendy.id)
    assert done.url == browser.url("/admin/users") and "Deleted corp/wendy" in done.text
    assert not in_directory(manager, wendy.ref)
    with app.app_context():
        assert identity.get_user(wendy.id) is None and sessions.check(token) is None
        assert federation.find_link("https://idp.example", "sub-wendy") is None
        (event,) = audit.query(event="user.deleted")
        assert event.detail["before"]["store"] == "corp"


@pytest.mark.parametrize("read_only", [True])
def test_a_read_only_directory_user_is_not_deleted_and_the_console_says_why(app, browser, add_user, manager, ldap_base):
    add_user("admin", password=PASSWORD, groups="admins")
    dn = f"uid=xena,{ldap_base}"
    manager.add(dn, ["inetOrgPerson"], {"uid": "xena", "cn": "Xena", "sn": "X", "mail": "xena@example.org"})
    with app.app_context():
        [xena] = stores.get("corp").find("(uid=xena)")
        db.session.commit()
    sign_in(browser)
    refused = delete_from_console(browser, xena.id)
    assert refused.url == browser.url(f"/admin/users/{xena.id}")
    assert "xena: not deleted: identity store &#39;corp&#39; is read-only: deleting a user is refused" in refused.text
    assert in_directory(manager, dn)
    with app.app_context():
        assert identity.get_user(xena.id) is not None
        assert audit.query(event="user.deleted") == []
