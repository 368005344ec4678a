"""Benchmark 2b: federated sign-ins beside django-allauth and the floor, with 10,000 and 1,000,000 users.

    .venv/bin/python -m bench.peer_signin [--sizes 10000,1000000] [--signins 100] [--rounds 2] [--write-docs]

Three servers sign people in at the same development provider, with the same
browsers (``tests/browser.py``) on the same URL, each under gunicorn with the
same settings (gthread, 1 worker, 4 threads, keep-alive 5 s), on SQLite:
stepgate (``AutoProvisioningNoPasswordScheme``), the floor
(``bench/minimal_signin.py``) and django-allauth with automatic sign-up
(``bench/peers/allauth_site``, in its own virtual environment, made on first
use). For each store size, each server's database first gets that many users
(inserted in bulk, each with an e-mail address), then rounds of first sign-ins
(new people, each signed up) and returning ones (the same people), the servers
taking turns within each round. Figures: the workers' CPU per sign-in, medians
of the rounds, and stepgate ÷ allauth, stepgate ÷ floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import defaultdict
from pathlib import Path

from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db
from bench.common import Gunicorn, command_line, federated_site, flask, free_port, scratch_site, write_docs
from bench.federated_signin import floor_environment, run, start_provider
from bench.identification import fill as fill_stepgate
from bench.peers.allauth_peer import CALLBACK as ALLAUTH_CALLBACK
from bench.peers.allauth_peer import AllauthPeer, ensure_venv
from bench.peers.allauth_peer import fill as fill_allauth

CHUNK = 20_000


def fill_floor(database_url: str, count: int) -> None:
    """The floor's users with their mail (its tables are made by its worker, already started)."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for low in range(1, count + 1, CHUNK):
            ids = range(low, min(count + 1, low + CHUNK))
            connection.execute(
                text("INSERT INTO floor_users (id, user_name, status) VALUES (:id, :name, 'active')"),
                [{"id": i, "name": f"user{i:07d}"} for i in ids],
            )
            connection.execute(
                text("INSERT INTO floor_attributes (user_id, name, value) VALUES (:id, 'mail', :mail)"),
                [{"id": i, "mail": f"user{i:07d}@example.org"} for i in ids],
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--signins", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)  # issue 16: medians of >= 5 rounds
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    ensure_venv()
    sizes = [int(s) for s in args.sizes.split(",")]
    port, floor_port, peer_port = free_port(), free_port(), free_port()
    provider, issuer = start_provider(port, floor_port, callbacks=(f"http://127.0.0.1:{peer_port}{ALLAUTH_CALLBACK}",))
    figures: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    loads: list[float] = []
    try:
        for size in sizes:
            settings = federated_site(issuer, port=port)
            flask(settings, "db", "upgrade")
            application = create_app(settings)
            with application.app_context():
                fill_stepgate(0, size)
                db.engine.dispose()
            floor_env = floor_environment(issuer, settings)
            peer_db = Path(settings).parent.parent / "allauth.db"
            peer = AllauthPeer(peer_db, issuer, port=peer_port)
            peer.migrate()
            fill_allauth(peer_db, size)
            with (
                Gunicorn(Path(settings), port=port) as stepgate,
                Gunicorn(scratch_site(), app="bench.minimal_signin:app", port=floor_port, env=floor_env) as floor,
                peer,
            ):
                fill_floor(floor_env["FLOOR_DATABASE_URL"], size)
                servers = {"stepgate": stepgate, "floor": floor, "allauth": peer}
                for name, server in servers.items():  # discovery, keys, connections: once per worker thread
                    run(server.url, server.process.pid, [f"warm{size}-{name}{i}" for i in range(8)], 4, False)
                print(f"{size:,} users in each store; signing in", flush=True)
                for round_ in range(args.rounds):
                    loads.append(os.getloadavg()[0])
                    logins = [f"p{size}-{round_}-{i:05d}" for i in range(args.signins)]
                    for kind in ("first", "returning"):
                        for name, server in servers.items():
                            rate, cpu, _ = run(server.url, server.process.pid, logins, args.clients, False)
                            figures[size, kind, name].append(cpu)
                            figures[size, kind, name + "/s"].append(rate)
    finally:
        provider.terminate()
        provider.wait(10)
    lines = [
        "```",
        f"command: {command_line('bench.peer_signin')}",
        f"SQLite; {args.rounds} rounds of {args.signins} sign-ins of each kind per size, {args.clients} browsers at"
        f" once; gunicorn gthread, 1 worker x 4 threads each; medians of the rounds; load average at each round:"
        f" {', '.join(f'{x:.1f}' for x in loads)}",
        "```",
        "",
        "| users | sign-in | stepgate CPU | floor CPU | allauth CPU | **stepgate ÷ allauth** | **stepgate ÷ floor** |"
        " sign-ins/s stepgate / floor / allauth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for kind in ("first", "returning"):
            cpu = {n: statistics.median(figures[size, kind, n]) for n in ("stepgate", "floor", "allauth")}
            rate = {n: statistics.median(figures[size, kind, n + "/s"]) for n in ("stepgate", "floor", "allauth")}
            lines.append(
                f"| {size:,} | {kind} | {cpu['stepgate']:.2f} ms | {cpu['floor']:.2f} ms | {cpu['allauth']:.2f} ms |"
                f" **{cpu['stepgate'] / cpu['allauth']:.2f}** | **{cpu['stepgate'] / cpu['floor']:.2f}** |"
                f" {rate['stepgate']:.1f} / {rate['floor']:.1f} / {rate['allauth']:.1f} |"
            )
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        write_docs("peer_signin", text)


if __name__ == "__main__":
    main()
