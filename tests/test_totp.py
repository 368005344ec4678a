"""TOTP as a second factor, over real HTTP: enrolment in the flow, the next sign-in, replay, recovery codes,
wrong codes throttled and locked out together with passwords, the secret sealed with the master key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from app import audit, lockout
from app.extensions import db
from app.secretbox import MASTER_KEY_ENV, new_master_key
from tests.browser import Browser
from tests.conftest import DEMO_DOMAIN
from tests.otp_steps import (
    asked_for_code,
    away_from_step_edge,
    code_at,
    enrol,
    password_step,
    signed_in,
    unused_code,
)

PASSWORD = "correct horse battery staple"
MFA_DOMAIN = {
    "MFA": {
        "authentication_policies": {"MFA Policy": {"scheme": "PasswordTOTPScheme"}},
        "resources": [{"url": "/demo/mfa/**", "policy": "MFA Policy"}],
    }
}
NO_THROTTLING = {"per_address": {"limit": 0}, "per_name": {"limit": 0}}


@pytest.fixture(autouse=True)
def master_key(monkeypatch):
    monkeypatch.setenv(MASTER_KEY_ENV, new_master_key())


@pytest.fixture
def signin_block() -> dict:
    return {"lockout": {"max_failures": 4}, "throttling": NO_THROTTLING}


@pytest.fixture
def make_settings(make_settings, signin_block):
    def make(extra=None, **kwargs):
        settings = {"application_domains": {**DEMO_DOMAIN, **MFA_DOMAIN}, "password_signin": signin_block}
        return make_settings({**settings, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def alice(add_user) -> int:
    return add_user("alice", password=PASSWORD)


def test_a_local_user_enrols_totp_in_the_flow_and_is_asked_for_it_next_time(app, browser, alice):
    secret, codes = enrol(browser, "alice", PASSWORD)
    assert len(codes) == 10 and len(set(codes)) == 10

    page = password_step(browser, "alice", PASSWORD)
    assert asked_for_code(page) and 'id="totp-qr"' not in page.text  # enrolled: no new secret is offered
    assert not signed_in(page)
    page = browser.submit({"otp": unused_code(secret)})
    assert signed_in(page)
    with app.app_context():
        kinds = [e.event for e in audit.query(user_id=alice, limit=50)]
    assert "mfa.enrolled" in kinds


def test_the_session_records_otp_and_mfa_among_the_methods_used(app, browser, alice):
    enrol(browser, "alice", PASSWORD)
    with app.app_context():
        (methods,) = db.session.execute(text("SELECT amr FROM sessions")).scalars().all()
    assert {"pwd", "otp", "mfa"} <= set(methods.split())


def test_the_secret_is_stored_sealed_with_the_master_key(app, browser, alice):
    secret, codes = enrol(browser, "alice", PASSWORD)
    with app.app_context():
        box = db.session.execute(text("SELECT secret_box FROM totp_factors")).scalar_one()
        digests = db.session.execute(text("SELECT code_digest FROM recovery_codes")).scalars().all()
    assert box.startswith("{AES}") and secret not in box
    assert len(digests) == 10 and not {c.replace("-", "") for c in codes} & set(digests)


def test_the_pending_secret_is_not_kept_in_clear_in_the_flow(app, browser, alice):
    page = password_step(browser, "alice", PASSWORD)
    secret = page.text.split('id="totp-secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    with app.app_context():
        data = db.session.execute(text("SELECT data FROM flows WHERE status = 'active'")).scalars().all()
    assert data and all(secret not in str(d) for d in data)


def test_a_wrong_enrolment_code_asks_again_with_the_same_secret(browser, alice):
    page = password_step(browser, "alice", PASSWORD)
    first = page.text.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    page = browser.submit({"otp": "000000" if code_at(first.replace(" ", "")) != "000000" else "111111"})
    assert "That code is not right" in page.text
    assert page.text.split('id="totp-secret">', 1)[1].split("<", 1)[0] == first


def test_a_code_already_used_is_refused_and_so_is_an_older_one(browser, alice):
    secret, _ = enrol(browser, "alice", PASSWORD)
    code = unused_code(secret)
    password_step(browser, "alice", PASSWORD)
    assert signed_in(browser.submit({"otp": code}))

    page = password_step(browser, "alice", PASSWORD)
    page = browser.submit({"otp": code})
    assert not signed_in(page) and "already been used" in page.text
    page = browser.submit({"otp": code_at(secret)})  # the enrolment's step: older than the last one used
    assert not signed_in(page) and "already been used" in page.text


def test_two_simultaneous_submissions_of_one_code_sign_in_once(app, live_server, browser, alice):
    secret, _ = enrol(browser, "alice", PASSWORD)
    browsers = [Browser(live_server.url) for _ in range(4)]
    for b in browsers:
        password_step(b, "alice", PASSWORD)
    code = unused_code(secret)
    with ThreadPoolExecutor(len(browsers)) as pool:
        pages = list(pool.map(lambda b: b.submit({"otp": code}), browsers))
    assert sum(signed_in(p) for p in pages) == 1
    assert sum("already been used" in p.text for p in pages) == len(browsers) - 1
    for b in browsers:
        b.session.close()


def test_a_code_two_steps_away_is_refused(browser, alice):
    secret, _ = enrol(browser, "alice", PASSWORD)
    away_from_step_edge()
    password_step(browser, "alice", PASSWORD)
    page = browser.submit({"otp": code_at(secret, +2)})
    assert not signed_in(page) and "That code is not right" in page.text
    assert signed_in(browser.submit({"otp": unused_code(secret)}))


def test_a_recovery_code_signs_in_once(app, browser, alice):
    _, codes = enrol(browser, "alice", PASSWORD)
    password_step(browser, "alice", PASSWORD)
    assert signed_in(browser.submit({"otp": codes[0].lower().replace("-", " ")}))  # as a person might type it

    password_step(browser, "alice", PASSWORD)
    page = browser.submit({"otp": codes[0]})
    assert not signed_in(page) and "That code is not right" in page.text
    assert signed_in(browser.submit({"otp": codes[1]}))
    with app.app_context():
        used = db.session.execute(text("SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL")).scalar()
    assert used == 2


def test_one_recovery_code_submitted_twice_at_once_signs_in_once(live_server, browser, alice):
    _, codes = enrol(browser, "alice", PASSWORD)
    browsers = [Browser(live_server.url) for _ in range(3)]
    for b in browsers:
        password_step(b, "alice", PASSWORD)
    with ThreadPoolExecutor(len(browsers)) as pool:
        pages = list(pool.map(lambda b: b.submit({"otp": codes[2]}), browsers))
    assert sum(signed_in(p) for p in pages) == 1
    for b in browsers:
        b.session.close()


@pytest.mark.parametrize("signin_block", [{"lockout": {"max_failures": 0}, "throttling": NO_THROTTLING}])
def test_wrong_codes_ask_again_then_the_person_starts_over_from_the_password(browser, alice):
    enrol(browser, "alice", PASSWORD)
    password_step(browser, "alice", PASSWORD)
    for _ in range(4):
        page = browser.submit({"otp": "12345"})  # not even six digits: still one wrong code
        assert asked_for_code(page) and "That code is not right" in page.text
    page = browser.submit({"otp": "12345"})  # the fifth (max_attempts): the step fails
    assert not signed_in(page) and not asked_for_code(page)
    assert "Too many wrong codes" in page.text and browser.form()["id"] == "loginData"


@pytest.mark.parametrize("signin_block", [{"lockout": {"max_failures": 3}, "throttling": NO_THROTTLING}])
def test_wrong_codes_lock_the_account_and_a_right_password_does_not_reset_their_count(app, browser, alice):
    secret, _ = enrol(browser, "alice", PASSWORD)
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {code_at(secret, d) for d in (-1, 0, 1)})
    password_step(browser, "alice", PASSWORD)
    assert asked_for_code(browser.submit({"otp": wrong}))
    assert asked_for_code(browser.submit({"otp": wrong}))
    password_step(browser, "alice", PASSWORD)  # a right password in a new flow: the guesses still count
    page = browser.submit({"otp": wrong})
    assert not signed_in(page) and "locked for a while" in page.text
    with app.app_context():
        assert lockout.locked_until(alice) is not None
        assert "account.locked" in [e.event for e in audit.query(user_id=alice, limit=50)]
    page = password_step(browser, "alice", PASSWORD)  # the password is locked out too: one lockout
    assert not asked_for_code(page) and not signed_in(page)


@pytest.mark.parametrize(
    "signin_block", [{"lockout": {"max_failures": 0}, "throttling": {"per_name": {"limit": 4, "window_seconds": 60}}}]
)
def test_code_checks_spend_the_same_throttling_budget_as_passwords(browser, alice):
    enrol(browser, "alice", PASSWORD)  # one password attempt
    password_step(browser, "alice", PASSWORD)  # two
    browser.submit({"otp": "000001"})  # three
    page = browser.submit({"otp": "000002"})  # four
    page = browser.submit({"otp": "000003"})  # five: over the name's budget
    assert page.status_code == 429 and page.headers.get("Retry-After")


def test_a_locked_out_account_is_not_asked_for_its_code_nor_is_one_checked(app, browser, alice):
    secret, _ = enrol(browser, "alice", PASSWORD)
    password_step(browser, "alice", PASSWORD)
    with app.app_context():
        lockout.lock_now(lockout.LockoutSettings(), alice, "alice", "test")
        db.session.commit()
    page = browser.submit({"otp": unused_code(secret)})
    assert not signed_in(page) and "locked for a while" in page.text


def test_without_the_master_key_enrolment_ends_on_a_clear_page(monkeypatch, browser, alice):
    monkeypatch.delenv(MASTER_KEY_ENV)
    page = password_step(browser, "alice", PASSWORD)
    assert not signed_in(page) and "misconfigured" in page.text and page.status_code < 500


def test_another_master_key_cannot_read_the_secret_and_says_so(monkeypatch, browser, alice):
    secret, _ = enrol(browser, "alice", PASSWORD)
    monkeypatch.setenv(MASTER_KEY_ENV, new_master_key())
    password_step(browser, "alice", PASSWORD)
    page = browser.last
    assert not signed_in(page) and "misconfigured" in page.text and page.status_code < 500
