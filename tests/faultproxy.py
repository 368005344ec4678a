"""A TCP proxy on loopback that injects faults between stepgate and a peer (PostgreSQL, Redis, an OpenID provider).

Point stepgate at ``proxy.port`` instead of the peer's, then switch the proxy's
behaviour while the test runs:

- ``passing()``: bytes are copied both ways (the start);
- ``refusing()``: nothing listens on the port any more, so a new connection is
  refused at once (the peer is down), and open connections are reset;
- ``black_hole()``: new connections are accepted and open ones stay open, but
  nothing is forwarded either way, ever (a hung PgBouncer, a firewall that
  drops packets, a host that crashed: the kind of fault only a deadline ends);
- ``delaying(seconds)``: every chunk is forwarded after a pause (a slow peer);
- ``cut()``: every open connection is reset now; new ones pass as before.

The proxy holds no state a test must clean up beyond ``stop()``; the
``fault_proxy`` fixture factory does that. Every loop is bounded by the
proxy's lifetime and polls at 50 ms, so a stopped proxy never leaves a
thread behind for long.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

POLL = 0.05
CHUNK = 65536


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.delay = 0.0
        self.accepted = 0
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.port = self._listen(0)
        self._thread = threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- switching faults ------------------------------------------------------

    def passing(self) -> FaultProxy:
        self._set("pass")
        return self

    def refusing(self) -> FaultProxy:
        self._set("refuse")
        self.cut()
        return self

    def black_hole(self) -> FaultProxy:
        self._set("blackhole")
        return self

    def delaying(self, seconds: float) -> FaultProxy:
        self.delay = seconds
        self._set("delay")
        return self

    def cut(self) -> None:
        """Reset every open connection (RST, not FIN: the peer vanished)."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self.cut()
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    # -- machinery --------------------------------------------------------------

    def _set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            listening = self._listener is not None
        if mode == "refuse" and listening:
            with self._lock:
                self._listener.close()
                self._listener = None
        elif mode != "refuse" and not listening:
            self._listen(self.port)

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        listener.setblocking(False)
        with self._lock:
            self._listener = listener
        return listener.getsockname()[1]

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(POLL)
                continue
            try:
                with selectors.DefaultSelector() as selector:
                    selector.register(listener, selectors.EVENT_READ)
                    if not selector.select(POLL):
                        continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed under us by refusing()
                continue
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.setblocking(True)
        if self.mode == "blackhole":
            upstream = None  # accepted, and never answered
        else:
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                return
        if upstream is None:
            self._hold(client)
            return
        pair = (client, upstream)
        with self._lock:
            self._pairs.add(pair)
        threading.Thread(target=self._copy, args=(upstream, client, pair), daemon=True).start()
        self._copy(client, upstream, pair)

    def _hold(self, client: socket.socket) -> None:
        """A connection made during a black hole: read and drop until the proxy stops or the client leaves."""
        pair = (client, client)
        with self._lock:
            self._pairs.add(pair)
        self._copy(client, None, pair)

    def _copy(self, source: socket.socket, target: socket.socket | None, pair) -> None:
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(source, selectors.EVENT_READ)
            except (ValueError, OSError):
                return
            while not self._stopped.is_set():
                with self._lock:
                    if pair not in self._pairs:
                        return
                try:
                    if not selector.select(POLL):
                        continue
                    data = source.recv(CHUNK)
                except OSError:
                    data = b""
                if not data:
                    self._close(pair)
                    return
                if self.mode == "blackhole" or target is None:
                    continue  # swallowed: the other side hears nothing, ever
                if self.mode == "delay":
                    time.sleep(self.delay)
                try:
                    target.sendall(data)
                except OSError:
                    self._close(pair)
                    return

    def _close(self, pair) -> None:
        with self._lock:
            known = pair in self._pairs
            self._pairs.discard(pair)
        if known:
            for sock in pair:
                try:
                    sock.close()
                except OSError:
                    pass


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


@pytest.fixture
def fault_proxy() -> Iterator:
    """A factory: ``fault_proxy(5432)`` starts a proxy to that loopback port; all are stopped after the test."""
    proxies: list[FaultProxy] = []

    def start(upstream_port: int, upstream_host: str = "127.0.0.1") -> FaultProxy:
        proxy = FaultProxy(upstream_port, upstream_host)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()
