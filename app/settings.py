"""Server settings: one YAML file, validated once at start-up.

``config/settings.yaml`` by default, another through ``STEPGATE_SETTINGS``.
A bad file stops the server with ``file:line: message``; it never starts
half-configured. Later code only sees the frozen ``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import home
from app.database import DatabaseSettings, parse_database
from app.deployment import DEPLOYMENT_KEYS, Deployment, parse_deployment
from app.external import EXTERNAL_KEYS, External, parse_external
from app.oidc.providers import parse_identity_providers
from app.policy import ApplicationDomains, parse_application_domains
from app.scim.config import ScimSettings, parse_scim
from app.stores.base import StoreConfig
from app.stores.config import parse_identity_stores, scim_problem
from app.web.request_limits import RequestLimits, parse_request_limits
from app.yamlsource import Checker, ConfigError, Located, Problem, load_yaml

PROJECT_ROOT = home.shipped_root()
DEFAULT_SETTINGS = PROJECT_ROOT / "config" / "settings.yaml"


IdentityStore = StoreConfig
"""One configured identity store (app/stores/base.py); the old name, kept for callers."""


@dataclass(frozen=True)
class Settings:
    file: str
    secret_key: str
    database_url: str
    schemes_dir: Path
    identity_stores: dict[str, IdentityStore]
    application_domains: ApplicationDomains
    flow_lifetime_seconds: int = 600
    session_lifetime_seconds: int = 8 * 3600
    identity_providers: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    scheme_reload_seconds: int = 2
    admin_group: str = "admins"
    deployment: Deployment = field(default_factory=Deployment)
    scim: ScimSettings | None = None
    request_limits: RequestLimits = field(default_factory=RequestLimits)
    external: External = field(default_factory=External)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    state_dir: Path | None = None  # where instance/ goes (app/home.py); None: beside the settings' folder

    @property
    def base_dir(self) -> Path:
        """The folder holding ``instance/``: the project for the shipped settings from a source tree."""
        return self.state_dir or Path(self.file).resolve().parent.parent


KNOWN_KEYS = {
    "secret_key",
    "database_url",
    "schemes_dir",
    "identity_stores",
    "application_domains",
    "flow_lifetime_seconds",
    "session_lifetime_seconds",
    "identity_providers",
    "scheme_reload_seconds",
    "admin_group",
    *DEPLOYMENT_KEYS,
    "scim",
    "max_concurrent_provider_calls",
    "request_limits",
    *EXTERNAL_KEYS,
    "database",
    "password_signin",  # app/password_signin.py: lockout, throttling, reveal_account_state
    "smtp",  # app/mfa/smtp.py: the mail server of e-mail one-time codes
}


def settings_path() -> Path:
    return Path(os.environ.get("STEPGATE_SETTINGS") or DEFAULT_SETTINGS)


def load_settings(path: str | Path | None = None) -> Settings:
    path = Path(path) if path else settings_path()
    doc = load_yaml(path)
    if not isinstance(doc, Located):
        raise ConfigError([Problem(str(path), 1, "settings must be a YAML mapping")])
    check = Checker()
    check.unknown_keys(doc, KNOWN_KEYS, "settings")
    base = path.resolve().parent.parent
    state = home.state_root(base)  # relative state paths (SQLite, the generation file); schemes stay beside base
    secret = doc.get("secret_key")
    if not isinstance(secret, str) or len(secret) < 16:
        check.add(
            doc.problem(
                "secret_key" if "secret_key" in doc else None,
                "'secret_key' must be a string of at least 16 characters (use ${STEPGATE_SECRET_KEY})",
            )
        )
    database_url = doc.get("database_url", "sqlite:///instance/stepgate.db")
    if not isinstance(database_url, str) or "://" not in database_url:
        check.add(
            doc.problem(
                "database_url", "'database_url' must be an SQLAlchemy URL such as sqlite:///instance/stepgate.db"
            )
        )
        database_url = ""
    schemes_dir = doc.get("schemes_dir", "schemes")
    if not isinstance(schemes_dir, str):
        check.add(doc.problem("schemes_dir", "'schemes_dir' must be a path"))
        schemes_dir = "schemes"
    stores = parse_identity_stores(doc, check)
    domains = parse_application_domains(doc.get("application_domains"), doc, check)
    providers = parse_identity_providers(doc, check)
    numbers = {
        key: _positive_int(doc, key, default, check)
        for key, default in (("flow_lifetime_seconds", 600), ("session_lifetime_seconds", 8 * 3600))
    }
    admin = _admin_settings(doc, check)
    deployment = parse_deployment(doc, check, state)
    external = parse_external(doc, check)
    scim = parse_scim(doc.get("scim"), doc, check, stores)
    scim_problem(doc, scim, stores, check)
    request_limits = parse_request_limits(doc, check)
    database = parse_database(doc, check)
    check.raise_if_any()
    return Settings(
        file=str(path),
        secret_key=secret,
        database_url=_absolute_sqlite(database_url, state),
        schemes_dir=(base / schemes_dir).resolve(),
        identity_stores=stores,
        application_domains=domains,
        deployment=deployment,
        identity_providers=providers,
        scim=scim,
        request_limits=request_limits,
        external=external,
        database=database,
        state_dir=state,
        **numbers,
        **admin,
    )


def _positive_int(doc: Located, key: str, default: int, check: Checker) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        check.add(doc.problem(key, f"'{key}' must be a whole number > 0"))
        return default
    return value


def _admin_settings(doc: Located, check: Checker) -> dict[str, Any]:
    """``scheme_reload_seconds`` (how often scheme files are checked; 0: every request) and ``admin_group``."""
    seconds = doc.get("scheme_reload_seconds", 2)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        check.add(doc.problem("scheme_reload_seconds", "'scheme_reload_seconds' must be a whole number >= 0"))
        seconds = 2
    group = doc.get("admin_group", "admins")
    if not isinstance(group, str) or not group.strip():
        check.add(doc.problem("admin_group", "'admin_group' must be a non-empty group name"))
        group = "admins"
    return {"scheme_reload_seconds": seconds, "admin_group": group}


def _absolute_sqlite(url: str, base: Path) -> str:
    """Relative SQLite paths are relative to the project, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        path = base / url[len(prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return url
