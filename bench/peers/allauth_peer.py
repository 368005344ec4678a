"""django-allauth as a benchmark peer: its virtual environment, its database, its gunicorn.

The peer (``bench/peers/allauth_site``) lives in ``bench/peers/.venv-allauth``,
made and filled from ``allauth-requirements.txt`` the first time a benchmark
asks for it: Django and allauth are never stepgate's dependencies. It is served
with the gunicorn settings stepgate's benchmarks use (gthread, 4 threads,
keep-alive 5 s, the given number of workers), on SQLite.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.servers import free_port, wait_for

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-allauth"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = HERE / "allauth-requirements.txt"
CALLBACK = "/accounts/oidc/devop/login/callback/"


def ensure_venv() -> Path:
    stamp = VENV / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < REQUIREMENTS.stat().st_mtime:
        print("making the django-allauth peer's virtual environment (bench/peers/.venv-allauth) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
        stamp.touch()
    return PYTHON


class AllauthPeer:
    """``with AllauthPeer(database, issuer) as peer: peer.url``; migrated on entry."""

    def __init__(self, database: Path, issuer: str, port: int | None = None, workers: int = 1):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = database
        self.env = {
            **os.environ,
            "PEER_DATABASE": str(database),
            "PEER_ISSUER": issuer,
            "DJANGO_SETTINGS_MODULE": "allauth_site.settings",
        }
        self.env.pop("PYTHONPATH", None)
        self.workers = workers
        self.log = database.parent / f"allauth-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def migrate(self) -> None:
        subprocess.run([str(ensure_venv()), "-m", "django", "migrate", "-v0"], cwd=HERE, env=self.env, check=True)

    def __enter__(self) -> AllauthPeer:
        args = [str(VENV / "bin" / "gunicorn"), "-k", "gthread", "--threads", "4", "-w", str(self.workers)]
        args += ["--keep-alive", "5", "-b", f"127.0.0.1:{self.port}", "allauth_site.wsgi"]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(args, cwd=HERE, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(self.url + "/", self.process)
        except RuntimeError:
            self.__exit__()
            raise RuntimeError(self.log.read_text()[-3000:]) from None
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


def fill(database: Path, count: int, chunk: int = 20_000) -> None:
    """``count`` users as allauth's auto sign-up leaves them: a user, its e-mail address (not a linked account)."""
    connection = sqlite3.connect(database)
    try:
        first = (connection.execute("SELECT COALESCE(MAX(id), 0) FROM auth_user").fetchone()[0]) + 1
        for low in range(first, first + count, chunk):
            ids = range(low, min(first + count, low + chunk))
            connection.executemany(
                "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, "
                "is_staff, is_active, date_joined) VALUES (?, '!', 0, ?, '', '', ?, 0, 1, '2026-01-01 00:00:00')",
                [(i, f"user{i:07d}", f"user{i:07d}@example.org") for i in ids],
            )
            connection.executemany(
                'INSERT INTO account_emailaddress (user_id, email, verified, "primary") VALUES (?, ?, 1, 1)',
                [(i, f"user{i:07d}@example.org") for i in ids],
            )
            connection.commit()
    finally:
        connection.close()
