"""WSO2's enhanced JIT: what a provider syncs with ``force`` is read-only here; ``import`` stays editable.

The provider says ``lock_synced_attributes: true``; the person was provisioned
through the shipped AutoProvisioningScheme (its ``locale`` stored as ``language``
and synced ``import``, the rest ``force``). SCIM PUT/PATCH answer ``400 mutability`` and /Schemas says
``readOnly``; the console refuses with a clear page.
"""

from __future__ import annotations

import pytest
import requests

from app.extensions import db
from app.stores import sql as identity
from tests.browser import parse_forms
from tests.conftest import ROOT
from tests.jit_people import ADMIN_POLICY, ADMIN_RESOURCE, PASSWORD, add_admin, console, provisioned_with_password

TOKEN = "scim-token-0123456789abcdef"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
MAPPING = {"name.givenName": "first-name", "name.familyName": "last-name", "locale": "language", "title": "title"}


def scheme_importing_language() -> str:
    """The shipped AutoProvisioningScheme with ``locale`` stored as ``language``, synced ``import``.

    An attribute is read-only when any provisioning step of the store forces it (a sign-in through that
    scheme would overwrite it), and the other shipped schemes force ``locale``: ``language`` is this one's alone.
    """
    text = (ROOT / "schemes" / "AutoProvisioningScheme.yaml").read_text()
    text = text.replace('name:display-name"', 'name:display-name, locale:language"', 1)
    return text.replace(
        'autoprovision_attribute_sync: "locale:import"', 'autoprovision_attribute_sync: "language:import"'
    )


@pytest.fixture
def site(make_jit_site):
    site = make_jit_site(
        schemes={"AutoProvisioningScheme.yaml": scheme_importing_language()},
        devop_options={"lock_synced_attributes": True},
        policies=ADMIN_POLICY,
        resources=ADMIN_RESOURCE,
        extra={"scim": {"tokens": [TOKEN], "identity_store": "default", "attribute_mapping": MAPPING}},
    )
    provisioned_with_password(site, "fenna", given_name="Fenna", family_name="Vos", locale="nl")
    with site.app.app_context():
        site.fenna = identity.find_by_user_name("default", "fenna").id
        site.local = identity.create_user("default", "gus", {"first-name": "Gus"}, PASSWORD)
        db.session.commit()
        site.local = site.local.id
    return site


def scim(site, method: str, path: str, body: dict | None = None):
    return requests.request(
        method, f"{site.url}/scim/v2{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )


def patch(site, user_id: int, path: str, value: str):
    operation = {"op": "replace", "path": path, "value": value}
    return scim(site, "PATCH", f"/Users/{user_id}", {"schemas": [PATCH], "Operations": [operation]})


def attributes(site, user_id: int) -> dict[str, str]:
    with site.app.app_context():
        return identity.get_user(user_id).attributes


def test_scim_refuses_to_change_a_force_synced_attribute_with_a_mutability_error(site):
    answer = patch(site, site.fenna, "name.givenName", "Mallory")
    assert answer.status_code == 400 and answer.headers["Content-Type"].startswith("application/scim+json")
    body = answer.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "400" and body["scimType"] == "mutability"
    assert "'first-name' (synced from devop)" in body["detail"] and "read-only" in body["detail"]
    current = scim(site, "GET", f"/Users/{site.fenna}").json()
    put = scim(site, "PUT", f"/Users/{site.fenna}", {**current, "name": {"givenName": "Fenna", "familyName": "X"}})
    assert put.status_code == 400 and put.json()["scimType"] == "mutability"
    removed = {k: v for k, v in current.items() if k != "name"}  # a PUT leaving it out would remove it
    assert scim(site, "PUT", f"/Users/{site.fenna}", removed).json()["scimType"] == "mutability"
    assert attributes(site, site.fenna)["first-name"] == "Fenna" and attributes(site, site.fenna)["last-name"] == "Vos"


def test_import_attributes_and_other_users_stay_editable_through_scim(site):
    assert patch(site, site.fenna, "locale", "de").status_code == 200
    assert patch(site, site.fenna, "title", "Engineer").status_code == 200
    assert patch(site, site.local, "name.givenName", "Gustav").status_code == 200  # no provider forces gus's
    assert attributes(site, site.fenna)["language"] == "de"
    assert attributes(site, site.local)["first-name"] == "Gustav"


def test_scim_schemas_say_which_attributes_are_read_only(site):
    schema = scim(site, "GET", f"/Schemas/{USER}").json()
    by_name = {a["name"]: a for a in schema["attributes"]}
    assert by_name["name"]["mutability"] == "readOnly" and "devop" in by_name["name"]["description"]
    assert by_name["title"]["mutability"] == "readWrite"
    listed = scim(site, "GET", "/Schemas").json()["Resources"]
    assert next(s for s in listed if s["id"] == USER) == schema


def test_the_console_refuses_to_change_a_force_synced_attribute_and_changes_an_imported_one(site):
    add_admin(site)
    with console(site) as admin:
        page = admin.get(f"/admin/users/{site.fenna}")
        form = next(f for f in parse_forms(page.text) if f["id"] == "set-attribute")
        refused = admin.post(form["action"], {**form["fields"], "name": "first-name", "value": "Mallory"})
        assert refused.status_code == 409
        assert "<code>attribute.read_only</code>" in refused.text and "synced from devop" in refused.text
        done = admin.post(form["action"], {**form["fields"], "name": "language", "value": "sv"})
        assert done.status_code == 200 and "fenna: language set" in done.text
    assert attributes(site, site.fenna)["first-name"] == "Fenna" and attributes(site, site.fenna)["language"] == "sv"
