"""SCIM discovery documents (RFC 7644 section 4): ServiceProviderConfig, ResourceTypes, Schemas.

The schemas are rendered from ``app.scim.attributes``, the same declarations
requests are checked against, so what ``/Schemas`` publishes is what the
server keeps.
"""

from __future__ import annotations

from app.scim.attributes import ENTERPRISE, GROUP_ATTRIBUTES, GROUP_SCHEMA, REGISTRATION_SCHEMA, SCHEMA_NAMES
from app.scim.attributes import USER_SCHEMA as USER

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MAX_RESULTS = 200


def service_provider_config(base: str) -> dict:
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/stepgate/stepgate/blob/main/docs/scim.md",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": True},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token configured in the server's scim.tokens setting",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }


def resource_types(base: str, registration: bool) -> list[dict]:
    extensions = [{"schema": ENTERPRISE, "required": False}]
    if registration:
        extensions.append({"schema": REGISTRATION_SCHEMA, "required": False})
    user = {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A user of the identity store",
        "schema": USER,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
    }
    group = {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "A group of users of the identity store (grants no console access by itself)",
        "schema": GROUP_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
    }
    return [user, group]


def all_schemas(user_schemas: dict) -> dict:
    return {**user_schemas, GROUP_SCHEMA: GROUP_ATTRIBUTES}


def schema(urn: str, attributes: tuple, base: str) -> dict:
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": urn,
        "name": SCHEMA_NAMES.get(urn, urn.rpartition(":")[2]),
        "description": SCHEMA_NAMES.get(urn, urn),
        "attributes": [a.document() for a in attributes],
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"},
    }
