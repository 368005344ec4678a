"""The ``identity_stores`` block of the settings: each store's kind, read-only flag and the kind's own settings.

```yaml
identity_stores:
  default: {description: The embedded SQL store}          # kind: sql is the default
  corp:
    kind: ldap                                            # a kind from the stepgate.identity_stores group
    read_only: true
    ldap: {urls: [ldaps://ldap1.corp.example], ...}       # the kind's block (app/stores/ldap_settings.py)
```
"""

from __future__ import annotations

from app.stores import for_config, kinds
from app.stores.base import StoreConfig
from app.yamlsource import Checker, Located


def parse_identity_stores(doc: Located, check: Checker) -> dict[str, StoreConfig]:
    raw = doc.get("identity_stores")
    if raw is None:
        return {"default": StoreConfig("default")}
    raw = check.require_mapping(raw, doc, "identity_stores", "identity_stores")
    stores = {}
    for name, body in (raw or {}).items():
        stores[name] = _store(str(name), body if body is not None else Located(), raw, check)
    if raw is not None and "default" not in stores:
        check.add(raw.problem(None, "identity_stores must define a store named 'default'"))
    return stores


def _store(name: str, body, parent: Located, check: Checker) -> StoreConfig:
    if not isinstance(body, dict):
        check.add(parent.problem(name, f"identity store '{name}' must be a mapping"))
        return StoreConfig(name)
    kind = body.get("kind", "sql")
    known = kinds()
    if kind not in known:
        check.add(body.problem("kind", f"identity store '{name}': unknown kind '{kind}' (kinds: {', '.join(known)})"))
        return StoreConfig(name)
    read_only = body.get("read_only", False)
    if not isinstance(read_only, bool):
        check.add(body.problem("read_only", f"identity store '{name}': 'read_only' must be true or false"))
        read_only = False
    options = known[kind].parse_options(body, check, name)
    return StoreConfig(name, str(body.get("description", "")), kind, read_only, options)


SCIM_KINDS = ("sql", "ldap")
"""Store kinds SCIM serves: SQL through indexed SQL (app/scim/query.py), LDAP through the store interface."""


def scim_problem(doc: Located, scim, stores: dict[str, StoreConfig], check: Checker) -> None:
    """SCIM's store must be of a kind it serves, and hold every attribute its ``attribute_mapping`` names."""
    config = stores.get(getattr(scim, "identity_store", None) or "")
    if scim is None or config is None:
        return
    scim_block = doc.get("scim")
    where = scim_block if isinstance(scim_block, Located) else doc
    if config.kind not in SCIM_KINDS:
        check.add(
            where.problem(
                "identity_store" if where is not doc else "scim",
                f"scim.identity_store '{config.name}' is a {config.kind} store; SCIM serves "
                f"{' and '.join(SCIM_KINDS)} stores (docs/identity-stores.md)",
            )
        )
        return
    if config.kind == "sql" or config.options is None:
        return
    store = for_config(config)
    mapping_block = where.get("attribute_mapping") if where is not doc else None
    for path, target in scim.attribute_mapping.items():
        problem = store.attribute_problem(target)
        if problem is not None:
            at = mapping_block if isinstance(mapping_block, Located) and path in mapping_block else where
            check.add(
                at.problem(
                    path if at is mapping_block else "identity_store",
                    f"scim.attribute_mapping '{path}' -> '{target}': {problem}; map it in the store's "
                    "ldap.attributes or leave it out of scim.attribute_mapping",
                )
            )
