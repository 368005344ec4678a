"""E-mail one-time codes through a real SMTP server on loopback: sent, single use, short-lived, attempts bounded,
a mail server that does not answer ends on a clear page, and a federated (JIT) user gets them as a local one does."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.yamlsource import ConfigError
from tests.browser import Browser, parse_forms
from tests.conftest import DEMO_DOMAIN
from tests.jit_steps import provider_sign_in
from tests.oidc_fixtures import free_port
from tests.otp_steps import asked_for_code, password_step, signed_in

PASSWORD = "correct horse battery staple"
EMAIL_SCHEME = """
name: PasswordEmailOTPScheme
level: 2
module:
  steps:
    Credential_Collector:
      plugin: CredentialCollectorPlugin
      params:
        CRED_PARAM_1: "{ID=USERNAME},{DISPLAY_NAME=USERNAME},{TYPE=text}"
        CRED_PARAM_2: "{ID=PASSWORD},{DISPLAY_NAME=PASSWORD},{TYPE=password}"
    User_Identification: {plugin: UserIdentificationPlugin}
    User_Authentication: {plugin: UserAuthenticationPlugin}
    Email_OTP:
      plugin: EmailOTPPlugin
      params: {max_attempts: 3, max_sends: 2}
  orchestration:
    initial_step: Credential_Collector
    Credential_Collector: {on_success: User_Identification}
    User_Identification: {on_success: User_Authentication}
    User_Authentication: {on_success: Email_OTP}
    Email_OTP: {on_success: success}
"""
FEDERATED_EMAIL_SCHEME = """
name: FederatedEmailOTPScheme
level: 2
module:
  steps:
    OpenID_Connect: {plugin: OpenIDConnectPlugin, params: {provider: devop, username_attr: preferred_username}}
    User_Identification1: {plugin: UserIdentificationPlugin}
    OAuth_Self_Registration:
      plugin: OAuthUserSelfRegistrationPlugin
      params:
        autoprovisioning: true
        autoprovision_key_user_record_attribute_list: email
        autoprovision_idtoken_to_user_attribute_mapping: email:mail
    User_Identification2: {plugin: UserIdentificationPlugin}
    Email_OTP: {plugin: EmailOTPPlugin}
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: User_Identification1}
    User_Identification1: {on_success: Email_OTP, on_failure: OAuth_Self_Registration}
    OAuth_Self_Registration: {on_success: User_Identification2}
    User_Identification2: {on_success: Email_OTP}
    Email_OTP: {on_success: success}
"""
MFA_DOMAIN = {
    "MFA": {
        "authentication_policies": {"Mail Policy": {"scheme": "PasswordEmailOTPScheme"}},
        "resources": [{"url": "/demo/mfa/**", "policy": "Mail Policy"}],
    }
}
NO_THROTTLING = {"per_address": {"limit": 0}, "per_name": {"limit": 0}}


@pytest.fixture
def smtp_overrides() -> dict:
    """Changes to the loopback server's ``smtp:`` block; a test parametrises it."""
    return {}


@pytest.fixture
def smtp_block(mail_server, smtp_overrides) -> dict:
    return mail_server.settings(**smtp_overrides)


@pytest.fixture
def throttling_block() -> dict:
    return NO_THROTTLING


@pytest.fixture
def make_settings(make_settings, smtp_block, throttling_block):
    def make(extra=None, schemes=None, **kwargs):
        settings = {
            "application_domains": {**DEMO_DOMAIN, **MFA_DOMAIN},
            "password_signin": {"throttling": throttling_block},
            "smtp": smtp_block,
        }
        schemes = {"PasswordEmailOTPScheme.yaml": EMAIL_SCHEME, **(schemes or {})}
        return make_settings({**settings, **(extra or {})}, schemes=schemes, **kwargs)

    return make


@pytest.fixture
def alice(add_user) -> int:
    return add_user("alice", password=PASSWORD, mail="alice@example.org")


