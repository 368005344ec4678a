"""Print the slowest tests of one ``make test`` (both passes) from their JUnit XML reports.

``pytest --durations`` can only rank the tests of its own run; ``make test`` runs
two (parallel, then serial), so it ranks them together here:
``python -m tests.slowest 10 report.xml...``.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # noqa: S405 - our own pytest's reports, not outside input


def slowest(reports: list[str], count: int) -> list[tuple[float, str]]:
    """The ``count`` longest tests (set-up, call and tear-down together) across ``reports``."""
    timed = []
    for report in reports:
        try:
            root = ET.parse(report).getroot()  # noqa: S314
        except (OSError, ET.ParseError):
            continue  # a pass that did not get to write its report
        for case in root.iter("testcase"):
            timed.append((float(case.get("time") or 0), f"{case.get('classname')}::{case.get('name')}"))
    return sorted(timed, reverse=True)[:count]


def main(argv: list[str]) -> int:
    count, reports = int(argv[0]), argv[1:]
    print(f"\n===== slowest {count} tests of both passes (set-up + call + tear-down) =====")
    for seconds, name in slowest(reports, count):
        print(f"{seconds:8.2f}s {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
