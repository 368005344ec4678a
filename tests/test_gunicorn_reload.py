"""SIGHUP to gunicorn's master reloads like nginx: valid files replace the workers, invalid ones are refused.

A real gunicorn with config/gunicorn.conf.py. The workers themselves never look
at the files again (``scheme_reload_seconds`` is an hour), so only the SIGHUP
can explain what they serve, and only the master's check can explain the log.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.browser import Browser
from tests.servers import Gunicorn
from tests.test_scheme_reload import with_otp_prompt

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(app, make_settings):
    """The settings file (written after ``app`` made the database, over the file it wrote)."""
    return make_settings(extra={"scheme_reload_seconds": 3600})


@pytest.fixture
def scheme_file(site):
    return site.parent.parent / "schemes" / "PasswordScheme.yaml"


@pytest.fixture
def alice(add_user):
    return add_user("alice", password=PASSWORD, mail="alice@example.org")


def hang_up(server: Gunicorn) -> None:
    os.kill(server.process.pid, signal.SIGHUP)


def wait_for_log(server: Gunicorn, text: str, count: int = 1, timeout: float = 30) -> str:
    """The server's log once ``text`` appears in it ``count`` times."""
    deadline = time.monotonic() + timeout
    while (log := server.log.read_text()).count(text) < count:
        assert server.process.poll() is None, f"gunicorn exited:\n{log[-3000:]}"
        assert time.monotonic() < deadline, f"{text!r} not logged {count} time(s) within {timeout}s:\n{log[-3000:]}"
        time.sleep(0.1)
    return log


def workers(server: Gunicorn) -> set[int]:
    """The pids of the workers the master has started so far and not yet reaped."""
    booted = {int(line.rsplit(" ", 1)[1]) for line in server.log.read_text().splitlines() if "Booting worker" in line}
    return {pid for pid in booted if _running(pid)}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_gone(pids: set[int], timeout: float = 30) -> None:
    """Until the master has stopped (and reaped) these workers: from then on only new workers answer."""
    deadline = time.monotonic() + timeout
    while any(_running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers {pids} still run {timeout}s after the reload"
        time.sleep(0.1)


def signs_in_alice(server: Gunicorn) -> str:
    """Sign alice in with a fresh browser; the text of the sign-in form she was shown."""
    with Browser(server.url) as browser:
        form = browser.get("/demo/").text
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
        assert '<strong id="user-name">alice</strong>' in done.text, done.text[:400]
    return form


def test_a_broken_scheme_on_sighup_is_refused_with_file_and_line_and_a_fixed_one_is_served(site, scheme_file, alice):
    good = scheme_file.read_text()
    with Gunicorn(site, workers=2) as server:
        assert "One-time code" not in signs_in_alice(server)
        first_workers = workers(server)
        assert len(first_workers) == 2

        broken = good.replace("KEY_PASSWORD_PARAM: PASSWORD", "KEY_PASSWORD_PARAMETER: PASSWORD")
        assert broken != good
        scheme_file.write_text(broken)
        hang_up(server)
        log = wait_for_log(server, "reload refused")
        line = broken.splitlines().index("        KEY_PASSWORD_PARAMETER: PASSWORD") + 1
        assert (
            "reload refused, the running workers keep serving the previous files: "
            f"{scheme_file}:{line}: unknown parameter 'KEY_PASSWORD_PARAMETER'"
        ) in log
        assert "Worker failed to boot" not in log
        assert server.process.poll() is None
        assert workers(server) == first_workers, server.log_tail()  # not replaced
        assert "One-time code" not in signs_in_alice(server)  # the previous scheme still signs people in

        scheme_file.write_text(with_otp_prompt(good))
        hang_up(server)
        wait_for_log(server, "replacing the workers")
        wait_until_gone(first_workers)
        assert len(workers(server)) == 2 and server.process.poll() is None
        with Browser(server.url) as browser:
            assert "One-time code" in browser.get("/demo/").text  # the fixed scheme, with its new prompt


def test_broken_settings_on_sighup_are_refused_and_the_server_keeps_serving(site, alice):
    good = site.read_text()
    with Gunicorn(site) as server:
        first_workers = workers(server)
        site.write_text(good.replace("scheme_reload_seconds: 3600", "scheme_reload_seconds: -1"))
        hang_up(server)
        log = wait_for_log(server, "reload refused")
        line = site.read_text().splitlines().index("scheme_reload_seconds: -1") + 1
        assert f"{site}:{line}: 'scheme_reload_seconds' must be a whole number >= 0" in log
        assert workers(server) == first_workers
        signs_in_alice(server)

        site.write_text(good)
        hang_up(server)
        log = wait_for_log(server, "replacing the workers")
        wait_until_gone(first_workers)
        signs_in_alice(server)
        assert server.process.poll() is None and log.count("reload refused") == 1
