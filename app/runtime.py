"""The loaded configuration of a running server: settings, plugin registry, schemes.

Built once by ``load_runtime``; every problem in every file is reported together
as a ConfigError, and nothing is served until all of it is valid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from app import audit, flows, sessions  # noqa: F401 - register every model
from app.engine.plugin import secret_params
from app.engine.registry import PluginRegistry
from app.engine.scheme import Scheme, Step, load_schemes
from app.settings import Settings, load_settings
from app.yamlsource import ConfigError, Problem


@dataclass
class Runtime:
    settings: Settings
    registry: PluginRegistry
    schemes: dict[str, Scheme]
    versions: dict[tuple[str, str], Scheme] = field(default_factory=dict)

    challenge_urls: frozenset[str] = frozenset()
    """Every scheme's ``challenge_url``: paths the gate answers with the flow's current prompt."""

    def __post_init__(self) -> None:
        for scheme in self.schemes.values():
            self.versions[(scheme.name, scheme.version)] = scheme
        self.challenge_urls = challenge_urls_of(self.schemes)

    def scheme_for_flow(self, name: str, version: str) -> Scheme | None:
        """The exact scheme version a flow started on, so a reload never changes a flow mid-way."""
        return self.versions.get((name, version)) or None


def challenge_urls_of(schemes: dict[str, Scheme]) -> frozenset[str]:
    return frozenset(s.challenge_page.challenge_url for s in schemes.values()) - {""}


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
    problems += production_problems(settings, schemes)
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


def dev_only_step_secrets(schemes: dict[str, Scheme]) -> list[tuple[Scheme, Step, str]]:
    """Plugin parameters marked secret (a registration HMAC key, say) still holding a ``dev-only...`` fallback."""
    return [
        (scheme, step, name)
        for scheme in schemes.values()
        for step in scheme.steps.values()
        for name, value in secret_params(step.plugin.params).items()
        if isinstance(value, str) and value.startswith(DEV_ONLY)
    ]


def production_problems(settings: Settings, schemes: dict[str, Scheme]) -> list[Problem]:
    """Under ``STEPGATE_ENV=production``: every shipped development secret still in use, with its file and line."""
    if not _production():
        return []
    problems = []
    if dev_only := dev_only_secrets(settings):
        problems.append(
            Problem(
                settings.file,
                1,
                f"STEPGATE_ENV=production refuses the shipped development "
                f"fallback of: {', '.join(dev_only)} (set their environment variables)",
            )
        )
    return problems + production_scheme_problems(schemes)


def production_scheme_problems(schemes: dict[str, Scheme]) -> list[Problem]:
    """``production_problems`` of the schemes alone (what a scheme reload changes)."""
    if not _production():
        return []
    return [
        Problem(
            scheme.file,
            step.line,
            f"STEPGATE_ENV=production refuses the shipped development fallback of parameter '{name}' of step "
            f"'{step.name}' (give it a secret of its own, from the environment or as an {{AES}} value)",
        )
        for scheme, step, name in dev_only_step_secrets(schemes)
    ]


def _production() -> bool:
    return os.environ.get("STEPGATE_ENV") == "production"


def current() -> Runtime:
    return current_app.extensions["stepgate"]
