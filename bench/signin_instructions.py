"""Instructions per federated sign-in, counted by callgrind: stepgate against the floor, request by request.

    .venv/bin/python -m bench.signin_instructions [--signins 10]

CPU time on this machine moves by a third from one minute to the next (other
tenants share the cores). An instruction count does not: the same code on the
same input counts the same on a busy machine as on a quiet one. So this runs
each server in process on a single-threaded werkzeug server, under valgrind's
callgrind, with collection switched on only while the application handles a
request (a client request in a small helper compiled here with gcc from
valgrind's own header), and reports the instructions each of the three
requests of a sign-in costs, first and returning, for stepgate
(``AutoProvisioningNoPasswordScheme``) and for the floor
(``bench/minimal_signin.py``), against the same development provider.

What is not counted: the werkzeug server's HTTP parsing (gunicorn replaces it),
the browser, and the provider (another process). Instructions are not time:
cold caches make some code slower per instruction than other code
(``bench.federated_signin`` measures the time).

Needs valgrind with its headers (Debian: ``valgrind``) and gcc.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.common import ROOT, command_line, federated_site, flask, free_port

PAGE, CALLBACK = "/demo/jit-nopassword/welcome", "/oam/server/oidc/callback"
REQUESTS = (
    ("protected page, no session (starts the flow)", PAGE, False),
    ("callback (code, tokens, user, session)", CALLBACK, False),
    ("protected page, signed in", PAGE, True),
)
HELPER = """#include <valgrind/callgrind.h>
void toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void zero(void) { CALLGRIND_ZERO_STATS; }
void dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signins", type=int, default=10, help="sign-ins of each kind per request measured")
    parser.add_argument("--inside", choices=("stepgate", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return measure(args.inside, args.signins, args.helper)
    valgrind, gcc = shutil.which("valgrind"), shutil.which("gcc")
    if valgrind is None or gcc is None or not Path("/usr/include/valgrind/callgrind.h").exists():
        raise SystemExit(
            "needs valgrind (with /usr/include/valgrind/callgrind.h) and gcc: apt-get install valgrind gcc"
        )
    work = Path(tempfile.mkdtemp(prefix="stepgate-callgrind-"))
    (work / "helper.c").write_text(HELPER)
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", work / "helper.so", work / "helper.c"], check=True)
    counts = {}
    for server in ("stepgate", "floor"):
        out = work / server
        out.mkdir()
        command = [
            valgrind,
            "--tool=callgrind",
            "--collect-atstart=no",
            "--dump-line=no",
            f"--callgrind-out-file={out}/callgrind.%p",
            sys.executable,
            "-m",
            "bench.signin_instructions",
            "--inside",
            server,
            "--signins",
            str(args.signins),
            "--helper",
            str(work / "helper.so"),
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{server} under callgrind failed:\n{done.stderr[-3000:]}")
        counts[server] = read_dumps(out, args.signins)
    report(counts, args.signins)


def measure(server: str, signins: int, helper: str) -> None:
    """Inside valgrind: serve ``server`` in process, count each kind of request in its own dump."""
    from werkzeug.serving import make_server

    from bench.federated_signin import floor_environment, sign_in, start_provider
    from bench.signin_profile import QuietHandler

    valgrind = ctypes.CDLL(helper)
    port = free_port()
    provider, issuer = start_provider(port)
    try:
        settings = federated_site(issuer, port=port)
        flask(settings, "db", "upgrade")
        if server == "floor":
            os.environ.update(floor_environment(issuer, settings))
            from bench.minimal_signin import app
        else:
            from app import create_app

            app = create_app(settings)
        counted = Counting(app.wsgi_app, valgrind)
        app.wsgi_app = counted
        http = make_server("127.0.0.1", port, app, threaded=False, request_handler=QuietHandler)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        for i in range(4):  # discovery, keys, connections, compiled statements: once per process
            sign_in(url, f"warmup{i}")
        for index, (_, path, signed_in) in enumerate(REQUESTS):
            people = [f"person{index}-{i}" for i in range(signins)]
            for kind in ("first", "returning"):  # the same people twice: created, then recognised
                counted.only = (path, signed_in)
                valgrind.zero()
                for person in people:
                    sign_in(url, person)
                counted.only = None
                valgrind.dump(f"{kind}|{index}".encode())
        http.shutdown()
    finally:
        provider.terminate()
        provider.wait(10)


class Counting:
    """WSGI middleware: callgrind collects only while the chosen kind of request is handled."""

    def __init__(self, wsgi_app, valgrind):
        self.wsgi_app, self.valgrind = wsgi_app, valgrind
        self.only: tuple[str, bool] | None = None

    def __call__(self, environ, start_response):
        cookies = environ.get("HTTP_COOKIE", "")
        kind = (environ.get("PATH_INFO"), "stepgate_session=" in cookies or "floor_session=" in cookies)
        counting = kind == self.only
        if counting:
            self.valgrind.toggle()
        try:
            return list(self.wsgi_app(environ, start_response))
        finally:
            if counting:
                self.valgrind.toggle()


def read_dumps(folder: Path, signins: int) -> dict[tuple[str, int], float]:
    """(kind, request index) -> instructions per sign-in, from callgrind's dumps."""
    counts = {}
    for dump in folder.glob("callgrind.*.*"):
        text = dump.read_text()
        kind, index = re.search(r"^desc: Trigger: Client Request: (\w+)\|(\d)", text, re.M).groups()
        counts[(kind, int(index))] = int(re.search(r"^totals: (\d+)", text, re.M).group(1)) / signins
    return counts


def report(counts: dict[str, dict[tuple[str, int], float]], signins: int) -> None:
    print(f"command: {command_line('bench.signin_instructions')}")
    print(f"instructions per sign-in (callgrind, {signins} sign-ins of each kind per request), millions")
    print(f"{'':9} {'request':48} {'stepgate':>9} {'floor':>7} {'ratio':>6}")
    for kind in ("first", "returning"):
        totals = {server: 0.0 for server in counts}
        for index, (label, _, _) in enumerate(REQUESTS):
            ours, floor = counts["stepgate"][(kind, index)], counts["floor"][(kind, index)]
            totals["stepgate"] += ours
            totals["floor"] += floor
            print(f"{kind:9} {label:48} {ours / 1e6:9.2f} {floor / 1e6:7.2f} {ours / floor:6.2f}")
        ours, floor = totals["stepgate"], totals["floor"]
        print(f"{kind:9} {'whole sign-in':48} {ours / 1e6:9.2f} {floor / 1e6:7.2f} {ours / floor:6.2f}")


if __name__ == "__main__":
    main()
