"""WSO2's enhanced JIT: attributes the provider keeps in sync are read-only here.

An attribute is read-only for a user when all of these hold:

- the user is linked to a provider whose settings say ``lock_synced_attributes: true``;
- a provisioning step of the user's store syncs that attribute with ``force``
  (the default of ``autoprovision_attribute_sync``): the next sign-in would
  overwrite a local change anyway.

``import`` and ``never`` attributes stay editable; so is every attribute of a
user no such provider is linked to. SCIM answers a refused change with
``400 mutability`` (RFC 7644 3.12), the console with a clear page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app import provisioning
from app.stores import federation


class ReadOnlyAttribute(Exception):
    """A change to attributes the provider forces; ``attributes`` maps each to its provider(s)."""

    def __init__(self, attributes: dict[str, list[str]]):
        self.attributes = attributes
        names = ", ".join(f"'{a}' (synced from {', '.join(p)})" for a, p in sorted(attributes.items()))
        super().__init__(
            f"attribute {names} is synced from the identity provider at every sign-in (force) and is read-only here"
        )


def forced_by_store(schemes: Iterable, store: str) -> set[str]:
    """Attributes some provisioning step of ``store`` syncs with ``force``."""
    forced = set()
    for scheme in schemes:
        policy = provisioning.policy_of_scheme(scheme)
        if policy is None or policy.store != store:
            continue
        forced |= {a for a in map(policy.attribute_of, policy.key_claims) if policy.sync_of(a) == "force"}
    return forced


def read_only_attributes(user, providers: Mapping, schemes: Iterable) -> dict[str, list[str]]:
    """The attributes of ``user`` that are read-only, each with the locking providers it is linked to."""
    locking = sorted({link.provider for link in federation.links_of(user.id)} & _locking(providers))
    if not locking:
        return {}
    return {attribute: locking for attribute in sorted(forced_by_store(schemes, user.store))}


def refuse_changes(user, new: Mapping[str, str | None], providers: Mapping, schemes: Iterable) -> None:
    """Raise ``ReadOnlyAttribute`` if ``new`` (attribute -> value, None removes) changes a read-only attribute."""
    read_only = read_only_attributes(user, providers, schemes)
    if not read_only:
        return
    current = user.attributes
    touched = {a: p for a, p in read_only.items() if a in new and new[a] != current.get(a)}
    if touched:
        raise ReadOnlyAttribute(touched)


def schema_read_only(store: str, providers: Mapping, schemes: Iterable) -> set[str]:
    """Attributes that are read-only for the users of locking providers in ``store`` (for SCIM /Schemas)."""
    return forced_by_store(schemes, store) if _locking(providers) else set()


def _locking(providers: Mapping) -> set[str]:
    return {name for name, p in (providers or {}).items() if getattr(p, "lock_synced_attributes", False)}
