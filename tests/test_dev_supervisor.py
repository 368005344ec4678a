"""``make run``'s supervisor starts every process together and stops them all on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(120)"
SUPERVISE = f"""
import sys
from dev.processes import PROCESSES, Process
PROCESSES[:] = [Process("one", [sys.executable, "-c", {CHILD!r}]), Process("two", [sys.executable, "-c", {CHILD!r}])]
from dev.supervisor import main
sys.exit(main())
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_every_process():
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISE], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    pids, deadline = {}, time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        line = supervisor.stdout.readline()
        name, _, rest = line.partition(" | ")
        if rest.startswith("pid "):
            pids[name.strip()] = int(rest.split()[1])
    assert set(pids) == {"one", "two"}
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(15) == 0
    assert "supervisor: stopping" in supervisor.stdout.read()
    supervisor.stdout.close()
    time.sleep(0.2)
    assert not any(alive(pid) for pid in pids.values())
