"""Start the development processes together; stop them all on Ctrl-C or when one exits.

``python dev/supervisor.py`` runs every entry of ``dev.processes.PROCESSES``,
prefixes each line of output with the process name, and on Ctrl-C (or the
first process to exit) terminates the others, killing any that do not stop
within a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dev.processes import PROCESSES, WEB_PORT, Process  # noqa: E402

STOP_GRACE_SECONDS = 5


def start(process: Process, width: int) -> subprocess.Popen:
    child = subprocess.Popen(  # noqa: S603 - argv from dev/processes.py, never from input
        process.argv,
        cwd=process.cwd,
        env={**os.environ, **process.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # Ctrl-C reaches the supervisor, which stops the children in order
    )
    threading.Thread(target=_relay, args=(process.name.ljust(width), child), daemon=True).start()
    return child


def _relay(prefix: str, child: subprocess.Popen) -> None:
    for line in child.stdout:
        print(f"{prefix} | {line}", end="", flush=True)


def stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, child in children.items():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"supervisor: {name} did not stop; killing it", flush=True)
            child.kill()
            child.wait()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    width = max(len(p.name) for p in PROCESSES)
    children: dict[str, subprocess.Popen] = {}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for process in PROCESSES:
            children[process.name] = start(process, width)
        print(f"supervisor: open http://127.0.0.1:{WEB_PORT}/ (Ctrl-C stops everything)", flush=True)
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"supervisor: {name} exited with {child.returncode}; stopping the rest", flush=True)
                    return child.returncode or 1
            time.sleep(0.3)
    except KeyboardInterrupt:
        print("\nsupervisor: stopping", flush=True)
        return 0
    finally:
        stop(children)


if __name__ == "__main__":
    sys.exit(main())
