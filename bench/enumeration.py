"""User enumeration by timing: how long a refused password sign-in takes, by what the name is.

    .venv/bin/python -m bench.enumeration [--tries 200] [--database-url URL]

Real sign-in attempts over HTTP against stepgate under gunicorn (one worker,
config/gunicorn.conf.py), each in a fresh flow: GET /demo/ for the form, then
the timed POST of a user name and a wrong password. The cases, interleaved in
a shuffled order every round so a busy moment of a shared machine falls on
all of them alike:

- ``wrong_password``: an existing, active account (the baseline: the cost of a real check)
- ``unknown``: a name no account has
- ``locked``, ``disabled``: accounts an administrator locked or disabled
- ``no_password``: an account that can sign in only through its identity provider
- ``locked_out``: an account locked after too many failed sign-ins

Each case's tries rotate over 50 accounts of its kind, so none reaches the
lockout limit of 10 failures (``locked_out`` accounts start with the row ten
failed checks leave: locked out for a day).
Throttling is off for the run (every try comes from 127.0.0.1). Figures: the
median and p90 per case and each case's ratio to the baseline; the issue's
target is every ratio within 1.1 (0.91 to 1.1).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import requests

from bench.common import Gunicorn, command_line, flask, scratch_site
from tests.browser import parse_forms

CASES = ("wrong_password", "unknown", "locked", "disabled", "no_password", "locked_out")
ACCOUNTS_PER_CASE = 50
PASSWORD = "bench-password-0123"


def site(database_url: str | None):
    settings = scratch_site(
        {
            "application_domains": {
                "Demo": {
                    "authentication_policies": {"Protected": {"scheme": "PasswordScheme"}},
                    "resources": [{"url": "/demo/**", "policy": "Protected"}],
                }
            },
            "password_signin": {
                "lockout": {"max_failures": 10, "window_seconds": 900, "duration_seconds": 86400},
                "throttling": {"per_address": {"limit": 0}, "per_name": {"limit": 0}},
            },
        },
        database_url,
    )
    flask(settings, "db", "upgrade")
    _add_accounts(settings)
    return settings


def _add_accounts(settings) -> None:
    """50 accounts per case, with one real argon2 hash shared by all (made by the server's own hasher)."""
    from app import create_app
    from app.extensions import db
    from app.lockout import AccountLockout
    from app.passwords import hash_password
    from app.stores import sql as identity
    from app.timeutil import in_seconds, utcnow

    app = create_app(settings)
    shared_hash = hash_password(PASSWORD)
    status = {"locked": "locked", "disabled": "disabled"}
    with app.app_context():
        for case in CASES:
            if case == "unknown":
                continue
            for n in range(ACCOUNTS_PER_CASE):
                user = identity.create_user(
                    "default", f"{case}-{n}", status=identity.UserStatus(status.get(case, "active"))
                )
                user.password_hash = None if case == "no_password" else shared_hash
                if case == "locked_out":  # the row ten failed checks leave behind
                    db.session.flush()
                    db.session.add(
                        AccountLockout(
                            user_id=user.id, failures=10, window_start=utcnow(), locked_until=in_seconds(86400)
                        )
                    )
        db.session.commit()
        db.engine.dispose()


def name_for(case: str, n: int) -> str:
    if case == "unknown":
        return f"nobody-{n}-{random.randrange(10**9)}"  # noqa: S311 - a name, not a secret
    return f"{case}-{n % ACCOUNTS_PER_CASE}"


def try_once(session: requests.Session, base: str, user: str) -> float:
    """One refused attempt in a fresh flow; seconds for the POST alone."""
    session.cookies.clear()
    form = parse_forms(session.get(base + "/demo/", timeout=30).text)[0]
    fields = {**form["fields"], "USERNAME": user, "PASSWORD": "wrong-password"}
    started = time.perf_counter()
    answer = session.post(base + form["action"], data=fields, timeout=30)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200 and "The user name or password is incorrect." in answer.text, answer.text[:500]
    return elapsed


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=200, help="tries per case")
    parser.add_argument("--database-url", help="an empty database; default: a fresh SQLite file")
    args = parser.parse_args()
    settings = site(args.database_url)
    times: dict[str, list[float]] = {case: [] for case in CASES}
    with Gunicorn(settings, workers=1) as stepgate, requests.Session() as session:
        for case in CASES:  # warm up: compiled statements, connections
            try_once(session, stepgate.url, name_for(case, 0))
        for n in range(args.tries):
            for case in random.sample(CASES, len(CASES)):
                times[case].append(try_once(session, stepgate.url, name_for(case, n)))
    baseline = statistics.median(times["wrong_password"])
    baseline_p90 = p90(times["wrong_password"])
    print(f"command: {command_line('bench.enumeration')}")
    print(f"database: {args.database_url or 'SQLite'}; gunicorn gthread, 1 worker; {args.tries} tries per case")
    print(f"{'case':16} {'median ms':>10} {'p90 ms':>8} {'median / wrong_password':>24} {'p90 / wrong_password':>21}")
    worst = 1.0
    for case in CASES:
        median, tail = statistics.median(times[case]), p90(times[case])
        ratio = median / baseline
        worst = max(worst, ratio, 1 / ratio)
        print(f"{case:16} {median * 1000:10.1f} {tail * 1000:8.1f} {ratio:24.3f} {tail / baseline_p90:21.3f}")
    print(f"largest median ratio either way: {worst:.3f}  (target <= 1.1)")


if __name__ == "__main__":
    main()
