"""What the benchmarks share: a scratch site, gunicorn processes, a load generator, worker memory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Gunicorn, free_port, wait_for  # noqa: E402

__all__ = [
    "Gunicorn",
    "Load",
    "command_line",
    "cpu_seconds_by_worker",
    "cpu_seconds_of_workers",
    "ensure_wrk",
    "federated_site",
    "free_port",
    "load",
    "load_at_rate",
    "load_average",
    "scratch_site",
    "wait_for",
    "worker_rss_mb",
    "write_docs",
]


def command_line(module: str) -> str:
    return " ".join([".venv/bin/python", "-m", module, *sys.argv[1:]])


def scratch_site(extra: dict | None = None, database_url: str | None = None) -> Path:
    """A settings file with its own database and the shipped schemes, in a temporary folder."""
    base = Path(tempfile.mkdtemp(prefix="stepgate-bench-"))
    (base / "config").mkdir()
    shutil.copytree(ROOT / "schemes", base / "schemes")
    doc = {
        "secret_key": "bench-secret-key-0123456789",
        "database_url": database_url or f"sqlite:///{base / 'stepgate.db'}",
        "schemes_dir": "schemes",
        # the shipped OpenID schemes need a provider to load; benchmark 2 replaces it with the real one
        "identity_providers": {"devop": {"issuer": "http://127.0.0.1:9", "client_id": "bench", "client_secret": "-"}},
        "external_url": "http://127.0.0.1",  # any port: the benchmarks' servers answer on free loopback ports
        "allowed_hosts": ["localhost"],
        **(extra or {}),
    }
    path = base / "config" / "settings.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def federated_site(issuer: str, database_url: str | None = None, *, port: int) -> Path:
    """A scratch site with the demo domain's JIT resources and the real development provider as ``devop``.

    ``port``: where stepgate will serve, so that its ``redirect_uri`` is the provider's registered callback.
    """
    from tests.oidc_fixtures import DEMO_POLICIES, DEMO_RESOURCES

    devop = {"issuer": issuer, "client_id": "stepgate", "client_secret": "bench-client-secret"}
    domains = {"Demo": {"authentication_policies": DEMO_POLICIES, "resources": DEMO_RESOURCES}}
    extra = {"identity_providers": {"devop": devop}, "application_domains": domains}
    # the benchmark's browsers are at most this many at once, so the bulkhead never refuses one on a busy machine
    extra["max_concurrent_provider_calls"] = 8
    return scratch_site({**extra, "external_url": f"http://127.0.0.1:{port}"}, database_url)


def flask(settings: Path, *args: str) -> str:
    env = {**os.environ, "STEPGATE_SETTINGS": str(settings)}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str


def ensure_wrk() -> bool:
    """wrk, the load generator: installed from Debian when missing and running as root; else say so."""
    if shutil.which("wrk"):
        return True
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian package) for the load ...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet)
    if shutil.which("wrk"):
        return True
    print(
        "NOTE: wrk is not installed and this user cannot install it (run `apt-get install wrk` as root);"
        " falling back to the Python load generator, which saturates before the servers do: its figures are"
        " lower bounds, not comparable with wrk's.",
        flush=True,
    )
    return False


def load_average() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


_COOKIE_SCRIPT = """
local tokens = {}
local counter = 1
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  math.randomseed(id * 7919 + os.time())
end
function request()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Cookie"] = "%s=" .. tokens[math.random(#tokens)] .. "%s"
  return wrk.format(nil, nil, headers)
end
"""


_DELAY_SCRIPT = """
local pause = %.3f
function delay()
  local whole = math.floor(pause)
  if math.random() < pause - whole then return whole + 1 end
  return whole
