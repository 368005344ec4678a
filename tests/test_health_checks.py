"""Probes: ``/healthz`` says the process is up, ``/readyz`` whether it can serve sign-ins now.

Over real HTTP to a live server, addressed the way a kubelet addresses a pod
(its IP as Host, which no allowed_hosts lists). Readiness is proven against
real PostgreSQL and Redis behind the fault-injecting proxy (tests/faultproxy.py):
503 while the database or Redis refuses, 200 again once they answer, while
liveness stays 200 throughout (a database outage must not get a healthy
process restarted).
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.web.health import MEASURE_EVERY
from tests import pg
from tests.conftest import LiveServer
from tests.test_session_revocation import _redis_answers

POD_HOST = "10.42.0.17:5000"  # what a kubelet's httpGet probe sends as Host: the pod's IP
WORDS = {"ok", "unavailable", "not configured"}


def probe(server: LiveServer, path: str, method: str = "GET", host: str = POD_HOST) -> requests.Response:
    return requests.request(method, server.url + path, headers={"Host": host}, timeout=15, allow_redirects=False)


def wait_for_status(server: LiveServer, path: str, status: int, within: float) -> requests.Response:
    deadline = time.monotonic() + within
    while True:
        answer = probe(server, path)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def assert_bare_body(answer: requests.Response, *secrets: str) -> dict:
    """Fixed words only: no error text, no URL, nothing of the settings."""
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers
    body = answer.json()
    assert set(body.values()) <= WORDS
    for secret in secrets:
        assert secret not in answer.text
    return body


def test_liveness_answers_a_probe_addressed_by_pod_ip_without_a_session_or_cookie(live_server):
    answer = probe(live_server, "/healthz")
    assert answer.status_code == 200
    assert assert_bare_body(answer) == {"status": "ok"}
    assert probe(live_server, "/healthz", "HEAD").status_code == 200


def test_readiness_lists_each_dependency_and_says_nothing_of_the_settings(live_server, app):
    answer = probe(live_server, "/readyz")
    assert answer.status_code == 200, answer.text
    body = assert_bare_body(answer, app.config["SECRET_KEY"], app.config["SQLALCHEMY_DATABASE_URI"])
    assert body == {"status": "ok", "database": "ok", "redis": "not configured", "schemes": "ok"}


def test_other_paths_still_get_the_host_check(live_server):
    assert probe(live_server, "/").status_code == 400  # the exemption is for the probes alone
    assert probe(live_server, "/healthz/x").status_code == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_probes_accept_only_get_and_head(live_server, method):
    for path in ("/healthz", "/readyz"):
        answer = probe(live_server, path, method)
        assert answer.status_code == 405
        assert answer.headers["Allow"] == "GET, HEAD"


def test_a_flood_of_readiness_probes_costs_the_database_one_query_a_second(app, client):
    statements = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    started = time.monotonic()
    for _ in range(200):
        assert client.get("/readyz", headers={"Host": POD_HOST}).status_code == 200
    seconds = time.monotonic() - started
    assert 1 <= statements.count("SELECT 1") <= int(seconds / MEASURE_EVERY) + 1


def test_under_a_path_prefix_the_probes_answer_with_and_without_it(make_settings):
    application = create_app(make_settings(extra={"external_url": "http://localhost/sso"}), testing=True)
    with application.app_context():
        db.create_all()
    client = application.test_client()
    try:
        for path in ("/healthz", "/sso/healthz", "/readyz", "/sso/readyz"):
            assert client.get(path, headers={"Host": POD_HOST}).status_code == 200, path
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.fixture
def proxied_postgres(fault_proxy):
    """A fresh PostgreSQL database reached through a fault proxy: (url through the proxy, proxy)."""
    for url in pg.throwaway_database("readiness while the database is down needs PostgreSQL"):
        proxy = fault_proxy(make_url(url).port or 5432)
        yield make_url(url).set(port=proxy.port).render_as_string(hide_password=False), proxy


def serve(settings_path):
    application = create_app(settings_path, testing=True)
    return application, LiveServer(application).start()


def test_readiness_fails_while_the_database_refuses_and_recovers_when_it_answers(make_settings, proxied_postgres):
    url, proxy = proxied_postgres
    application, server = serve(make_settings(extra={"database_url": url}))
    try:
        assert probe(server, "/readyz").status_code == 200
        proxy.refusing()
        down = wait_for_status(server, "/readyz", 503, within=10)
        assert down.status_code == 503
        assert assert_bare_body(down, url, str(proxy.port))["database"] == "unavailable"
        assert json.loads(down.text)["status"] == "unavailable"
        assert probe(server, "/healthz").status_code == 200  # liveness: the process itself is fine
        proxy.passing()
        assert wait_for_status(server, "/readyz", 200, within=10).status_code == 200
    finally:
        server.stop()
        with application.app_context():
            db.engine.dispose()


def test_readiness_fails_while_a_silent_database_lets_every_probe_time_out(make_settings, proxied_postgres):
    url, proxy = proxied_postgres
    application, server = serve(make_settings(extra={"database_url": url}))
    try:
        assert probe(server, "/readyz").status_code == 200
        proxy.black_hole()
        with application.app_context():
            db.engine.dispose()  # the next check opens a connection into the silence
        started = time.monotonic()
        answer = wait_for_status(server, "/readyz", 503, within=15)
        assert answer.status_code == 503
        assert time.monotonic() - started < 12  # bounded by the connect timeout, not hung
    finally:
        proxy.passing()
        server.stop()
        with application.app_context():
            db.engine.dispose()


@pytest.mark.skipif(not _redis_answers(), reason="no Redis at 127.0.0.1:6379: readiness over Redis not tested")
def test_readiness_fails_while_the_configured_redis_refuses(make_settings, fault_proxy):
    proxy = fault_proxy(6379)
    settings = make_settings(extra={"session_cache": {"redis_url": f"redis://127.0.0.1:{proxy.port}/0"}})
    application, server = serve(settings)
    with application.app_context():
        db.create_all()
    try:
        assert probe(server, "/readyz").json()["redis"] == "ok"
        proxy.refusing()
        down = wait_for_status(server, "/readyz", 503, within=10)
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable", "database": "ok", "redis": "unavailable", "schemes": "ok"}
        proxy.passing()
        assert wait_for_status(server, "/readyz", 200, within=10).status_code == 200
    finally:
        server.stop()
        with application.app_context():
            db.engine.dispose()
