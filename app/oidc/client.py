"""A thin, Flask-free OpenID Connect client over Authlib for one provider.

Authlib builds the authorization URL (PKCE S256), performs the code exchange
with the configured client authentication, and validates the ID token claims
(``CodeIDToken``: iss, aud, azp, exp, iat, nonce, at_hash) after joserfc checks
the signature with the provider's keys. stepgate adds what they leave to the
caller: discovery and JWKS caching, key rotation, refusing ``alg: none``,
timeouts, and the ``sub`` check on userinfo.

One Authlib session (a ``requests.Session``, so one connection pool) per
provider per process, shared by every request thread: nothing per sign-in is
kept on it. The redirect URI, scope, state, nonce and verifier go in each call,
and every call withholds the session's token, so the access token one person's
exchange leaves on it is never sent anywhere.

The environment's proxy and CA bundle settings (``HTTPS_PROXY``, ``NO_PROXY``,
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are read once, when the client is
built, for the provider's issuer host: ``requests`` would otherwise scan the
whole environment again on every call to the provider. A change to them takes
effect when the process restarts. ``.netrc`` is not consulted.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jws import JWSRegistry

from app.oidc import errors
from app.oidc.documents import DISCOVERY_TTL, JWKS_TTL, import_keys
from app.oidc.providers import IdentityProvider
from app.timeutil import utcnow

MAX_SUBJECT = 255
"""OpenID Connect Core 2: ``sub`` is at most 255 ASCII characters."""
PROTECTED_CLAIMS = frozenset({"iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce", "auth_time", "at_hash"})
"""Userinfo may refresh profile claims, never the ones that say who issued the token to whom."""
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class DocumentStore(Protocol):
    def get(self, issuer: str, kind: str, *, reread: bool = False) -> tuple[dict, Any] | None: ...
    def put(self, issuer: str, kind: str, body: dict) -> None: ...
    def fresh(self, fetched_at: Any, ttl: Any) -> bool: ...


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the callback needs to check the answer; persisted with the flow, never in a cookie."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class FederatedIdentity:
    issuer: str
    subject: str
    claims: dict[str, Any]


class OIDCClient:
    def __init__(self, provider: IdentityProvider, documents: DocumentStore):
        self.provider = provider
        self.documents = documents
        self.session = OAuth2Session(
            provider.client_id,
            provider.client_secret,
            token_endpoint_auth_method=provider.token_endpoint_auth_method,
            code_challenge_method="S256",
            default_timeout=provider.timeout,
        )
        self.session.trust_env = False
        self.session.proxies = requests.utils.get_environ_proxies(provider.issuer)
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    # -- discovery and keys -------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        stored = self.documents.get(self.provider.issuer, "discovery")
        if stored and self.documents.fresh(stored[1], DISCOVERY_TTL):
            return stored[0]
        body = self._get_json(self.provider.issuer + "/.well-known/openid-configuration", "discovery")
        if body.get("issuer", "").rstrip("/") != self.provider.issuer:
            raise errors.OIDCError("idp.bad_discovery", f"issuer {body.get('issuer')!r} differs", malfunction=True)
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(body.get(key), str):
                raise errors.OIDCError("idp.bad_discovery", f"no {key}", malfunction=True)
        self.documents.put(self.provider.issuer, "discovery", body)
        return body

    def jwks(self, refresh: bool = False) -> dict[str, Any]:
        stored = self.documents.get(self.provider.issuer, "jwks", reread=refresh)
        if stored and not refresh and self.documents.fresh(stored[1], JWKS_TTL):
            return stored[0]
        if stored and refresh and (utcnow() - stored[1]).total_seconds() < self.provider.jwks_min_refresh_seconds:
            return stored[0]
        body = self._get_json(self.metadata()["jwks_uri"], "jwks")
        if not isinstance(body.get("keys"), list):
            raise errors.OIDCError("idp.bad_jwks", "no keys", malfunction=True)
        self.documents.put(self.provider.issuer, "jwks", body)
        return body

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self.session.get(url, withhold_token=True)
            response.raise_for_status()
            body = response.json()
        except requests.RequestException as exc:
            raise errors.from_http(exc, what) from exc
        except ValueError as exc:
            raise errors.OIDCError("idp.bad_response", f"{what}: not JSON", malfunction=True) from exc
        if not isinstance(body, dict):
            raise errors.OIDCError("idp.bad_response", f"{what}: not a JSON object", malfunction=True)
        return body

    # -- the authorization code flow ------------------------------------------

    def authorization_request(self, redirect_uri: str, scopes: list[str] | None = None) -> AuthorizationRequest:
        # 32, 32 and 64 URL-safe characters (192, 192 and 384 random bits; the verifier's are RFC 7636's
        # unreserved characters), each from one os.urandom call rather than one per character
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        url, _ = self.session.create_authorization_url(
            self.metadata()["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            scope=" ".join(scopes or self.provider.scopes),
        )
        return AuthorizationRequest(url, state, nonce, verifier)

    def exchange(self, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """Trade the code for tokens at the token endpoint."""
        try:
            token = self.session.fetch_token(
                self.metadata()["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            )
        except OAuthError as exc:
            raise errors.from_oauth(exc) from exc
        except requests.RequestException as exc:
            raise errors.from_http(exc, "token") from exc
        except ValueError as exc:
            raise errors.OIDCError("idp.bad_response", "token: not JSON", malfunction=True) from exc
        if not isinstance(token.get("id_token"), str):
            raise errors.OIDCError("id_token.missing", "the token response has no id_token")
        return dict(token)

    def validate_id_token(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        """The ID token's claims after full validation; raise OIDCError otherwise."""
        allowed = [a for a in self.metadata().get("id_token_signing_alg_values_supported", ["RS256"]) if a != "none"]
        registry = JWSRegistry(algorithms=[a for a in allowed if a in SIGNING_ALGORITHMS] or ["RS256"])
        try:
            try:
                decoded = jwt.decode(token["id_token"], import_keys(self.jwks()), registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(token["id_token"], import_keys(self.jwks(refresh=True)), registry=registry)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.provider.issuer},
                    "aud": {"essential": True, "value": self.provider.client_id},
                },
                {"nonce": nonce, "client_id": self.provider.client_id, "access_token": token.get("access_token")},
            )
            claims.validate(leeway=self.provider.leeway_seconds)
        except JoseError as exc:
            raise errors.from_jose(exc) from exc
        except ValueError as exc:
            raise errors.OIDCError("id_token.malformed", str(exc)) from exc
        if not isinstance(claims.get("sub"), str) or not 0 < len(claims["sub"]) <= MAX_SUBJECT:
            raise errors.OIDCError("id_token.bad_claims", "sub missing or longer than 255 characters")
        return dict(claims)

    def userinfo(self, access_token: str, subject: str) -> dict[str, Any]:
        """Claims from the userinfo endpoint; refused unless its ``sub`` is the ID token's."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint or not access_token:
            return {}
        try:
            response = self.session.get(
                endpoint, headers={"Authorization": f"Bearer {access_token}"}, withhold_token=True
            )
            response.raise_for_status()
            body = response.json()
        except requests.RequestException as exc:
            raise errors.from_http(exc, "userinfo") from exc
        except ValueError as exc:
            raise errors.OIDCError("idp.bad_response", "userinfo: not JSON", malfunction=True) from exc
        if not isinstance(body, dict) or body.get("sub") != subject:
            raise errors.OIDCError("userinfo.sub_mismatch", "userinfo describes another subject")
        return body

    def sign_in(
        self, code: str, redirect_uri: str, pending: AuthorizationRequest, use_userinfo: bool
    ) -> FederatedIdentity:
        """Exchange, validate, and merge userinfo: the identity the provider vouches for."""
        token = self.exchange(code, redirect_uri, pending.code_verifier)
        claims = self.validate_id_token(token, pending.nonce)
        if use_userinfo:
            extra = self.userinfo(token.get("access_token", ""), claims["sub"])
            claims = {**claims, **{k: v for k, v in extra.items() if k not in PROTECTED_CLAIMS}}
        return FederatedIdentity(claims["iss"], claims["sub"], claims)


_clients: dict[IdentityProvider, OIDCClient] = {}
_clients_lock = threading.Lock()


def client_for(provider: IdentityProvider, documents: DocumentStore) -> OIDCClient:
    """The process's client for ``provider`` (one connection pool each)."""
    with _clients_lock:
        client = _clients.get(provider)
        if client is None:
            client = _clients[provider] = OIDCClient(provider, documents)
        return client
