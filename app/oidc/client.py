"""A thin, Flask-free OpenID Connect client for one provider: Authlib for the protocol, a lean transport.

Authlib builds the authorization URL and the PKCE S256 challenge, the token
request and its client authentication. The ID token is validated by
``app.oidc.id_token`` (joserfc's signature check, Authlib's ``CodeIDToken``,
and every rule of OpenID Connect Core 3.1.3.7 they leave to the caller), the
callback's parameters by ``app.oidc.authorization_response`` (RFC 9207's
``iss``). stepgate also adds discovery and JWKS caching, key rotation,
timeouts, the token error response, the token type, and the ``sub`` check on
userinfo.

The calls to the provider go through ``app.oidc.transport`` (``http.client``
with per-thread keep-alive connections) rather than a ``requests`` session,
whose machinery cost about 0.7 ms more CPU per sign-in (bench/bench_oidc.py).
One client, so one transport, per provider per process, shared by every request
thread: nothing per sign-in is kept on it but the provider's circuit breaker,
and every client shares the process's bulkhead (docs/provider-isolation.md).
The redirect URI, scope, state, nonce and verifier go in each call, and no
token is ever held on the client.

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

from app.oidc import authorization_response, bulkhead, errors, id_token, transport
from app.oidc.breaker import CircuitBreaker
from app.oidc.documents import DISCOVERY_TTL, JWKS_TTL, import_keys
from app.oidc.providers import IdentityProvider
from app.timeutil import utcnow

PROTECTED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce", "auth_time", "at_hash", "c_hash", "acr", "amr"}
)
"""Userinfo may refresh profile claims, never the ones that say who issued the token to whom."""


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
        self.http = http or transport.Transport.from_environment(
            provider.timeout,
            breaker=CircuitBreaker(provider.name, provider.breaker_failures, provider.breaker_cooldown_seconds),
            bulkhead=bulkhead.shared(provider.max_concurrent_calls),
        )
        self._grant_uris: dict[tuple[str, str, tuple[str, ...]], str] = {}
        self._client_auth: tuple[dict[str, str], str] | None = None

    def unavailable(self) -> bool:
        """The provider's circuit breaker is open: a browser sent there now would only be refused on its return."""
        breaker = getattr(self.http, "breaker", None)
        return breaker is not None and breaker.refusing()

    def deadline(self):
        """``with client.deadline():`` around a sign-in callback: its provider calls end within ``total_timeout``."""
        return transport.deadline(self.provider.total_timeout)

    # -- discovery and keys -------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        stored = self.documents.get(self.provider.issuer, "discovery")
        if stored and self.documents.fresh(stored[1], DISCOVERY_TTL):
            return stored[0]
        body = self._get_json(self.provider.issuer + "/.well-known/openid-configuration", "discovery")
        if not isinstance(body.get("issuer"), str) or body["issuer"].rstrip("/") != self.provider.issuer:
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

    def authorization_request(
        self, redirect_uri: str, scopes: list[str] | None = None, login_hint: str | None = None
    ) -> AuthorizationRequest:
        # 32, 32 and 64 URL-safe characters (192, 192 and 384 random bits; the verifier's are RFC 7636's
        # unreserved characters), each from one os.urandom call rather than one per character
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        base = self._grant_uri(self.metadata()["authorization_endpoint"], redirect_uri, scopes)
        # state, nonce and the S256 challenge are base64url (RFC 4648 section 5): nothing in them needs escaping
        challenge = create_s256_code_challenge(verifier)
        url = f"{base}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256"
        if self.provider.max_age is not None:  # then the ID token must carry a recent auth_time (3.1.3.7 rule 13)
            url += f"&max_age={self.provider.max_age}"
        if self.provider.acr_values:  # then the ID token's acr must be one of them (rule 12)
            url += "&acr_values=" + quote(" ".join(self.provider.acr_values), safe="")
        if login_hint:  # what the person typed at an identifier-first step (app/routing.py)
            url += "&login_hint=" + quote(login_hint, safe="")
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

    def validate_id_token(self, token: dict[str, Any], nonce: str, code: str | None = None) -> dict[str, Any]:
        """The ID token's claims after every rule of OpenID Connect Core 3.1.3.7 (``app.oidc.id_token``)."""
        provider = self.provider
        expected = id_token.Expected(
            issuer=self.metadata()["issuer"],
            client_id=provider.client_id,
            algorithm=provider.id_token_signed_response_alg,
            nonce=nonce,
            leeway=provider.leeway_seconds,
            max_token_age=provider.max_id_token_age_seconds,
            trusted_audiences=provider.trusted_audiences,
            max_auth_age=provider.max_age,
            acr_values=provider.acr_values,
            access_token=token.get("access_token") if isinstance(token.get("access_token"), str) else None,
            code=code,
        )
        return id_token.validate(token["id_token"], lambda refresh: import_keys(self.jwks(refresh)), expected)

    def check_authorization_response(self, args: dict[str, str]) -> str:
        """The code of a callback already bound to its flow, after RFC 9207's ``iss`` check and the error check."""
        authorization_response.issuer(args, self.metadata())
        return authorization_response.code(args)

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
        _check_token_type(token)
        claims = self.validate_id_token(token, pending.nonce, code)
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


def _check_token_type(token: dict[str, Any]) -> None:
    """RFC 6749 sections 5.1 and 7.1: a token type this client does not understand is not used.

    Only Bearer is understood, compared case-insensitively (RFC 6749 5.1).
    """
    token_type = token.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise errors.OIDCError("idp.bad_token_type", f"token_type {str(token_type)[:40]!r}, not Bearer")


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
