"""Identity providers from settings (``identity_providers``), typed and validated at load.

Each named provider is an OpenID Provider found through its issuer's discovery
document. ``client_secret`` should come from the environment (``${VAR}``).
A provider marked ``optional: true`` whose ``client_id`` is empty is disabled
rather than an error, so Google can ship in the settings and light up when
``GOOGLE_CLIENT_ID`` and ``GOOGLE_CLIENT_SECRET`` are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.yamlsource import Checker, Located

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
KNOWN = {
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "token_endpoint_auth_method",
    "trust_email",
    "display_name",
    "optional",
    "connect_timeout",
    "read_timeout",
    "jwks_min_refresh_seconds",
    "leeway_seconds",
    "rp_initiated_logout",
    "post_logout_redirect_uri",
}


@dataclass(frozen=True)
class IdentityProvider:
    """One OpenID Provider this server signs people in with."""

    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    trust_email: bool = False
    display_name: str = ""
    enabled: bool = True
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    jwks_min_refresh_seconds: int = 10
    leeway_seconds: int = 60
    rp_initiated_logout: bool = False  # sign-out continues at the provider's end_session_endpoint (app/oidc/logout.py)
    post_logout_redirect_uri: str = ""  # where the provider sends the browser after that; registered there too

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    @property
    def label(self) -> str:
        return self.display_name or self.name


def parse_identity_providers(doc: Located, check: Checker) -> dict[str, IdentityProvider]:
    """The ``identity_providers`` mapping of a settings document; problems go to ``check``."""
    raw = doc.get("identity_providers")
    if raw is None:
        return {}
    raw = check.require_mapping(raw, doc, "identity_providers", "identity_providers")
    providers: dict[str, IdentityProvider] = {}
    for name, body in (raw or {}).items():
        body = check.require_mapping(body, raw, name, f"identity_providers.{name}")
        if body is not None:
            provider = _provider(name, body, check)
            if provider is not None:
                providers[name] = provider
    return providers


def _provider(name: str, body: Located, check: Checker) -> IdentityProvider | None:
    before = len(check.problems)
    check.unknown_keys(body, KNOWN, f"identity provider '{name}'")
    optional = _bool(body, "optional", False, check)
    client_id = _text(body, "client_id", check, allow_empty=optional)
    enabled = bool(client_id)
    issuer = _issuer(body, check)
    secret = _text(body, "client_secret", check, allow_empty=not enabled)
    scopes = body.get("scopes", ["openid", "profile", "email"])
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes) or "openid" not in scopes:
        check.add(body.problem("scopes", f"'scopes' of provider '{name}' must be a list that includes 'openid'"))
        scopes = ["openid"]
    method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        check.add(
            body.problem("token_endpoint_auth_method", f"'token_endpoint_auth_method' must be one of {AUTH_METHODS}")
        )
    numbers = {
        key: _number(body, key, default, check) for key, default in (("connect_timeout", 3.0), ("read_timeout", 10.0))
    }
    whole = {
        key: int(_number(body, key, default, check, minimum=0))
        for key, default in (("jwks_min_refresh_seconds", 10), ("leeway_seconds", 60))
    }
    if len(check.problems) > before:
        return None
    return IdentityProvider(
        name=name,
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        scopes=tuple(scopes),
        token_endpoint_auth_method=method,
        trust_email=_bool(body, "trust_email", False, check),
        display_name=str(body.get("display_name") or ""),
        enabled=enabled,
        **_logout_settings(name, body, check),
        **numbers,
        **whole,
    )


def _logout_settings(name: str, body: Located, check: Checker) -> dict[str, Any]:
    """``rp_initiated_logout`` and its ``post_logout_redirect_uri``: an absolute URL fixed here, never a request's."""
    enabled = _bool(body, "rp_initiated_logout", False, check)
    uri = body.get("post_logout_redirect_uri", "")
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if uri and (parts is None or parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment):
        check.add(body.problem("post_logout_redirect_uri", "'post_logout_redirect_uri' must be an absolute URL"))
        uri = ""
    elif uri and parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        check.add(body.problem("post_logout_redirect_uri", "'post_logout_redirect_uri' must use https"))
    if enabled and not uri:
        check.add(
            body.problem(
                "rp_initiated_logout",
                f"provider '{name}': 'rp_initiated_logout' needs a 'post_logout_redirect_uri' (also registered there)",
            )
        )
    return {"rp_initiated_logout": enabled, "post_logout_redirect_uri": uri if isinstance(uri, str) else ""}


def _issuer(body: Located, check: Checker) -> str:
    issuer = body.get("issuer")
    parts = urlsplit(issuer) if isinstance(issuer, str) else None
    loopback = parts is not None and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts is None or not parts.netloc or parts.scheme not in ("https", "http") or parts.query or parts.fragment:
        check.add(body.problem("issuer" if "issuer" in body else None, "'issuer' must be an https URL"))
        return ""
    if parts.scheme == "http" and not loopback:
        check.add(body.problem("issuer", f"'issuer' {issuer} must use https (http only on loopback, for development)"))
    return issuer.rstrip("/")


def _text(body: Located, key: str, check: Checker, allow_empty: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        check.add(body.problem(key, f"'{key}' must be a string"))
        return ""
    value = str(value)
    if not value and not allow_empty:
        check.add(body.problem(key if key in body else None, f"'{key}' is required (use ${{VAR}} for secrets)"))
    return value


def _bool(body: Located, key: str, default: bool, check: Checker) -> bool:
    value = body.get(key, default)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        check.add(body.problem(key, f"'{key}' must be true or false"))
        return default
    return value


def _number(body: Located, key: str, default: float, check: Checker, minimum: float = 0.01) -> Any:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        check.add(body.problem(key, f"'{key}' must be a number >= {minimum:g}"))
        return default
    return value
