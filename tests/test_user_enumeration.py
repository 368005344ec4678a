"""No user enumeration: every refusal before the password is proven looks and costs the same, over real HTTP.

Timing is not asserted here (that is bench/enumeration.py's job); what makes
the time equal is asserted instead: every case runs exactly one argon2
verification.
"""

from __future__ import annotations

import re

import pytest

from app import audit, passwords
from tests.browser import Browser

PASSWORD = "correct horse battery staple"
INCORRECT = "The user name or password is incorrect."
CASES = ("unknown", "wrong_password", "locked", "disabled", "no_password", "locked_out")
TRUE_REASON = {
    "unknown": "user.not_found",
    "wrong_password": "credentials.invalid",
    "locked": "account.locked",
    "disabled": "account.disabled",
    "no_password": "user.no_password",
    "locked_out": "account.locked_out",
}


@pytest.fixture
def reveal() -> bool:
    return False


@pytest.fixture
def make_settings(make_settings, reveal):
    def make(extra=None, **kwargs):
        block = {
            "reveal_account_state": reveal,
            "lockout": {"max_failures": 2},
            "throttling": {"per_address": {"limit": 0}, "per_name": {"limit": 0}},
        }
        return make_settings({"password_signin": block, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def accounts(add_user, live_server):
    """One account per case; the names say which. ``locked_out`` failed twice and is locked out."""
    add_user("wrong_password", password=PASSWORD)
    add_user("locked", password=PASSWORD, status="locked")
    add_user("disabled", password=PASSWORD, status="disabled")
    add_user("no_password")
    add_user("locked_out", password=PASSWORD)
    with Browser(live_server.url) as b:
        for _ in range(2):
            attempt(b, "locked_out")
    return live_server


class CountingHasher:
    """The real argon2 hasher, counting its verifications."""

    def __init__(self, real):
        self.real, self.verifications = real, 0

    def verify(self, password_hash, password):
        self.verifications += 1
        return self.real.verify(password_hash, password)

    def hash(self, password):
        return self.real.hash(password)


@pytest.fixture
def hasher(monkeypatch):
    counting = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counting)
    return counting


def attempt(browser: Browser, user: str, password: str = "wrong"):  # noqa: S107 - a test's wrong password
    browser.session.cookies.clear()
    browser.get("/demo/")
    return browser.submit({"USERNAME": user, "PASSWORD": password})


def comparable(response) -> tuple[int, dict, str]:
    """Status, headers and body, without what differs on every answer or echoes the input.

    The date, the CSRF token, cookie values, the typed user name prefilled in
    the form (and so the length).
    """
    headers = {k: v for k, v in response.headers.items() if k not in ("Date", "Content-Length")}
    headers["Set-Cookie"] = re.sub(r"=[^;]+;", "=…;", headers.get("Set-Cookie", ""))
    body = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", response.text)
    body = re.sub(r'(name="USERNAME" type="text" value=")[^"]*"', r"\1…", body)
    return response.status_code, headers, body


def test_every_refusal_before_the_password_is_proven_reads_the_same(accounts, browser):
    answers = {case: attempt(browser, case if case != "unknown" else "nobody-here") for case in CASES}
    first = comparable(answers["wrong_password"])
    assert first[0] == 200 and INCORRECT in first[2]
    for case, response in answers.items():
        assert comparable(response) == first, case


def test_every_case_costs_exactly_one_password_hash(accounts, browser, hasher):
    for case in CASES:
        before = hasher.verifications
        attempt(browser, case if case != "unknown" else "nobody-here")
        assert hasher.verifications - before == 1, case


def test_the_audit_keeps_the_true_reason(app, accounts, browser):
    for case in CASES:
        attempt(browser, case if case != "unknown" else "nobody-here")
        with app.app_context():
            last = next(e for e in audit.query(event="step") if e.outcome == "failure")
            assert last.reason == TRUE_REASON[case], case


def test_the_right_password_of_a_locked_or_disabled_account_learns_why(accounts, browser):
    assert "This account is locked. Contact your administrator." in attempt(browser, "locked", PASSWORD).text
    assert "This account is disabled. Contact your administrator." in attempt(browser, "disabled", PASSWORD).text


def test_the_right_password_of_a_locked_out_account_learns_nothing(accounts, browser):
    right, wrong = attempt(browser, "locked_out", PASSWORD), attempt(browser, "locked_out")
    assert comparable(right) == comparable(wrong) and INCORRECT in right.text


def test_a_second_try_in_the_same_flow_reads_the_same_too(accounts, browser):
    def twice(user):
        attempt(browser, user)
        return browser.submit({"USERNAME": user, "PASSWORD": "wrong"})

    assert comparable(twice("nobody-here"))[2] == comparable(twice("wrong_password"))[2]


@pytest.mark.parametrize("reveal", [True])
def test_an_intranet_may_reveal_the_account_state(accounts, browser):
    assert "No account has this user name." in attempt(browser, "nobody-here").text
    assert "This account is locked." in attempt(browser, "locked").text
    assert "can&#39;t sign in with a password" in attempt(browser, "no_password").text
    assert "locked for a while after too many failed sign-ins" in attempt(browser, "locked_out").text
    assert INCORRECT in attempt(browser, "wrong_password").text
