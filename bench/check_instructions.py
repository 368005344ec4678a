"""Instructions per session check, counted by callgrind: stepgate's ``/forward-auth`` against the floor's.

    .venv/bin/python -m bench.check_instructions [--sessions 3000] [--checks 400]

CPU time moves with other people's load; an instruction count does not. A site
like ``bench.session_check``'s is seeded, then each server's WSGI application
(stepgate's, ``bench/session_floor.py``'s) runs in a process under valgrind's
callgrind twice: once answering one check, once answering one check and then
``--checks`` more, each with a cookie never seen before (so each reads its row,
as with 100,000 sessions spread over the requests). The difference of the two
totals over ``--checks`` is what one check costs, start-up and imports
cancelled out. Needs valgrind (Debian: ``valgrind``); takes two to five minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.session_check import database_of, seed_sessions, site

ROOT = Path(__file__).resolve().parent.parent


def checks(which: str, settings: Path, first: int, count: int) -> None:
    """In the child under valgrind: answer one check, then ``count`` with the cookies from line ``first`` on."""
    from bench.check_profile import call, environ

    if which == "floor":
        from bench.session_floor import app as application
    else:
        from app import create_app

        application = create_app(settings)
    cookies = (settings.parent / "cookies.txt").read_text().split()
    environs = [environ("/forward-auth", cookie) for cookie in cookies[first : first + count]]
    assert call(application, environ("/forward-auth", cookies[0])).startswith("200")
    for each in environs:
        call(application, each)


def instructions(which: str, settings: Path, first: int, count: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/out",
            sys.executable,
            "-m",
            "bench.check_instructions",
            "--inside",
            which,
            str(settings),
            str(first),
            str(count),
        ]
        env = {**os.environ, "FLOOR_DATABASE_URL": database_of(settings), "PYTHONPATH": str(ROOT)}
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=True)  # noqa: S603
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--checks", type=int, default=400)
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    parser.add_argument("--inside", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        which, settings, first, count = args.inside
        checks(which, Path(settings), int(first), int(count))
        return
    settings = site(args.database_url)
    seed_sessions(settings, args.sessions)
    per = {}
    for number, which in enumerate(("stepgate", "floor")):
        first = 1 + number * args.checks  # each server its own cookies
        base = instructions(which, settings, first, 0)
        per[which] = (instructions(which, settings, first, args.checks) - base) / args.checks
        print(f"{which:9} {per[which] / 1000:7.0f} k instructions per /forward-auth check (each a row read)")
    print(f"stepgate ÷ floor: {per['stepgate'] / per['floor']:.2f}")


if __name__ == "__main__":
    main()
