"""The fault-injecting proxy the reliability tests stand between stepgate and its peers (tests/faultproxy.py)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def echo_port():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _echo(port: int, payload: bytes = b"ping", timeout: float = 1.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        return sock.recv(1024)


def test_passing_proxy_copies_bytes_both_ways(echo_port, fault_proxy):
    proxy = fault_proxy(echo_port)
    assert _echo(proxy.port) == b"ping"


def test_refusing_proxy_refuses_at_once_then_passes_again_on_the_same_port(echo_port, fault_proxy):
    proxy = fault_proxy(echo_port).refusing()
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        _echo(proxy.port)
    assert time.monotonic() - started < 0.5
    proxy.passing()
    assert _echo(proxy.port) == b"ping"


def test_black_hole_accepts_and_never_answers_on_new_and_open_connections(echo_port, fault_proxy):
    proxy = fault_proxy(echo_port)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5) as open_before:
        open_before.sendall(b"a")
        assert open_before.recv(16) == b"a"
        proxy.black_hole()
        open_before.sendall(b"b")
        with pytest.raises(TimeoutError):
            open_before.recv(16)
    with pytest.raises(TimeoutError):
        _echo(proxy.port, timeout=0.5)


def test_cut_resets_open_connections_and_lets_new_ones_pass(echo_port, fault_proxy):
    proxy = fault_proxy(echo_port)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=1) as sock:
        sock.sendall(b"a")
        assert sock.recv(16) == b"a"
        proxy.cut()
        time.sleep(0.1)
        with pytest.raises(OSError):
            sock.sendall(b"b")
            if not sock.recv(16):
                raise ConnectionResetError("closed")
    assert _echo(proxy.port) == b"ping"


def test_delaying_proxy_forwards_late(echo_port, fault_proxy):
    proxy = fault_proxy(echo_port).delaying(0.3)
    started = time.monotonic()
    assert _echo(proxy.port, timeout=2) == b"ping"
    assert time.monotonic() - started >= 0.3
