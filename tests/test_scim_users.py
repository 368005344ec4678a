"""SCIM Users as provisioning clients need them: externalId, every email kept, attribute selection,
/.search, whole-extension PATCH, boolean strings, versions, ids never reused, unknown attributes refused."""

from __future__ import annotations

import pytest

from tests import scim_client
from tests.scim_client import ENTERPRISE, SEARCH, USER, assert_scim_error, patch

app, scim = scim_client.app, scim_client.scim  # the fixtures


def alice(**extra) -> dict:
    return {"schemas": [USER], "userName": "alice", **extra}


def stored_attributes(app, user_name: str) -> dict:
    from app.stores import sql as identity

    with app.app_context():
        return identity.find_by_user_name("default", user_name).attributes


def test_external_id_is_stored_returned_filterable_and_patchable(scim):
    created = scim.post_("/Users", json=alice(externalId="00u1okta")).json()
    assert created["externalId"] == "00u1okta"
    assert scim.get_(f"/Users/{created['id']}").json()["externalId"] == "00u1okta"
    found = scim.get_("/Users", params={"filter": 'externalId eq "00u1okta"'}).json()
    assert [u["id"] for u in found["Resources"]] == [created["id"]]
    # externalId is caseExact: another case is another id
    assert scim.get_("/Users", params={"filter": 'externalId eq "00U1OKTA"'}).json()["totalResults"] == 0
    patched = scim.patch_(f"/Users/{created['id']}", json=patch({"op": "replace", "path": "externalId", "value": "e2"}))
    assert patched.json()["externalId"] == "e2"
    assert scim.get_("/Users", params={"filter": 'externalId eq "e2"'}).json()["totalResults"] == 1
    removed = scim.patch_(f"/Users/{created['id']}", json=patch({"op": "remove", "path": "externalId"}))
    assert "externalId" not in removed.json()


def test_every_email_and_phone_number_keeps_its_type_and_primary_and_mail_follows_the_primary(scim, app):
    emails = [
        {"value": "alice@home.example", "type": "home", "primary": False},
        {"value": "alice@work.example", "type": "work", "primary": True},
    ]
    phones = [{"value": "+33 1 23", "type": "mobile"}, {"value": "+33 4 56", "type": "fax"}]
    created = scim.post_("/Users", json=alice(emails=emails, phoneNumbers=phones)).json()
    assert created["emails"] == emails and created["phoneNumbers"] == phones
    assert stored_attributes(app, "alice")["mail"] == "alice@work.example"
    # the primary moves to the home address: the mapped mail follows it, the other value stays
    moved = scim.patch_(
        f"/Users/{created['id']}",
        json=patch(
            {"op": "replace", "path": 'emails[type eq "work"].primary', "value": False},
            {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True},
        ),
    ).json()
    assert [(e["type"], e["primary"]) for e in moved["emails"]] == [("home", True), ("work", False)]
    assert stored_attributes(app, "alice")["mail"] == "alice@home.example"
    two_primaries = [dict(e, primary=True) for e in emails]
    assert_scim_error(scim.put_(f"/Users/{created['id']}", json=alice(emails=two_primaries)), 400, "invalidValue")


def test_a_mail_changed_in_the_identity_store_is_what_scim_returns(scim, app):
    created = scim.post_("/Users", json=alice(emails=[{"value": "old@example.org", "type": "work"}])).json()
    from app.extensions import db
    from app.stores import sql as identity

    with app.app_context():
        identity.find_by_user_name("default", "alice").set_attribute("mail", "new@example.org")
        db.session.commit()
    now = scim.get_(f"/Users/{created['id']}").json()
    assert now["emails"] == [{"value": "new@example.org", "type": "work"}]
    assert now["meta"]["version"] != created["meta"]["version"]
    assert now["meta"]["lastModified"] > created["meta"]["lastModified"]


def test_attributes_and_excluded_attributes_on_get_list_and_search(scim):
    created = scim.post_("/Users", json=alice(title="CTO", name={"givenName": "Alice", "familyName": "Liddell"}))
    user_id = created.json()["id"]
    only = scim.get_(f"/Users/{user_id}", params={"attributes": "userName,name.givenName"}).json()
    assert set(only) == {"schemas", "id", "meta", "userName", "name"} and only["name"] == {"givenName": "Alice"}
    without = scim.get_(f"/Users/{user_id}", params={"excludedAttributes": "title,name.familyName"}).json()
    assert "title" not in without and without["name"] == {"givenName": "Alice"} and without["userName"] == "alice"
    listed = scim.get_("/Users", params={"attributes": "title"}).json()["Resources"]
    assert listed == [{"schemas": [USER], "id": user_id, "title": "CTO", "meta": listed[0]["meta"]}]
    search = {"schemas": [SEARCH], "filter": 'title sw "C"', "attributes": ["userName"], "count": 5}
    searched = scim.post_("/Users/.search", json=search)
    assert searched.status_code == 200, searched.text
    assert [set(r) for r in searched.json()["Resources"]] == [{"schemas", "id", "meta", "userName"}]
    assert_scim_error(scim.post_("/Users/.search", json={"filter": "x"}), 400, "invalidSyntax")


