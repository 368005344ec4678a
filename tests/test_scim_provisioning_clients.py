"""Provisioning as Okta and Microsoft Entra do it: their documented request shapes, in their order.

Okta: developer.okta.com, "SCIM 2.0 protocol reference" (create with ``groups: []``
and ``password``, deactivate by a pathless replace, group rename repeating the
id, member add/remove by value filter). Entra: learn.microsoft.com, "Develop a
sample SCIM endpoint" / "SCIM 2.0 protocol compliance" (capitalised ops, the
enterprise extension, ``emails[type eq "work"].value`` paths, ``"False"`` as a
string, ``manager`` as a one-item list, ``$ref: null`` members, groups read
with ``excludedAttributes=members``).
"""

from __future__ import annotations

from tests import scim_client
from tests.scim_client import ENTERPRISE, GROUP, PATCH, USER, assert_scim_error

app, scim = scim_client.app, scim_client.scim
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def stored(app, user_name: str):
    from app.stores import sql as identity

    with app.app_context():
        user = identity.find_by_user_name("default", user_name)
        return None if user is None else (user.attributes, user.status, user.check_password("0kta Passw0rd!"))


def test_okta_user_lifecycle(scim, app):
    lookup = scim.get_("/Users", params={"filter": 'userName eq "test.user@okta.local"', "startIndex": 1, "count": 100})
    assert lookup.json()["totalResults"] == 0 and lookup.json()["Resources"] == []
    create = {
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "0kta Passw0rd!",
        "active": True,
    }
    created = scim.post_("/Users", json=create)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7" and user["locale"] == "en-US" and "password" not in user
    assert stored(app, "test.user@okta.local") == (
        {"first-name": "Test", "last-name": "User", "display-name": "Test User", "mail": "test.user@okta.local"},
        "active",
        True,
    )
    # Okta's PUT sends the whole user back, id and meta included
    again = dict(user, name={"givenName": "Test", "familyName": "Userson"})
    put = scim.put_(f"/Users/{user['id']}", json=again)
    assert put.status_code == 200 and put.json()["name"]["familyName"] == "Userson"
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert scim.patch_(f"/Users/{user['id']}", json=deactivate).json()["active"] is False
    assert stored(app, "test.user@okta.local")[1] == "disabled"
    password = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"password": "n3w Passw0rd!!"}}]}
    assert scim.patch_(f"/Users/{user['id']}", json=password).status_code == 200


def test_okta_group_push(scim):
    member = scim.post_("/Users", json={"schemas": [USER], "userName": "ann@okta.local"}).json()["id"]
    lookup = scim.get_("/Groups", params={"filter": 'displayName eq "Test SCIMv2"', "startIndex": 1, "count": 100})
    assert lookup.json()["totalResults"] == 0
    created = scim.post_("/Groups", json={"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    rename = {"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 renamed"}}
    add = {"op": "add", "path": "members", "value": [{"value": member, "display": "ann@okta.local"}]}
    body = scim.patch_(f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [rename, add]}).json()
    assert body["displayName"] == "Test SCIMv2 renamed" and [m["value"] for m in body["members"]] == [member]
    remove = {"op": "remove", "path": f'members[value eq "{member}"]'}
    body = scim.patch_(f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [remove]}).json()
    assert "members" not in body
    assert scim.delete_(f"/Groups/{group_id}").status_code == 204


def test_entra_user_lifecycle(scim, app):
    assert scim.get_("/Users", params={"filter": 'userName eq "Test_User_ab6490ee"'}).json()["totalResults"] == 0
    create = {
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "1007", "department": "Sales"},
    }
    created = scim.post_("/Users", json=create)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    by_external = scim.get_("/Users", params={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'})
    assert [u["id"] for u in by_external.json()["Resources"]] == [user_id]
    manager = scim.post_("/Users", json={"schemas": [USER], "userName": "boss"}).json()["id"]
    update = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": [{"$ref": None, "value": manager}]},
        ],
    }
    patched = scim.patch_(f"/Users/{user_id}", json=update)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["emails"] == [{"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}]
    assert body["name"]["familyName"] == "updatedFamilyName"
    assert body["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert body[ENTERPRISE] == {"employeeNumber": "1007", "department": "Sales", "manager": {"value": manager}}
    attributes, _, _ = stored(app, "Test_User_ab6490ee")
    assert attributes["mail"] == "updatedEmail@microsoft.com" and attributes["telephone-number"] == "+1 555 0100"
    disable = {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}
    assert scim.patch_(f"/Users/{user_id}", json=disable).json()["active"] is False
    assert scim.delete_(f"/Users/{user_id}").status_code == 204
    assert_scim_error(scim.get_(f"/Users/{user_id}"), 404)


def test_entra_group_provisioning(scim):
    first = scim.post_("/Users", json={"schemas": [USER], "userName": "u1"}).json()["id"]
    second = scim.post_("/Users", json={"schemas": [USER], "userName": "u2"}).json()["id"]
    create = {
        "schemas": [GROUP, ENTRA_GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "id": "c4a8b0f7-made-up-by-entra",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }
    created = scim.post_("/Groups", json=create)
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    assert group_id != create["id"]  # the id is the server's
    found = scim.get_("/Groups", params={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'})
    assert [g["id"] for g in found.json()["Resources"]] == [group_id]
    add = {"op": "Add", "path": "members", "value": [{"$ref": None, "value": first}, {"$ref": None, "value": second}]}
    scim.patch_(f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [add]})
    remove = {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": first}]}
    scim.patch_(f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [remove]})
    rename = {"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}
    scim.patch_(f"/Groups/{group_id}", json={"schemas": [PATCH], "Operations": [rename]})
    lean = scim.get_(f"/Groups/{group_id}", params={"excludedAttributes": "members"}).json()
    assert lean["displayName"].endswith("updatedDisplayName") and "members" not in lean
    assert [m["value"] for m in scim.get_(f"/Groups/{group_id}").json()["members"]] == [second]
