"""How SCIM filters scale with the identity store: ``python bench/scim_filter.py [users]``.

Seeds a fresh SQLite store with N users (each with a mail), then times
``GET /scim/v2/Users?filter=emails.value eq "..."``, ``userName eq``, their
``and``/``or``, a ``sw`` prefix and a ``co`` substring through the WSGI app (no
network), and a SCIM create. ``eq``, ``and``, ``or`` and ``sw`` are index
lookups or ranges (``ix_user_attributes_name_value`` / the unique user name),
so their time should not grow with N; ``co`` scans the attribute's values and
does.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.stores.sql import User, UserAttribute  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a throwaway token for a local benchmark


def build(users: int, base: Path):
    (base / "config").mkdir(parents=True)
    (base / "schemes").mkdir()  # SCIM needs no scheme (the shipped ones name providers not configured here)
    settings = {
        "secret_key": "bench-secret-key-0123456789",
        "database_url": f"sqlite:///{base / 'bench.db'}",
        "scim": {"tokens": [TOKEN]},
        "external_url": "http://localhost",  # the test client's host
        "application_domains": {"Demo": {"authentication_policies": {"P": {"public": True}}, "resources": []}},
    }
    (base / "config" / "settings.yaml").write_text(yaml.safe_dump(settings))
    app = create_app(base / "config" / "settings.yaml")
    with app.app_context():
        db.create_all()
        db.session.execute(
            db.insert(User), [{"id": i, "store": "default", "user_name": f"user{i}"} for i in range(1, users + 1)]
        )
        db.session.execute(
            db.insert(UserAttribute),
            [{"user_id": i, "name": "mail", "value": f"user{i}@example.org"} for i in range(1, users + 1)],
        )
        db.session.commit()
    return app


def timed(call, rounds: int) -> float:
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        app = build(users, Path(tmp))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {TOKEN}"}

        def by_mail(i):
            r = client.get(
                "/scim/v2/Users",
                query_string={"filter": f'emails.value eq "user{users - i}@example.org"'},
                headers=headers,
            )
            assert r.status_code == 200 and r.json["totalResults"] == 1

        def by_name(i):
            r = client.get("/scim/v2/Users", query_string={"filter": f'userName eq "user{i + 1}"'}, headers=headers)
            assert r.status_code == 200 and r.json["totalResults"] == 1

        def filtered(text, expected):
            def call(i):
                r = client.get("/scim/v2/Users", query_string={"filter": text(i), "count": 10}, headers=headers)
                assert r.status_code == 200 and r.json["totalResults"] == expected, r.json

            return call

        def create(i):
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"new{i}",
                "emails": [{"value": f"new{i}@example.org", "primary": True}],
            }
            assert client.post("/scim/v2/Users", json=body, headers=headers).status_code == 201

        print(f"users in store: {users}")
        print(f"filter emails.value eq : {timed(by_mail, 200):.2f} ms median")
        print(f"filter userName eq     : {timed(by_name, 200):.2f} ms median")
        both = filtered(lambda i: f'userName eq "user{i + 1}" and emails.value eq "user{i + 1}@example.org"', 1)
        either = filtered(lambda i: f'userName eq "user{i + 1}" or emails.value eq "user{i + 2}@example.org"', 2)
        prefix = filtered(lambda i: f'emails.value sw "user{users - i}@"', 1)
        print(f"filter ... and ...     : {timed(both, 200):.2f} ms median")
        print(f"filter ... or ...      : {timed(either, 200):.2f} ms median")
        print(f"filter emails.value sw : {timed(prefix, 200):.2f} ms median")
        contains = filtered(lambda i: f'emails.value co "er{users - i}@exa"', 1)
        print(f"filter emails.value co : {timed(contains, 20):.2f} ms median (scans the mail values)")
        print(f"create                 : {timed(create, 100):.2f} ms median")


if __name__ == "__main__":
    main()
