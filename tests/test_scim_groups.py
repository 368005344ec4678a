"""SCIM /Groups: members stored in the identity store, filtered by name, patched as Okta and Entra do;
a resource policy can require a provisioned group, and a provisioned group never opens the console."""

from __future__ import annotations

import copy

import pytest
import requests

from app import create_app
from app.extensions import db
from tests import scim_client
from tests.conftest import DEMO_DOMAIN
from tests.scim_client import GROUP, TOKEN, USER, assert_scim_error, patch

scim = scim_client.scim


@pytest.fixture
def app(make_settings):
    """The demo domain, plus /finance/** which only members of the provisioned group "Finance" may open."""
    domain = copy.deepcopy(DEMO_DOMAIN)
    domain["Demo"]["authentication_policies"]["Finance only"] = {"scheme": "PasswordScheme", "groups": ["Finance"]}
    domain["Demo"]["resources"].append({"url": "/finance/**", "policy": "Finance only"})
    domain["Administration"] = {
        "authentication_policies": {"Admin Console Policy": {"scheme": "AdminScheme"}},
        "resources": [{"url": "/admin/**", "policy": "Admin Console Policy"}],
    }
    forward_auth = {"proxies": ["127.0.0.1"]}  # the tests ask /forward-auth as the proxy would
    settings = make_settings(
        extra={"scim": {"tokens": [TOKEN]}, "application_domains": domain, "forward_auth": forward_auth}
    )
    application = create_app(settings, testing=True)
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def user(scim, name: str, **extra) -> str:
    created = scim.post_("/Users", json={"schemas": [USER], "userName": name, **extra})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def group(scim, name: str, *member_ids: str, **extra) -> dict:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in member_ids], **extra}
    created = scim.post_("/Groups", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def member_ids(resource: dict) -> list[str]:
    return [m["value"] for m in resource.get("members", [])]


def test_create_read_list_and_filter_groups_by_display_name(scim):
    alice, bob = user(scim, "alice"), user(scim, "bob")
    finance = group(scim, "Finance", alice, bob, externalId="okta-g1")
    group(scim, "Sales")
    assert finance["displayName"] == "Finance" and finance["externalId"] == "okta-g1"
    assert sorted(member_ids(finance)) == sorted([alice, bob])
    assert finance["members"][0]["$ref"].endswith(f"/scim/v2/Users/{finance['members'][0]['value']}")
    assert scim.get_(f"/Groups/{finance['id']}").json() == finance
    listed = scim.get_("/Groups", params={"filter": 'displayName eq "Finance"'}).json()
    assert [g["id"] for g in listed["Resources"]] == [finance["id"]]
    assert scim.get_("/Groups").json()["totalResults"] == 2
    by_member = scim.get_("/Groups", params={"filter": f'members[value eq "{bob}"]'}).json()
    assert [g["displayName"] for g in by_member["Resources"]] == ["Finance"]
    lean = scim.get_(f"/Groups/{finance['id']}", params={"excludedAttributes": "members"}).json()
    assert "members" not in lean and lean["displayName"] == "Finance"


def test_patch_adds_and_removes_members_as_okta_and_entra_send_them(scim):
    alice, bob, carol = user(scim, "alice"), user(scim, "bob"), user(scim, "carol")
    finance = group(scim, "Finance", alice)
    url = f"/Groups/{finance['id']}"
    # Okta: add with a list of members, remove with a value filter, rename without a path (repeating the id)
    added = scim.patch_(url, json=patch({"op": "add", "path": "members", "value": [{"value": bob, "display": "bob"}]}))
    assert added.status_code == 200, added.text
    assert sorted(member_ids(added.json())) == sorted([alice, bob])
    removed = scim.patch_(url, json=patch({"op": "remove", "path": f'members[value eq "{alice}"]'}))
    assert member_ids(removed.json()) == [bob]
    renamed = scim.patch_(url, json=patch({"op": "replace", "value": {"id": finance["id"], "displayName": "Fin"}}))
    assert renamed.json()["displayName"] == "Fin" and renamed.json()["id"] == finance["id"]
    # Entra: capitalised ops, remove with a value list
    entra = patch(
        {"op": "Add", "path": "members", "value": [{"value": carol}]},
        {"op": "Remove", "path": "members", "value": [{"value": bob}]},
    )
    assert member_ids(scim.patch_(url, json=entra).json()) == [carol]


def test_members_must_be_users_of_the_store_and_nothing_is_half_done(scim):
    alice = user(scim, "alice")
    finance = group(scim, "Finance", alice)
    bad = scim.patch_(
        f"/Groups/{finance['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": "999"}]})
    )
    assert_scim_error(bad, 400, "invalidValue")
    assert member_ids(scim.get_(f"/Groups/{finance['id']}").json()) == [alice]
    assert_scim_error(scim.post_("/Groups", json={"schemas": [GROUP], "displayName": ""}), 400, "invalidValue")
    assert_scim_error(
        scim.post_("/Groups", json={"schemas": [GROUP], "displayName": "x", "owner": "y"}), 400, "invalidValue"
    )
    assert_scim_error(scim.get_("/Groups/12x"), 404)