def test_a_code_is_mailed_to_the_user_and_signs_in(browser, mail_server, alice):
    page = password_step(browser, "alice", PASSWORD)
    assert asked_for_code(page) and "a****@example.org" in page.text and "alice@example.org" not in page.text
    (message,) = mail_server.wait_for(1)
    assert message["To"] == "alice@example.org" and message["X-Envelope-To"] == "alice@example.org"
    assert message["From"] == "Sign-in <no-reply@example.org>" and message["Subject"] == "Your sign-in code"
    assert signed_in(browser.submit({"otp": mail_server.last_code()}))


def test_the_code_is_stored_only_as_a_keyed_digest(app, browser, mail_server, alice):
    password_step(browser, "alice", PASSWORD)
    mail_server.wait_for(1)
    with app.app_context():
        stored = db.session.execute(text("SELECT code_digest FROM email_otp_codes")).scalar_one()
    assert mail_server.last_code() not in stored and len(stored) == 64


def test_a_code_signs_in_once_even_when_submitted_twice_at_once(live_server, browser, mail_server, alice):
    password_step(browser, "alice", PASSWORD)
    mail_server.wait_for(1)
    code, form = mail_server.last_code(), browser.form()
    twins = [Browser(live_server.url) for _ in range(3)]
    for twin in twins:  # the same browser, three times over: one flow cookie, one code
        twin.session.cookies.update(browser.session.cookies)
        twin.last = browser.last
    with ThreadPoolExecutor(len(twins)) as pool:
        pages = list(pool.map(lambda b: b.submit({**form["fields"], "otp": code}), twins))
    assert sum(signed_in(p) for p in pages) == 1
    for twin in twins:
        twin.session.close()


def test_a_code_from_another_flow_does_not_work_here(browser, live_server, mail_server, alice):
    password_step(browser, "alice", PASSWORD)
    mail_server.wait_for(1)
    first = mail_server.last_code()
    with Browser(live_server.url) as other:
        password_step(other, "alice", PASSWORD)
        mail_server.wait_for(2)
        if mail_server.last_code() != first:  # one chance in a million that both flows drew the same code
            page = other.submit({"otp": first})
            assert not signed_in(page) and "That code is not right" in page.text


def test_an_expired_code_is_refused_and_a_new_one_can_be_sent(app, browser, mail_server, alice):
    password_step(browser, "alice", PASSWORD)
    mail_server.wait_for(1)
    with app.app_context():
        db.session.execute(text("UPDATE email_otp_codes SET expires_at = '2000-01-01 00:00:00'"))
        db.session.commit()
    page = browser.submit({"otp": mail_server.last_code()})
    assert not signed_in(page) and "That code has expired" in page.text
    page = _resend(browser)
    mail_server.wait_for(2)
    assert asked_for_code(page)
    assert signed_in(browser.submit({"otp": mail_server.last_code()}))


def test_new_codes_are_bounded_per_flow(browser, mail_server, alice):
    password_step(browser, "alice", PASSWORD)
    page = _resend(browser)  # the second send: max_sends is 2
    mail_server.wait_for(2)
    page = _resend(browser)
    assert "No more codes can be sent" in page.text
    time.sleep(0.3)
    assert len(mail_server.messages) == 2


@pytest.mark.parametrize("throttling_block", [{"per_address": {"limit": 0}, "per_name": {"limit": 2}}])
def test_sending_a_code_spends_the_throttling_budget_so_a_mailbox_cannot_be_flooded(browser, mail_server, alice):
    password_step(browser, "alice", PASSWORD)  # the password (1) and the first code (2)
    mail_server.wait_for(1)
    page = _resend(browser)  # over the name's budget
    assert page.status_code == 429 and page.headers.get("Retry-After")
    time.sleep(0.3)
    assert len(mail_server.messages) == 1


def test_wrong_codes_are_bounded_and_then_even_the_right_code_fails(browser, mail_server, alice):
    password_step(browser, "alice", PASSWORD)
    mail_server.wait_for(1)
    right = mail_server.last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):  # max_attempts
        page = browser.submit({"otp": wrong})
        assert not signed_in(page)
    page = browser.submit({"otp": right})
    assert not signed_in(page) and "Too many wrong codes" in page.text


