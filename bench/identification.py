"""Benchmark 3: user identification time with 10 thousand, 100 thousand and 1 million users.

    .venv/bin/python -m bench.identification [--sizes 10000,100000,1000000] [--lookups 2000] [--database-url URL]

Users are bulk-inserted (each with a ``mail`` attribute) into a database made
by the migrations; after each size, random users are identified the way
UserIdentificationPlugin does it (``identity.find_by_attribute``), by user name
(``(uid={USERNAME})``) and by mail (``(mail={USERNAME})``). The figure that
counts is the time at 1 million over the time at 10 thousand (target <= 1.5):
an index lookup stays flat, a scan grows with the store.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import insert, text

from app import create_app, identity
from app.extensions import db
from app.identity import User, UserAttribute
from app.timeutil import utcnow
from bench.common import command_line, flask, scratch_site

CHUNK = 20_000


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


def identify(size: int, lookups: int, attribute: str) -> list[float]:
    rng = random.Random(size)
    times = []
    for _ in range(lookups):
        n = rng.randint(1, size)
        value = f"user{n:07d}" if attribute == "uid" else f"user{n:07d}@example.org"
        started = time.perf_counter()
        users = identity.find_by_attribute("default", attribute, value)
        times.append(time.perf_counter() - started)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = scratch_site(database_url=args.database_url)
    flask(settings, "db", "upgrade")
    app = create_app(settings)
    results = {}
    with app.app_context():
        print(f"command: {command_line('bench.identification')}")
        print(f"database: {db.engine.dialect.name}")
        have = 0
        for size in sizes:
            took = fill(have, size)
            have = size
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("ANALYZE"))
                db.session.commit()
            identify(size, 200, "uid")  # warm the cache of pages
            row = {}
            for attribute in ("uid", "mail"):
                times = sorted(identify(size, args.lookups, attribute))
                row[attribute] = (statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6)
            results[size] = row
            print(
                f"{size:>9,} users (inserted in {took:.1f} s): by user name p50 {row['uid'][0]:.0f} us"
                f" p99 {row['uid'][1]:.0f} us; by mail p50 {row['mail'][0]:.0f} us p99 {row['mail'][1]:.0f} us"
            )
        print(f"plan by user name: {plan('uid')}")
        print(f"plan by mail:      {plan('mail')}")
    small, large = results[sizes[0]], results[sizes[-1]]
    for attribute, label in (("uid", "user name"), ("mail", "mail")):
        print(
            f"ratio {sizes[-1]:,} / {sizes[0]:,} users, by {label} (p50): "
            f"{large[attribute][0] / small[attribute][0]:.2f}  (target <= 1.5)"
        )


if __name__ == "__main__":
    main()
