"""Debian packages the tests need (chromium, nginx, slapd): installed with apt-get when missing and root.

Every pytest-xdist worker may reach for the same package at once on a fresh
machine; dpkg takes one installer at a time and the others used to fail on
its lock and skip their tests. Here the test processes queue on a file lock
of their own, the first installs, the others find the package present; apt
also waits for dpkg's lock (another apt on the machine) instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

LOCK = Path(tempfile.gettempdir()) / "stepgate-tests-apt.lock"
WAIT_FOR_DPKG = ["-o", "DPkg::Lock::Timeout=600"]


def require(packages: list[str], present: Callable[[], bool], env: dict | None = None) -> None:
    """Return once ``present()`` holds, installing ``packages`` if needed; skip the test, saying why, if it can't."""
    if present():
        return
    wanted = " ".join(packages)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{wanted} missing and apt-get can't run here (not root): apt-get install {wanted}")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when this process dies
        if present():  # another test process installed it while this one waited
            return
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})}

        def apt(*args: str) -> subprocess.CompletedProcess:
            command = ["apt-get", *WAIT_FOR_DPKG, *args]
            return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900, check=False)

        done = apt("install", "-y", "-q", *packages)
        if done.returncode != 0:  # a fresh machine's package lists may be missing or stale
            apt("update", "-q")
            done = apt("install", "-y", "-q", *packages)
    if done.returncode != 0 or not present():
        pytest.skip(f"apt-get install {wanted} failed: {done.stderr[-500:]}")
