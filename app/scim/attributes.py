"""The attributes stepgate's SCIM resources declare (RFC 7643 section 7): one table, published and enforced.

``/Schemas`` is rendered from these declarations and every request body is
checked against them (``app.scim.validate``): an attribute declared here is
kept, one that is not is refused with ``invalidValue`` (``invalidPath`` in a
PATCH path). The User schema is RFC 7643's core User minus what stepgate
cannot honour (``groups`` is read-only: ``/Groups`` owns membership;
``x509Certificates`` and ``photos`` are not kept); every path of the
``attribute_mapping`` is declared too, so a mapped custom attribute is never
refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
REGISTRATION_SCHEMA = "urn:stepgate:params:scim:schemas:extension:registration:2.0:User"


@dataclass(frozen=True)
class Attribute:
    """One attribute (or sub-attribute) declaration, named as RFC 7643 section 7 names its fields."""

    name: str
    type: str = "string"
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    canonical: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub: tuple[Attribute, ...] = field(default_factory=tuple)
    max_length: int = 2048  # a string's characters (the identity store keeps values up to 2048)
    max_values: int = 100  # a multi-valued attribute's values; more is refused, not stored

    def child(self, name: str) -> Attribute | None:
        lowered = name.lower()
        return next((a for a in self.sub if a.name.lower() == lowered), None)

    def document(self) -> dict:
        body = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.name,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical:
            body["canonicalValues"] = list(self.canonical)
        if self.reference_types:
            body["referenceTypes"] = list(self.reference_types)
        if self.type == "complex":
            body["subAttributes"] = [a.document() for a in self.sub]
        return body


def _s(name: str, **kw) -> Attribute:
    return Attribute(name, **kw)


def _multi(name: str, *sub: Attribute, types: tuple[str, ...] = ()) -> Attribute:
    """A multi-valued complex attribute with the usual ``value``/``display``/``type``/``primary``."""
    common = (_s("value"), _s("display"), _s("type", canonical=types), _s("primary", type="boolean"))
    return Attribute(name, "complex", multi_valued=True, sub=sub or common)


_NAME = Attribute(
    "name",
    "complex",
    sub=tuple(
        _s(n) for n in ("formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix")
    ),
)
_ADDRESS = _multi(
    "addresses",
    *(_s(n) for n in ("formatted", "streetAddress", "locality", "region", "postalCode", "country", "type")),
    _s("primary", type="boolean"),
)

USER_ATTRIBUTES: tuple[Attribute, ...] = (
    _s("userName", required=True, uniqueness="server", max_length=255),
    _s("externalId", case_exact=True, max_length=255),
    _NAME,
    _s("displayName"),
    _s("nickName"),
    _s("profileUrl", type="reference", reference_types=("external",)),
    _s("title"),
    _s("userType"),
    _s("preferredLanguage"),
    _s("locale"),
    _s("timezone"),
    # required: a user always has a status, so ``active`` can be set but not removed (RFC 7644 3.5.2.2)
    _s("active", type="boolean", required=True),
    _s("password", mutability="writeOnly", returned="never"),
    _multi("emails", types=("work", "home", "other")),
    _multi("phoneNumbers", types=("work", "home", "mobile", "fax", "pager", "other")),
    _multi("ims"),
    _ADDRESS,
    _multi("entitlements"),
    _multi("roles"),
    # read-only (RFC 7643 4.1.2): membership is /Groups' own; Okta's create sends "groups": []
    Attribute(
        "groups",
        "complex",
        multi_valued=True,
        mutability="readOnly",
        sub=(_s("value", mutability="readOnly"), _s("display", mutability="readOnly")),
    ),
)
ENTERPRISE_ATTRIBUTES: tuple[Attribute, ...] = (
    *(_s(n) for n in ("employeeNumber", "costCenter", "organization", "division", "department")),
    Attribute(
        "manager",
        "complex",
        sub=(
            _s("value"),
            _s("$ref", type="reference", reference_types=("User",)),
            _s("displayName", mutability="readOnly"),
        ),
    ),
)
REGISTRATION_ATTRIBUTES: tuple[Attribute, ...] = (
    _s("registrationId", mutability="writeOnly", returned="never", case_exact=True),
)
GROUP_ATTRIBUTES: tuple[Attribute, ...] = (
    _s("displayName", required=True, max_length=255),
    _s("externalId", case_exact=True, max_length=255),
    Attribute(
        "members",
        "complex",
        multi_valued=True,
        max_values=50_000,
        sub=(
            _s("value", mutability="immutable", case_exact=True),
            _s("$ref", type="reference", mutability="immutable", reference_types=("User",)),
            _s("display", mutability="readOnly"),  # Okta sends it; the user's name is not copied here
            _s("type", mutability="immutable", canonical=("User",)),
        ),
    ),
)

SCHEMA_NAMES = {
    USER_SCHEMA: "User",
    ENTERPRISE: "EnterpriseUser",
    REGISTRATION_SCHEMA: "SelfRegistration",
    GROUP_SCHEMA: "Group",
}


def user_schemas(mapping: dict[str, str], registration: bool) -> dict[str, tuple[Attribute, ...]]:
    """The User schema and its extensions, each with every mapped path declared."""
    schemas = {USER_SCHEMA: USER_ATTRIBUTES, ENTERPRISE: ENTERPRISE_ATTRIBUTES}
    if registration:
        schemas[REGISTRATION_SCHEMA] = REGISTRATION_ATTRIBUTES
    for path in mapping:
        urn, attr, sub = _split(path)
        urn = next((u for u in schemas if u.lower() == (urn or USER_SCHEMA).lower()), urn)
        schemas[urn] = _declare(schemas.get(urn, ()), attr, sub)
    return schemas


def _split(path: str) -> tuple[str | None, str, str | None]:
    urn = None
    if path.lower().startswith("urn:"):
        urn, _, path = path.rpartition(":")
    attr, _, sub = path.partition(".")
    return urn, attr, sub or None


def _declare(attributes: tuple[Attribute, ...], attr: str, sub: str | None) -> tuple[Attribute, ...]:
    """``attributes`` with ``attr`` (and its ``sub``) declared as strings when they are not already."""
    found = next((a for a in attributes if a.name.lower() == attr.lower()), None)
    if found is None:
        new = Attribute(attr, "complex", sub=(_s(sub),)) if sub else _s(attr)
        return (*attributes, new)
    if sub and found.type == "complex" and found.child(sub) is None:
        return tuple(replace(a, sub=(*a.sub, _s(sub))) if a is found else a for a in attributes)
    return attributes


def find(attributes: tuple[Attribute, ...], name: str) -> Attribute | None:
    lowered = name.lower()
    return next((a for a in attributes if a.name.lower() == lowered), None)
