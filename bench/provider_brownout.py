"""Benchmark: signed-in people's session checks while browsers are stuck at a hung token endpoint (issue 17).

    .venv/bin/python -m bench.provider_brownout [--rounds 5] [--seconds 10] [--browsers 16]
        [--variants shipped,threads8,bulkhead-only,none,threads16] [--database-url URL]

stepgate runs under gunicorn (config/gunicorn.conf.py, 2 workers); the development provider runs
behind the fault proxy (tests/provider_brownout.py): stepgate's calls to it pass the proxy, browsers
reach it directly. Each round measures ``/forward-auth`` from 4 clients, each asking with the session
cookies of many different people in turn (200 sessions), for ``--seconds``:

- *brownout*: the proxy black-holes stepgate's calls to the provider, and ``--browsers`` browsers
  keep signing in: each starts a sign-in, signs in at the provider, comes back to the callback (whose
  token call hangs until the deadline, or is refused at once), and tries again after ``Retry-After``
  (1 s after a 504), as a person would;
- *baseline*: the provider answers, no browser signs in.

Brownout and baseline rounds alternate (which goes first alternates too); figures are medians of
the rounds' p50 and p99. Variants, each its own server (shipped provider timeouts: 3 s connect,
10 s read, 15 s total):

- ``shipped``: 4 threads, bulkhead of 2 provider calls per worker, breaker after 3 failures, 5 s cool-down;
- ``threads8``: the same with 8 threads per worker (6 free for everything else);
- ``bulkhead-only``: the same without the breaker (it never opens);
- ``none``: neither (what issue 17 measured);
- ``threads16``: neither, 16 threads per worker instead of 4.

From gunicorn's access log, the brownout rounds' callbacks that hung and the session checks slower
than 1 s are counted per worker, with the most callbacks hanging at once on each: a worker whose
threads all hang is the one whose session checks wait.
"""

from __future__ import annotations

import argparse
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime

from bench.common import Gunicorn, command_line, free_port, scratch_site
from tests.oidc_fixtures import CALLBACK
from tests.provider_brownout import (
    ProxiedProvider,
    SessionChecks,
    browser_for,
    callback_url,
    signed_in_sessions,
    site_settings,
)

PAGE = "/demo/jit-nopassword/welcome"
NO_BREAKER = {"breaker_failures": 1_000_000}
VARIANTS = {
    "shipped": ({}, {}, 4),
    "threads8": ({}, {}, 8),
    "bulkhead-only": (NO_BREAKER, {}, 4),
    "none": (NO_BREAKER, {"max_concurrent_provider_calls": 1000}, 4),
    "threads16": (NO_BREAKER, {"max_concurrent_provider_calls": 1000}, 16),
}
ACCESS_FORMAT = '%(p)s %(t)s %(s)s %(L)s "%(U)s"'


class Browsers:
    """``count`` people signing in over and over through a provider whose back channel hangs."""

    def __init__(self, site_url: str, provider: ProxiedProvider, count: int, round_: int):
        self.site_url, self.provider = site_url, provider
        self.outcomes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(f"b{round_}x{n}",), daemon=True) for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, name: str) -> None:
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            with browser_for(self.site_url, self.provider, timeout=60) as browser:
                try:
                    url = callback_url(browser, PAGE, f"{name}a{attempt}")
                    page = browser.session.get(url, timeout=60, allow_redirects=False)
                except Exception as exc:  # counted, and the person tries again
                    self.outcomes[exc.__class__.__name__] += 1
                    self._stop.wait(1)
                    continue
            reason = re.search(r"<code>([a-z_.]+)</code>", page.text)
            self.outcomes[f"{page.status_code} {reason.group(1) if reason else ''}".strip()] += 1
            self._stop.wait(float(page.headers.get("Retry-After", 1)))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def measure(url: str, cookies: list[str], seconds: float) -> SessionChecks:
    checks = SessionChecks(url, cookies, clients=4, pause=0.02).start()
    time.sleep(seconds)
    return checks.stop()


