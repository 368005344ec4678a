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

For the client's transport it also counts the connections it accepts and logs
every request line it reads (``requests``), answers in chunks when ``chunked``
is set, closes connections idle for ``idle_timeout`` seconds, and reads the
next ``hang_up`` requests without answering them (closing the connection).
``tls`` (an ``ssl.SSLContext``) serves https on ``host``.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.servers import ServingThread

SUBJECT = "rogue-subject-0001"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class RogueProvider:
    client_id = "stepgate-rogue"
    client_secret = "rogue-secret"

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        self.mode = "good"
        self.claims: dict = {}
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

    def _received(self, line: str) -> bool:
        """Log a request; False when it is to be dropped unanswered (``hang_up``)."""
        with self._lock:
            self.requests.append(line)
            if self.hang_up > 0:
                self.hang_up -= 1
                return False
            return True

    def rotate_keys(self) -> None:
        kid = f"rogue-{len(self.keys) + 1}"
        self.keys.append(RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}))

    # -- what it answers ----------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256", "none"],
        }

    def jwks(self) -> dict:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def id_token(self, grant: dict) -> str:
        now = int(time.time())
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
            **self.claims,
        }
        if self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        elif self.mode == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1"
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        if self.mode == "alg_none":
            return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        key = self.keys[-1]
        if self.mode == "wrong_key":
            key = RSAKey.generate_key(2048, parameters={"kid": key.kid})
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

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
                super().setup()

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
                if not provider._received(self.requestline):
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
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if url.path == "/userinfo":
                    if provider.mode == "huge_userinfo":
                        return self._send(200, json.dumps({"sub": SUBJECT, "padding": "x" * (2 << 20)}).encode())
                    sub = provider.claims.get("sub", SUBJECT)
                    sub = "someone-else" if provider.mode == "userinfo_other_sub" else sub
                    return self._json({"email": "rogue@example.org", **provider.claims, "sub": sub})
                return self._json({"error": "not_found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    return self._json({"error": "not_found"}, 404)
                with provider._lock:
                    provider.token_requests += 1
                    provider.token_authorization = (self.headers.get("Authorization"), form)
                if not provider._received(self.requestline):
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
                return self._json(
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(grant),
                    }
                )

        return Handler
