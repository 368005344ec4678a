"""SCIM discovery documents (RFC 7644 section 4): ServiceProviderConfig, ResourceTypes, Schemas."""

from __future__ import annotations

from app.scim.config import ENTERPRISE
from app.scim.schema import REGISTRATION_SCHEMA, USER_SCHEMA

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MAX_RESULTS = 200


def service_provider_config(base: str) -> dict:
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/stepgate/stepgate#scim-20",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": True},
        "sort": {"supported": False},
        "etag": {"supported": False},
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


def user_resource_type(base: str) -> dict:
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A user of the identity store",
        "schema": USER_SCHEMA,
        "schemaExtensions": [
            {"schema": ENTERPRISE, "required": False},
            {"schema": REGISTRATION_SCHEMA, "required": False},
        ],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
    }


def _attr(name: str, kind: str = "string", **extra) -> dict:
    base = {
        "name": name,
        "type": kind,
        "multiValued": False,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    return base | extra


def _multi(name: str) -> dict:
    return _attr(
        name,
        "complex",
        multiValued=True,
        subAttributes=[_attr("value"), _attr("type"), _attr("primary", "boolean")],
    )


SCHEMAS = {
    USER_SCHEMA: (
        "User",
        [
            _attr("userName", required=True, uniqueness="server"),
            _attr("name", "complex", subAttributes=[_attr("givenName"), _attr("familyName")]),
            _attr("displayName"),
            _attr("title"),
            _multi("emails"),
            _multi("phoneNumbers"),
            _attr("active", "boolean"),
            _attr("password", mutability="writeOnly", returned="never"),
        ],
    ),
    ENTERPRISE: ("EnterpriseUser", [_attr("department")]),
    REGISTRATION_SCHEMA: (
        "SelfRegistration",
        [_attr("registrationId", mutability="writeOnly", returned="never", caseExact=True)],
    ),
}


def schema(urn: str, base: str) -> dict:
    name, attributes = SCHEMAS[urn]
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": urn,
        "name": name,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"},
    }