def test_a_patch_on_a_whole_extension_changes_it(scim):
    user_id = scim.post_("/Users", json=alice(**{ENTERPRISE: {"department": "R&D"}})).json()["id"]
    replaced = scim.patch_(
        f"/Users/{user_id}",
        json=patch({"op": "replace", "path": ENTERPRISE, "value": {"department": "Sales", "costCenter": "42"}}),
    )
    assert replaced.status_code == 200 and replaced.json()[ENTERPRISE] == {"department": "Sales", "costCenter": "42"}
    assert ENTERPRISE in replaced.json()["schemas"]
    removed = scim.patch_(f"/Users/{user_id}", json=patch({"op": "remove", "path": ENTERPRISE})).json()
    assert ENTERPRISE not in removed and ENTERPRISE not in removed["schemas"]


@pytest.mark.parametrize(("sent", "active"), [("False", False), ("false", False), ("True", True), (False, False)])
def test_active_accepts_boolean_strings_as_older_entra_sends_them(scim, sent, active):
    user_id = scim.post_("/Users", json=alice(active="True")).json()["id"]
    response = scim.patch_(f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": sent}))
    assert response.status_code == 200 and response.json()["active"] is active
    assert_scim_error(
        scim.patch_(f"/Users/{user_id}", json=patch({"op": "replace", "path": "active", "value": "yes"})),
        400,
        "invalidValue",
    )


def test_removing_active_is_refused_and_changes_nothing(scim):
    user_id = scim.post_("/Users", json=alice(active=False)).json()["id"]
    refused = scim.patch_(f"/Users/{user_id}", json=patch({"op": "remove", "path": "active"}))
    assert "active" in assert_scim_error(refused, 400, "mutability")["detail"]
    assert scim.get_(f"/Users/{user_id}").json()["active"] is False


def test_unknown_attributes_are_refused_not_dropped(scim):
    assert_scim_error(scim.post_("/Users", json=alice(shoeSize="42")), 400, "invalidValue")
    assert_scim_error(scim.post_("/Users", json=alice(name={"nick": "Al"})), 400, "invalidValue")
    assert_scim_error(scim.post_("/Users", json=alice(**{"urn:example:ext": {"x": 1}})), 400, "invalidValue")
    assert scim.get_("/Users").json()["totalResults"] == 0  # nothing half-created
    user_id = scim.post_("/Users", json=alice()).json()["id"]
    unknown_path = scim.patch_(f"/Users/{user_id}", json=patch({"op": "add", "path": "shoeSize", "value": "42"}))
    assert_scim_error(unknown_path, 400, "invalidPath")
    # what /Schemas declares is kept, even when nothing maps it onto the identity store
    kept = scim.patch_(f"/Users/{user_id}", json=patch({"op": "add", "path": "nickName", "value": "Al"}))
    assert kept.json()["nickName"] == "Al" and scim.get_(f"/Users/{user_id}").json()["nickName"] == "Al"
    declared = scim.get_(f"/Schemas/{USER}").json()["attributes"]
    assert "nickName" in {a["name"] for a in declared} and "shoeSize" not in {a["name"] for a in declared}


def test_versions_change_with_every_change_and_if_match_guards_writes(scim):
    created = scim.post_("/Users", json=alice())
    user_id, version = created.json()["id"], created.json()["meta"]["version"]
    assert created.headers["ETag"] == version
    assert scim.get_(f"/Users/{user_id}").headers["ETag"] == version
    stale = {"If-Match": version}
    changed = scim.patch_(f"/Users/{user_id}", json=patch({"op": "add", "path": "title", "value": "x"}), headers=stale)
    new_version = changed.json()["meta"]["version"]
    assert changed.status_code == 200 and new_version != version
    assert changed.json()["meta"]["lastModified"] >= created.json()["meta"]["lastModified"]
    for call in (
        lambda: scim.put_(f"/Users/{user_id}", json=alice(), headers=stale),
        lambda: scim.patch_(
            f"/Users/{user_id}", json=patch({"op": "add", "path": "title", "value": "y"}), headers=stale
        ),
        lambda: scim.delete_(f"/Users/{user_id}", headers=stale),
    ):
        assert_scim_error(call(), 412)
    assert scim.get_(f"/Users/{user_id}").json()["title"] == "x"
    assert scim.delete_(f"/Users/{user_id}", headers={"If-Match": new_version}).status_code == 204


def test_a_deleted_users_id_is_never_given_to_the_next_user(scim, app):
    first = scim.post_("/Users", json=alice()).json()["id"]
    assert scim.delete_(f"/Users/{first}").status_code == 204
    second = scim.post_("/Users", json=alice(userName="bob")).json()["id"]
    assert int(second) > int(first)
    from app import audit
    from app.extensions import db

    with app.app_context():  # bob's history does not start with alice's deletion
        events = db.session.scalars(db.select(audit.AuditEvent).where(audit.AuditEvent.user_id == int(second)))
        assert [e.event for e in events] == ["user.created"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/Nope", 404), ("GET", "/Users/1/x", 404), ("PUT", "/Users", 405), ("DELETE", "/Schemas", 405)],
)
def test_unknown_paths_and_wrong_methods_are_scim_errors(scim, method, path, status):
    response = scim.request(method, scim.base + path, timeout=5)
    assert_scim_error(response, status)
    if status == 405:
        assert response.headers["Allow"]
