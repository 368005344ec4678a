"""SCIM 2.0 (RFC 7643 / 7644) provisioning over real HTTP: Users, filters, PATCH, errors, discovery, tokens."""

from __future__ import annotations

import pytest
import requests

from app import create_app
from app.extensions import db
from app.yamlsource import ConfigError

TOKEN = "scim-token-0123456789abcdef"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def app(make_settings):
    application = create_app(
        make_settings(extra={"scim": {"tokens": ["another-token-0123456789", TOKEN]}}), testing=True
    )
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def scim(live_server):
    """A SCIM client: ``scim.post("/Users", json=...)`` with the bearer token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    session.base = f"{live_server.url}/scim/v2"

    def call(method):
        return lambda path, **kw: session.request(method, session.base + path, timeout=5, **kw)

    session.get_, session.post_, session.put_ = call("GET"), call("POST"), call("PUT")
    session.patch_, session.delete_ = call("PATCH"), call("DELETE")
    yield session
    session.close()


def jane(**extra):
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": "jane",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": "jane@example.org", "type": "work", "primary": True}],
        ENTERPRISE: {"department": "Finance"},
        **extra,
    }


def assert_scim_error(response, status, scim_type=None):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"]
    assert body.get("scimType") == scim_type
    return body


def test_create_then_read_maps_attributes_onto_the_identity_store(scim, app):
    created = scim.post_("/Users", json=jane(password="initial password 1"))
    assert created.status_code == 201
    assert created.headers["Content-Type"] == "application/scim+json"
    body = created.json()
    # on external_url (tests/conftest.py), whatever address the request came to
    assert created.headers["Location"] == body["meta"]["location"] == f"http://localhost/scim/v2/Users/{body['id']}"
    assert body["userName"] == "jane" and body["active"] is True
    assert body["name"] == {"givenName": "Jane", "familyName": "Doe"}
    assert body["emails"][0]["value"] == "jane@example.org"
    assert body[ENTERPRISE] == {"department": "Finance"}
    assert "password" not in body
    assert scim.get_(f"/Users/{body['id']}").json() == body
    with app.app_context():
        from app.stores import sql as identity

        user = identity.find_by_user_name("default", "jane")
        assert user.attributes == {
            "department": "Finance",
            "first-name": "Jane",
            "last-name": "Doe",
            "mail": "jane@example.org",
        }
        assert user.check_password("initial password 1")


def test_filter_by_user_name_and_by_email_with_paging(scim):
    for name in ("jane", "john", "joan"):
        scim.post_("/Users", json=jane(userName=name, emails=[{"value": f"{name}@example.org", "primary": True}]))
    by_name = scim.get_("/Users", params={"filter": 'userName eq "john"'}).json()
    assert by_name["totalResults"] == 1 and by_name["Resources"][0]["userName"] == "john"
    by_mail = scim.get_("/Users", params={"filter": 'emails.value EQ "joan@example.org"'}).json()
    assert [u["userName"] for u in by_mail["Resources"]] == ["joan"]
    nobody = scim.get_("/Users", params={"filter": 'userName eq "nobody"'}).json()
    assert nobody["totalResults"] == 0 and nobody["Resources"] == []
    page = scim.get_("/Users", params={"startIndex": 2, "count": 1}).json()
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert page["Resources"][0]["userName"] == "john"


def test_replace_removes_what_the_new_representation_leaves_out(scim):
    user_id = scim.post_("/Users", json=jane()).json()["id"]
    replaced = scim.put_(f"/Users/{user_id}", json={"schemas": [USER], "userName": "jane.doe", "title": "CFO"})
    assert replaced.status_code == 200
    body = replaced.json()
    assert body["userName"] == "jane.doe" and body["title"] == "CFO"
    assert "emails" not in body and "name" not in body and ENTERPRISE not in body


def test_patch_adds_replaces_and_removes(scim):
    user_id = scim.post_("/Users", json=jane()).json()["id"]
    patched = scim.patch_(
        f"/Users/{user_id}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": "title", "value": "Controller"},
                {"op": "replace", "path": 'emails[type eq "work"].value', "value": "jane.doe@example.org"},
                {"op": "replace", "value": {"name.givenName": "Janet", ENTERPRISE: {"department": "Audit"}}},
                {"op": "remove", "path": "name.familyName"},
            ],
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"] == "Controller"
    assert body["emails"][0]["value"] == "jane.doe@example.org"
    assert body["name"] == {"givenName": "Janet"}
    assert body[ENTERPRISE] == {"department": "Audit"}


def test_patching_active_false_disables_the_user_and_ends_their_sessions(scim, browser):
    user_id = scim.post_("/Users", json=jane(password="jane's password 1")).json()["id"]
    browser.get("/demo/")
    assert (
        '<strong id="user-name">jane</strong>'
        in browser.submit({"USERNAME": "jane", "PASSWORD": "jane's password 1"}).text
    )
    off = scim.patch_(
        f"/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
    )
    assert off.json()["active"] is False
    assert 'id="loginData"' in browser.get("/demo/").text
    on = scim.patch_(
        f"/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]},
    )
    assert on.json()["active"] is True


def test_delete_removes_the_user(scim):
    user_id = scim.post_("/Users", json=jane()).json()["id"]
    deleted = scim.delete_(f"/Users/{user_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_scim_error(scim.get_(f"/Users/{user_id}"), 404)
    assert_scim_error(scim.delete_(f"/Users/{user_id}"), 404)


def test_a_taken_user_name_is_a_uniqueness_error_and_creates_nothing(scim):
    scim.post_("/Users", json=jane())
    assert_scim_error(scim.post_("/Users", json=jane()), 409, "uniqueness")
    assert scim.get_("/Users").json()["totalResults"] == 1


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"userName": "no-schemas"}, "invalidSyntax"),
        ({"schemas": [USER]}, "invalidValue"),
        ({"schemas": [USER], "userName": "x", "active": "yes"}, "invalidValue"),
        ({"schemas": [USER], "userName": "x", "name": "not an object"}, "invalidValue"),
        (["not", "an", "object"], "invalidSyntax"),
    ],
)
def test_bad_user_bodies_are_refused_with_scim_errors(scim, body, scim_type):
    assert_scim_error(scim.post_("/Users", json=body), 400, scim_type)
    assert scim.get_("/Users").json()["totalResults"] == 0


def test_a_body_that_is_not_json_is_invalid_syntax(scim):
    response = scim.post_("/Users", data="{not json", headers={"Content-Type": "application/scim+json"})
    assert_scim_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize(
    "text",
    ['userName gt "ja"', 'nickName eq "JJ"', 'emails[type eq "work"] pr', "userName eq", 'userName eq "a" or x eq "b"'],
)
def test_unsupported_filters_are_refused_not_guessed(scim, text):
    body = assert_scim_error(scim.get_("/Users", params={"filter": text}), 400, "invalidFilter")
    assert "filter" in body["detail"]


def test_bad_patch_operations_are_refused(scim):
    user_id = scim.post_("/Users", json=jane()).json()["id"]
    no_schema = scim.patch_(f"/Users/{user_id}", json={"Operations": [{"op": "add", "path": "title", "value": "x"}]})
    assert_scim_error(no_schema, 400, "invalidSyntax")
    bad_op = scim.patch_(
        f"/Users/{user_id}", json={"schemas": [PATCH], "Operations": [{"op": "move", "path": "title"}]}
    )
    assert_scim_error(bad_op, 400, "invalidSyntax")
    no_target = scim.patch_(f"/Users/{user_id}", json={"schemas": [PATCH], "Operations": [{"op": "remove"}]})
    assert_scim_error(no_target, 400, "noTarget")
    no_user_name = scim.patch_(
        f"/Users/{user_id}", json={"schemas": [PATCH], "Operations": [{"op": "remove", "path": "userName"}]}
    )
    assert_scim_error(no_user_name, 400, "mutability")  # required: set it, never remove it
    assert scim.get_(f"/Users/{user_id}").json()["userName"] == "jane"


def test_an_unknown_registration_id_creates_nothing(scim):
    body = jane(schemas=[USER, "urn:stepgate:params:scim:schemas:extension:registration:2.0:User"])
    body["urn:stepgate:params:scim:schemas:extension:registration:2.0:User"] = {"registrationId": "made-up"}
    error = assert_scim_error(scim.post_("/Users", json=body), 400, "invalidValue")
    assert "registration.unknown" in error["detail"]
    assert scim.get_("/Users").json()["totalResults"] == 0


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN])
def test_the_bearer_token_is_required(live_server, header):
    headers = {"Authorization": header} if header is not None else {}
    response = requests.get(f"{live_server.url}/scim/v2/Users", headers=headers, timeout=5)
    assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    created = requests.post(f"{live_server.url}/scim/v2/Users", json=jane(), headers=headers, timeout=5)
    assert created.status_code == 401


def test_every_configured_token_is_accepted(live_server):
    response = requests.get(
        f"{live_server.url}/scim/v2/Users", headers={"Authorization": "Bearer another-token-0123456789"}, timeout=5
    )
    assert response.status_code == 200


def test_discovery_documents(scim):
    config = scim.get_("/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    assert config["bulk"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim.get_("/ResourceTypes").json()
    assert types["Resources"][0]["endpoint"] == "/Users" and types["Resources"][0]["schema"] == USER
    assert scim.get_("/ResourceTypes/User").json()["name"] == "User"
    schemas = scim.get_("/Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} >= {USER, ENTERPRISE}
    user_schema = scim.get_(f"/Schemas/{USER}").json()
    assert any(a["name"] == "userName" and a["required"] for a in user_schema["attributes"])
    assert_scim_error(scim.get_("/Schemas/urn:nope"), 404)


def test_scim_refuses_everything_when_it_is_not_configured(make_settings):
    from tests.conftest import LiveServer

    application = create_app(make_settings(), testing=True)
    server = LiveServer(application).start()
    try:
        response = requests.get(f"{server.url}/scim/v2/Users", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        body = assert_scim_error(response, 401)
        assert "not enabled" in body["detail"]
    finally:
        server.stop()
        with application.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    ("scim", "message"),
    [
        ({"tokens": ["short"]}, "each scim token must be a string of at least 16 characters"),
        ({"tokens": [TOKEN], "identity_store": "ldap"}, "scim identity_store 'ldap' is not defined"),
        ({"tokens": [TOKEN], "attribute_mapping": {"userName": "uid"}}, "'userName' is not a SCIM attribute path"),
        ({"tokens": [TOKEN], "attribute_mapping": {"title": "a b"}}, "'title' must map to an identity-store attribute"),
        ({"tokens": [TOKEN], "colour": "blue"}, "unknown key 'colour' in scim"),
        ({}, "scim needs 'tokens'"),
    ],
)
def test_bad_scim_settings_name_the_file_and_line(make_settings, scim, message):
    path = make_settings(extra={"scim": scim})
    with pytest.raises(ConfigError) as caught:
        create_app(path, testing=True)
    text = str(caught.value)
    assert f"{path}:" in text and message in text
