"""HTTP/1.1 to an OpenID Provider over the standard library's ``http.client``.

An OIDC client makes two calls per sign-in (token, userinfo) and, rarely, two
more (discovery, keys). ``requests`` spent more CPU on its session, adapter and
urllib3 pool machinery than on the calls themselves; this does only what those
calls need:

- Keep-alive connections, one per (scheme, host, port) per thread: gunicorn's
  gthread worker runs several request threads, and an ``http.client``
  connection must never carry two requests at once. A thread's connections are
  closed when the thread ends.
- An idle connection is checked before reuse: if the socket polls readable, the
  server has closed it (or sent something unasked), and a new one is opened
  instead. A request that still fails on a reused connection before any answer
  arrives is retried once on a new connection only if it is a GET: a POST (an
  authorization code is single use) is never sent twice. So a POST reuses a
  connection only while it has been idle for less than ``POST_REUSE_SECONDS``:
  a server closes an idle connection after its own keep-alive timeout (2 s
  for gunicorn, 5 s for Node and Apache), and a close that crosses a request in
  flight fails it with nothing to tell whether the provider acted on it.
- TLS with the CA bundle the environment names (``REQUESTS_CA_BUNDLE``,
  ``CURL_CA_BUNDLE``), else ``certifi``'s, else the system's, and host name
  verification; one ``ssl.SSLContext`` per bundle per process, because loading
  a bundle costs tens of milliseconds.
- The environment's proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``), read once when the transport is built: http URLs go to an HTTP
  proxy in absolute form, https URLs through a ``CONNECT`` tunnel.
- Connect and read timeouts, a cap on the size of an answer, no redirects (a
  3xx is an answer like any other, which the caller refuses).
- Deadlines, whatever the peer does at the TCP level: each request ends by
  its connect plus read timeout in total, and every request inside
  ``with deadline(seconds):`` (a sign-in callback: discovery, keys, token and
  userinfo together) ends by that deadline. Every socket operation (connect,
  TLS handshake, send, each receive) waits at most what is left, so a peer
  that trickles one byte at a time cannot stretch a call.
- Isolation, when built with them: a ``Bulkhead`` slot per call (refused at
  once when full: ``Busy``) and the provider's ``CircuitBreaker`` (refused at
  once while open: ``CircuitOpen``), told of every timeout or connection failure.

Failures are raised as the small hierarchy below; ``app.oidc.errors`` turns
them into reason codes. Their messages never carry request or response bodies
or headers, so they can go to the audit log as they are.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import http.client
import io
import ipaddress
import json
import os
import select
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from app.oidc.breaker import CircuitBreaker
from app.oidc.bulkhead import Bulkhead

MAX_BODY = 1 << 20
"""The largest answer read from a provider (1 MiB); discovery documents and key sets are a few kB."""
USER_AGENT = "stepgate"
POST_REUSE_SECONDS = 1.0  # below common keep-alive timeouts (gunicorn 2 s, Node and Apache 5 s, nginx 75 s)


class TransportError(Exception):
    """A call to the provider did not produce a usable answer; the message is safe to log."""


class Timeout(TransportError):
    """The provider did not connect or answer within the timeout."""


class Unreachable(TransportError):
    """No connection: refused, reset, unknown host, proxy refused, or TLS not trusted."""


class Busy(TransportError):
    """Refused before sending: this process already has as many provider calls out as it allows."""


class CircuitOpen(TransportError):
    """Refused before sending: the provider failed repeatedly and its circuit breaker is open."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class HTTPStatusError(TransportError):
    """An answer whose status is not 2xx (redirects included: they are not followed)."""

    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


class TooLarge(TransportError):
    """An answer larger than the transport's limit."""


