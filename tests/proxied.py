"""Settings for applications on another server, protected through their reverse proxy (forward-auth)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DEMO_DOMAIN

ROOT = Path(__file__).resolve().parent.parent
# The shipped password scheme, renamed and raised to level 2: a policy "another" session cannot satisfy.
STRONG_SCHEME = (
    (ROOT / "schemes" / "PasswordScheme.yaml")
    .read_text()
    .replace("name: PasswordScheme", "name: StrongPasswordScheme")
    .replace("level: 1", "level: 2")
)


def apps_settings(host: str, proxies: list[str] | None = None) -> dict:
    """``host``: /** for staff (level 1), /admin/** for administrators (level 2), /public/** for anyone."""
    return {
        "forward_auth": {
            "proxies": proxies if proxies is not None else ["127.0.0.1"],
            "attribute_headers": {"mail": "X-Stepgate-Mail", "display-name": "X-Stepgate-Name"},
        },
        "application_domains": {
            **DEMO_DOMAIN,
            "Apps": {
                "authentication_policies": {
                    "Staff Policy": {"scheme": "PasswordScheme"},
                    "Administrator Policy": {"scheme": "StrongPasswordScheme"},
                    "Open Policy": {"public": True},
                },
                "resources": [
                    {"url": "/**", "host": host, "policy": "Staff Policy"},
                    {"url": "/admin/**", "host": host, "policy": "Administrator Policy"},
                    {"url": "/public/**", "host": host, "policy": "Open Policy"},
                ],
            },
        },
    }
