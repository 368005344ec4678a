"""SCIM /Users on each kind of identity store: the embedded SQL store and an OpenLDAP directory, one scenario each.

Each scenario runs once per store (``store_kind``) over real HTTP; the LDAP leg
talks to a real slapd (tests/ldap_server.py) and skips, saying why, where none
can be had. The directory is checked with its manager's own connection, so a
test sees what SCIM wrote there, not what stepgate remembers.
"""

from __future__ import annotations

import pytest
from ldap3 import MODIFY_REPLACE

from app import create_app, stores
from app.extensions import db
from app.scim.models import ScimGroupMember
from app.stores import federation
from app.stores import sql as identity
from app.stores.base import PasswordAnswer
from app.yamlsource import ConfigError
from tests import scim_client
from tests.ldap_server import ldap_store_settings
from tests.scim_client import GROUP, TOKEN, USER, assert_scim_error, patch

scim = scim_client.scim  # the fixture; ``app`` is this module's own
MAPPING = {
    "name.givenName": "first-name",
    "name.familyName": "last-name",
    "displayName": "display-name",
    "emails.value": "mail",
    "preferredLanguage": "locale",
}
PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["sql", "ldap"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def read_only() -> bool:
    return False


@pytest.fixture
def directory(store_kind, request):
    """(slapd, base) for the LDAP leg, None for SQL."""
    if store_kind == "sql":
        return None
    return request.getfixturevalue("slapd_server"), request.getfixturevalue("ldap_base")


@pytest.fixture
def app(make_settings, directory, read_only):
    """stepgate serving SCIM on a ``default`` store of this test's kind."""
    if directory is None:
        store = {"description": "SQL", "read_only": read_only}
    else:
        store = ldap_store_settings(*directory, read_only=read_only)
    extra = {"scim": {"tokens": [TOKEN], "attribute_mapping": MAPPING}, "identity_stores": {"default": store}}
    if read_only:  # a read-only store takes no JIT scheme (a ``schemes check`` error): no application then
        extra |= {"application_domains": {}}
    application = create_app(make_settings(extra=extra, copy_schemes=not read_only), testing=True)
    with application.app_context():
        db.create_all()
    yield application
    stores.close_all(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def manager(directory):
    """The directory's manager connection (None on SQL)."""
    if directory is None:
        yield None
        return
    conn = directory[0].manager()
    yield conn
    conn.unbind()


def entry(manager, base: str, user_name: str, *attributes: str) -> dict | None:
    """The directory entry ``uid=user_name`` under ``base`` as the directory holds it (every value a list), or None."""
    manager.search(base, f"(uid={user_name})", attributes=list(attributes) or ["*", "+"])
    found = [item for item in manager.response if item.get("type") == "searchResEntry"]
    if not found:
        return None
    values = {k: v if isinstance(v, list) else [v] for k, v in found[0]["attributes"].items()}
    return {"dn": found[0]["dn"], "attributes": values}


def person(user_name: str = "alice", **extra) -> dict:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": user_name.title(), "familyName": "Liddell"},
        "emails": [{"value": f"{user_name}@example.org", "primary": True}],
        **extra,
    }


def created(scim, user_name: str = "alice", **extra) -> dict:
    response = scim.post_("/Users", json=person(user_name, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def found(scim, scim_filter: str) -> list[str]:
    response = scim.get_("/Users", params={"filter": scim_filter})
    assert response.status_code == 200, response.text
    return sorted(u["userName"] for u in response.json()["Resources"])


def test_a_created_user_is_an_entry_under_the_base_read_back_by_its_id(scim, directory, manager):
    alice = created(scim, password=PASSWORD, displayName="Alice L.")
    assert alice["userName"] == "alice" and alice["active"] is True
    assert alice["name"] == {"givenName": "Alice", "familyName": "Liddell"}
    again = scim.get_(f"/Users/{alice['id']}")
    assert again.status_code == 200 and again.json() == alice
    assert again.headers["ETag"] == alice["meta"]["version"]
    if directory is not None:
        held = entry(manager, directory[1], "alice", "givenName", "sn", "mail", "displayName", "userPassword")
        assert held["dn"] == f"uid=alice,{directory[1]}"
        values = held["attributes"]
        assert (values["givenName"], values["sn"], values["mail"]) == (["Alice"], ["Liddell"], ["alice@example.org"])
        assert values["userPassword"] and not values["userPassword"][0].startswith(PASSWORD.encode())


def test_the_password_scim_sets_is_the_one_the_store_checks(scim, app):
    alice = created(scim, password=PASSWORD)
    scim.patch_(f"/Users/{alice['id']}", json=patch({"op": "replace", "path": "password", "value": "another-pw-42"}))
    with app.app_context():
        store = stores.get("default")
        user = store.get(int(alice["id"]))
        assert store.check_password(user, "another-pw-42") is PasswordAnswer.PROVEN
        assert store.check_password(user, PASSWORD) is not PasswordAnswer.PROVEN


def test_every_filter_operator_finds_the_same_people_on_every_store(scim):
    alice, _ = created(scim, "alice"), created(scim, "bob", displayName="Bob B.")
    assert found(scim, 'userName eq "alice"') == ["alice"]
    assert found(scim, 'userName ne "alice"') == ["bob"]
    assert found(scim, 'userName sw "b"') == ["bob"]
    assert found(scim, 'emails.value ew "@example.org"') == ["alice", "bob"]
    assert found(scim, 'name.givenName co "lic"') == ["alice"]
    assert found(scim, "displayName pr") == ["bob"]
    assert found(scim, "not (displayName pr) and emails pr") == ["alice"]
    assert found(scim, 'userName eq "alice" or name.givenName eq "Bob"') == ["alice", "bob"]
    assert found(scim, f'id eq "{alice["id"]}"') == ["alice"]
    assert found(scim, 'id eq "999999"') == []
    assert found(scim, "active eq true") == ["alice", "bob"]
    assert found(scim, "active eq false") == []
    assert_scim_error(scim.get_("/Users", params={"filter": 'title eq "x"'}), 400, "invalidFilter")


@pytest.mark.parametrize(
    "value",
    ["x*)(uid=*", "*", "*)(|(uid=*", "alice)(objectClass=*", "\\2a", "al\\", "x\u0000*", "ali*"],
)
@pytest.mark.parametrize("operator", ["eq", "sw", "co", "ew"])
def test_a_filter_value_is_one_value_whatever_it_holds_and_matches_nothing_here(scim, operator, value):
    created(scim, "alice")
    created(scim, "bob")
    text = value.replace("\\", "\\\\").replace("\u0000", "\\u0000")
    response = scim.get_("/Users", params={"filter": f'userName {operator} "{text}"'})
    assert response.status_code == 200, response.text
    assert response.json()["totalResults"] == 0 and response.json()["Resources"] == []


def test_pages_of_users_count_every_match(scim):
    for name in ("ann", "ben", "cal"):
        created(scim, name)
    page = scim.get_("/Users", params={"startIndex": 2, "count": 1}).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert page["Resources"][0]["userName"] == "ben"
    beyond = scim.get_("/Users", params={"startIndex": 9, "count": 5}).json()
    assert (beyond["totalResults"], beyond["Resources"]) == (3, [])
    searched = scim.post_(
        "/.search", json={"schemas": [scim_client.SEARCH], "filter": 'userName sw "c"', "count": 10}
    ).json()
    assert [r["userName"] for r in searched["Resources"]] == ["cal"]


def test_patch_active_false_writes_the_stores_lock_and_true_lifts_it(scim, app, directory, manager):
    alice = created(scim, password=PASSWORD)
    off = scim.patch_(f"/Users/{alice['id']}", json=patch({"op": "replace", "path": "active", "value": False}))
    assert off.status_code == 200 and off.json()["active"] is False
    with app.app_context():
        assert not stores.get("default").get(int(alice["id"])).active
    if directory is not None:
        locked = entry(manager, directory[1], "alice", "pwdAccountLockedTime")["attributes"]
        assert locked["pwdAccountLockedTime"], "ppolicy's lock attribute is in the directory"
        with app.app_context():
            store = stores.get("default")
            assert store.check_password(store.get(int(alice["id"])), PASSWORD) is PasswordAnswer.LOCKED
    assert found(scim, "active eq false") == ["alice"]
    on = scim.patch_(f"/Users/{alice['id']}", json=patch({"op": "replace", "path": "active", "value": True}))
    assert on.json()["active"] is True
    if directory is not None:
        assert not entry(manager, directory[1], "alice", "pwdAccountLockedTime")["attributes"]["pwdAccountLockedTime"]
    with app.app_context():
        store = stores.get("default")
        assert store.get(int(alice["id"])).active
        assert store.check_password(store.get(int(alice["id"])), PASSWORD) is PasswordAnswer.PROVEN


def test_put_replaces_the_attributes_removes_left_out_ones_and_renames(scim, directory, manager):
    alice = created(scim, displayName="Alice L.", preferredLanguage="en")
    body = person("alicia", displayName="Alicia L.")
    body["name"]["givenName"] = "Alicia"
    replaced = scim.put_(f"/Users/{alice['id']}", json=body)
    assert replaced.status_code == 200, replaced.text
    shown = replaced.json()
    assert (shown["id"], shown["userName"], shown["displayName"]) == (alice["id"], "alicia", "Alicia L.")
    assert "preferredLanguage" not in shown and shown["name"]["givenName"] == "Alicia"
    assert found(scim, 'userName eq "alicia"') == ["alicia"] and found(scim, 'userName eq "alice"') == []
    if directory is not None:
        assert entry(manager, directory[1], "alice") is None
        held = entry(manager, directory[1], "alicia", "displayName", "preferredLanguage", "givenName")
        assert held["dn"] == f"uid=alicia,{directory[1]}"
        assert held["attributes"]["displayName"] == ["Alicia L."] and not held["attributes"]["preferredLanguage"]


def test_a_user_name_taken_is_a_409_on_create_and_on_rename(scim):
    created(scim, "alice")
    bob = created(scim, "bob")
    assert_scim_error(scim.post_("/Users", json=person("ALICE")), 409, "uniqueness")
    assert_scim_error(scim.put_(f"/Users/{bob['id']}", json=person("alice")), 409, "uniqueness")
    assert found(scim, "userName pr") == ["alice", "bob"]


def test_delete_removes_the_entry_the_row_and_the_links(scim, app, directory, manager):
    alice = created(scim)
    user_id = int(alice["id"])
    with app.app_context():
        federation.link_user(user_id, "https://idp.example", "sub-alice", "idp")
        db.session.commit()
    assert scim.delete_(f"/Users/{alice['id']}").status_code == 204
    assert_scim_error(scim.get_(f"/Users/{alice['id']}"), 404)
    with app.app_context():
        assert identity.get_user(user_id) is None
        assert federation.find_link("https://idp.example", "sub-alice") is None
    if directory is not None:
        assert entry(manager, directory[1], "alice") is None
    again = created(scim)  # the name is free again; the id is a new one
    assert int(again["id"]) > user_id


def test_versions_follow_every_change_and_if_match_guards_writes(scim, directory, manager):
    alice = created(scim)
    version = alice["meta"]["version"]
    stale = {"If-Match": 'W/"0000"'}
    body = patch({"op": "replace", "path": "displayName", "value": "A"})
    assert_scim_error(scim.patch_(f"/Users/{alice['id']}", json=body, headers=stale), 412)
    assert_scim_error(scim.delete_(f"/Users/{alice['id']}", headers=stale), 412)
    changed = scim.patch_(f"/Users/{alice['id']}", json=body, headers={"If-Match": version})
    assert changed.status_code == 200 and changed.headers["ETag"] != version
    if directory is not None:  # a change made in the directory itself is a new version too
        manager.modify(f"uid=alice,{directory[1]}", {"displayName": [(MODIFY_REPLACE, ["Changed there"])]})
        read = scim.get_(f"/Users/{alice['id']}")
        assert read.json()["displayName"] == "Changed there"
        assert read.headers["ETag"] != changed.headers["ETag"]


def test_groups_stay_in_stepgate_with_members_named_by_user_id(scim, app):
    alice = created(scim)
    group = scim.post_(
        "/Groups", json={"schemas": [GROUP], "displayName": "staff", "members": [{"value": alice["id"]}]}
    )
    assert group.status_code == 201, group.text
    assert scim.get_(f"/Users/{alice['id']}").json()["groups"] == [{"value": group.json()["id"], "display": "staff"}]
    assert_scim_error(
        scim.post_("/Groups", json={"schemas": [GROUP], "displayName": "x", "members": [{"value": "424242"}]}),
        400,
        "invalidValue",
    )
    scim.delete_(f"/Users/{alice['id']}")
    assert "members" not in scim.get_(f"/Groups/{group.json()['id']}").json()
    with app.app_context():
        assert db.session.query(ScimGroupMember).count() == 0


def added_outside_scim(app, directory, user_name: str) -> None:
    """A person SCIM has never seen: a row of the SQL store, or an entry added with the directory's own tools."""
    if directory is None:
        with app.app_context():
            identity.create_user("default", user_name, {"mail": f"{user_name}@example.org"})
            db.session.commit()
        return
    manager = directory[0].manager()
    values = {"uid": user_name, "cn": user_name, "sn": "V", "mail": f"{user_name}@example.org"}
    manager.add(f"uid={user_name},{directory[1]}", ["inetOrgPerson"], values)
    assert manager.result["result"] == 0, manager.result
    manager.unbind()


def test_the_id_a_list_hands_out_names_the_same_person_ever_after(scim, app, directory):
    """A directory entry's row is written by the read that first meets it, and must outlive that read.

    The PostgreSQL leg (STEPGATE_TEST_DATABASE_URL) is the one that catches a read left
    uncommitted: pysqlite commits a released savepoint opened outside a transaction.
    """
    added_outside_scim(app, directory, "vera")
    [vera] = scim.get_("/Users").json()["Resources"]
    bob = created(scim, "bob")  # would take vera's id, had the list not kept it
    assert bob["id"] != vera["id"]
    assert scim.get_(f"/Users/{vera['id']}").json()["userName"] == "vera"
    assert found(scim, f'id eq "{vera["id"]}"') == ["vera"]


@pytest.mark.parametrize("read_only", [True])
def test_a_read_only_store_answers_reads_and_refuses_every_write(scim, app, store_kind, directory, read_only):
    added_outside_scim(app, directory, "vera")
    [vera] = scim.get_("/Users", params={"filter": 'userName eq "vera"'}).json()["Resources"]
    assert vera["emails"] == [{"value": "vera@example.org", "primary": True}]
    assert scim.get_(f"/Users/{vera['id']}").status_code == 200
    user = f"/Users/{vera['id']}"
    writes = [
        scim.post_("/Users", json=person("new")),
        scim.put_(user, json=person("vera")),
        scim.patch_(user, json=patch({"op": "replace", "path": "active", "value": False})),
        scim.delete_(user),
        scim.post_("/Groups", json={"schemas": [GROUP], "displayName": "g"}),
    ]
    for response in writes:
        body = assert_scim_error(response, 403)
        assert "read-only" in body["detail"]
    assert scim.get_(user).json()["active"] is True
    assert found(scim, "userName pr") == ["vera"]


@pytest.mark.parametrize("store_kind", ["ldap"])  # a directory's schema rule: the SQL store keeps any attribute
def test_a_value_the_directory_schema_refuses_is_a_400_and_changes_nothing(scim, directory, manager):
    alice = created(scim, displayName="Alice L.")
    body = person("alice", displayName="Other")
    del body["name"]["familyName"]  # sn is required by inetOrgPerson
    assert_scim_error(scim.put_(f"/Users/{alice['id']}", json=body), 400, "invalidValue")
    assert scim.get_(f"/Users/{alice['id']}").json() == alice
    held = entry(manager, directory[1], "alice", "sn", "displayName")["attributes"]
    assert (held["sn"], held["displayName"]) == (["Liddell"], ["Alice L."])


@pytest.mark.parametrize("store_kind", ["ldap"])  # an entry deleted behind stepgate's back
def test_an_entry_deleted_in_the_directory_is_gone_from_scim(scim, directory, manager):
    alice = created(scim)
    manager.delete(f"uid=alice,{directory[1]}")
    assert_scim_error(scim.get_(f"/Users/{alice['id']}"), 404)
    assert scim.get_("/Users").json()["totalResults"] == 0


def test_a_directory_that_does_not_answer_is_a_503_scim_error(make_settings, slapd_server, ldap_base):
    import requests

    from tests.conftest import LiveServer
    from tests.ldap_server import free_port

    store = ldap_store_settings(slapd_server, ldap_base, urls=[f"ldap://127.0.0.1:{free_port()}"])
    store["ldap"]["connect_timeout_seconds"] = 0.5
    extra = {"scim": {"tokens": [TOKEN], "attribute_mapping": MAPPING}, "identity_stores": {"default": store}}
    application = create_app(make_settings(extra=extra), testing=True)
    with application.app_context():
        db.create_all()
    server = LiveServer(application).start()
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        listed = requests.get(f"{server.url}/scim/v2/Users", headers=headers, timeout=10)
        assert_scim_error(listed, 503)
        made = requests.post(f"{server.url}/scim/v2/Users", json=person(), headers=headers, timeout=10)
        assert_scim_error(made, 503)
    finally:
        server.stop()
        stores.close_all(application)
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_scim_mapping_the_directory_store_does_not_hold_is_refused_at_load(make_settings, slapd_server, ldap_base):
    store = ldap_store_settings(slapd_server, ldap_base)
    extra = {
        "scim": {"tokens": [TOKEN], "attribute_mapping": {"title": "title"}},
        "identity_stores": {"default": store},
    }
    with pytest.raises(ConfigError) as refused:
        create_app(make_settings(extra=extra), testing=True)
    assert "scim.attribute_mapping 'title' -> 'title': LDAP store 'default' maps no directory attribute" in str(
        refused.value
    )


def test_on_active_directory_a_filter_names_its_attributes_and_escapes_every_value():
    """No AD runs here: the translation is checked as text, for the attributes and conventions AD uses."""
    from app.scim import directory_query
    from app.scim.filter import parse
    from app.stores.base import StoreConfig
    from app.stores.ldap import LdapStore
    from app.stores.ldap_settings import LdapOptions

    options = LdapOptions(
        urls=("ldaps://dc1.corp.example",),
        bind_dn="",
        bind_password="",
        user_base="OU=Staff,DC=corp,DC=example",
        user_name_attribute="sAMAccountName",
        id_attribute="objectGUID",
        attributes={"mail": "mail"},
        status="active_directory",
    )
    store = LdapStore(StoreConfig("ad", kind="ldap", options=options))

    def ldap(scim_filter: str) -> str:
        return directory_query.user_filter(parse(scim_filter), store, {"emails.value": "mail"})

    assert ldap('userName eq "x*)(uid=*"') == r"(sAMAccountName=x\2a\29\28uid=\2a)"
    assert ldap('emails co "a\\\\b"') == r"(mail=*a\5cb*)"
    assert ldap("active eq true") == "(&(!(userAccountControl:1.2.840.113556.1.4.803:=2))(!(lockoutTime>=1)))"
    assert ldap('not (userName sw "adm") or emails pr') == r"(|(!(sAMAccountName=adm*))(mail=*))"
    guid = "12345678-1234-1234-1234-123456789abc"  # objectGUID is searched as its 16 bytes, little-endian first
    assert store.id_assertion(guid) == r"(objectGUID=\78\56\34\12\34\12\34\12\12\34\12\34\56\78\9a\bc)"
    assert store.id_assertion("not-a-guid)(objectClass=*") == "(!(objectClass=*))"
