"""An LDAP store's settings: the ``ldap:`` block of one entry of ``identity_stores``, checked with file:line.

docs/identity-stores.md describes each key with OpenLDAP and Active Directory examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.secretbox import SecretError, resolve_secret
from app.yamlsource import Checker, Located

STATUS_CONVENTIONS = ("ppolicy", "active_directory", "ns_account_lock", "none")
PASSWORD_WRITES = ("password_modify", "unicode_pwd")
KEYS = {
    "urls",
    "start_tls",
    "ca_file",
    "bind_dn",
    "bind_password",
    "user_base",
    "scope",
    "user_filter",
    "object_classes",
    "user_name_attribute",
    "rdn_attribute",
    "id_attribute",
    "attributes",
    "new_entry",
    "status",
    "password_write",
    "pool_size",
    "connect_timeout_seconds",
    "timeout_seconds",
}


@dataclass(frozen=True)
class LdapOptions:
    urls: tuple[str, ...]
    """Tried in order: the first that answers serves (failover), ``ldap://`` or ``ldaps://``."""
    bind_dn: str
    bind_password: str
    user_base: str
    start_tls: bool = False
    ca_file: str | None = None
    scope: str = "sub"
    user_filter: str = "(objectClass=inetOrgPerson)"
    object_classes: tuple[str, ...] = ("top", "person", "organizationalPerson", "inetOrgPerson")
    user_name_attribute: str = "uid"
    rdn_attribute: str = ""
    """What names a new entry under ``user_base`` (``cn`` for Active Directory); empty: the user name attribute."""
    id_attribute: str = "entryUUID"
    attributes: dict[str, str] = field(default_factory=lambda: {"mail": "mail"})
    """stepgate attribute -> directory attribute; only these are read and written."""
    new_entry: dict[str, str] = field(default_factory=lambda: {"cn": "{user_name}", "sn": "{user_name}"})
    """Directory attributes a new entry gets when JIT provisioning did not map a value to them."""
    status: str = "ppolicy"
    password_write: str = "password_modify"  # noqa: S105 - how a password is written, not one
    pool_size: int = 4
    connect_timeout_seconds: float = 3
    timeout_seconds: float = 5


def parse_ldap(body: Located, check: Checker, name: str) -> LdapOptions | None:
    what = f"identity_stores.{name}.ldap"
    raw = check.require_mapping(body.get("ldap"), body, "ldap", what)
    if raw is None:
        return None
    check.unknown_keys(raw, KEYS, what)
    problems_before = len(check.problems)
    urls = raw.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(_is_url(u) for u in urls):
        check.add(raw.problem("urls", f"{what}.urls: one or more ldap:// or ldaps:// URLs"))
        urls = []
    texts = {}
    for key, required in (("bind_dn", False), ("bind_password", False), ("user_base", True), ("ca_file", False)):
        value = raw.get(key)
        if value is None and not required:
            continue
        if not isinstance(value, str) or (required and not value.strip()):
            check.add(raw.problem(key, f"{what}.{key} must be a string"))
            continue
        texts[key] = value
    if "bind_password" in texts:
        try:
            texts["bind_password"] = resolve_secret(texts["bind_password"])
        except SecretError as exc:
            check.add(raw.problem("bind_password", f"{what}.bind_password: {exc}"))
    choices = {}
    for key, allowed, default in (
        ("scope", ("sub", "one"), "sub"),
        ("status", STATUS_CONVENTIONS, "ppolicy"),
        ("password_write", PASSWORD_WRITES, "password_modify"),
    ):
        value = raw.get(key, default)
        if value not in allowed:
            check.add(raw.problem(key, f"{what}.{key} must be one of {', '.join(allowed)}"))
            value = default
        choices[key] = value
    numbers = {}
    for key, low, high, default in (
        ("pool_size", 1, 100, 4),
        ("connect_timeout_seconds", 0.1, 60, 3),
        ("timeout_seconds", 0.1, 120, 5),
    ):
        value = raw.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
            check.add(raw.problem(key, f"{what}.{key} must be a number from {low} to {high}"))
            value = default
        numbers[key] = value
    maps = {}
    for key in ("attributes", "new_entry"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            check.add(raw.problem(key, f"{what}.{key} must map names to names"))
            continue
        maps[key] = dict(value)
    start_tls = raw.get("start_tls", False)
    if isinstance(start_tls, str) and start_tls.lower() in ("true", "false"):  # from ${LDAP_START_TLS:-false}
        start_tls = start_tls.lower() == "true"
    if not isinstance(start_tls, bool):
        check.add(raw.problem("start_tls", f"{what}.start_tls must be true or false"))
        start_tls = False
    listed = {}
    for key in ("object_classes",):
        value = raw.get(key)
        if value is not None:
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                check.add(raw.problem(key, f"{what}.{key} must be a list of object class names"))
            else:
                listed[key] = tuple(value)
    plain = {}
    for key in ("user_filter", "user_name_attribute", "rdn_attribute", "id_attribute"):
        value = raw.get(key)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                check.add(raw.problem(key, f"{what}.{key} must be a non-empty string"))
            else:
                plain[key] = value
    if len(check.problems) > problems_before:
        return None
    return LdapOptions(
        urls=tuple(urls),
        bind_dn=texts.get("bind_dn", ""),
        bind_password=texts.get("bind_password", ""),
        user_base=texts["user_base"],
        ca_file=texts.get("ca_file"),
        start_tls=start_tls,
        **choices,
        **numbers,
        **maps,
        **listed,
        **plain,
    )


def rdn_attribute(options: LdapOptions) -> str:
    return options.rdn_attribute or options.user_name_attribute


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("ldap://", "ldaps://")) and len(value) > len("ldaps://")
