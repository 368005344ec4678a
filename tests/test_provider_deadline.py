"""Deadlines in the provider transport (app/oidc/transport.py): no peer stretches a call or a sign-in.

A peer that trickles its answer one byte at a time never lets a receive time
out; one that black-holes never answers; both must end by the request's own
bound (connect + read timeout) and by the enclosing sign-in deadline. And the
transport's isolation: the breaker hears failures and refuses at once, the
bulkhead refuses a call while slow ones hold its slots.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.oidc import transport
from app.oidc.breaker import CircuitBreaker, State
from app.oidc.bulkhead import Bulkhead
from tests.servers import ServingThread


class Trickler:
    """Reads a request, then sends an HTTP answer one byte every ``pause`` seconds, for ever."""

    def __init__(self, pause: float = 0.05):
        self.pause = pause
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        with conn:
            conn.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
            for byte in answer:
                if self._stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(self.pause)

    def stop(self):
        self._stop.set()
        self.listener.close()


@pytest.fixture
def trickler():
    server = Trickler()
    yield server
    server.stop()


class _Json(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"ok": True}).encode()
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def json_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    serving = ServingThread(server)
    serving.start()
    yield server.server_address[1]
    serving.stop()


def timed(call):
    started = time.monotonic()
    try:
        call()
    except transport.TransportError as exc:
        return exc, time.monotonic() - started
    raise AssertionError("the call succeeded")


def test_a_trickling_answer_ends_at_the_requests_own_bound_of_connect_plus_read_timeout(trickler):
    http = transport.Transport((0.5, 1.0))
    failure, seconds = timed(lambda: http.get(f"http://127.0.0.1:{trickler.port}/token"))
    assert isinstance(failure, transport.Timeout) and str(failure) == "deadline passed"
    assert 1.4 < seconds < 2.0, "every byte came within the read timeout; the total still ended it"


def test_a_trickling_answer_ends_at_the_sign_in_deadline(trickler):
    http = transport.Transport((3, 10))
    with transport.deadline(0.6):
        failure, seconds = timed(lambda: http.get(f"http://127.0.0.1:{trickler.port}/token"))
    assert isinstance(failure, transport.Timeout) and 0.55 < seconds < 0.9


def test_calls_inside_one_deadline_share_it_and_none_starts_after_it(fault_proxy, json_port):
    proxy = fault_proxy(json_port).black_hole()
    http = transport.Transport((1, 0.4))
    url = f"http://127.0.0.1:{proxy.port}/userinfo"
    started = time.monotonic()
    with transport.deadline(0.7):
        first, _ = timed(lambda: http.get(url))
        second, _ = timed(lambda: http.get(url))
        third, seconds = timed(lambda: http.get(url))
    assert str(first) == "read timed out" and str(second) == "deadline passed"
    assert str(third) == "deadline passed before the call" and seconds < 0.01
    assert time.monotonic() - started < 0.9


def test_the_deadline_also_bounds_a_reused_keep_alive_connection(fault_proxy, json_port):
    proxy = fault_proxy(json_port)
    http = transport.Transport((1, 5))
    url = f"http://127.0.0.1:{proxy.port}/discovery"
    assert http.get(url).json() == {"ok": True}
    proxy.black_hole()  # the open connection stays open, and silent
    with transport.deadline(0.5):
        failure, seconds = timed(lambda: http.get(url))
    assert isinstance(failure, transport.Timeout) and seconds < 0.8


def test_the_breaker_hears_connection_failures_refuses_at_once_then_lets_a_probe_through(fault_proxy, json_port):
    proxy = fault_proxy(json_port).refusing()
    breaker = CircuitBreaker("corp", failures=2, cooldown=0.3)
    http = transport.Transport((1, 1), breaker=breaker)
    url = f"http://127.0.0.1:{proxy.port}/jwks"
    for _ in range(2):
        assert isinstance(timed(lambda: http.get(url))[0], transport.Unreachable)
    assert breaker.state is State.OPEN
    refused, seconds = timed(lambda: http.get(url))
    assert isinstance(refused, transport.CircuitOpen) and seconds < 0.01 and proxy.accepted == 0
    proxy.passing()
    time.sleep(0.3)
    assert http.get(url).json() == {"ok": True}
    assert breaker.state is State.CLOSED


def test_an_error_answer_is_an_answer_for_the_breaker(json_port):
    breaker = CircuitBreaker("corp", failures=1, cooldown=30)
    http = transport.Transport((1, 1), breaker=breaker)
    assert http.get(f"http://127.0.0.1:{json_port}/missing").status == 404
    assert breaker.state is State.CLOSED and breaker.allow()


def test_the_bulkhead_refuses_a_call_while_slow_calls_hold_its_slots(fault_proxy, json_port):
    proxy = fault_proxy(json_port).black_hole()
    http = transport.Transport((1, 1.5), bulkhead=Bulkhead(1, patience=0.1))
    url = f"http://127.0.0.1:{proxy.port}/token"
    holder = threading.Thread(target=lambda: timed(lambda: http.get(url)))
    holder.start()
    time.sleep(0.3)
    refused, seconds = timed(lambda: http.get(url))
    assert isinstance(refused, transport.Busy) and seconds < 0.05
    holder.join()
    proxy.passing()
    assert http.get(url).json() == {"ok": True}, "the slot came back"
