"""A SCIM client over real HTTP and the app it talks to, shared by the tests/test_scim_*.py scenarios.

Use: ``app, scim = scim_client.app, scim_client.scim`` in a test module (the fixtures), then
``scim.post_("/Users", json=...)``.
"""

from __future__ import annotations

import pytest
import requests

from app import create_app
from app.extensions import db

TOKEN = "scim-token-0123456789abcdef"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def app(make_settings):
    application = create_app(make_settings(extra={"scim": {"tokens": [TOKEN]}}), testing=True)
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def scim(live_server):
    """A SCIM client: ``scim.post_("/Users", json=...)`` with the bearer token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    session.base = base = f"{live_server.url}/scim/v2"

    def call(method):
        return lambda path, **kw: session.request(method, base + path, timeout=5, **kw)

    session.get_, session.post_, session.put_ = call("GET"), call("POST"), call("PUT")
    session.patch_, session.delete_ = call("PATCH"), call("DELETE")
    yield session
    session.close()


def patch(*operations: dict) -> dict:
    return {"schemas": [PATCH], "Operations": list(operations)}


def assert_scim_error(response, status, scim_type=None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"]
    assert body.get("scimType") == scim_type
    return body