class Malformed(TransportError):
    """Not HTTP, or a body that is not what was expected (such as JSON)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def raise_for_status(self) -> None:
        if not 200 <= self.status < 300:
            raise HTTPStatusError(self.status)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:  # UnicodeDecodeError included
            raise Malformed("not JSON") from exc


# -- where a URL's connection goes ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    headers: dict[str, str]
    """``Proxy-Authorization`` when the proxy URL carries credentials."""


class Proxies:
    """The proxy settings of the environment, read once; ``for_host`` decides per host."""

    def __init__(self, settings: dict[str, str]):
        self.settings = settings

    @classmethod
    def from_environment(cls) -> Proxies:
        return cls(urllib.request.getproxies())

    def for_host(self, scheme: str, host: str, port: int) -> Proxy | None:
        url = self.settings.get(scheme) or self.settings.get("all")
        if not url or self._bypass(host, port):
            return None
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise Unreachable(f"proxy {parts.scheme}://{parts.hostname} not supported (only http:// proxies)")
        headers = {}
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        return Proxy(parts.hostname, parts.port or 80, headers)

    def _bypass(self, host: str, port: int) -> bool:
        """``NO_PROXY``: host names and domain suffixes (urllib's rules), plus IP networks as requests allows."""
        target = f"[{host}]" if ":" in host else host
        if urllib.request.proxy_bypass_environment(f"{target}:{port}", self.settings):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        for entry in self.settings.get("no", "").split(","):
            try:
                if address in ipaddress.ip_network(entry.strip(), strict=False):
                    return True
            except ValueError:
                continue
        return False


@dataclass(frozen=True, slots=True)
class Route:
    """How to reach one (scheme, host, port): directly, or through a proxy."""

    key: tuple[str, str, int]
    proxy: Proxy | None

    @property
    def absolute_form(self) -> bool:
        """Plain HTTP through a proxy: the request line names the whole URL."""
        return self.proxy is not None and self.key[0] == "http"


# -- TLS ----------------------------------------------------------------------------

_contexts: dict[str | None, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def ca_bundle_from_environment() -> str | None:
    """The CA bundle ``requests`` would use: the environment's, else ``certifi``'s, else None (the system's)."""
    named = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if named:
        return named
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The process's context for a CA bundle (a file or a directory; None: the system's), built once."""
    with _contexts_lock:
        context = _contexts.get(ca_bundle)
        if context is None:
            if ca_bundle is None:
                context = ssl.create_default_context()
            elif os.path.isdir(ca_bundle):
                context = ssl.create_default_context(capath=ca_bundle)
            else:
                context = ssl.create_default_context(cafile=ca_bundle)
            context.set_alpn_protocols(["http/1.1"])
            _contexts[ca_bundle] = context
        return context


# -- deadlines ----------------------------------------------------------------------

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("provider_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every request inside ends within ``seconds`` from now, all together (an enclosing deadline still holds)."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


class _Budget:
    """What one request may still wait: each socket operation gets its own timeout or what is left, the lesser."""

    __slots__ = ("connect_timeout", "end", "read_timeout")

    def __init__(self, connect_timeout: float, read_timeout: float):
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        end = time.monotonic() + connect_timeout + read_timeout
        outer = _deadline.get()
        self.end = end if outer is None else min(outer, end)

    def left(self) -> float:
        return self.end - time.monotonic()

    def for_connect(self) -> float:
        return self._within(self.connect_timeout)

    def for_read(self) -> float:
        return self._within(self.read_timeout)

    def _within(self, timeout: float) -> float:
        left = self.left()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return min(timeout, left)

    def describe(self) -> str:
        """Why a call timed out, for the log: its deadline, or one operation's timeout."""
        return "deadline passed" if self.left() <= 0.001 else "read timed out"


class _BoundedReader(io.RawIOBase):
    """A socket's receiving side whose every ``recv`` waits at most what the budget leaves."""

    def __init__(self, sock: socket.socket, budget: _Budget):
        self._sock, self._budget = sock, budget
        # the socket's own raw file: it keeps the socket open until closed, as http.client expects
        # (HTTPConnection.close() hands a "Connection: close" answer's socket over to the response)
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._budget.for_read())
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _BoundedSocket:
    """What ``http.client.HTTPResponse`` reads from (it only calls ``makefile``), bounded by a budget."""

    def __init__(self, sock: socket.socket, budget: _Budget):
        self._sock, self._budget = sock, budget

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        return io.BufferedReader(_BoundedReader(self._sock, self._budget))


def _bounded_responses(budget: _Budget):
    """A ``response_class`` for a connection: its answers (and a proxy's CONNECT answer) read within ``budget``."""

    def response_class(sock, *args, **kwargs) -> http.client.HTTPResponse:
        return http.client.HTTPResponse(_BoundedSocket(sock, budget), *args, **kwargs)

    return response_class


