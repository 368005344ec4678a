"""How fast the admin console's pages are with a large identity store.

    python bench/admin_pages.py [--users 1000000] [--database-url URL]

Fills a throwaway SQLite database (or the given database, which must be
empty) with N users, two attributes each and some audit events, then times
each console page over the test client as a signed-in administrator: the
median of a few requests, first page and a deep page.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app, sessions  # noqa: E402
from app.audit import AuditEvent  # noqa: E402
from app.extensions import db  # noqa: E402
from app.settings import PROJECT_ROOT  # noqa: E402
from app.stores import sql as identity
from app.stores.sql import User, UserAttribute  # noqa: E402

CHUNK = 20_000


def make_app(database_url: str, workdir: Path):
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((PROJECT_ROOT / "config" / "settings.yaml").read_text())
    settings.update(
        secret_key="bench-secret-key-0123456789",  # noqa: S106 - a throwaway database
        database_url=database_url,
        schemes_dir=str(PROJECT_ROOT / "schemes"),
    )
    path = workdir / "config" / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return create_app(path)


def fill(n: int) -> None:
    now = time.perf_counter()
    for start in range(0, n, CHUNK):
        ids = range(start + 1, min(start + CHUNK, n) + 1)
        db.session.execute(
            insert(User), [{"id": i, "store": "default", "user_name": f"user{i:07}", "status": "active"} for i in ids]
        )
        db.session.execute(
            insert(UserAttribute),
            [{"user_id": i, "name": "mail", "value": f"user{i:07}@example.org"} for i in ids]
            + [{"user_id": i, "name": "team", "value": f"team{i % 100}"} for i in ids],
        )
        db.session.execute(insert(AuditEvent), [{"event": "user.created", "user_id": i} for i in ids[:: CHUNK // 100]])
        db.session.commit()
    print(f"filled {n} users in {time.perf_counter() - now:.1f} s", flush=True)


def timed(client, path: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        application = make_app(url, Path(tmp))
        with application.app_context():
            db.create_all()
            fill(args.users)
            admin = identity.create_user("default", "bench-admin", {"groups": "admins"})
            db.session.flush()
            token = sessions.create(admin.id, 2, "AdminScheme", 3600)
            db.session.commit()
        client = application.test_client()
        client.set_cookie("stepgate_session", token)
        deep = args.users - 100
        pages = [
            "/admin/users",
            f"/admin/users?after={deep}",
            f"/admin/users?name=mail&value=user{deep:07}@example.org",
            "/admin/users?name=team&value=team7",
            f"/admin/users?name=team&value=team7&after={deep}",
            f"/admin/users?name=uid&value=user{deep // 10:06}",
            f"/admin/users/{deep}",
            "/admin/audit",
            "/admin/audit?event=user.created&user=user0000001",
            "/admin/flows",
            "/admin/providers",
            "/admin/registrations",
            "/admin/schemes/PasswordScheme",
        ]
        print(f"{args.users} users, {url.split(':')[0]}; median of 5 requests per page")
        for path in pages:
            print(f"{timed(client, path):8.1f} ms  {path}")


if __name__ == "__main__":
    main()
