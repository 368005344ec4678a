"""Benchmark 1b: a worker's memory after many sign-ins and a million session checks over 100,000 sessions.

    .venv/bin/python -m bench.session_memory [--sessions 100000] [--checks 1000000] [--signins 200] [--write-docs]

stepgate under gunicorn (config/gunicorn.conf.py: 2 workers x 4 threads). The
100,000 sessions stand for 100,000 sign-ins: each is a user with four
attributes and a live session, inserted into the database directly (a sign-in
through the form costs a password hash, and 100,000 of them would take hours
on this machine); ``--signins`` real password sign-ins go through the form as
well, so the path by which a sign-in hands its session to the cache
(``session_cache.prime``) is exercised too. Then wrk sends ``--checks``
``GET /forward-auth`` requests, each with the cookie of one of the sessions
picked at random, in slices; each worker's resident memory (VmRSS) is read
after a warm-up (the start) and after every slice.
"""

from __future__ import annotations

import argparse
import os
import time
from urllib.parse import urlencode

from app.session_cache import MAX_BYTES, MAX_ENTRIES
from bench.common import Gunicorn, command_line, ensure_wrk, load, load_average, worker_rss_mb, write_docs
from bench.session_check import APP_HOST, PASSWORD, seed_sessions, site
from tests.browser import Browser


def password_sign_ins(base_url: str, count: int) -> None:
    for _ in range(count):
        with Browser(base_url) as browser:
            browser.get("/login?" + urlencode({"next": f"http://{APP_HOST}/"}))
            done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD}, allow_redirects=False)
            assert done.status_code == 302, done.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--signins", type=int, default=200)
    parser.add_argument("--slice-seconds", type=int, default=30)
    parser.add_argument("--warm-up", type=int, default=15, help="seconds of checks before the start is measured")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    ensure_wrk()
    unthrottled = {"throttling": {"per_address": {"limit": 0}, "per_name": {"limit": 0}}}
    settings = site(None, extra={"password_signin": unthrottled})  # one person signing in over and over
    cookies = seed_sessions(settings, args.sessions)
    workers = int(os.environ.get("STEPGATE_WORKERS", str(os.cpu_count() or 2)))
    headers = {"X-Original-URL": f"http://{APP_HOST}/reports"}
    with Gunicorn(settings, workers=workers) as stepgate:
        url = stepgate.url + "/forward-auth"
        booted = worker_rss_mb(stepgate.process.pid)
        password_sign_ins(stepgate.url, 10)  # warm up: every code path loaded, the pools and caches filled
        load(url, args.warm_up, 16, headers, cookies=cookies)
        start = worker_rss_mb(stepgate.process.pid)
        trail = [
            f"booted: {', '.join(f'{m:.1f}' for m in booted)} MB",
            f"start (after 10 sign-ins and {args.warm_up} s of checks): {', '.join(f'{m:.1f}' for m in start)} MB",
        ]
        began = time.perf_counter()
        password_sign_ins(stepgate.url, args.signins)
        after = worker_rss_mb(stepgate.process.pid)
        trail.append(
            f"after {args.signins} password sign-ins ({time.perf_counter() - began:.0f} s): "
            f"{', '.join(f'{m:.1f}' for m in after)} MB"
        )
        done = errors = 0
        began = time.perf_counter()
        while done < args.checks:
            run = load(url, args.slice_seconds, 16, headers, cookies=cookies)
            done += run.requests
            errors += run.errors
            rss = worker_rss_mb(stepgate.process.pid)
            trail.append(
                f"after {done:>9,} checks ({time.perf_counter() - began:4.0f} s, {run.rps:.0f} rps, load "
                f"{os.getloadavg()[0]:.1f}): {', '.join(f'{m:.1f}' for m in rss)} MB"
            )
            print(trail[-1], flush=True)
        end = worker_rss_mb(stepgate.process.pid)
    assert errors == 0, f"{errors} non-2xx answers"
    growth = max(e - s for s, e in zip(start, end, strict=True))
    text = "\n".join(
        [
            "```",
            f"command: {command_line('bench.session_memory')}",
            f"{args.sessions} users with a live session each (inserted in the database) + {args.signins} password "
            f"sign-ins, then {done:,} GET /forward-auth over the {args.sessions} sessions (a random one per request; "
            f"wrk, 16 connections); gunicorn gthread, {workers} workers x 4 threads; load average at the end "
            f"{load_average()}",
            *trail,
            "```",
            "",
            f"Largest growth of a worker from its start: **{growth:+.1f} MB** (target: within 10 MB): "
            f"{'met' if abs(growth) <= 10 else 'NOT met'}; from boot (before any request): "
            f"{max(e - b for b, e in zip(booted, end, strict=True)):+.1f} MB. The cache's own bound: "
            f"{MAX_ENTRIES:,} entries and {MAX_BYTES / 2**20:.0f} MiB per worker (app/session_cache.py).",
        ]
    )
    print(text)
    if args.write_docs:
        write_docs("session_memory", text)


if __name__ == "__main__":
    main()
