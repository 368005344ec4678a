"""The console shows a user's second factors (never a secret) and resets them: audited, CSRF-checked,
and the person enrols again at their next sign-in."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app import audit
from app.extensions import db
from app.secretbox import MASTER_KEY_ENV, new_master_key
from tests.browser import parse_forms
from tests.conftest import DEMO_DOMAIN
from tests.otp_steps import enrol, password_step

PASSWORD = "correct horse battery staple"
DOMAINS = {
    **DEMO_DOMAIN,
    "MFA": {
        "authentication_policies": {"MFA Policy": {"scheme": "PasswordTOTPScheme"}},
        "resources": [{"url": "/demo/mfa/**", "policy": "MFA Policy"}],
    },
    "Administration": {
        "authentication_policies": {"Admin Console Policy": {"scheme": "AdminScheme"}},
        "resources": [{"url": "/admin/**", "policy": "Admin Console Policy"}],
    },
}


@pytest.fixture(autouse=True)
def master_key(monkeypatch):
    monkeypatch.setenv(MASTER_KEY_ENV, new_master_key())


@pytest.fixture
def make_settings(make_settings):
    def make(extra=None, **kwargs):
        return make_settings({"application_domains": DOMAINS, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def people(add_user):
    return {
        "admin": add_user("admin", password=PASSWORD, groups="admins"),
        "alice": add_user("alice", password=PASSWORD),
    }


def admin_browser(browser_for, live_server):
    admin = browser_for(live_server)
    admin.get("/admin/")
    page = admin.submit({"USERNAME": "admin", "PASSWORD": PASSWORD})
    assert page.status_code == 200 and "/admin/" in page.url and 'id="loginData"' not in page.text
    return admin


def test_the_console_shows_the_factors_and_no_secret(app, browser, browser_for, live_server, people):
    secret, codes = enrol(browser, "alice", PASSWORD)
    admin = admin_browser(browser_for, live_server)
    page = admin.get(f"/admin/users/{people['alice']}")
    assert "<strong>enrolled</strong>" in page.text and '<span id="recovery-codes-left">10</span>' in page.text
    assert secret not in page.text and not any(code in page.text for code in codes)
    with app.app_context():
        box = db.session.execute(text("SELECT secret_box FROM totp_factors")).scalar_one()
    assert box not in page.text


def test_an_administrator_resets_the_factors_audited_and_the_person_enrols_again(
    app, browser, browser_for, live_server, people
):
    enrol(browser, "alice", PASSWORD)
    admin = admin_browser(browser_for, live_server)
    page = admin.get(f"/admin/users/{people['alice']}")
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/reset-mfa"))
    assert admin.post(form["action"], data={}).status_code == 400  # no CSRF token: refused, nothing removed
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM totp_factors")).scalar() == 1

    done = admin.post(form["action"], data=form["fields"])
    assert "alice: TOTP and recovery codes removed" in done.text and "not enrolled" in done.text
    with app.app_context():
        (event,) = audit.query(event="mfa.reset")
        assert event.user_id == people["alice"] and event.detail["by"] == "admin"
        assert event.detail["before"] == {"totp": True, "recovery_codes_left": 10}
        assert db.session.execute(text("SELECT count(*) FROM recovery_codes")).scalar() == 0

    page = password_step(browser, "alice", PASSWORD)
    assert 'id="totp-qr"' in page.text  # a new authenticator app is set up at the next sign-in


def test_a_user_without_factors_shows_no_reset_button(browser_for, live_server, people):
    admin = admin_browser(browser_for, live_server)
    page = admin.get(f"/admin/users/{people['alice']}")
    assert "TOTP:" in page.text and "not enrolled" in page.text and 'id="reset-mfa"' not in page.text


def test_deleting_a_user_removes_their_factors(app, browser, browser_for, live_server, people):
    enrol(browser, "alice", PASSWORD)
    admin = admin_browser(browser_for, live_server)
    page = admin.get(f"/admin/users/{people['alice']}")
    form = next(f for f in parse_forms(page.text) if f["action"].endswith("/delete"))
    admin.post(form["action"], data=form["fields"])
    with app.app_context():
        for table in ("totp_factors", "recovery_codes", "second_factor_failures"):
            assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0  # noqa: S608
