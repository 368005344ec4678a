"""The session-revocation listener through a Redis outage: one warning, backing off, and caught up once back.

One SessionCache in this process stands for one worker; its listener thread
(app/session_cache.py) is the real one, talking to a port where nothing listens
or to the real Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import logging
import os
import time

import pytest

from app.deployment import SessionCache as CacheSettings
from app.session_cache import CHANNEL, SessionCache
from tests.servers import free_port
from tests.test_session_revocation import _redis_answers

REDIS_URL = "redis://127.0.0.1:6379/0"


def listening_cache(tmp_path, redis_url: str) -> SessionCache:
    cache = SessionCache(CacheSettings(seconds=5, generation_file=tmp_path / "generation", redis_url=redis_url))
    cache.generation()  # the first look starts this process's listener, as a worker's first request does
    return cache


def logged(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "stepgate.sessions" and r.levelno == level]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.05)


def test_while_redis_is_unreachable_the_listener_warns_once_and_waits_longer_each_time(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="stepgate.sessions")
    cache = listening_cache(tmp_path, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there

    time.sleep(5)  # attempts at 0, 1 and 3 s (then 7 s): the old listener warned at every one, each second

    warnings = logged(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert "session revocation listener lost Redis" in warnings[0]
    assert "within session_cache.seconds (5s)" in warnings[0]  # what the outage means for revocations
    assert cache.retry_delay == 8  # 1, 2, 4 s waited so far; the next wait is 8 s (and never more than 30)
    assert cache.redis_lost_at is not None and not logged(caplog, logging.INFO)


def test_a_revocation_that_cannot_reach_redis_says_what_it_means(tmp_path, caplog):
    cache = SessionCache(
        CacheSettings(
            seconds=5, generation_file=tmp_path / "generation", redis_url=f"redis://127.0.0.1:{free_port()}/0"
        )
    )
    before = cache.file.read()
    with caplog.at_level(logging.WARNING, logger="stepgate.sessions"):
        cache.revoked()  # a logout: it must not fail because Redis is away
    assert cache.file.read() == before + 1  # this machine's processes drop the session all the same
    (warning,) = logged(caplog, logging.WARNING)
    assert "could not publish a session revocation on Redis" in warning
    assert "other machines may still honour it for up to session_cache.seconds (5s)" in warning


@pytest.mark.skipif(not _redis_answers(), reason="no Redis at 127.0.0.1:6379: the listener's reconnection not tested")
def test_a_revocation_published_after_the_listener_reconnects_still_drops_the_cache(tmp_path, caplog):
    import redis

    caplog.set_level(logging.INFO, logger="stepgate.sessions")
    admin = redis.Redis.from_url(REDIS_URL)
    name = f"stepgate-revocations-{os.getpid()}"  # how the listener names its connection in CLIENT LIST

    def listener_connections() -> list[str]:
        # Subscribed ones only: a connection redis-py's pool has opened but not yet used is replaced silently
        # when found dead (no outage to report), so killing it would prove nothing (1 run in ~60 under load).
        return [c["id"] for c in admin.client_list() if c.get("name") == name and int(c.get("sub", 0)) > 0]

    cache = listening_cache(tmp_path, REDIS_URL)
    wait_until(lambda: listener_connections(), 5, "the listener subscribed")
    before_outage = cache.generation()
    for client_id in listener_connections():
        admin.client_kill_filter(_id=client_id)  # Redis drops the connection, as when it restarts

    wait_until(lambda: logged(caplog, logging.INFO), 10, "the listener said it is back on Redis")
    assert len(logged(caplog, logging.WARNING)) == 1
    (back,) = logged(caplog, logging.INFO)
    assert "back on Redis after" in back and "s away; cached sessions dropped" in back
    assert cache.generation() != before_outage  # what was published meanwhile was missed: nothing cached is kept

    before = cache.generation()
    admin.publish(CHANNEL, "another machine")
    wait_until(lambda: cache.generation() != before, 5, "the cache heard the revocation published after reconnecting")
    admin.close()
