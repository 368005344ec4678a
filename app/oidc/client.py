"""A thin, Flask-free OpenID Connect client for one provider: Authlib for the protocol, a lean transport.

Authlib builds the authorization URL and the PKCE S256 challenge, the token
request and its client authentication; ``CodeIDToken`` validates the ID token
claims (iss, aud, azp, exp, iat, nonce, at_hash) after joserfc checks the
signature with the provider's keys. stepgate adds what they leave to the
caller: discovery and JWKS caching, key rotation, refusing ``alg: none``,
timeouts, the token error response, and the ``sub`` check on userinfo.

The calls to the provider go through ``app.oidc.transport`` (``http.client``
with per-thread keep-alive connections) rather than a ``requests`` session,
whose machinery cost about 0.7 ms more CPU per sign-in (bench/bench_oidc.py).
One client, so one transport, per provider per process, shared by every request
thread: nothing per sign-in is kept on it. The redirect URI, scope, state,
nonce and verifier go in each call, and no token is ever held on the client.

The environment's proxy and CA bundle settings (``HTTP_PROXY``,
``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are
read once, when the client is built. A change to them takes effect when the
process restarts. ``.netrc`` is not consulted.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from authlib.oauth2.auth import encode_client_secret_basic, encode_client_secret_post
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jws import JWSRegistry

from app.oidc import errors, transport
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
    id_token: str = field(default="", repr=False)  # as received: the id_token_hint of RP-initiated logout


@dataclass(frozen=True)
class _Credentials:
    """What Authlib's client authentication encoders read: ``client_id`` and ``client_secret``."""

    client_id: str
    client_secret: str = field(repr=False)


class OIDCClient:
    def __init__(self, provider: IdentityProvider, documents: DocumentStore, http: transport.Transport | None = None):
        self.provider = provider
        self.documents = documents
        self.http = http or transport.Transport.from_environment(provider.timeout)
        self._grant_uris: dict[tuple[str, str, tuple[str, ...]], str] = {}
        self._client_auth: tuple[dict[str, str], str] | None = None

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

    def _get_json(self, url: str, what: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self.http.get(url, headers)
            response.raise_for_status()
            body = response.json()
        except transport.TransportError as exc:
            raise errors.from_transport(exc, what) from exc
        if not isinstance(body, dict):
            raise errors.OIDCError("idp.bad_response", f"{what}: not a JSON object", malfunction=True)
        return body

    # -- the authorization code flow ------------------------------------------

    def authorization_request(self, redirect_uri: str, scopes: list[str] | None = None) -> AuthorizationRequest:
        # 32, 32 and 64 URL-safe characters (192, 192 and 384 random bits; the verifier's are RFC 7636's
        # unreserved characters), each from one os.urandom call rather than one per character
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        base = self._grant_uri(self.metadata()["authorization_endpoint"], redirect_uri, scopes)
        # state, nonce and the S256 challenge are base64url (RFC 4648 section 5): nothing in them needs escaping
        challenge = create_s256_code_challenge(verifier)
        url = f"{base}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256"
        return AuthorizationRequest(url, state, nonce, verifier)

    def _grant_uri(self, endpoint: str, redirect_uri: str, scopes: list[str] | None) -> str:
        """The authorization URL's fixed part (endpoint, client, redirect URI, scope), encoded by Authlib once."""
        key = (endpoint, redirect_uri, tuple(scopes or self.provider.scopes))
        uri = self._grant_uris.get(key)
        if uri is None:
            uri = prepare_grant_uri(
                endpoint,
                client_id=self.provider.client_id,
                response_type="code",
                redirect_uri=redirect_uri,
                scope=" ".join(key[2]),
            )
            if len(self._grant_uris) > 32:  # a bound, should redirect URIs vary (several host names)
                self._grant_uris.clear()
            self._grant_uris[key] = uri
        return uri

    def exchange(self, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """Trade the code for tokens at the token endpoint (sent once, never retried: a code is single use)."""
        endpoint = self.metadata()["token_endpoint"]
        body = prepare_token_request(
            "authorization_code", redirect_uri=redirect_uri, code=code, code_verifier=code_verifier
        )
        headers, body = self._authenticate(body)
        try:
            token = _token_response(self.http.post_form(endpoint, body, headers))
        except transport.TransportError as exc:
            raise errors.from_transport(exc, "token") from exc
        if not isinstance(token.get("id_token"), str):
            raise errors.OIDCError("id_token.missing", "the token response has no id_token")
        return token

    def _authenticate(self, body: str) -> tuple[dict[str, str], str]:
        """The token request's headers and body with the configured client authentication, by Authlib's encoders.

        ``client_secret_basic`` form-encodes id and secret before the Basic
        encoding (RFC 6749 2.3.1), which Authlib's encoder leaves to the caller:
        a secret with ``:``, ``%`` or ``+`` then reaches the provider intact.
        The credentials never change, so what they add (a header, or form
        fields after the body's) is encoded once per client.
        """
        if self._client_auth is None:
            provider = self.provider
            if provider.token_endpoint_auth_method == "client_secret_post":  # noqa: S105 - a method name
                credentials = _Credentials(provider.client_id, provider.client_secret)
                _, headers, fields = encode_client_secret_post(credentials, "POST", "", {}, "")
            else:
                credentials = _Credentials(quote(provider.client_id, safe=""), quote(provider.client_secret, safe=""))
                _, headers, fields = encode_client_secret_basic(credentials, "POST", "", {}, "")
            self._client_auth = (headers, fields)
        headers, fields = self._client_auth
        return dict(headers), f"{body}&{fields}" if fields else body

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
        body = self._get_json(endpoint, "userinfo", {"Authorization": f"Bearer {access_token}"})
        if body.get("sub") != subject:
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
        return FederatedIdentity(claims["iss"], claims["sub"], claims, str(token.get("id_token") or ""))


_clients: dict[IdentityProvider, OIDCClient] = {}
_clients_lock = threading.Lock()


def client_for(provider: IdentityProvider, documents: DocumentStore) -> OIDCClient:
    """The process's client for ``provider`` (one transport, so one set of connections per thread, each)."""
    with _clients_lock:
        client = _clients.get(provider)
        if client is None:
            client = _clients[provider] = OIDCClient(provider, documents)
        return client


def _token_response(response: transport.Response) -> dict[str, Any]:
    """The token endpoint's JSON object; its ``error`` answer (RFC 6749 5.2) as ``idp.token_refused``.

    As Authlib reads it: a 5xx is a failure whatever its body; so is a body
    that is not a JSON object, by its status if that is an error. A redirect is
    never followed, so it is a bad response too.
    """
    if response.status >= 500 or 300 <= response.status < 400:
        response.raise_for_status()
    try:
        body = response.json()
    except transport.Malformed:
        body = None
    if not isinstance(body, dict):
        response.raise_for_status()
        raise transport.Malformed("not a JSON object")
    if "error" in body:
        raise errors.from_token_error(body)
    response.raise_for_status()
    return body
