"""A deliberately misbehaving OpenID Provider for tests: it forges what a test asks it to.

It speaks just enough OpenID Connect (discovery, JWKS, authorize, token,
userinfo) to reach stepgate's token validation, and signs with real RSA keys
through joserfc. ``mode`` picks the forgery of the next token: ``good``,
``wrong_key`` (signed by a key it does not publish, under a published kid),
``wrong_audience``, ``wrong_issuer``, ``wrong_nonce``, ``expired``,
``alg_none`` (unsigned), ``userinfo_other_sub``, ``slow_token`` (answers after
``slow_seconds``), ``token_500`` (the token endpoint breaks), ``huge_userinfo``
(a 2 MiB answer), ``discovery_redirect`` (discovery answers 302).
``rotate_keys()`` starts signing with a new key published alongside the old one.
``claims`` (a dict) replaces or adds ID token and userinfo claims, e.g. another person's
``email`` with ``email_verified`` for the account pre-hijacking tests.

For the ID token and authorization-response rules (tests/test_oidc_id_token_rules.py,
tests/test_oidc_authorization_response.py) a test also sets, for the next answers:
``claims`` (merged into the ID token's claims; a value may be a function of the
grant ``{code, access_token, nonce, now}``, and ``DROP`` removes a claim),
``header`` (merged into the JOSE header), ``repeat`` and ``repeat_header``
(members written a second time into the payload or header JSON), ``signing``
(``RS256``; ``HS256_public_key``: an HMAC keyed with the published public key,
the classic algorithm confusion; ``ES256``: a published EC key the client did
not register; ``unpublished``: a key under a kid the JWKS lacks;
``embedded_jwk``: the same, its public key in the header's ``jwk``; ``no_kid``: a
published key, no kid, two keys published), ``id_token_text`` (replaces the whole
token, or a function of the signed one: garbled, tampered, encrypted-looking), ``token_fields`` (merged into the token
response), ``response_params`` (merged into the authorization response; a list
repeats a parameter) and ``metadata`` (merged into discovery).

For the client's transport it also counts the connections it accepts and logs
every request line it reads (``requests``), answers in chunks when ``chunked``
is set, closes connections idle for ``idle_timeout`` seconds, and reads the
next ``hang_up`` requests without answering them (closing the connection).
``closing_after``: a request arriving on a connection idle at least that long
meets the provider's keep-alive close in flight (read, then the connection is
closed unanswered), the race a real server's idle timeout runs with a client.
``tls`` (an ``ssl.SSLContext``) serves https on ``host``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from tests.servers import ServingThread

SUBJECT = "rogue-subject-0001"
DROP = object()
"""As a value in ``claims``, ``token_fields`` or ``response_params``: leave that member out."""


def _merge(base: dict, changes: dict, grant: dict | None = None) -> dict:
    merged = dict(base)
    for name, value in changes.items():
        if value is DROP:
            merged.pop(name, None)
        else:
            merged[name] = value(grant) if callable(value) and grant is not None else value
    return merged


def _with_repeats(data: dict, repeats: dict) -> bytes:
    """JSON text of ``data`` with ``repeats`` written again as later members of the same object."""
    text = json.dumps(data)
    for name, value in repeats.items():
        text = f"{text[:-1]}, {json.dumps(name)}: {json.dumps(value)}}}"
    return text.encode()


def _b64bytes(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class RogueProvider:
    client_id = "stepgate-rogue"
    client_secret = "rogue-secret"

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        self.mode = "good"
        self.slow_seconds = 2.0
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "rogue-1", "use": "sig", "alg": "RS256"})]
        self.codes: dict[str, dict] = {}
        self.token_requests = 0
        self.jwks_requests = 0
        self.connections = 0
        self.requests: list[str] = []
        self.token_authorization: tuple[str | None, dict] = (None, {})
        self.chunked = False
        self.idle_timeout: float | None = None
        self.hang_up = 0
        self.closing_after: float | None = None
        self.claims: dict = {}
        self.header: dict = {}
        self.repeat: dict = {}
        self.repeat_header: dict = {}
        self.signing = "RS256"
        self.id_token_text = None  # a str, or a function of the signed token
        self.token_fields: dict = {}
        self.response_params: dict = {}
        self.metadata: dict = {}
        self.ec_key = ECKey.generate_key("P-256", parameters={"kid": "rogue-ec", "use": "sig", "alg": "ES256"})
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if tls is not None:  # the handshake happens in accept(); one that fails is dropped there, quietly
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.issuer = f"{'https' if tls else 'http'}://{host}:{self._server.server_port}"
        self._serving = ServingThread(self._server)

    def start(self) -> RogueProvider:
        self._serving.start()
        return self

    def stop(self) -> None:
        self._serving.stop()

    def settings(self, **extra) -> dict:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "read_timeout": 1,
            "jwks_min_refresh_seconds": 0,
            **extra,
        }

    def _received(self, line: str, idle_for: float) -> bool:
        """Log a request; False when it is to be dropped unanswered (``hang_up``, ``closing_after``)."""
        with self._lock:
            self.requests.append(line)
            if self.closing_after is not None and idle_for >= self.closing_after:
                return False
            if self.hang_up > 0:
                self.hang_up -= 1
                return False
            return True

    def rotate_keys(self) -> None:
        kid = f"rogue-{len(self.keys) + 1}"
        self.keys.append(RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}))

    # -- what it answers ----------------------------------------------------

    def discovery(self) -> dict:
        return _merge(self._discovery(), self.metadata)

    def _discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256", "none"],
        }

    def jwks(self) -> dict:
        keys = [key.as_dict(private=False) for key in self.keys]
        if self.signing == "ES256":
            keys.append(self.ec_key.as_dict(private=False))
        return {"keys": keys}

    def id_token(self, grant: dict) -> str:
        now = int(time.time())
        grant = {**grant, "now": now}
        claims = {
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "preferred_username": "rogue-user",
            "email": "rogue@example.org",
            "given_name": "Rogue",
        }
        if self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.mode == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1"
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        claims = _merge(claims, self.claims, grant)
        if self.id_token_text is not None:
            return self.id_token_text(self._sign(claims)) if callable(self.id_token_text) else self.id_token_text
        if self.mode == "alg_none":
            return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        return self._sign(claims)

    def _sign(self, claims: dict) -> str:
        """The compact JWS of ``claims`` under ``signing``, ``header`` and the repeated members."""
        key = self.keys[-1]
        header = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
        if self.mode == "wrong_key":
            key = RSAKey.generate_key(2048, parameters={"kid": key.kid})
        elif self.signing in ("unpublished", "embedded_jwk"):
            with warnings.catch_warnings():  # 1024 bits: a public key small enough for a 512-byte header
                warnings.simplefilter("ignore", SecurityWarning)
                size = 1024 if self.signing == "embedded_jwk" else 2048
                key = RSAKey.generate_key(size, parameters={"kid": "never-published"})
            header["kid"] = key.kid
            if self.signing == "embedded_jwk":  # the token carries its own key (CVE-2018-0114's class)
                header["jwk"] = key.as_dict(private=False)
        elif self.signing == "no_kid":
            header.pop("kid")
        elif self.signing == "ES256":
            key, header["alg"], header["kid"] = self.ec_key, "ES256", self.ec_key.kid
        elif self.signing == "HS256_public_key":
            header["alg"] = "HS256"
        header = _merge(header, self.header)
        head, body = _b64bytes(_with_repeats(header, self.repeat_header)), _b64bytes(_with_repeats(claims, self.repeat))
        signing_input = f"{head}.{body}".encode()
        if self.signing == "HS256_public_key":  # the public key, as the client holds it, used as a MAC secret
            signature = hmac.new(key.as_pem(private=False), signing_input, hashlib.sha256).digest()
        else:
            algorithm = header["alg"] if header.get("alg") in ("RS256", "ES256") else "RS256"
            signature = JWSRegistry(algorithms=[algorithm]).get_alg(algorithm).sign(signing_input, key)
        return f"{head}.{body}.{_b64bytes(signature)}"

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
            disable_nagle_algorithm = True  # headers and body are separate writes

            def log_message(self, *args):
                pass

            def setup(self):
                with provider._lock:
                    provider.connections += 1
                self.timeout = provider.idle_timeout  # None: keep idle connections open
                self.idle_since = time.monotonic()
                super().setup()

            def handle_one_request(self):
                super().handle_one_request()
                self.idle_since = time.monotonic()

            def _answering(self) -> bool:
                return provider._received(self.requestline, time.monotonic() - self.idle_since)

            def _json(self, body: dict, status: int = 200) -> None:
                self._send(status, json.dumps(body).encode())

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if provider.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(data), 1000):
                        part = data[start : start + 1000]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if not self._answering():
                    self.close_connection = True
                    return None
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    if provider.mode == "discovery_redirect":
                        self.send_response(302)
                        self.send_header("Location", f"{provider.issuer}/elsewhere")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    return self._json(provider.discovery())
                if url.path == "/jwks":
                    provider.jwks_requests += 1
                    return self._json(provider.jwks())
                if url.path == "/authorize":
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"nonce": query.get("nonce", "")}
                    params = _merge({"code": code, "state": query.get("state", "")}, provider.response_params)
                    target = f"{query['redirect_uri']}?{urlencode(params, doseq=True)}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    if provider.mode == "huge_userinfo":
                        return self._send(200, json.dumps({"sub": SUBJECT, "padding": "x" * (2 << 20)}).encode())
                    chosen = {k: v for k, v in provider.claims.items() if v is not DROP and not callable(v)}
                    sub = "someone-else" if provider.mode == "userinfo_other_sub" else chosen.get("sub", SUBJECT)
                    return self._json({"email": "rogue@example.org", **chosen, "sub": sub})
                return self._json({"error": "not_found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    return self._json({"error": "not_found"}, 404)
                with provider._lock:
                    provider.token_requests += 1
                    provider.token_authorization = (self.headers.get("Authorization"), form)
                if not self._answering():
                    self.close_connection = True
                    return None
                if provider.mode == "slow_token":
                    time.sleep(provider.slow_seconds)
                if provider.mode == "token_500":
                    page = b"<html>Internal Server Error</html>"
                    self.send_response(500)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return None
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None:
                    return self._json({"error": "invalid_grant"}, 400)
                grant = {**grant, "code": form["code"], "access_token": secrets.token_urlsafe(16)}
                answer = {"access_token": grant["access_token"], "token_type": "Bearer", "expires_in": 300}
                answer["id_token"] = provider.id_token(grant)
                return self._json(_merge(answer, provider.token_fields))

        return Handler