def test_a_deleted_user_leaves_every_group_and_a_deleted_groups_id_is_not_reused(scim):
    alice, bob = user(scim, "alice"), user(scim, "bob")
    finance = group(scim, "Finance", alice, bob)
    assert scim.delete_(f"/Users/{alice}").status_code == 204
    assert member_ids(scim.get_(f"/Groups/{finance['id']}").json()) == [bob]
    assert scim.delete_(f"/Groups/{finance['id']}").status_code == 204
    assert int(group(scim, "Again")["id"]) > int(finance["id"])


def test_a_policy_can_require_a_provisioned_group(scim, live_server, browser_for):
    alice = user(scim, "alice", password="alice's password 1")
    finance = group(scim, "Finance")
    browser = browser_for(live_server)
    browser.get("/demo/")
    assert 'id="user-name">alice<' in browser.submit({"USERNAME": "alice", "PASSWORD": "alice's password 1"}).text
    refused = browser.get("/finance/report")
    assert refused.status_code == 403 and "authz.not_in_group" in refused.text
    scim.patch_(f"/Groups/{finance['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": alice}]}))
    assert browser.get("/finance/report").status_code == 404  # let through: stepgate itself serves no /finance
    scim.patch_(f"/Groups/{finance['id']}", json=patch({"op": "remove", "path": "members"}))
    assert browser.get("/finance/report").status_code == 403  # removal takes effect on the next request


def test_forward_auth_holds_a_group_requirement_too_and_answers_503_when_it_cannot_ask(
    scim, live_server, browser_for, monkeypatch
):
    alice = user(scim, "alice", password="alice's password 1")
    finance = group(scim, "Finance")
    browser = browser_for(live_server)
    browser.get("/demo/")
    browser.submit({"USERNAME": "alice", "PASSWORD": "alice's password 1"})
    cookie = browser.cookie("stepgate_session")

    def ask():
        headers = {"X-Original-URL": live_server.url + "/finance/report", "X-Original-Method": "GET"}
        cookies = {"stepgate_session": cookie}
        return requests.get(live_server.url + "/forward-auth", headers=headers, cookies=cookies, timeout=10)

    refused = ask()
    assert refused.status_code == 403 and "authz.not_in_group" in refused.text
    scim.patch_(f"/Groups/{finance['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": alice}]}))
    assert ask().status_code == 200
    scim.patch_(f"/Groups/{finance['id']}", json=patch({"op": "remove", "path": "members"}))
    assert ask().status_code == 403  # removal takes effect on the next check

    from sqlalchemy.exc import OperationalError

    def database_gone(*args):
        # what SQLAlchemy raises when the database connection is lost under the query
        raise OperationalError("SELECT group_id", {}, ConnectionResetError(), connection_invalidated=True)

    monkeypatch.setattr("app.scim.membership.allowed", database_gone)
    down = ask()
    assert down.status_code == 503 and down.headers.get("Retry-After"), down.text


