"""Self-registration (OAM 42.1, mode 1) when the identity store is an OpenLDAP directory.

The registration page creates the account with a SCIM POST carrying the
registration id (tests/test_self_registration.py walks the SQL store); here
that create adds a directory entry, links it to the IdP identity in SQL and
the person lands on the resource signed in. Against a real slapd
(tests/ldap_server.py; skipped, saying why, where none can be had).
"""

from __future__ import annotations

import pytest

from app import stores
from app.stores import federation
from tests.browser import Browser
from tests.ldap_server import TEST_ATTRIBUTES, ldap_store_settings
from tests.selfregistration_site import ISSUER, start_site
from tests.test_self_registration import RESOURCE, registration_id_of, sign_in_at_idp

PAGE_ATTRIBUTES = {
    **TEST_ATTRIBUTES,
    "telephone-number": "telephoneNumber",
    "title": "title",
    "department": "departmentNumber",
}
"""The directory attributes SCIM's default mapping needs (the page sends department, names and mail)."""


@pytest.fixture
def site(make_settings, slapd_server, ldap_base):
    store = ldap_store_settings(slapd_server, ldap_base, attributes=PAGE_ATTRIBUTES)

    def with_directory(extra=None, **kwargs):
        return make_settings(extra={**(extra or {}), "identity_stores": {"default": store}}, **kwargs)

    running = start_site(with_directory)
    yield running
    running.stop()
    stores.close_all(running.app)


@pytest.fixture
def manager(slapd_server):
    conn = slapd_server.manager()
    yield conn
    conn.unbind()


def entry_of(manager, base: str, user_name: str) -> dict | None:
    manager.search(base, f"(uid={user_name})", attributes=["departmentNumber", "mail", "givenName", "userPassword"])
    found = [item for item in manager.response if item.get("type") == "searchResEntry"]
    return found[0] if found else None


def test_the_full_walk_adds_a_directory_entry_linked_to_the_idp_identity(site, manager, ldap_base):
    with Browser(site.stepgate.url) as person:
        form = sign_in_at_idp(person, given_name="Carol", family_name="Jones")
        assert registration_id_of(form)
        done = person.submit({"userName": "carol", "department": "Research"})
        assert done.url == person.url(RESOURCE) and '<strong id="user-name">carol</strong>' in done.text
    carol = entry_of(manager, ldap_base, "carol")
    assert carol["dn"] == f"uid=carol,{ldap_base}"
    values = carol["attributes"]
    assert (values["departmentNumber"], values["mail"], values["givenName"]) == (
        ["Research"],
        ["carol@example.org"],
        ["Carol"],
    )
    assert not values.get("userPassword"), "a registration through an IdP sets no directory password"
    with site.app.app_context():
        linked = federation.find_linked_user(ISSUER, "idp-user-1")
        assert linked.user_name == "carol" and stores.get("default").get(linked.id).ref == carol["dn"]
    with Browser(site.stepgate.url) as later:  # the returning person is found by the link, no second entry
        assert sign_in_at_idp(later).url == later.url(RESOURCE)
    manager.search(ldap_base, "(uid=carol)", attributes=["1.1"])
    assert len([i for i in manager.response if i.get("type") == "searchResEntry"]) == 1


def test_a_registration_cannot_take_over_a_name_the_directory_holds(site, manager, ldap_base):
    dave = f"uid=dave,{ldap_base}"
    manager.add(dave, ["inetOrgPerson"], {"uid": "dave", "cn": "Dave", "sn": "D", "mail": "dave@example.org"})
    with Browser(site.stepgate.url) as person:
        sign_in_at_idp(person, sub="attacker", email="dave@example.org")
        taken = person.submit({"userName": "dave", "department": "Research"})
        assert taken.status_code == 409 and "That user name is taken" in taken.text
        done = person.submit({"userName": "mallory", "department": "Research"}, response=taken)
        assert '<strong id="user-name">mallory</strong>' in done.text
    with site.app.app_context():
        assert federation.find_linked_user(ISSUER, "attacker").user_name == "mallory"
    manager.search(dave, "(objectClass=*)", "BASE", attributes=["departmentNumber"])
    assert not manager.response[0]["attributes"]["departmentNumber"], "dave's entry was not written"
