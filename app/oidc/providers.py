"""Identity providers from settings (``identity_providers``), typed and validated at load.

Each named provider is an OpenID Provider found through its issuer's discovery
document. ``client_secret`` should come from the environment (``${VAR}``).
A provider marked ``optional: true`` whose ``client_id`` is empty is disabled
rather than an error, so Google can ship in the settings and light up when
``GOOGLE_CLIENT_ID`` and ``GOOGLE_CLIENT_SECRET`` are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from app.yamlsource import Checker, Located

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""ID token algorithms a client may register: asymmetric only, so no public key can serve as a MAC secret."""
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
    "total_timeout",
    "breaker_failures",
    "breaker_cooldown_seconds",
    "rp_initiated_logout",
    "post_logout_redirect_uri",
    "id_token_signed_response_alg",
    "max_id_token_age_seconds",
    "trusted_audiences",
    "max_age",
    "acr_values",
    "mfa_amr_values",
    "mfa_acr_values",
}
PROVIDER_CALLS_KEY = "max_concurrent_provider_calls"
"""Top-level setting: provider calls one worker makes at once, all providers together (app/oidc/bulkhead.py)."""


ISOLATION_DEFAULTS = (("total_timeout", 15.0), ("breaker_cooldown_seconds", 5.0))


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
    total_timeout: float = 15.0
    """The most one sign-in callback waits on this provider: discovery, keys, token and userinfo together."""
    breaker_failures: int = 3
    """Consecutive timeouts or connection failures that open the circuit breaker (app/oidc/breaker.py)."""
    breaker_cooldown_seconds: float = 5.0
    """How long an open breaker refuses sign-ins before it lets one through as a probe."""
    max_concurrent_calls: int = 2
    """The top-level ``max_concurrent_provider_calls``, shared by every provider (one bulkhead per worker)."""
    rp_initiated_logout: bool = False  # sign-out continues at the provider's end_session_endpoint (app/oidc/logout.py)
    post_logout_redirect_uri: str = ""  # where the provider sends the browser after that; registered there too
    id_token_signed_response_alg: str = "RS256"  # noqa: S105 - an algorithm name
    """OpenID Connect Core 3.1.3.7 rule 7: RS256 unless another was registered with the provider."""
    max_id_token_age_seconds: int = 600
    """Rule 10: how long after its ``iat`` an ID token is still accepted (the client's choice)."""
    trusted_audiences: tuple[str, ...] = ()
    """Rule 3: audiences besides this client that an ID token may name; by default none."""
    max_age: int | None = None
    """Sent as ``max_age``; the ID token's ``auth_time`` must then be within it (rule 13)."""
    acr_values: tuple[str, ...] = ()
    """Sent as ``acr_values``; the ID token's ``acr`` must then be one of them (rule 12)."""
    mfa_amr_values: tuple[str, ...] = ()
    """Upstream ``amr`` values this provider is trusted to assert as a second factor (e.g. ``mfa``, ``otp``)."""
    mfa_acr_values: tuple[str, ...] = ()
    """Upstream ``acr`` values this provider is trusted to assert as a second factor."""

    def asserts_mfa(self, claims) -> bool:
        """Whether a validated ID token's ``amr``/``acr`` count as a second factor, by this provider's trust."""
        amr = claims.get("amr")
        amr = {v for v in amr if isinstance(v, str)} if isinstance(amr, list) else set()
        acr = claims.get("acr")
        return bool(amr & set(self.mfa_amr_values)) or (isinstance(acr, str) and acr in self.mfa_acr_values)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    @property
    def label(self) -> str:
        return self.display_name or self.name


def parse_identity_providers(doc: Located, check: Checker) -> dict[str, IdentityProvider]:
    """The ``identity_providers`` mapping of a settings document; problems go to ``check``."""
    calls = _whole(doc, PROVIDER_CALLS_KEY, 2, check)
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
                providers[name] = replace(provider, max_concurrent_calls=calls)
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
    numbers |= {key: _number(body, key, default, check) for key, default in ISOLATION_DEFAULTS}
    numbers["breaker_failures"] = _whole(body, "breaker_failures", 3, check)
    whole = {
        key: int(_number(body, key, default, check, minimum=0))
        for key, default in (("jwks_min_refresh_seconds", 10), ("leeway_seconds", 60))
    }
    validation = _validation_settings(body, check)
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
        **validation,
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


def _validation_settings(body: Located, check: Checker) -> dict[str, Any]:
    """The ID token rules a client may choose (OpenID Connect Core 3.1.3.7 rules 3, 7, 10, 12, 13)."""
    alg = body.get("id_token_signed_response_alg", "RS256")
    if alg not in SIGNING_ALGORITHMS:
        check.add(
            body.problem(
                "id_token_signed_response_alg",
                f"'id_token_signed_response_alg' must be one of {', '.join(SIGNING_ALGORITHMS)}"
                " (none and HMAC algorithms are refused)",
            )
        )
        alg = "RS256"
    age = _number(body, "max_id_token_age_seconds", 600, check, minimum=1)
    max_age = body.get("max_age")
    if max_age is not None:
        max_age = _number(body, "max_age", 0, check, minimum=0)
        if isinstance(max_age, float) and not max_age.is_integer():
            check.add(body.problem("max_age", "'max_age' must be a whole number of seconds"))
        max_age = int(max_age)
    return {
        "id_token_signed_response_alg": alg,
        "max_id_token_age_seconds": int(age),
        "trusted_audiences": _strings(body, "trusted_audiences", check),
        "max_age": max_age,
        "acr_values": _strings(body, "acr_values", check),
        "mfa_amr_values": _strings(body, "mfa_amr_values", check),
        "mfa_acr_values": _strings(body, "mfa_acr_values", check),
    }


def _strings(body: Located, key: str, check: Checker) -> tuple[str, ...]:
    value = body.get(key, [])
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        check.add(body.problem(key, f"'{key}' must be a list of non-empty strings"))
        return ()
    return tuple(v.strip() for v in value)


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


def _whole(body: Located, key: str, default: int, check: Checker) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        check.add(body.problem(key, f"'{key}' must be a whole number >= 1"))
        return default
    return value
