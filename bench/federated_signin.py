"""Benchmark 2: full sign-ins through the real development OpenID Provider, first and returning.

    .venv/bin/python -m bench.federated_signin [--signins 200] [--clients 4] [--rounds 2]

stepgate runs under gunicorn with config/gunicorn.conf.py (gthread, one
worker, 4 threads); the development provider (devop/, oidc-provider on Node)
runs beside it. Each sign-in is a new browser: open a page protected by the JIT
scheme without password (AutoProvisioningNoPasswordScheme), sign in at the
provider, come back through the callback (code exchange, ID token validation,
JIT provisioning or update, session), land on the page. First sign-ins use new
user names (each creates an account); returning sign-ins repeat them.

Figures: sign-ins per second with ``--clients`` browsers at once, and the CPU
time stepgate's worker spent per sign-in (every request of it; the provider's
time is its own process and is not counted).

Two baselines, measured in the same run under the same gunicorn settings,
alternating with stepgate round by round (the machine's speed moves from one
minute to the next):

- the floor (``bench/minimal_signin.py``): the least a Flask + SQLAlchemy
  application can do for the same sign-in, with the same provider, browsers
  and URLs: every check (state, PKCE, signature, iss, aud, exp, nonce,
  userinfo's sub) and every write (flow, user, link, session, audit), and no
  engine, plugins, caches or metrics. "stepgate / floor" is what stepgate's
  own machinery costs on top of what any sign-in costs on this stack;
- a Flask "hello world" visited the way a sign-in visits stepgate (a new
  connection, then three requests on it): what gunicorn and Flask spend on
  those three requests before any application code runs.
"""

from __future__ import annotations

import argparse
import builtins
import os
import shutil
import statistics
import subprocess
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import requests

from bench.common import (
    ROOT,
    Gunicorn,
    command_line,
    cpu_seconds_of_workers,
    federated_site,
    flask,
    free_port,
    scratch_site,
    wait_for,
    worker_rss_mb,
    write_docs,
)
from bench.counted import COUNTS_PATH
from tests.browser import Browser
from tests.oidc_fixtures import CALLBACK

DEVOP = ROOT / "devop"
PAGE = "/demo/jit-nopassword/welcome"


