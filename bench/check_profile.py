"""Where a session check's CPU goes, in process: stepgate's ``/forward-auth`` and ``/demo/`` beside the floor's.

    .venv/bin/python -m bench.check_profile [--sessions 5000] [--checks 5000] [--profile forward-auth]

A site like ``bench.session_check``'s (the same settings and seeded rows), its
WSGI application called directly, every check with a cookie of its own (so
every check misses the session cache and reads the row, as with 100,000
sessions spread over the requests), then the same for ``bench/session_floor.py``
on the same database. Printed: the CPU time (``time.thread_time``) per check,
median of 5 batches, for each; ``--profile NAME`` adds cProfile's 25 costliest
functions of that one. CPU time in one thread is much less disturbed by other
processes than requests per second, so the ratios hold on a busy machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

from werkzeug.test import EnvironBuilder

from bench.session_check import APP_HOST, database_of, seed_sessions, site


def environ(path: str, cookie: str, also: str = "") -> dict:
    headers = {"X-Original-URL": f"http://{APP_HOST}/reports", "Cookie": f"stepgate_session={cookie}{also}"}
    return EnvironBuilder(path=path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()


def csrf_cookie(application, cookie: str) -> str:
    """The signed Flask cookie a browser keeps from its first page (see bench.session_check.browser_cookies)."""
    client = application.test_client()
    client.set_cookie("stepgate_session", cookie)
    client.get("/demo/")
    return f"; stepgate_csrf={client.get_cookie('stepgate_csrf').value}"


def call(application, env: dict) -> str:
    answer: list[str] = []
    body = application(dict(env), lambda status, headers, exc_info=None: answer.append(status))
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return answer[0]


def measure(application, path: str, cookies: list[str], also: str = "", batches: int = 5) -> float:
    """CPU µs per check, median of ``batches`` batches, each cookie used once."""
    size = len(cookies) // batches
    envs = [environ(path, cookie, also) for cookie in cookies]
    assert call(application, envs[0]).startswith("200"), call(application, envs[0])
    per: list[float] = []
    for number in range(batches):
        chunk = envs[number * size : (number + 1) * size]
        began = time.thread_time()
        for env in chunk:
            call(application, env)
        per.append((time.thread_time() - began) * 1e6 / len(chunk))
    return statistics.median(per)


def profile(application, path: str, cookies: list[str], also: str = "") -> str:
    envs = [environ(path, cookie, also) for cookie in cookies]
    profiler = cProfile.Profile()
    profiler.enable()
    for env in envs:
        call(application, env)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=12_000)
    parser.add_argument("--checks", type=int, default=2_000, help="per server and URL")
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    parser.add_argument(
        "--profile", choices=["forward-auth", "page", "page, no CSRF cookie", "floor forward-auth", "floor page"]
    )
    args = parser.parse_args()
    settings = site(args.database_url)
    cookies = seed_sessions(settings, args.sessions).read_text().split()
    os.environ["STEPGATE_SETTINGS"] = str(settings)
    os.environ["FLOOR_DATABASE_URL"] = database_of(settings)
    from app import create_app
    from bench import session_floor

    stepgate = create_app(settings)
    also = csrf_cookie(stepgate, cookies[-1])
    servers = {
        "forward-auth": (stepgate, "/forward-auth", ""),
        "page": (stepgate, "/demo/", also),
        "page, no CSRF cookie": (stepgate, "/demo/", ""),
        "floor forward-auth": (session_floor.app, "/forward-auth", ""),
        "floor page": (session_floor.app, "/demo/", ""),
    }
    results = {}
    for number, (name, (application, path, sent)) in enumerate(servers.items()):
        # each server and URL its own cookies, never seen before: every check a row read
        mine = cookies[number * args.checks : (number + 1) * args.checks]
        if len(mine) < args.checks:
            sys.exit(f"--sessions must be at least {len(servers)} x --checks ({len(servers) * args.checks})")
        results[name] = measure(application, path, mine, sent)
        print(f"{name:20} {results[name]:7.0f} µs CPU per check (every check a row read)", flush=True)
    for name in ("forward-auth", "page"):
        print(f"stepgate {name} ÷ floor: {results[name] / results['floor ' + name]:.2f}")
    if args.profile:
        application, path, sent = servers[args.profile]
        print(profile(application, path, cookies[-args.checks - 1 : -1], sent))


if __name__ == "__main__":
    main()
