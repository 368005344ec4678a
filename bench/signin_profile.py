"""Where a federated sign-in's CPU goes: stepgate in process, the development provider beside it.

    .venv/bin/python -m bench.signin_profile [--signins 30] [--top 30] [--sort tottime]

Builds the same site as benchmark 2 (bench/federated_signin.py), but serves the
app in this process on a single-threaded werkzeug server, so each request runs
on one thread. Around every request it takes ``time.thread_time`` (the server
thread's CPU only: not the browser, not the provider) and counts SQL
statements and commits (SQLAlchemy ``before_cursor_execute`` and ``commit``
events). It runs ``--signins`` first sign-ins, then the same people again
(returning), and prints CPU ms and statements per sign-in for each, then a
cProfile of the returning and first sign-ins' requests (the server thread only).

The per-request CPU here includes werkzeug's development server, which gunicorn
replaces; benchmark 2 remains the figure to compare with the target.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import threading
import time
from collections import Counter

from sqlalchemy import event
from werkzeug.serving import WSGIRequestHandler, make_server

from bench.common import command_line, federated_site, flask, free_port
from bench.federated_signin import sign_in, start_provider


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args) -> None:
        pass


class Meter:
    """WSGI middleware: CPU, statements and an optional profile of every request."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.cpu = 0.0
        self.requests = 0
        self.counts: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()
        self.cpu_by_request: Counter[str] = Counter()
        self.path = ""
        self.profile: cProfile.Profile | None = None

    def __call__(self, environ, start_response):
        started = time.thread_time()
        self.path = environ.get("PATH_INFO", "")
        if self.profile is not None:
            self.profile.enable()
        try:
            return list(self.wsgi_app(environ, start_response))
        finally:
            if self.profile is not None:
                self.profile.disable()
            spent = time.thread_time() - started
            self.cpu += spent
            self.requests += 1
            signed_in = "stepgate_session=" in environ.get("HTTP_COOKIE", "")
            self.cpu_by_request[f"{self.path} ({'session' if signed_in else 'no session'})"] += spent

    def reset(self, profile: bool) -> None:
        self.cpu, self.requests = 0.0, 0
        self.counts.clear()
        self.statements.clear()
        self.cpu_by_request.clear()
        self.profile = cProfile.Profile(time.thread_time) if profile else None  # CPU, not waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signins", type=int, default=30)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", help="pstats sort key: tottime or cumulative")
    parser.add_argument("--only", help="a regular expression the listed functions' file names must match, e.g. /app/")
    parser.add_argument("--statements", action="store_true", help="list the SQL statements of each kind of sign-in")
    parser.add_argument("--save", help="also write the profiles to SAVE-first.pstats and SAVE-returning.pstats")
    args = parser.parse_args()
    port = free_port()
    provider, issuer = start_provider(port)
    try:
        settings = federated_site(issuer, port=port)
        flask(settings, "db", "upgrade")
        from app import create_app
        from app.extensions import db

        app = create_app(settings)
        meter = Meter(app.wsgi_app)
        app.wsgi_app = meter
        with app.app_context():
            engine = db.engine

        def executed(conn, cursor, statement, *rest):
            meter.counts.update(["statements"])
            meter.statements.update([f"{meter.path}: {' '.join(statement.split())[:110]}"])

        event.listen(engine, "before_cursor_execute", executed)
        event.listen(engine, "commit", lambda *a: meter.counts.update(["commits"]))
        server = make_server("127.0.0.1", port, app, threaded=False, request_handler=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        try:
            sign_in(url, "warmup")  # discovery, keys, connections, compiled statements: once per process
            sign_in(url, "warmup")
            logins = [f"person{i:05d}" for i in range(args.signins)]
            results = {}
            for kind in ("first", "returning"):
                meter.reset(profile=False)
                for login in logins:
                    sign_in(url, login)
                results[kind] = (
                    meter.cpu,
                    meter.requests,
                    dict(meter.counts),
                    dict(meter.statements),
                    dict(meter.cpu_by_request),
                )
            profiles = {}
            for kind, names in (("first", [f"profiled{i:05d}" for i in range(args.signins)]), ("returning", None)):
                meter.reset(profile=True)
                for login in names or [f"profiled{i:05d}" for i in range(args.signins)]:
                    sign_in(url, login)
                profiles[kind] = meter.profile
        finally:
            server.shutdown()
    finally:
        provider.terminate()
        provider.wait(10)
    n = args.signins
    print(f"command: {command_line('bench.signin_profile')}")
    print(f"{n} sign-ins of each kind, one browser, werkzeug single-threaded server in process")
    for kind, (cpu, requests, counts, statements, by_request) in results.items():
        print(
            f"{kind:9} sign-in: server-thread CPU {cpu * 1000 / n:.2f} ms, {requests / n:.1f} requests,"
            f" {counts.get('statements', 0) / n:.1f} SQL statements, {counts.get('commits', 0) / n:.1f} commits"
            " per sign-in"
        )
        for request, spent in by_request.items():
            print(f"    {spent * 1000 / n:6.2f} ms  {request}")
        if args.statements:
            for text, count in statements.items():
                print(f"    {count / n:4.1f}  {text}")
    for kind, profile in profiles.items():
        calls = pstats.Stats(profile).total_calls
        print(f"{kind:9} sign-in: {calls / n:.0f} Python function calls per sign-in (cProfile; steady under noise)")
    for kind, profile in profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        if args.save:
            stats.dump_stats(f"{args.save}-{kind}.pstats")
        stats.sort_stats(args.sort).print_stats(*([args.only] if args.only else []), args.top)
        print(f"\n===== cProfile, {kind} sign-ins (server thread, all {n}) =====")
        print(out.getvalue())


if __name__ == "__main__":
    main()