end
"""
"""wrk's ``delay()`` counts whole milliseconds and cuts a fraction off (a pause of 0.8 ms is none at all, and
"half load" becomes a flood): each pause is the whole milliseconds below or above, at random, so that on
average it is the pause asked for."""


def load(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str],
    rate: float | None = None,
    pause_ms: float | None = None,
    cookies: Path | None = None,
    cookie_name: str = "stepgate_session",
    also: str = "",
) -> Load:
    """Requests/s and latency percentiles for GET ``url``: wrk when installed, else a Python client.

    ``rate`` or ``pause_ms``: each connection pauses between requests (for latency below peak load).
    ``cookies``: a file of cookie values, one a line; each request sends one of them, picked at random,
    followed by ``also`` (more cookies a browser would send, such as "; stepgate_csrf=...").
    """
    if rate and pause_ms is None:
        pause_ms = connections * 1000.0 / rate
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, headers, pause_ms, cookies, cookie_name, also)
    return _python_load(url, seconds, connections, headers, pause_ms, cookies, cookie_name, also)


def _wrk(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str],
    pause_ms: float | None,
    cookies: Path | None = None,
    cookie_name: str = "stepgate_session",
    also: str = "",
) -> Load:
    script = None
    args = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if pause_ms or cookies:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        if cookies:
            if not re.fullmatch(r"[; =A-Za-z0-9._~-]*", also):
                raise ValueError(f"not a plain cookie list for the Lua script: {also!r}")
            script.write(_COOKIE_SCRIPT % (cookie_name, also))
        if pause_ms:
            script.write(_DELAY_SCRIPT % pause_ms)
        script.close()
        args += ["-s", script.name]
    out = subprocess.run(
        [*args, url, *(["--", str(cookies)] if cookies else [])], capture_output=True, text=True, check=True
    ).stdout
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?)\s*:?\s*(\d+)", out))
    return Load(rps, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"), total, errors, "wrk")


def _wrk_ms(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _python_load(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str],
    pause_ms: float | None,
    cookies: Path | None = None,
    cookie_name: str = "stepgate_session",
    also: str = "",
) -> Load:
    """Keep-alive connections in threads; bounded by duration and by a request cap."""
    import random
    from urllib.parse import urlsplit

    tokens = cookies.read_text().split() if cookies else None

    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + seconds
    cap = 200_000 // connections
    pause = (pause_ms or 0.0) / 1000.0

    def worker():
        conn = HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        for _ in range(cap):
            started = time.perf_counter()
            if started >= deadline:
                break
            sent = {**headers, "Cookie": f"{cookie_name}={random.choice(tokens)}{also}"} if tokens else headers
            conn.request("GET", path, headers=sent)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status >= 300:
                errors[0] += 1
            if pause:
                time.sleep(pause)
        conn.close()
        latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    n = len(latencies)
    return Load(
        n / elapsed, latencies[n // 2] * 1000, latencies[min(n - 1, int(n * 0.99))] * 1000, n, errors[0], "python"
    )


def cpu_seconds_of_workers(master_pid: int) -> float:
    """User + system CPU time used so far by the gunicorn workers (children of the master)."""
    return sum(cpu_seconds_by_worker(master_pid).values())


def cpu_seconds_by_worker(master_pid: int) -> dict[int, float]:
    """User + system CPU time used so far by each gunicorn worker (children of the master), by pid."""
    used = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            used[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def load_at_rate(
    url: str,
    seconds: int,
    headers: dict[str, str],
    rate: float,
    connections: int = 4,
    cookies: Path | None = None,
    also: str = "",
) -> Load:
    """Latency at about ``rate`` requests/s: each connection pauses between requests.

    A short probe measures how long a request takes besides the pause, and the
    pause is shortened by that much (never below half, so noise can't turn it into a flood).
    """
    cycle_ms = connections * 1000.0 / rate  # what each connection's request + pause must take
    probe = load(url, 2, connections, headers, pause_ms=cycle_ms, cookies=cookies, also=also)
    busy_ms = connections * 1000.0 / max(probe.rps, 1.0) - cycle_ms
    pause_ms = max(cycle_ms / 2, cycle_ms - busy_ms)
    return load(url, seconds, connections, headers, pause_ms=pause_ms, cookies=cookies, also=also)


def write_docs(name: str, text: str) -> None:
    """Put ``text`` between ``<!-- bench:name -->`` and ``<!-- /bench:name -->`` in docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text()
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in doc and end in doc:
        doc = doc[: doc.index(start)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory of each gunicorn worker (children of the master), in MB."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = int(re.search(r"^PPid:\s+(\d+)", text, re.M).group(1))
        rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        if ppid == master_pid and rss:
            sizes.append(int(rss.group(1)) / 1024)
    return sorted(sizes)