def test_a_provisioned_group_named_like_the_admin_group_opens_no_console(scim, live_server, browser_for):
    alice = user(scim, "alice", password="alice's password 1")
    group(scim, "admins", alice)
    browser = browser_for(live_server)
    browser.get("/admin/")
    browser.submit({"USERNAME": "alice", "PASSWORD": "alice's password 1"})
    refused = browser.get("/admin/")
    assert refused.status_code == 403 and "not an administrator" in refused.text


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"public": True, "groups": ["Finance"]}, "is public: it cannot require groups"),
        ({"scheme": "PasswordScheme", "groups": "Finance"}, "groups must be a list of group names"),
        ({"scheme": "PasswordScheme", "groups": [""]}, "groups must be a list of group names"),
    ],
)
def test_a_bad_groups_requirement_names_the_file_and_line(make_settings, policy, message):
    from app.yamlsource import ConfigError

    domain = copy.deepcopy(DEMO_DOMAIN)
    domain["Demo"]["authentication_policies"]["Finance only"] = policy
    with pytest.raises(ConfigError) as refused:
        create_app(make_settings(extra={"application_domains": domain}), testing=True)
    assert "settings.yaml:" in str(refused.value) and message in str(refused.value)


def test_a_large_group_is_kept_whole_and_still_patched(scim, app):
    from app.stores.sql import User

    with app.app_context():
        db.session.execute(db.insert(User), [{"store": "default", "user_name": f"member{i}"} for i in range(1500)])
        db.session.commit()
        ids = [str(i) for i in db.session.scalars(db.select(User.id).order_by(User.id))]
    big = group(scim, "Everyone", *ids[:-1])
    assert len(big["members"]) == 1499
    added = scim.patch_(
        f"/Groups/{big['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": ids[-1]}]})
    )
    assert added.status_code == 200 and len(added.json()["members"]) == 1500


def test_over_long_ids_and_names_are_refused_before_the_database_sees_them(scim):
    assert_scim_error(scim.post_("/Groups", json={"schemas": [GROUP], "displayName": "x" * 256}), 400, "invalidValue")
    long_external = {"schemas": [USER], "userName": "alice", "externalId": "e" * 256}
    assert_scim_error(scim.post_("/Users", json=long_external), 400, "invalidValue")


def test_a_users_groups_are_read_only_on_the_user(scim):
    alice = user(scim, "alice")
    finance = group(scim, "Finance", alice)
    shown = scim.get_(f"/Users/{alice}").json()
    assert shown["groups"] == [{"value": finance["id"], "display": "Finance"}]
    assert (
        scim.get_("/Users", params={"filter": 'userName eq "alice"'}).json()["Resources"][0]["groups"]
        == shown["groups"]
    )
    join = patch({"op": "add", "path": "groups", "value": [{"value": finance["id"]}]})
    assert_scim_error(scim.patch_(f"/Users/{alice}", json=join), 400, "mutability")
    # sent back whole (Okta's PUT), the read-only list is ignored, not an error, and changes nothing
    replaced = scim.put_(f"/Users/{alice}", json=dict(shown, groups=[]))
    assert replaced.status_code == 200 and replaced.json()["groups"] == shown["groups"]
    # leaving the group changes the user's version
    scim.patch_(f"/Groups/{finance['id']}", json=patch({"op": "remove", "path": "members"}))
    after = scim.get_(f"/Users/{alice}").json()
    assert "groups" not in after and after["meta"]["version"] != replaced.json()["meta"]["version"]


def test_a_search_at_the_root_pages_through_users_then_groups(scim):
    alice, bob = user(scim, "alice"), user(scim, "bob")
    finance = group(scim, "Finance", alice)
    search = {"schemas": [scim_client.SEARCH], "startIndex": 2, "count": 2, "excludedAttributes": ["members"]}
    found = scim.post_("/.search", json=search)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["totalResults"] == 3 and body["startIndex"] == 2
    assert [(r["meta"]["resourceType"], r["id"]) for r in body["Resources"]] == [
        ("User", bob),
        ("Group", finance["id"]),
    ]
    assert "members" not in body["Resources"][1]
    # a filter only groups can answer finds groups only
    by_member = {"schemas": [scim_client.SEARCH], "filter": f'members[value eq "{alice}"]'}
    assert [r["id"] for r in scim.post_("/.search", json=by_member).json()["Resources"]] == [finance["id"]]
    assert_scim_error(
        scim.post_("/.search", json={"schemas": [scim_client.SEARCH], "filter": "nope pr"}), 400, "invalidFilter"
    )
