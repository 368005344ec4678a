"""Identification and password sign-in on an LDAP store (real slapd) against the SQL store, in the same run.

    .venv/bin/python -m bench.ldap_identification [--sizes 10000,100000] [--rounds 5] [--per-round 200]

For each size, that many people are loaded into both stores: slapadd into a
fresh OpenLDAP (tests/ldap_server.py: loopback, MDB, ``uid`` indexed) and a
bulk insert into SQLite. Then, in interleaved rounds (LDAP, SQL, LDAP, SQL...,
so a busy machine slows both alike), random people of a fixed sample are
identified the way UserIdentificationPlugin does it (``store.find`` with
``(uid=<escaped name>)``) and their password checked the way
UserAuthenticationPlugin does it (``store.check_password``: a bind as the
person on LDAP, argon2 on SQL). Medians and 90th percentiles over all rounds
are printed.

The LDAP figure includes stepgate's row for the entry (read, and refreshed
when the entry changed): the steady state, after the sample was seen once; the
first sight of an entry (insert of its row) is printed apart. The target: an
identification under 2 ms p50 on loopback, through the connection pool.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import update

from app import create_app, stores
from app.extensions import db
from app.passwords import hash_password
from app.stores.ldapfilter import escape
from bench.common import command_line, flask, scratch_site
from bench.identification import fill
from tests.ldap_server import ROOT_DN, ROOT_PASSWORD, SUFFIX, start_slapd

PASSWORD = "bench-password-0123"  # noqa: S105 - every benchmark person's password
PEOPLE = f"ou=people,{SUFFIX}"


def ldif(size: int) -> str:
    from ldap3 import HASHED_SALTED_SHA
    from ldap3.utils.hashed import hashed

    secret = hashed(HASHED_SALTED_SHA, PASSWORD)
    parts = [f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n"]
    for i in range(1, size + 1):
        name = f"user{i:07d}"
        parts.append(
            f"dn: uid={name},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name}\nsn: {name}\n"
            f"mail: {name}@example.org\nuserPassword: {secret}\n"
        )
    return "\n".join(parts) + "\n"


def timed(operation) -> float:
    started = time.perf_counter()
    operation()
    return time.perf_counter() - started


def measure(store, names: list[str], rng: random.Random) -> tuple[list[float], list[float]]:
    """Identify random people of ``names``, then check their passwords; the times of each.

    All identifications of a round come before its password checks: an argon2
    check sweeps 64 MiB of memory, which would slow whatever follows it on SQL.
    """
    found, checked, users = [], [], []
    for _ in range(len(names)):
        search = f"(uid={escape(rng.choice(names))})"
        started = time.perf_counter()
        matched = store.find(search)
        found.append(time.perf_counter() - started)
        assert len(matched) == 1, (store.name, search, matched)
        users.append(matched[0])
        db.session.rollback()
    for user in users:
        started = time.perf_counter()
        answer = store.check_password(user, PASSWORD)
        checked.append(time.perf_counter() - started)
        assert answer.proven, (store.name, user.user_name, answer)
        db.session.rollback()
    return found, checked


def run_size(size: int, args, folder: Path) -> dict:
    data = folder / f"people-{size}.ldif"
    data.write_text(ldif(size))
    began = time.perf_counter()
    slapd = start_slapd(folder / f"slapd-{size}", data)
    loaded = time.perf_counter() - began
    try:
        corp = {
            "kind": "ldap",
            "ldap": {
                "urls": [slapd.url],
                "bind_dn": ROOT_DN,
                "bind_password": ROOT_PASSWORD,
                "user_base": PEOPLE,
                "pool_size": 2,
            },
        }
        settings = scratch_site(extra={"identity_stores": {"default": {}, "corp": corp}})
        flask(settings, "db", "upgrade")
        app = create_app(settings)
        with app.app_context():
            fill(0, size)
            db.session.execute(update(stores.sql.User).values(password_hash=hash_password(PASSWORD)))
            db.session.commit()
            ldap_store, sql_store = stores.get("corp"), stores.get("default")
            rng = random.Random(size)
            sample = [f"user{rng.randint(1, size):07d}" for _ in range(args.per_round)]
            first = []
            for name in sample:  # the first sight of each entry inserts its row
                first.append(timed(lambda n=name: ldap_store.find(f"(uid={escape(n)})")))
                db.session.commit()
            figures = {"ldap": ([], []), "sql": ([], [])}
            for round_number in range(args.rounds):
                for kind, store in (("ldap", ldap_store), ("sql", sql_store)):
                    found, checked = measure(store, sample, random.Random(round_number))
                    figures[kind][0].extend(found)
                    figures[kind][1].extend(checked)
            stores.close_all(app)
        return {"loaded": loaded, "first": first, **figures}
    finally:
        slapd.stop()


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered) * 1e3:.2f} ms, p90 {ordered[int(len(ordered) * 0.9)] * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args()
    print(f"command: {command_line('bench.ldap_identification')}")
    folder = Path(tempfile.mkdtemp(prefix="stepgate-bench-ldap-"))
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            result = run_size(size, args, folder)
            print(f"{size:>7,} people (slapadd and start {result['loaded']:.1f} s)")
            print(f"  LDAP identification, first sight of an entry: {ms(result['first'])}")
            for kind in ("ldap", "sql"):
                found, checked = result[kind]
                print(f"  {kind.upper():>4} identification {ms(found)}; password check {ms(checked)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
