"""Benchmark 1: the forward-auth session check under gunicorn, beside a Flask hello world.

    .venv/bin/python bench/session_check.py [--seconds 10] [--connections 16] [--database-url URL]

Both servers run with the same gunicorn settings (config/gunicorn.conf.py:
gthread, one worker per core, 4 threads). The check is GET /forward-auth with
a valid server-side session cookie and nginx's X-Original-URL, answered 200
with identity headers. Figures: requests/s at peak (best of the rounds, each
server measured alternately), the ratio, and p50/p99 latency at half of the
check's peak rate; then the resident memory of each stepgate worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
from urllib.parse import urlencode

import requests

from bench.common import (
    Gunicorn,
    command_line,
    cpu_seconds_of_workers,
    flask,
    load,
    load_at_rate,
    scratch_site,
    worker_rss_mb,
)
from tests.browser import Browser

APP_HOST = "app.example.org"
PASSWORD = "bench-password-0123"


def site(database_url: str | None, cache_seconds: int = 5):
    settings = scratch_site(
        {
            "session_cache": {"seconds": cache_seconds},
            "forward_auth": {"proxies": ["127.0.0.1"], "attribute_headers": {"mail": "X-Stepgate-Mail"}},
            "application_domains": {
                "Apps": {
                    "authentication_policies": {"Staff Policy": {"scheme": "PasswordScheme"}},
                    "resources": [{"url": "/**", "host": APP_HOST, "policy": "Staff Policy"}],
                }
            },
        },
        database_url,
    )
    flask(settings, "db", "upgrade")
    flask(settings, "users", "add", "alice", "--password", PASSWORD, "--attr", "mail=alice@example.org")
    return settings


def sign_in(base_url: str) -> str:
    with Browser(base_url) as browser:
        browser.get("/login?" + urlencode({"next": f"http://{APP_HOST}/"}))
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD}, allow_redirects=False)
        assert done.status_code == 302, done.text
        return browser.cookie("stepgate_session")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    parser.add_argument("--cache-seconds", type=int, default=5, help="session_cache.seconds; 0 reads the row always")
    args = parser.parse_args()
    settings = site(args.database_url, args.cache_seconds)
    workers = os.environ.get("STEPGATE_WORKERS", str(os.cpu_count() or 2))
    with (
        Gunicorn(settings, workers=int(workers)) as stepgate,
        Gunicorn(settings, workers=int(workers), app="bench.hello:app") as hello,
    ):
        cookie = sign_in(stepgate.url)
        check_url = stepgate.url + "/forward-auth"
        headers = {"X-Original-URL": f"http://{APP_HOST}/reports", "Cookie": f"stepgate_session={cookie}"}
        answer = requests.get(check_url, headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.headers["X-Stepgate-User"] == "alice", answer.text
        load(hello.url + "/", 2, args.connections, {})  # warm up both
        load(check_url, 2, args.connections, headers)
        hello_runs, check_runs, cpu = [], [], {"hello": [], "check": []}
        for _ in range(args.rounds):
            for name, server, url, sent, runs in (
                ("hello", hello, hello.url + "/", {}, hello_runs),
                ("check", stepgate, check_url, headers, check_runs),
            ):
                before = cpu_seconds_of_workers(server.process.pid)
                runs.append(load(url, args.seconds, args.connections, sent))
                used = cpu_seconds_of_workers(server.process.pid) - before
                cpu[name].append(used * 1e6 / runs[-1].requests)
        best_hello = max(hello_runs, key=lambda r: r.rps)
        best_check = max(check_runs, key=lambda r: r.rps)
        half = load_at_rate(check_url, args.seconds, headers, rate=best_check.rps / 2)
        rss = worker_rss_mb(stepgate.process.pid)
    assert all(r.errors == 0 for r in [*hello_runs, *check_runs, half]), "non-2xx answers during the run"
    print(f"command: {command_line('bench.session_check')}")
    print(f"database: {args.database_url or 'SQLite'}; session_cache.seconds: {args.cache_seconds}")
    print(
        f"load generator: {best_check.tool}; gunicorn gthread, {workers} workers x 4 threads; "
        f"{args.connections} connections, {args.seconds} s per run, {args.rounds} rounds"
    )
    for name, runs in (("hello world", hello_runs), ("session check", check_runs)):
        best = max(runs, key=lambda r: r.rps)
        print(
            f"{name:14} rps per round: {', '.join(f'{r.rps:.0f}' for r in runs)}"
            f"  (median {statistics.median(r.rps for r in runs):.0f}); best round p50 {best.p50_ms:.2f} ms"
            f" p99 {best.p99_ms:.2f} ms"
        )
    print(f"ratio session check / hello world (best rounds): {best_check.rps / best_hello.rps:.2f}  (target >= 0.80)")
    hello_cpu, check_cpu = statistics.median(cpu["hello"]), statistics.median(cpu["check"])
    print(
        f"server CPU per request (median of rounds): hello world {hello_cpu:.0f} us, session check {check_cpu:.0f} us;"
        f" ratio hello/check {hello_cpu / check_cpu:.2f} (the same comparison, less sensitive to a shared machine)"
    )
    print(
        f"session check at half of peak (asked {best_check.rps / 2:.0f}, got {half.rps:.0f} rps):"
        f" p50 {half.p50_ms:.2f} ms, p99 {half.p99_ms:.2f} ms (target p99 <= 10 ms)"
    )
    print(f"stepgate worker RSS after the run: {', '.join(f'{m:.1f} MB' for m in rss)}  (target < 150 MB)")


if __name__ == "__main__":
    main()