class _HTTPConnection(http.client.HTTPConnection):
    budget: _Budget | None = None
    idle_since = 0.0  # time.monotonic() when it last went back to the thread's idle connections

    def connect(self) -> None:
        self.timeout = self.budget.for_connect() if self.budget else self.timeout
        super().connect()


class _HTTPSConnection(http.client.HTTPSConnection):
    """The TLS handshake waits at most what the TCP connect left, not a fresh connect timeout."""

    budget: _Budget | None = None
    idle_since = 0.0

    def connect(self) -> None:
        self.timeout = self.budget.for_connect() if self.budget else self.timeout
        http.client.HTTPConnection.connect(self)  # TCP, and the proxy's CONNECT tunnel when there is one
        if self.budget is not None:
            self.sock.settimeout(self.budget.for_connect())
        server_hostname = self._tunnel_host or self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=server_hostname)


# -- connections ------------------------------------------------------------------


class _Connections(dict):
    """One thread's idle connections by (scheme, host, port); closed when the thread ends."""

    def __del__(self):
        for connection in self.values():
            connection.close()


class _Dead(Exception):
    """A reused connection failed before any answer came back; the request may be retried."""


def _dropped(sock: socket.socket) -> bool:
    """True when an idle connection polls readable: the server closed it (EOF), or sent something unasked."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


class Transport:
    """An HTTP client for one provider; share it between threads (each uses its own connections)."""

    def __init__(
        self,
        timeout: tuple[float, float],
        proxies: Proxies | None = None,
        ca_bundle: str | None = None,
        max_body: int = MAX_BODY,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
    ):
        self.connect_timeout, self.read_timeout = timeout
        self.proxies = proxies or Proxies({})
        self.ca_bundle = ca_bundle
        self.max_body = max_body
        self.breaker = breaker
        self.bulkhead = bulkhead
        self._local = threading.local()
        self._routes: dict[str, tuple[Route, str]] = {}

    @classmethod
    def from_environment(
        cls,
        timeout: tuple[float, float],
        max_body: int = MAX_BODY,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
    ) -> Transport:
        """Proxies and CA bundle as the environment sets them now; later changes need a restart."""
        return cls(timeout, Proxies.from_environment(), ca_bundle_from_environment(), max_body, breaker, bulkhead)

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", url, headers=headers)

    def post_form(self, url: str, body: str, headers: dict[str, str] | None = None) -> Response:
        form = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, body.encode(), form)

    def request(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        route, target = self._route(url)
        budget = _Budget(self.connect_timeout, self.read_timeout)
        if budget.left() <= 0:
            raise Timeout("deadline passed before the call")
        if self.breaker is not None and not self.breaker.allow():
            raise CircuitOpen("circuit open after repeated failures", self.breaker.retry_after())
        if self.bulkhead is not None and not self.bulkhead.try_enter(self.breaker.name if self.breaker else ""):
            if self.breaker is not None:
                self.breaker.abandoned()  # it may have been the probe
            raise Busy(f"{self.bulkhead.limit} provider calls already out in this process")
        try:
            if self.breaker is None:
                return self._request(route, target, budget, method, body, headers)
            return self._observed(route, target, budget, method, body, headers)
        finally:
            if self.bulkhead is not None:
                self.bulkhead.leave()

    def _observed(self, route, target, budget, method, body, headers) -> Response:
        """A call whose outcome the breaker hears: no answer (timeout, no connection) or an answer."""
        try:
            response = self._request(route, target, budget, method, body, headers)
        except (Timeout, Unreachable) as exc:
            self.breaker.failed(str(exc))
            raise
        except TransportError:
            self.breaker.succeeded()  # an answer, if not a usable one
            raise
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        return response

    def _request(
        self,
        route: Route,
        target: str,
        budget: _Budget,
        method: str,
        body: bytes | None,
        headers: dict[str, str] | None,
    ) -> Response:
        sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        if route.absolute_form:
            sent.update(route.proxy.headers)
        idle = self._idle()
        connection = idle.pop(route.key, None)  # this thread's, and out of the pool while in use
        if connection is not None and (
            connection.sock is None
            or (method != "GET" and time.monotonic() - connection.idle_since >= POST_REUSE_SECONDS)
            or _dropped(connection.sock)
        ):
            connection.close()
            connection = None
        if connection is not None:
            try:
                return self._send(idle, route, connection, budget, method, target, body, sent)
            except _Dead as exc:
                if method != "GET":
                    raise Unreachable(f"{exc}; not resent, it may have reached the provider") from exc
        try:
            return self._send(idle, route, self._connect(route, budget), budget, method, target, body, sent)
        except _Dead as exc:
            raise Unreachable(str(exc)) from exc

    def close(self) -> None:
        """Close this thread's idle connections."""
        idle = self._idle()
        while idle:
            idle.popitem()[1].close()

    # -- internals -----------------------------------------------------------------

    def _idle(self) -> _Connections:
        try:
            return self._local.idle
        except AttributeError:
            idle = self._local.idle = _Connections()
            return idle

    def _route(self, url: str) -> tuple[Route, str]:
        known = self._routes.get(url)
        if known is not None:
            return known
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise Malformed("not a URL") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Malformed(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
        route = Route((parts.scheme, parts.hostname, port), self.proxies.for_host(parts.scheme, parts.hostname, port))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if route.absolute_form:
            target = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{target}"
        if len(self._routes) > 64:
            self._routes.clear()
        self._routes[url] = (route, target)
        return route, target

    def _connect(self, route: Route, budget: _Budget) -> http.client.HTTPConnection:
        scheme, host, port = route.key
        where = (route.proxy.host, route.proxy.port) if route.proxy else (host, port)
        if scheme == "https":
            context = tls_context(self.ca_bundle)
            connection = _HTTPSConnection(*where, timeout=self.connect_timeout, context=context)
            if route.proxy is not None:
                connection.set_tunnel(host, port, headers=route.proxy.headers)
        else:
            connection = _HTTPConnection(*where, timeout=self.connect_timeout)
        connection.budget = budget
        connection.response_class = _bounded_responses(budget)
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise Timeout("deadline passed while connecting" if budget.left() <= 0 else "connect timed out") from exc
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise Unreachable(f"TLS certificate refused: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            connection.close()
            raise Unreachable(f"TLS failed: {exc.reason or exc.__class__.__name__}") from exc
        except OSError as exc:
            connection.close()
            raise Unreachable(f"connect failed: {exc.strerror or exc}") from exc
        return connection

    def _send(
        self,
        idle: _Connections,
        route: Route,
        connection: http.client.HTTPConnection,
        budget: _Budget,
        method: str,
        target: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> Response:
        answer = None
        try:
            try:
                connection.response_class = _bounded_responses(budget)  # this request's budget, on a reused one too
                connection.sock.settimeout(budget.for_read())
                connection.request(method, target, body, headers)
                answer = connection.getresponse()
            except ConnectionError as exc:  # reset, broken pipe, closed before the status line
                raise _Dead(f"connection lost: {exc.__class__.__name__}") from exc
            payload = self._read(answer)
        except Exception as exc:
            connection.close()
            if answer is not None:
                answer.close()
            if isinstance(exc, (_Dead, TransportError)):
                raise
            if isinstance(exc, TimeoutError):
                raise Timeout(budget.describe()) from exc
            if isinstance(exc, http.client.IncompleteRead):
                raise Malformed("answer cut short") from exc
            if isinstance(exc, http.client.HTTPException):
                raise Malformed(f"not HTTP: {exc.__class__.__name__}") from exc
            if isinstance(exc, OSError):
                raise Unreachable(f"connection failed: {exc.strerror or exc.__class__.__name__}") from exc
            raise
        if answer.will_close:
            connection.close()
        else:
            connection.idle_since = time.monotonic()
            idle[route.key] = connection
        return Response(answer.status, answer.headers, payload)

    def _read(self, answer: http.client.HTTPResponse) -> bytes:
        """The whole body, chunked or not; at most ``max_body`` bytes."""
        limit = self.max_body
        if answer.length is not None and answer.length > limit:
            raise TooLarge(f"answer of {answer.length} bytes, more than {limit}")
        parts, size = [], 0
        while True:
            part = answer.read(limit + 1 - size)
            if not part:
                return b"".join(parts)
            parts.append(part)
            size += len(part)
            if size > limit:
                raise TooLarge(f"answer of more than {limit} bytes")
