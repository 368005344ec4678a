"""The loaded configuration of a running server: settings, plugin registry, schemes.

Built once by ``load_runtime``; every problem in every file is reported together
as a ConfigError, and nothing is served until all of it is valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from app import audit, federation, flows, identity, sessions  # noqa: F401 - register every model
from app.engine.registry import PluginRegistry
from app.engine.scheme import Scheme, load_schemes
from app.settings import Settings, load_settings
from app.yamlsource import ConfigError, Problem


@dataclass
class Runtime:
    settings: Settings
    registry: PluginRegistry
    schemes: dict[str, Scheme]
    versions: dict[tuple[str, str], Scheme] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for scheme in self.schemes.values():
            self.versions[(scheme.name, scheme.version)] = scheme

    def scheme_for_flow(self, name: str, version: str) -> Scheme | None:
        """The exact scheme version a flow started on, so a reload never changes a flow mid-way."""
        return self.versions.get((name, version)) or None


def load_runtime(settings_path: str | Path | None = None) -> Runtime:
    settings = load_settings(settings_path)
    registry = PluginRegistry.discover()
    schemes = load_schemes(settings.schemes_dir, registry, settings)
    problems = [
        Problem(
            policy.file,
            policy.line,
            f"authentication policy '{policy.name}' names unknown scheme "
            f"'{policy.scheme}' (schemes: {', '.join(sorted(schemes)) or 'none'})",
        )
        for policy in settings.application_domains.policies_without(schemes)
    ]
    if os.environ.get("STEPGATE_ENV") == "production" and (dev_only := dev_only_secrets(settings)):
        problems.append(
            Problem(
                settings.file,
                1,
                f"STEPGATE_ENV=production refuses the shipped development "
                f"fallback of: {', '.join(dev_only)} (set their environment variables)",
            )
        )
    if problems:
        raise ConfigError(problems)
    return Runtime(settings, registry, schemes)


DEV_ONLY = "dev-only"


def dev_only_secrets(settings: Settings) -> list[str]:
    """Secrets still holding a shipped ``dev-only...`` fallback from config/settings.yaml."""
    found = ["secret_key"] if settings.secret_key.startswith(DEV_ONLY) else []
    for name, provider in (settings.identity_providers or {}).items():
        if provider.client_secret.startswith(DEV_ONLY):
            found.append(f"identity_providers.{name}.client_secret")
    if settings.scim is not None and any(token.startswith(DEV_ONLY) for token in settings.scim.tokens):
        found.append("scim.tokens")
    return found


def current() -> Runtime:
    return current_app.extensions["stepgate"]