def run_variant(name: str, provider: ProxiedProvider, args) -> dict:
    options, top, threads = VARIANTS[name]
    port = free_port()
    client = provider.register_client(f"http://127.0.0.1:{port}{CALLBACK}")
    settings = scratch_site({**site_settings(port, provider.issuer, client, options), **top}, args.database_url)
    cookies = signed_in_sessions(settings, args.sessions)
    log = settings.parent / "access.log"
    env = {
        "STEPGATE_THREADS": str(threads),
        "STEPGATE_ACCESS_LOG": str(log),
        "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_FORMAT}'",
    }
    rounds: dict[str, list[SessionChecks]] = {"baseline": [], "brownout": []}
    outcomes: Counter[str] = Counter()
    windows: list[tuple[float, float]] = []
    with Gunicorn(settings, workers=2, port=port, env=env) as server:
        warm = Browsers(server.url, provider, 1, -1)
        time.sleep(2)  # one sign-in stores discovery and keys
        warm.stop()
        measure(server.url, cookies, 2)
        for number in range(args.rounds):
            order = ("brownout", "baseline") if number % 2 == 0 else ("baseline", "brownout")
            for kind in order:
                if kind == "baseline":
                    rounds[kind].append(measure(server.url, cookies, args.seconds))
                    continue
                provider.proxy.black_hole()
                browsers = Browsers(server.url, provider, args.browsers, number)
                time.sleep(1)  # the first ones reach the callback
                started = time.time()
                rounds[kind].append(measure(server.url, cookies, args.seconds))
                windows.append((started, time.time()))
                browsers.stop()
                provider.proxy.passing()
                outcomes.update(browsers.outcomes)
    return {"rounds": rounds, "outcomes": outcomes, "workers": per_worker(log, windows), "threads": threads}


def run_waves(name: str, provider: ProxiedProvider, args) -> list[tuple[list[int], float, int]]:
    """``--waves``: ``--browsers`` browsers come back to the callback at the same moment, once per wave.

    Per wave: how many hung on each worker (from the access log: callbacks longer than half the read
    timeout, by pid), the session checks' p99 during the wave, and how many checks took over 1 s.
    """
    from concurrent.futures import ThreadPoolExecutor

    options, top, threads = VARIANTS[name]
    port = free_port()
    client = provider.register_client(f"http://127.0.0.1:{port}{CALLBACK}")
    settings = scratch_site({**site_settings(port, provider.issuer, client, options), **top}, args.database_url)
    cookies = signed_in_sessions(settings, args.sessions)
    log = settings.parent / "access.log"
    env = {"STEPGATE_THREADS": str(threads), "STEPGATE_ACCESS_LOG": str(log)}
    env["GUNICORN_CMD_ARGS"] = f"--access-logformat '{ACCESS_FORMAT}'"
    results = []
    with Gunicorn(settings, workers=2, port=port, env=env) as server:
        warm = Browsers(server.url, provider, 1, -1)
        time.sleep(2)
        warm.stop()
        for wave in range(args.waves):
            browsers = [browser_for(server.url, provider, timeout=60) for _ in range(args.browsers)]
            urls = [callback_url(b, PAGE, f"w{wave}x{n}") for n, b in enumerate(browsers)]
            lines_before = len(log.read_text().splitlines())
            checks = SessionChecks(server.url, cookies, clients=4, pause=0.02).start()
            time.sleep(1)
            provider.proxy.black_hole()
            with ThreadPoolExecutor(len(browsers)) as pool:
                list(pool.map(lambda pair: pair[0].session.get(pair[1], timeout=60), zip(browsers, urls, strict=True)))
            checks.stop()
            provider.proxy.passing()
            for browser in browsers:
                browser.session.close()
            time.sleep(1)  # the access log is written
            hung: Counter[str] = Counter()
            for line in log.read_text().splitlines()[lines_before:]:
                match = re.match(r'<?(\d+)>? \[[^\]]+\] \d+ ([\d.]+) "([^"]*)"', line)
                if match and match.group(3) == CALLBACK and float(match.group(2)) > 5:
                    hung[match.group(1)] += 1
            slow = sum(1 for latency in checks.latencies if latency > 1)
            results.append((sorted(hung.values(), reverse=True), checks.percentile(0.99), slow))
    return results