def start_provider(*ports: int, callbacks: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """The development provider, with one client whose redirect URIs are the callbacks on ``ports`` (and
    ``callbacks``, whole URLs: a peer's)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("node and npm are needed for the development OpenID Provider")
    if not (DEVOP / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DEVOP, check=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    redirects = "|".join([*(f"http://127.0.0.1:{server_port}{CALLBACK}" for server_port in ports), *callbacks])
    client = f"stepgate:bench-client-secret:{redirects}"
    process = subprocess.Popen(
        [node, "server.mjs", "--port", str(port), "--issuer", issuer, "--client", client],
        cwd=DEVOP,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(f"{issuer}/.well-known/openid-configuration", process)
    return process, issuer


def floor_environment(issuer: str, settings: Path, database_url: str | None = None) -> dict[str, str]:
    """What bench/minimal_signin.py reads: the provider, and the database (beside stepgate's scratch site's)."""
    return {
        "FLOOR_ISSUER": issuer,
        "FLOOR_DATABASE_URL": database_url or f"sqlite:///{settings.parent.parent / 'floor.db'}",
    }


def sign_in(base_url: str, login: str) -> None:
    with Browser(base_url) as browser:
        page = browser.get(PAGE)
        assert 'id="devop-login"' in page.text, page.text[:300]
        done = browser.submit({"login": login, "email_unverified": ""})
        assert done.url == base_url + PAGE and f'<strong id="user-name">{login}</strong>' in done.text, done.text[:500]


def counts(base_url: str) -> dict[str, int]:
    """Requests, SQL statements and commits the (one) worker has counted so far (bench/counted.py)."""
    return requests.get(base_url + COUNTS_PATH, timeout=10).json()


def run(
    base_url: str, master_pid: int, logins: list[str], clients: int, counted: bool = True
) -> tuple[float, float, dict[str, float]]:
    """(sign-ins per second, CPU ms per sign-in, {requests, statements, commits} per sign-in if ``counted``)."""
    before = counts(base_url) if counted else {}
    cpu_before = cpu_seconds_of_workers(master_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda login: sign_in(base_url, login), logins))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds_of_workers(master_pid) - cpu_before
    after = counts(base_url) if counted else {}
    per = {name: (after[name] - before[name]) / len(logins) for name in after}
    return len(logins) / elapsed, cpu * 1000 / len(logins), per


def baseline(hello: Gunicorn, visits: int, clients: int) -> float:
    """CPU ms the hello world's worker spends per sign-in-shaped visit: a new connection, three GETs."""

    def visit(_: int) -> None:
        connection = HTTPConnection("127.0.0.1", hello.port, timeout=10)
        try:
            for _ in range(3):
                connection.request("GET", "/")
                connection.getresponse().read()
        finally:
            connection.close()

    cpu_before = cpu_seconds_of_workers(hello.process.pid)
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(visit, range(visits)))
    return (cpu_seconds_of_workers(hello.process.pid) - cpu_before) * 1000 / visits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signins", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of first + returning sign-ins, new people each"
    )  # issue 16: medians of >= 5
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    parser.add_argument("--write-docs", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()
    port, floor_port = free_port(), free_port()
    provider, issuer = start_provider(port, floor_port)
    figures: dict[str, list[float]] = defaultdict(list)
    loads: list[float] = []
    try:
        settings = federated_site(issuer, args.database_url, port=port)
        flask(settings, "db", "upgrade")
        floor_env = floor_environment(issuer, settings, args.database_url)
        with (
            Gunicorn(Path(settings), port=port, app="bench.counted:stepgate") as stepgate,
            Gunicorn(scratch_site(), app="bench.counted:floor", port=floor_port, env=floor_env) as floor,
            Gunicorn(scratch_site(), app="bench.hello:app") as hello,
        ):
            servers = {"stepgate": stepgate, "floor": floor}
            # discovery, keys, connections and compiled statements: once per worker thread, not per sign-in
            for name, server in servers.items():
                run(
                    server.url, server.process.pid, [f"warmup-{name}{i}" for i in range(2 * args.clients)], args.clients
                )
            baseline(hello, 50, args.clients)
            for round_ in range(args.rounds):
                loads.append(os.getloadavg()[0])
                logins = [f"person{round_}-{i:05d}" for i in range(args.signins)]
                for kind in ("first", "returning"):  # the same people twice: created, then recognised
                    for name, server in servers.items():
                        rate, cpu, per = run(server.url, server.process.pid, logins, args.clients)
                        figures[f"{name} {kind}"].append(cpu)
                        figures[f"{name} {kind}/s"].append(rate)
                        for counted, value in per.items():
                            figures[f"{name} {kind} {counted}"].append(value)
                    figures["hello"].append(baseline(hello, args.signins, args.clients))
            rss = worker_rss_mb(stepgate.process.pid)
    finally:
        provider.terminate()
        provider.wait(10)
    report(args, figures, rss, loads)


def report(args: argparse.Namespace, figures: dict[str, list[float]], rss: list[float], loads: list[float]) -> None:
    lines: list[str] = []
    print = lines.append  # noqa: A001 - the report's lines are printed and may go into docs/benchmarks.md
    hello_cpu = statistics.median(figures["hello"])
    print(f"command: {command_line('bench.federated_signin')}")
    print(
        f"{args.rounds} round(s) of {args.signins} sign-ins of each kind, {args.clients} browsers at once;"
        " gunicorn gthread (config/gunicorn.conf.py), 1 worker each; medians of the rounds;"
        f" database: {'PostgreSQL' if args.database_url else 'SQLite'}; load average at each round:"
        f" {', '.join(f'{x:.1f}' for x in loads)}"
    )
    print(f"baseline, Flask hello world: new connection + 3 requests: {hello_cpu:.2f} ms CPU per visit")
    for kind in ("first", "returning"):
        cpu, floor = statistics.median(figures[f"stepgate {kind}"]), statistics.median(figures[f"floor {kind}"])
        ratios = [s / f for s, f in zip(figures[f"stepgate {kind}"], figures[f"floor {kind}"], strict=True)]
        print(
            f"{kind + ' sign-in':18} stepgate {statistics.median(figures[f'stepgate {kind}/s']):5.1f} sign-ins/s,"
            f" CPU {cpu:5.2f} ms per sign-in (rounds: {_listed(figures[f'stepgate {kind}'])})"
        )
        print(
            f"{'':18} floor    {statistics.median(figures[f'floor {kind}/s']):5.1f} sign-ins/s,"
            f" CPU {floor:5.2f} ms per sign-in (rounds: {_listed(figures[f'floor {kind}'])})"
        )
        print(
            f"{'':18} stepgate / floor = {statistics.median(ratios):.2f} (rounds: {_listed(ratios)});"
            f" stepgate / hello visit = {cpu / hello_cpu:.2f}; floor / hello visit = {floor / hello_cpu:.2f};"
            f" target <= 1.15: {'met' if statistics.median(ratios) <= 1.15 else 'NOT met'}"
        )
    for kind in ("first", "returning"):
        for name in ("stepgate", "floor"):
            per = {c: statistics.median(figures[f"{name} {kind} {c}"]) for c in ("requests", "statements", "commits")}
            print(
                f"{kind + ' sign-in':18} {name:8} per sign-in: {per['requests']:.1f} requests,"
                f" {per['statements']:.1f} SQL statements, {per['commits']:.1f} commits"
                f" ({per['statements'] / per['requests']:.1f} statements and {per['commits'] / per['requests']:.2f}"
                " commits per request)"
            )
    print(f"stepgate worker RSS after the run: {', '.join(f'{mb:.1f} MB' for mb in rss)}  (target < 150 MB)")
    text = "\n".join(lines)
    builtins.print("```\n" + text + "\n```")
    if args.write_docs:
        write_docs(f"federated_signin_{'postgresql' if args.database_url else 'sqlite'}", "```\n" + text + "\n```")


def _listed(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
