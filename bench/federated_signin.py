"""Benchmark 2: full sign-ins through the real development OpenID Provider, first and returning.

    .venv/bin/python -m bench.federated_signin [--signins 60] [--clients 4]

stepgate runs under gunicorn with config/gunicorn.conf.py (gthread, one worker
per core); the development provider (devop/, oidc-provider on Node) runs beside
it. Each sign-in is a new browser: open a page protected by the JIT scheme
without password (AutoProvisioningNoPasswordScheme), sign in at the provider,
come back through the callback (code exchange, ID token validation, JIT
provisioning or update, session), land on the page. First sign-ins use new
user names (each creates an account); returning sign-ins repeat them.

Figures: sign-ins per second with ``--clients`` browsers at once, and the CPU
time stepgate's workers spent per sign-in (every request of it; the provider's
time is its own process and is not counted).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    ROOT,
    Gunicorn,
    command_line,
    cpu_seconds_of_workers,
    federated_site,
    flask,
    free_port,
    wait_for,
)
from tests.browser import Browser
from tests.oidc_fixtures import CALLBACK

DEVOP = ROOT / "devop"
PAGE = "/demo/jit-nopassword/welcome"


def start_provider(stepgate_port: int) -> tuple[subprocess.Popen, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("node and npm are needed for the development OpenID Provider")
    if not (DEVOP / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DEVOP, check=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    client = f"stepgate:bench-client-secret:http://127.0.0.1:{stepgate_port}{CALLBACK}"
    process = subprocess.Popen(
        [node, "server.mjs", "--port", str(port), "--issuer", issuer, "--client", client],
        cwd=DEVOP,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(f"{issuer}/.well-known/openid-configuration", process)
    return process, issuer


def sign_in(base_url: str, login: str) -> None:
    with Browser(base_url) as browser:
        page = browser.get(PAGE)
        assert 'id="devop-login"' in page.text, page.text[:300]
        done = browser.submit({"login": login, "email_unverified": ""})
        assert done.url == base_url + PAGE and f'<strong id="user-name">{login}</strong>' in done.text, done.text[:500]


def run(base_url: str, master_pid: int, logins: list[str], clients: int) -> tuple[float, float]:
    """(sign-ins per second, stepgate CPU ms per sign-in)."""
    cpu_before = cpu_seconds_of_workers(master_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda login: sign_in(base_url, login), logins))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds_of_workers(master_pid) - cpu_before
    return len(logins) / elapsed, cpu * 1000 / len(logins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signins", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    args = parser.parse_args()
    port = free_port()
    provider, issuer = start_provider(port)
    try:
        settings = federated_site(issuer, args.database_url)
        flask(settings, "db", "upgrade")
        with Gunicorn(Path(settings), port=port) as stepgate:
            sign_in(stepgate.url, "warmup")  # discovery, keys and connections: once per worker, not per sign-in
            sign_in(stepgate.url, "warmup")
            logins = [f"person{i:05d}" for i in range(args.signins)]
            first = run(stepgate.url, stepgate.process.pid, logins, args.clients)
            returning = run(stepgate.url, stepgate.process.pid, logins, args.clients)
    finally:
        provider.terminate()
        provider.wait(10)
    print(f"command: {command_line('bench.federated_signin')}")
    print(f"{args.signins} sign-ins of each kind, {args.clients} browsers at once; gunicorn gthread, 1 worker per core")
    print(
        f"first sign-in (auto-provisioning): {first[0]:.1f} sign-ins/s, stepgate CPU {first[1]:.1f} ms per sign-in"
        f"  (target <= 4 ms)"
    )
    print(
        f"returning sign-in:                 {returning[0]:.1f} sign-ins/s, stepgate CPU {returning[1]:.1f} ms per"
        f" sign-in  (target <= 3 ms)"
    )


if __name__ == "__main__":
    main()
