"""A cached session dies everywhere at once: logout and lock reach every process, and other machines.

Each server process caches the sessions it has checked (app/session_cache.py).
These tests run real gunicorn processes sharing one database, with a cache
lifetime long enough (300 s) that only the invalidation can explain a refusal.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.browser import Browser
from tests.servers import Gunicorn, flask_cli

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(add_user):
    return add_user("alice", password=PASSWORD, mail="alice@example.org")


def signed_in_as(base_url: str, cookie: str) -> str | None:
    """Who the server at ``base_url`` thinks holds this copied session cookie (None: nobody)."""
    page = requests.get(base_url + "/demo/", cookies={"stepgate_session": cookie}, timeout=10)
    if '<strong id="user-name">' not in page.text:
        return None
    return page.text.split('<strong id="user-name">', 1)[1].split("<", 1)[0]


def sign_in(base_url: str) -> Browser:
    browser = Browser(base_url)
    browser.get("/demo/")
    done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert '<strong id="user-name">alice</strong>' in done.text
    return browser


def test_logout_on_one_process_refuses_the_copied_cookie_on_another_at_once(make_settings, app, alice):
    settings = make_settings(extra={"session_cache": {"seconds": 300}})
    with Gunicorn(settings) as first, Gunicorn(settings) as second:
        with sign_in(first.url) as browser:
            cookie = browser.cookie("stepgate_session")
            assert signed_in_as(second.url, cookie) == "alice"  # now cached in the second process
            assert signed_in_as(second.url, cookie) == "alice"
            browser.sign_out()
        assert signed_in_as(second.url, cookie) is None
        assert signed_in_as(first.url, cookie) is None


def test_locking_from_the_command_line_ends_cached_sessions_in_running_servers(make_settings, app, alice):
    settings = make_settings(extra={"session_cache": {"seconds": 300}})
    with Gunicorn(settings, workers=2) as server:
        with sign_in(server.url) as browser:
            cookie = browser.cookie("stepgate_session")
        for _ in range(6):  # reach (and fill the cache of) both workers
            assert signed_in_as(server.url, cookie) == "alice"
        locked = flask_cli(settings, "users", "lock", "alice")
        assert locked.returncode == 0, locked.stderr
        for _ in range(6):
            assert signed_in_as(server.url, cookie) is None


def test_a_node_that_hears_nothing_trusts_its_cache_no_longer_than_the_configured_bound(
    make_settings, app, alice, tmp_path
):
    """Two machines without Redis: the other node refuses the cookie once ``seconds`` have passed."""
    base = {"seconds": 2}
    node_a = make_settings(extra={"session_cache": {**base, "generation_file": str(tmp_path / "a.gen")}})
    text = node_a.read_text()
    node_b = node_a.with_name("node-b.yaml")
    node_b.write_text(text.replace(str(tmp_path / "a.gen"), str(tmp_path / "b.gen")))
    with Gunicorn(node_a) as first, Gunicorn(node_b) as second:
        with sign_in(first.url) as browser:
            cookie = browser.cookie("stepgate_session")
            assert signed_in_as(second.url, cookie) == "alice"
            browser.sign_out()
        assert signed_in_as(first.url, cookie) is None
        time.sleep(2.2)
        assert signed_in_as(second.url, cookie) is None


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis at 127.0.0.1:6379: cross-machine revocation not tested")
def test_redis_carries_a_logout_to_another_machine_long_before_the_bound(make_settings, app, alice, tmp_path):
    redis_url = "redis://127.0.0.1:6379/0"
    node_a = make_settings(
        extra={"session_cache": {"seconds": 300, "generation_file": str(tmp_path / "a.gen"), "redis_url": redis_url}}
    )
    node_b = node_a.with_name("node-b.yaml")
    node_b.write_text(node_a.read_text().replace(str(tmp_path / "a.gen"), str(tmp_path / "b.gen")))
    with Gunicorn(node_a) as first, Gunicorn(node_b) as second:
        with sign_in(first.url) as browser:
            cookie = browser.cookie("stepgate_session")
            assert signed_in_as(second.url, cookie) == "alice"
            browser.sign_out()
        deadline = time.monotonic() + 3
        while signed_in_as(second.url, cookie) is not None:
            assert time.monotonic() < deadline, "the other node still honours the cookie 3 s after logout"
            time.sleep(0.05)
