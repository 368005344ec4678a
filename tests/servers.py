"""Real server processes for end-to-end tests: gunicorn with the project's config, on free loopback ports."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"


PORTS = range(20000, 32000)
"""Where ``free_port`` looks: below Linux's ephemeral range (32768-60999), which the kernel hands to
outgoing connections and to bind(0). A port taken from there is free when checked but may be some
connection's local port by the time a server binds it, seconds later; with several test processes
(pytest-xdist) connecting all the time, that happened ("Address already in use")."""


def free_port() -> int:
    """A loopback port nothing listens on now, picked at random outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(PORTS)  # noqa: S311 - not a secret; random so parallel processes rarely meet
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the whole range busy: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering at {url}")
        try:
            requests.get(url, timeout=5, allow_redirects=False)
            return
        except requests.RequestException:  # not listening yet, or still loading the app
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url} within {timeout}s")


class Gunicorn:
    """``gunicorn 'app:create_app()'`` for a settings file; ``with Gunicorn(path) as node: node.url``."""

    def __init__(
        self,
        settings: Path,
        workers: int = 1,
        app: str = "app:create_app()",
        env: dict | None = None,
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = settings.parent / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "STEPGATE_SETTINGS": str(settings),
            "STEPGATE_BIND": f"127.0.0.1:{self.port}",
            "STEPGATE_WORKERS": str(workers),
            **(env or {}),
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.args = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), app]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(self.url + "/", self.process)
            self.wait_until_workers_ready()
        except RuntimeError:
            self.__exit__()
            raise RuntimeError(self.log_tail()) from None
        return self

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for a failure message."""
        return self.log.read_text(errors="replace")[-chars:]

    def wait_until_workers_ready(self, timeout: float = 60) -> None:
        """Until every worker has loaded the application (config/gunicorn.conf.py logs it).

        Answering at the URL proves only that one worker is up; a test that needs
        requests to reach each worker (caches, reloads) would otherwise race the
        others' start-up, which takes seconds on a busy machine.
        """
        deadline = time.monotonic() + timeout
        while self.log.read_text().count("Worker ready (pid:") < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.workers} workers not ready within {timeout}s")
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def flask_cli(settings: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``flask --app app ...`` as an administrator would, in its own process."""
    env = {**os.environ, "STEPGATE_SETTINGS": str(settings)}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def flask_cli_here(settings: Path, *args: str):
    """The same ``flask --app app ...`` command, run in this test process: for a test's set-up, not its subject.

    It spares an interpreter start and the app's imports (seconds of CPU on the shared machine), and a
    password it stores is hashed at the test processes' argon2 cost (tests/conftest.py), so the servers
    that later check it do not spend a full-cost verification on every sign-in of a test that is about
    something else. The result is click's (``exit_code``, ``output``).
    """
    from app import create_app
    from app.extensions import db

    application = create_app(settings, testing=True)
    try:
        return application.test_cli_runner().invoke(args=list(args))
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


class ServingThread:
    """A socketserver (``http.server``'s or werkzeug's) serving from a daemon thread until ``stop``."""

    def __init__(self, server):
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
