"""Redis fails under the session-revocation listener: noticed once, its return told once, revocation still bounded.

The fault-injecting proxy (tests/faultproxy.py) stands between the listener
and the real Redis at 127.0.0.1:6379. A silent Redis (black hole) keeps the
connection open and says nothing: only the listener's own ping can notice it.
"""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import create_engine, text

from app import sessions
from app.deployment import SessionCache as CacheSettings
from app.extensions import db
from app.session_cache import HEALTH_SECONDS, REDIS_TIMEOUT, SessionCache
from app.stores import sql as identity
from tests.test_revocation_listener import logged, wait_until
from tests.test_session_revocation import _redis_answers

pytestmark = pytest.mark.skipif(not _redis_answers(), reason="no Redis at 127.0.0.1:6379: Redis faults not tested")
NOTICED_WITHIN = HEALTH_SECONDS + REDIS_TIMEOUT + 2  # silence, then the unanswered ping, then a poll's slack
BACK_WITHIN = 2 * REDIS_TIMEOUT + 8 + 2  # an attempt still timing out, then the longest backoff reached, then one


def subscribed(cache) -> bool:
    return cache.generation()[1] >= 1  # the listener counts its subscription as a generation


@pytest.mark.parametrize("fault", ["black_hole", "refusing"])
def test_a_silent_or_refusing_redis_is_told_once_when_lost_and_once_when_back(tmp_path, caplog, fault_proxy, fault):
    caplog.set_level(logging.INFO, logger="stepgate.sessions")
    proxy = fault_proxy(6379)
    seconds = {"black_hole": 7, "refusing": 8}[fault]  # tells this test's lines from listeners of earlier tests
    cache = SessionCache(CacheSettings(seconds, tmp_path / "generation", redis_url=f"redis://127.0.0.1:{proxy.port}/0"))
    wait_until(lambda: subscribed(cache), 5, "the listener subscribed")
    before = cache.generation()

    def warnings() -> list[str]:
        return [line for line in logged(caplog, logging.WARNING) if f"session_cache.seconds ({seconds}s)" in line]

    def back() -> list[str]:
        return [line for line in logged(caplog, logging.INFO) if "back on Redis" in line]

    getattr(proxy, fault)()
    lost_at = time.monotonic()
    wait_until(warnings, NOTICED_WITHIN, f"the listener noticed Redis {fault}")
    noticed = time.monotonic() - lost_at
    assert cache.generation() != before  # revocations may be missed from now on: nothing cached is trusted
    started = time.monotonic()
    cache.revoked()  # a logout meanwhile: this machine drops the session at once, and nobody waits on Redis
    assert time.monotonic() - started < 0.5
    time.sleep(6)  # several more failed attempts: none of them logged

    proxy.passing()
    back_at = time.monotonic()
    wait_until(back, BACK_WITHIN, "the listener said it is back on Redis")
    recovered = time.monotonic() - back_at
    time.sleep(1)
    (warning,) = warnings()
    assert "session revocation listener lost Redis" in warning
    assert len(back()) == 1 and "back on Redis after" in back()[0]
    print(f"Redis {fault}: noticed after {noticed:.1f} s, back in service {recovered:.1f} s after it returned")


def test_while_redis_is_silent_a_revocation_on_another_machine_is_honoured_within_the_cache_window(
    make_settings, tmp_path, caplog, fault_proxy
):
    from app import create_app

    caplog.set_level(logging.INFO, logger="stepgate.sessions")
    proxy = fault_proxy(6379)
    window = 2
    application = create_app(
        make_settings(
            extra={
                "session_cache": {
                    "seconds": window,
                    "redis_url": f"redis://127.0.0.1:{proxy.port}/0",
                    "generation_file": str(tmp_path / "this-machine.gen"),
                }
            }
        ),
        testing=True,
    )
    cache = application.extensions["stepgate.session_cache"]
    try:
        with application.app_context():
            db.create_all()
            user = identity.create_user("default", "alice", {}, None)
            db.session.flush()
            token, _ = sessions.open_session(user.id, "alice", 1, "PasswordScheme", 3600)
            db.session.commit()
            wait_until(lambda: subscribed(cache), 5, "the listener subscribed")
            proxy.black_hole()
            ours = f"within session_cache.seconds ({window}s)"  # not a listener left over from another test
            noticed = lambda: any(ours in line for line in logged(caplog, logging.WARNING))  # noqa: E731
            wait_until(noticed, NOTICED_WITHIN, "the listener noticed the silence")
            assert cache.check(token) is not None  # read, and cached for the window

            other_machine = create_engine(application.config["SQLALCHEMY_DATABASE_URI"])
            with other_machine.begin() as connection:  # a logout there: its publish never reaches this machine
                connection.execute(text("DELETE FROM sessions"))
            other_machine.dispose()
            revoked_at = time.monotonic()
            wait_until(lambda: cache.check(token) is None, window + 1, "the revoked session was dropped")
            assert time.monotonic() - revoked_at <= window + 0.5
            db.session.remove()
    finally:
        with application.app_context():
            db.engine.dispose()