@pytest.mark.parametrize("smtp_block", [{"host": "127.0.0.1", "port": free_port(), "tls": "none", "from": "a@b.org"}])
def test_a_mail_server_that_does_not_answer_ends_on_a_clear_page_quickly(browser, alice):
    started = time.monotonic()
    page = password_step(browser, "alice", PASSWORD)
    assert page.status_code == 503 and "mail server is not answering" in page.text
    assert page.headers["Retry-After"] == "30"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("smtp_overrides", [{"tls": "starttls"}])
def test_starttls_is_required_when_configured_and_nothing_is_sent_in_clear(browser, mail_server, alice):
    page = password_step(browser, "alice", PASSWORD)  # the loopback server offers no STARTTLS
    assert page.status_code == 503 and "mail server is not answering" in page.text
    assert mail_server.messages == []


@pytest.mark.parametrize("address", ["", "alice@example.org\r\nBcc: eve@evil.example", "Alice <a@example.org>", "x"])
def test_an_unusable_address_sends_nothing(browser, add_user, mail_server, address):
    add_user("carol", password=PASSWORD, **({"mail": address} if address else {}))
    page = password_step(browser, "carol", PASSWORD)
    assert not signed_in(page) and "no e-mail address a code can be sent to" in page.text
    assert mail_server.messages == []


@pytest.mark.parametrize(
    "smtp_block, message",
    [
        ({"host": "mail.example.org", "from": "a@b.org", "tls": "ssl"}, "'smtp.tls' must be one of none"),
        ({"host": "mail.example.org", "tls": "none", "from": "a@b.org", "username": "u", "password": "p"}, "in clear"),
        ({"host": "mail.example.org", "from": "not an address"}, "'smtp.from' must be an address"),
        ({"host": "mail.example.org", "from": "a@b.org", "password": "{AES}nope"}, "'smtp.password'"),
        ({"host": "mail.example.org", "from": "a@b.org", "colour": "blue"}, "unknown key 'colour' in smtp"),
    ],
)
def test_a_bad_smtp_block_stops_the_server_with_file_and_line(make_settings, message):
    with pytest.raises(ConfigError) as raised:
        create_app(make_settings(), testing=True)
    problem = next(p for p in raised.value.problems if message in p.message)
    assert problem.file.endswith("settings.yaml") and problem.line > 1


def test_a_federated_user_provisioned_just_in_time_gets_a_code_too(make_jit_site, mail_server):
    site = make_jit_site(
        schemes={"FederatedEmailOTPScheme.yaml": FEDERATED_EMAIL_SCHEME},
        policies={"Federated mail": {"scheme": "FederatedEmailOTPScheme"}},
        resources=[{"url": "/demo/fedmail/**", "policy": "Federated mail"}],
        extra={"smtp": mail_server.settings(), "password_signin": {"throttling": NO_THROTTLING}},
    )
    with site.browser() as b:
        page = provider_sign_in(b, "/demo/fedmail/", "dora", email="dora@example.org", preferred_username="dora")
        assert asked_for_code(page), page.text[:400]
        mail_server.wait_for(1)
        assert mail_server.messages[0]["To"] == "dora@example.org"
        assert signed_in(b.submit({"otp": mail_server.last_code()}))


def _resend(browser: Browser):
    """Press "Send a new code" (its own small form, with the CSRF token)."""
    form = next(f for f in parse_forms(browser.last.text) if f["id"] == "otpResend")
    browser.last = browser.session.post(browser.url(form["action"]), data=form["fields"], timeout=browser.timeout)
    return browser.last


@pytest.mark.parametrize("smtp_block", [None])
def test_a_scheme_with_an_email_step_and_no_smtp_block_is_refused_with_its_file_and_line(make_settings):
    with pytest.raises(ConfigError) as raised:
        create_app(make_settings(), testing=True)
    (problem,) = [p for p in raised.value.problems if "EmailOTPPlugin needs the 'smtp' block" in p.message]
    assert problem.file.endswith("PasswordEmailOTPScheme.yaml") and problem.line > 1
