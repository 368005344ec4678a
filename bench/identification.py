"""Benchmark 3: user identification time with 10 thousand, 100 thousand and 1 million users.

    .venv/bin/python -m bench.identification [--sizes 10000,100000,1000000] [--lookups 2000] [--rounds 5]
                                          [--database-url URL] [--write-docs]

Users are bulk-inserted (each with a ``mail`` attribute) into a database made
by the migrations; after each size, random users are identified the way
UserIdentificationPlugin does it (``identity.find_by_attribute``), by user name
(``(uid={USERNAME})``) and by mail (``(mail={USERNAME})``). Each size has its own database, filled first; then
the sizes take turns every 100 lookups within each of ``--rounds`` rounds, so
the machine's drift touches them alike. The figure that counts is the median over
the rounds of the time at 1 million over the time at 10 thousand (target
<= 1.2): an index lookup stays flat, a scan grows with the store.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from sqlalchemy import insert, text

from app import create_app
from app.extensions import db
from app.stores import sql as identity
from app.stores.sql import User, UserAttribute
from app.timeutil import utcnow
from bench.common import command_line, flask, scratch_site, write_docs

CHUNK = 20_000
SLICE = 100  # lookups of one size before the next size's turn


def fill(start: int, stop: int) -> float:
    began = time.perf_counter()
    now = utcnow()
    for low in range(start, stop, CHUNK):
        ids = range(low + 1, min(stop, low + CHUNK) + 1)
        db.session.execute(
            insert(User),
            [
                {
                    "id": i,
                    "store": "default",
                    "user_name": f"user{i:07d}",
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        db.session.execute(
            insert(UserAttribute), [{"user_id": i, "name": "mail", "value": f"user{i:07d}@example.org"} for i in ids]
        )
        db.session.commit()
    return time.perf_counter() - began


_RNG: dict[int, random.Random] = {}
CPU: dict[tuple[int, str], list[float]] = {}  # this thread's CPU time per lookup: what others' load disturbs least


def identify(size: int, lookups: int, attribute: str) -> list[float]:
    rng = _RNG.setdefault(size, random.Random(size))
    times = []
    for _ in range(lookups):
        n = rng.randint(1, size)
        value = f"user{n:07d}" if attribute == "uid" else f"user{n:07d}@example.org"
        started, cpu = time.perf_counter(), time.thread_time()
        users = identity.find_by_attribute("default", attribute, value)
        times.append(time.perf_counter() - started)
        CPU.setdefault((size, attribute), []).append(time.thread_time() - cpu)
        assert len(users) == 1 and users[0].id == n
        db.session.expunge_all()
    return times


def plan(attribute: str) -> str:
    """How the database runs the lookup (SQLite's EXPLAIN QUERY PLAN / PostgreSQL's EXPLAIN)."""
    if attribute == "uid":
        sql = "SELECT id FROM users WHERE store = 'default' AND user_name_key = 'user0000001'"
    else:
        sql = (
            "SELECT users.id FROM users JOIN user_attributes ON users.id = user_attributes.user_id "
            "WHERE user_attributes.name = 'mail' AND user_attributes.value = 'user0000001@example.org'"
        )
    explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    rows = db.session.execute(text(explain + sql)).all()
    return " | ".join(str(row[-1]) for row in rows)


def fresh_database(url: str) -> str:
    """An empty PostgreSQL database at ``url``, made (or made again) on its server."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="PostgreSQL: a database URL; <name>_<size> is made afresh for each size")
    parser.add_argument("--write-docs", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    apps, fills = {}, {}
    for size in sizes:  # one database per size, all kept: the sizes are then measured round by round
        url = fresh_database(f"{args.database_url.rstrip('/')}_{size}") if args.database_url else None
        settings = scratch_site(database_url=url)
        flask(settings, "db", "upgrade")
        apps[size] = create_app(settings)
        with apps[size].app_context():
            fills[size] = fill(0, size)
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("ANALYZE"))
                db.session.commit()
            identify(size, 200, "uid")  # warm the cache of pages
            dialect = db.engine.dialect.name
        print(f"{size:>9,} users inserted in {fills[size]:.1f} s", flush=True)
    medians = {(size, a): [] for size in sizes for a in ("uid", "mail")}
    p99s = {(size, a): [] for size in sizes for a in ("uid", "mail")}
    cpus = {(size, a): [] for size in sizes for a in ("uid", "mail")}
    loads = []
    for number in range(args.rounds):
        loads.append(os.getloadavg()[0])
        order = sizes if number % 2 == 0 else sizes[::-1]  # drift in one direction cancels out
        times = {key: [] for key in medians}
        CPU.clear()
        for _ in range(max(1, args.lookups // SLICE)):  # the sizes take turns every SLICE lookups
            for size in order:
                with apps[size].app_context():
                    for attribute in ("uid", "mail"):
                        times[size, attribute] += identify(size, SLICE, attribute)
        for key, taken in times.items():
            taken.sort()
            medians[key].append(statistics.median(taken) * 1e6)
            p99s[key].append(taken[int(len(taken) * 0.99)] * 1e6)
            cpus[key].append(statistics.median(CPU[key]) * 1e6)
    with apps[sizes[-1]].app_context():
        plans = {attribute: plan(attribute) for attribute in ("uid", "mail")}
    lines = [
        "```",
        f"command: {command_line('bench.identification')}",
        f"database: {dialect}; {args.rounds} rounds, the sizes taking turns every {SLICE} lookups within each"
        f" (order reversed every other round), {args.lookups} lookups per size, attribute and round;"
        " load average at each round: "
        f"{', '.join(f'{x:.1f}' for x in loads)}",
        f"plan by user name: {plans['uid']}",
        f"plan by mail:      {plans['mail']}",
        "```",
        "",
        "| users | by user name: p50 per round (µs) | median p50 / p99 | by mail: p50 per round (µs) |"
        " median p50 / p99 |",
        "|---|---|---|---|---|",
    ]
    for size in sizes:
        cells = []
        for attribute in ("uid", "mail"):
            rounds = medians[size, attribute]
            cells += [
                ", ".join(f"{m:.0f}" for m in rounds),
                f"{statistics.median(rounds):.0f} / {statistics.median(p99s[size, attribute]):.0f} µs",
            ]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    lines.append("")
    for attribute, label in (("uid", "user name"), ("mail", "mail")):
        ratios = [
            large / small
            for small, large in zip(medians[sizes[0], attribute], medians[sizes[-1], attribute], strict=True)
        ]
        ratio = statistics.median(ratios)
        cpu_ratio = statistics.median(
            large / small for small, large in zip(cpus[sizes[0], attribute], cpus[sizes[-1], attribute], strict=True)
        )
        lines.append(
            f"- {sizes[-1]:,} ÷ {sizes[0]:,} by {label}: per round {', '.join(f'{r:.2f}' for r in ratios)};"
            f" **median {ratio:.2f}** (target ≤ 1.2: {'met' if ratio <= 1.2 else 'NOT met'}); CPU time per lookup"
            f" {statistics.median(cpus[sizes[0], attribute]):.0f} → {statistics.median(cpus[sizes[-1], attribute]):.0f}"
            f" µs, ratio {cpu_ratio:.2f}"
        )
    report = "\n".join(lines)
    print(report)
    if args.write_docs:
        write_docs(f"identification_{dialect}", report)


if __name__ == "__main__":
    main()