def per_worker(log, windows) -> dict[str, tuple[int, int, int]]:
    """Per worker pid: callbacks that hung (> 1 s), the most hanging at once, session checks slower than 1 s."""
    hung: dict[str, list[tuple[float, float]]] = defaultdict(list)
    slow: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        match = re.match(r'<?(\d+)>? \[([^\]]+)\] (\d+) ([\d.]+) "([^"]*)"', line)
        if not match:
            continue
        pid, when, _, seconds, path = match.groups()
        end = datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").timestamp()
        if not any(start - 1 <= end <= stop + 20 for start, stop in windows):
            continue
        if path == CALLBACK and float(seconds) > 1:
            hung[pid].append((end - float(seconds), end))
        elif path == "/forward-auth" and float(seconds) > 1:
            slow[pid] += 1
    result = {}
    for pid in sorted(set(hung) | set(slow)):
        intervals = hung.get(pid, [])
        most = max((sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals), default=0)
        result[pid] = (len(intervals), most, slow[pid])
    return result


def median_ms(runs: list[SessionChecks], share: float) -> float:
    return statistics.median(r.percentile(share) for r in runs) * 1000


def report(name: str, figures: dict, args) -> None:
    rounds = figures["rounds"]
    print(f"\n[{name}] 2 workers x {figures['threads']} threads")
    for kind in ("baseline", "brownout"):
        runs = rounds[kind]
        per_round = ", ".join(f"{r.percentile(0.5) * 1000:.1f}/{r.percentile(0.99) * 1000:.0f}" for r in runs)
        answers = statistics.median(len(r.latencies) / args.seconds for r in runs)
        failures = sum(len(r.failures) for r in runs)
        print(
            f"  {kind:9} p50/p99 ms per round: {per_round}; median p50 {median_ms(runs, 0.5):.1f} ms,"
            f" p99 {median_ms(runs, 0.99):.1f} ms; {answers:.0f} answers/s; {failures} not 200"
        )
    ratio = median_ms(rounds["brownout"], 0.99) / median_ms(rounds["baseline"], 0.99)
    print(f"  p99 brownout / baseline: {ratio:.2f}  (target <= 2)")
    print(f"  browsers' answers over the brownout rounds: {dict(figures['outcomes'].most_common())}")
    for pid, (hung, most, slow) in figures["workers"].items():
        print(f"  worker {pid}: {hung} callbacks hung > 1 s (at most {most} at once), {slow} session checks > 1 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--browsers", type=int, default=16)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--variants", default="shipped,threads8,bulkhead-only,none,threads16")
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file per variant")
    parser.add_argument("--waves", type=int, default=0, help="instead: browsers come back all at once, N times")
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    provider = ProxiedProvider()
    try:
        if args.waves:
            waves = {name: run_waves(name, provider, args) for name in names}
        else:
            results = {name: run_variant(name, provider, args) for name in names}
    finally:
        provider.proxy.stop()
        provider.stop()
    print(f"command: {command_line('bench.provider_brownout')}")
    if args.waves:
        print(f"{args.browsers} browsers come back to the callback at once, {args.waves} waves; 2 workers")
        for name in names:
            print(f"[{name}]")
            for split, p99, slow in waves[name]:
                print(f"  hung per worker {split or [0]}: session checks p99 {p99 * 1000:.0f} ms, {slow} over 1 s")
        return
    print(
        f"database: {args.database_url or 'SQLite'}; {args.rounds} rounds of {args.seconds:g} s each kind,"
        f" alternating; {args.browsers} browsers in the brownout; 4 session-check clients over"
        f" {args.sessions} sessions, 20 ms pause between checks"
    )
    for name in names:
        report(name, results[name], args)


if __name__ == "__main__":
    main()
