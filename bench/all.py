"""``make bench``: every benchmark in turn, each writing its figures into docs/benchmarks.md.

    .venv/bin/python -m bench.all [--quick]

PostgreSQL legs run when a server answers at 127.0.0.1:5432 (user ``postgres``,
``STEPGATE_BENCH_POSTGRES`` to give another URL); they are skipped, and said
so, otherwise. ``--quick``: a few seconds of each, for trying the scripts out
(the figures are then not worth writing down, and are not written).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

POSTGRES = os.environ.get("STEPGATE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/stepgate_bench")

FULL = [
    ["bench.session_check", "--write-docs"],
    ["bench.session_memory", "--write-docs"],
    ["bench.federated_signin", "--write-docs"],
    ["bench.federated_signin", "--write-docs", "--database-url", "{postgres}"],
    ["bench.peer_signin", "--write-docs"],
    ["bench.identification", "--write-docs"],
    ["bench.enumeration"],
    ["bench.path_judgement"],
    ["bench.provider_brownout"],
]
QUICK = {
    "bench.session_check": ["--sessions", "5000", "--rounds", "1", "--seconds", "3"],
    "bench.session_memory": ["--sessions", "5000", "--checks", "20000", "--signins", "5", "--slice-seconds", "3"],
    "bench.federated_signin": ["--signins", "10", "--rounds", "1"],
    "bench.identification": ["--sizes", "1000,10000", "--lookups", "200", "--rounds", "2"],
    "bench.peer_signin": ["--sizes", "1000", "--signins", "8", "--rounds", "1"],
}


def postgres_database() -> str | None:
    """A fresh, empty database on the local PostgreSQL server, or None when there is none."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES)
    try:
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
        server.dispose()
    except Exception as exc:  # noqa: BLE001 - no server: the PostgreSQL legs are skipped
        print(f"PostgreSQL legs skipped: no server at {url.render_as_string(hide_password=True)} ({exc})", flush=True)
        return None
    return url.render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    failed = []
    for command in FULL:
        module, rest = command[0], command[1:]
        if "{postgres}" in rest:
            database = postgres_database()
            if database is None:
                continue
            rest = [database if part == "{postgres}" else part for part in rest]
        if args.quick:
            if module not in QUICK:
                continue
            rest = [part for part in rest if part != "--write-docs"] + QUICK[module]
        print(f"\n== {module} {' '.join(rest)}", flush=True)
        if subprocess.run([sys.executable, "-m", module, *rest], check=False).returncode != 0:
            failed.append(module)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
