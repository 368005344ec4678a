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

from app.stores import kinds
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


def scim_problem(doc: Located, scim, stores: dict[str, StoreConfig], check: Checker) -> None:
    """SCIM writes through the SQL tables (app/scim/): a store of another kind is refused at load, by name."""
    config = stores.get(getattr(scim, "identity_store", None) or "")
    if scim is not None and config is not None and config.kind != "sql":
        scim_block = doc.get("scim")
        where = scim_block if isinstance(scim_block, Located) else doc
        check.add(
            where.problem(
                "identity_store" if where is not doc else "scim",
                f"scim.identity_store '{config.name}' is a {config.kind} store; SCIM serves SQL stores only "
                "(docs/identity-stores.md)",
            )
        )
