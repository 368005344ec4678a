"""What judging a path costs forward-auth, beside the resource match it always did.

    .venv/bin/python -m bench.path_judgement [--rounds 7] [--number 20000]

In process, no network: ``ApplicationDomains.match`` on the raw path (what
forward-auth did before paths were judged: the baseline) against
``ApplicationDomains.judge`` (normalise, then match), for a plain path (the
regular-expression fast path), an encoded one and one with ``..``. Interleaved
rounds; medians (and the fastest round, which a shared machine disturbs least) in microseconds per call.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from app.policy import parse_application_domains
from app.yamlsource import Checker, load_yaml_text
from bench.common import command_line

DOMAINS = """\
application_domains:
  Apps:
    authentication_policies:
      Public: {public: true}
      Staff: {scheme: PasswordScheme}
      Admin: {scheme: StrongScheme}
    resources:
      - {url: /, policy: Public}
      - {url: /public/**, policy: Public}
      - {url: /**, host: app.example.org, policy: Staff}
      - {url: /admin/**, host: app.example.org, policy: Admin}
      - {url: /reports/*/export, host: app.example.org, methods: [GET], policy: Admin}
"""
PATHS = {
    "plain": "/reports/2026/summary",
    "encoded": "/reports/%32%30%32%36/caf%C3%A9",
    "dot-dot": "/reports/2026/../2025/summary",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    doc = load_yaml_text(DOMAINS, "bench.yaml")
    check = Checker()
    domains = parse_application_domains(doc["application_domains"], doc, check)
    assert not check.problems, check.problems
    host = "app.example.org"
    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, path in PATHS.items():
            for kind, call in (
                ("match (baseline)", lambda p=path: domains.match(host, p, "GET")),
                ("judge", lambda p=path: domains.judge(host, p, "GET")),
            ):
                seconds = timeit.timeit(call, number=args.number)
                timings.setdefault((name, kind), []).append(seconds * 1e6 / args.number)
    print(f"command: {command_line('bench.path_judgement')}")
    print(f"{len(domains.resources)} resources; {args.rounds} interleaved rounds of {args.number} calls")
    for name, path in PATHS.items():
        base, judged = timings[(name, "match (baseline)")], timings[(name, "judge")]
        print(
            f"{name:8} {path:34} median: match {statistics.median(base):5.2f} us,"
            f" judge {statistics.median(judged):5.2f} us (+{statistics.median(judged) - statistics.median(base):.2f});"
            f" fastest round: match {min(base):5.2f} us, judge {min(judged):5.2f} us (+{min(judged) - min(base):.2f})"
        )


if __name__ == "__main__":
    main()
