"""Why a request costs more inside a sign-in than in a loop: the same request hot, after other work, after idling.

    .venv/bin/python -m bench.cold_request [--requests 500] [--cache-seconds 5]

One signed-in page (``GET /demo/`` with a valid session cookie, through
stepgate's whole WSGI stack, in process) is timed (``time.thread_time``) three
ways: back to back; after touching 64 MB of memory, as the browser and the
provider do between a sign-in's requests; and after sleeping 2 ms, as a worker
does while the provider answers. ``--cache-seconds 0`` reads the session row
every time, as the first request after a sign-in on another worker does.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import command_line, flask, scratch_site

SCRATCH = bytearray(64 << 20)


def touch_memory() -> None:
    for i in range(0, len(SCRATCH), 4096):
        SCRATCH[i] = (SCRATCH[i] + 1) & 255


def idle() -> None:
    time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--cache-seconds", type=int, default=5)
    args = parser.parse_args()
    settings = scratch_site()
    flask(settings, "db", "upgrade")
    from werkzeug.test import EnvironBuilder

    from app import create_app, sessions
    from app.extensions import db
    from app.stores import sql as identity

    app = create_app(settings)
    app.extensions["stepgate.session_cache"].ttl = args.cache_seconds
    with app.app_context():
        user_id = identity.insert_user("default", "alice", {"mail": "alice@example.org"}, "correct horse battery")
        token = sessions.create(user_id, 1, "PasswordScheme", 3600)
        db.session.commit()
    environ = EnvironBuilder(path="/demo/", headers={"Cookie": f"stepgate_session={token}"}).get_environ()

    def page() -> None:
        status = []
        body = app.wsgi_app(dict(environ), lambda s, headers, exc_info=None: status.append(s))
        b"".join(body)
        body.close()
        assert status[0].startswith("200"), status

    for _ in range(200):
        page()
    print(f"command: {command_line('bench.cold_request')}")
    print(f"GET /demo/ signed in, session_cache.seconds {args.cache_seconds}; thread CPU per request")
    for label, before in (("back to back", None), ("after touching 64 MB", touch_memory), ("after a 2 ms sleep", idle)):
        samples = []
        for _ in range(args.requests):
            if before:
                before()
            started = time.thread_time()
            page()
            samples.append((time.thread_time() - started) * 1e6)
        samples.sort()
        p90 = samples[int(len(samples) * 0.9)]
        print(f"{label:22} median {statistics.median(samples):7.1f} us   p90 {p90:7.1f} us")


if __name__ == "__main__":
    main()
