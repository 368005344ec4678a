"""Just-in-time provisioning: users created from ID token claims, and kept in sync.

``ProvisioningPolicy`` is what the OAuthUserSelfRegistrationPlugin declares:
which claims become attributes (``key_claims``), under which names
(``mapping``), in which identity store, and how each attribute is synced on
later sign-ins: ``force`` (the provider's value wins every time, the default),
``import`` (set at creation, then the local value is kept) or ``never`` (never
taken from the provider).

``provision`` creates the user and its (issuer, subject) link in one savepoint
and does not check first: the database's unique constraints decide a race, and
the loser identifies again (social-core's ``associate_user``). A user name held
by someone else is refused, never merged; so is one that differs from it only
by case, width or invisible characters (``app.usernames``), and a name that
holds such characters or mixes look-alike scripts is refused outright.

Every attribute written here records its provenance: ``provider:<name>``,
proven only for the ``email`` claim of a provider trusted for e-mail that says
``email_verified`` (``federation.email_proven``). A sync that changes a value
makes it unproven again unless this sign-in proves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from app import audit, stores, usernames
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from app.stores.base import Conflict, Link, StoreError

SYNC_POLICIES = ("force", "import", "never")


@dataclass(frozen=True)
class ProvisioningPolicy:
    store: str
    key_claims: tuple[str, ...]
    mapping: dict[str, str] = field(default_factory=dict)
    sync: dict[str, str] = field(default_factory=dict)
    password_regex: re.Pattern | None = None

    def attribute_of(self, claim: str) -> str:
        return self.mapping.get(claim, claim)

    def sync_of(self, attribute: str) -> str:
        return self.sync.get(attribute, "force")


class Refused(Exception):
    """Provisioning said no, with a reason code for the person and the audit log."""

    def __init__(self, reason: str, detail: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or {}


def claim_text(value: Any) -> str | None:
    """A claim as an attribute value: scalars only; structured claims are not attributes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value).strip()
        return text[: identity.ATTRIBUTE_VALUE_MAX] or None
    return None


def map_claims(claims: dict[str, Any], policy: ProvisioningPolicy, *, creating: bool) -> dict[str, str]:
    """The attributes these claims set: only listed claims, renamed, filtered by sync policy.

    An ``email`` the provider has not verified is never stored: other steps may
    trust the attribute it would land in.
    """
    attributes = {}
    for claim in policy.key_claims:
        if claim == "email" and claims.get("email_verified") not in (True, "true"):
            continue
        attribute = policy.attribute_of(claim)
        mode = policy.sync_of(attribute)
        if mode == "never" or (mode == "import" and not creating):
            continue
        value = claim_text(claims.get(claim))
        if value is not None:
            attributes[attribute] = value
    return attributes


def provenance_of(federated: dict[str, Any], attributes: dict[str, str], policy: ProvisioningPolicy) -> dict:
    """Each attribute's provenance: this provider, proven only for a proven ``email``."""
    proven = federation.email_proven(federated)
    email = policy.attribute_of("email") if "email" in policy.key_claims else None
    name = federated["provider"]
    return {attribute: identity.Provenance.provider(name, proven and attribute == email) for attribute in attributes}


def require_active(user: identity.UserView) -> identity.UserView:
    """A linked account that is locked or disabled is refused; never re-created or re-enabled."""
    if not user.active:
        raise Refused(f"user.{user.status}", {"user_name": user.user_name})
    return user


def provision(
    federated: dict[str, Any], user_name: str, policy: ProvisioningPolicy, password: str | None = None
) -> tuple[identity.UserView, bool]:
    """The user linked to this federated identity, created if needed: ``(user, created)``."""
    issuer, subject = federated["issuer"], federated["subject"]
    # No lookup first: the scheme's identification step has just looked, and an identity
    # linked meanwhile (or already) makes the INSERT fail on a unique constraint, below.
    try:
        usernames.require(user_name)
    except usernames.UserNameRefused as exc:
        raise Refused("registration.bad_user_name", {"user_name": user_name[:64], "why": str(exc)}) from None
    attributes = map_claims(federated.get("claims") or {}, policy, creating=True)
    sources = provenance_of(federated, attributes, policy)
    store = stores.get(policy.store)
    try:
        with db.session.begin_nested():
            created = store.create(
                user_name,
                attributes,
                password=password,
                provenance=sources,
                link=Link(issuer, subject, federated["provider"]),
            )
            user_id = created.id
    except (IntegrityError, Conflict):
        linked = federation.find_linked_user(issuer, subject)
        if linked is None:
            raise Refused("registration.user_name_taken", {"user_name": user_name, "store": policy.store}) from None
        return require_active(linked), False
    except StoreError as exc:
        raise Refused(exc.reason, {"store": policy.store, "why": str(exc)}) from None
    audit.record(
        "user.created",
        user_id=user_id,
        detail={
            "user_name": user_name,
            "store": policy.store,
            "provider": federated["provider"],
            "attributes": sorted(attributes),
            "provenance": {name: _shown(of) for name, of in sorted(sources.items())},
            "password": password is not None,
            "by": "jit",
        },
    )
    return identity.remember(created, (issuer, subject)), True


def sync(user: identity.UserView | identity.User, federated: dict[str, Any], policy: ProvisioningPolicy) -> list[str]:
    """Update attributes whose claims changed; one audit event per changed attribute.

    Comparing reads nothing more; only a change loads the ``User`` to write it
    (which also tells every worker's session cache that the user changed).
    An unchanged value is not compared for provenance: one this sign-in would
    prove is proven at the next change, or by an administrator.
    """
    store = stores.get(policy.store)
    if user.store != policy.store or store.read_only:  # a read-only directory is the authority on its values
        return []
    current = user.attributes
    changes = {
        attribute: value
        for attribute, value in map_claims(federated.get("claims") or {}, policy, creating=False).items()
        if current.get(attribute) != value
    }
    if not changes:
        return []
    sources = provenance_of(federated, changes, policy)
    store.update_attributes(user if isinstance(user, identity.UserView) else user.view(), changes, sources)
    for attribute, value in changes.items():
        audit.record(
            "user.attribute_changed",
            user_id=user.id,
            detail={
                "attribute": attribute,
                "old": current.get(attribute),
                "new": value,
                "provider": federated.get("provider"),
                "source": sources[attribute].source,
                "verified": sources[attribute].verified,
            },
        )
    return list(changes)


def _shown(provenance: identity.Provenance) -> str:
    return f"{provenance.source}{'' if provenance.verified else ' (unverified)'}"


def policy_of_scheme(scheme: Any) -> ProvisioningPolicy | None:
    """The provisioning policy a scheme's steps declare, for syncing returning users."""
    for step in getattr(scheme, "steps", {}).values():
        policy = getattr(step.plugin, "provisioning_policy", None)
        if isinstance(policy, ProvisioningPolicy):
            return policy
    return None
