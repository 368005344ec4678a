"""Identity stores: the interface (``base``), the SQL store (``sql``), LDAP (``ldap``) and the registry.

Store kinds are looked up in the ``stepgate.identity_stores`` entry point group
(``sql`` and ``ldap`` are declared there by stepgate itself, in
pyproject.toml), so a third-party kind joins the same way. The stores named in
the settings are built once per app (``init_app``) and reached by name with
``get``; an LDAP store opens its connections lazily, in the process that uses
them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

GROUP = "stepgate.identity_stores"
_EXTENSION = "stepgate.identity_stores"


@cache
def kinds() -> dict[str, type]:
    """Store kind name -> class, from the entry point group."""
    return {point.name: point.load() for point in entry_points(group=GROUP)}


def build(configs: dict) -> dict:
    """The stores of ``settings.identity_stores`` (name -> StoreConfig), built (no connection is opened)."""
    return {name: for_config(config) for name, config in configs.items()}


def for_config(config):
    """One store, built from its ``StoreConfig`` (load-time checks use this without an app)."""
    return kinds()[config.kind](config)


def configured(settings, name: str):
    """The store ``name`` of ``settings`` for a load-time check, or None when there is none."""
    config = (getattr(settings, "identity_stores", None) or {}).get(name)
    return for_config(config) if config is not None and hasattr(config, "kind") else None


def init_app(app, configs: dict) -> None:
    app.extensions[_EXTENSION] = build(configs)


def get(name: str):
    """The store called ``name`` in the current app.

    A name the settings do not list is an SQL store of that name, as every
    store was before kinds existed; the plugins' load-time checks refuse such
    names in schemes, so only code that names a store itself meets this.
    """
    from flask import current_app

    built = current_app.extensions.setdefault(_EXTENSION, {})
    if name not in built:
        from app.stores.base import StoreConfig

        built[name] = for_config(StoreConfig(name))
    return built[name]


def of(user):
    """The store a user (anything with ``.store``) belongs to."""
    return get(user.store)


def user(user_id: int):
    """The user with this id as their store has them (a view this transaction read first), or None."""
    from app.stores import sql

    known = sql.recall(user_id)
    if known is not None:
        return known
    row = sql.get_user(user_id)
    if row is None:
        return None
    return get(row.store).get(user_id)


def close_all(app) -> None:
    for store in app.extensions.get(_EXTENSION, {}).values():
        close = getattr(store, "close", None)
        if close is not None:
            close()
