"""Asgardeo's JIT off: a federated session with no local account, end to end against the real provider.

The shipped ``JITOffScheme`` (resource ``/demo/jit-off/``) signs the person in
at the development provider and writes nothing to the identity store; the demo
page, forward-auth's headers and the console show the provider's subject and
the claims passed on.
"""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from app import audit, federated_sessions
from app.extensions import db
from app.stores import sql as identity
from app.stores.federation import FederatedLink
from tests.jit_steps import attributes_shown, provider_sign_in

APP_HOST = "app.example.org"
PASSWORD = "correct horse battery staple"
HEADERS = ("X-Stepgate-User", "X-Stepgate-Subject", "X-Stepgate-Provider", "X-Stepgate-Mail", "X-Stepgate-Name")
JIT_OFF = {"JIT off": {"scheme": "JITOffScheme"}, "Admin": {"scheme": "AdminScheme"}}
JIT_OFF_RESOURCES = [
    {"url": "/demo/jit-off/**", "policy": "JIT off"},
    {"url": "/admin/**", "policy": "Admin"},
    {"url": "/**", "host": APP_HOST, "policy": "JIT off"},
    {"url": "/public/**", "host": APP_HOST, "policy": "Public"},
]
FORWARD_AUTH = {
    "forward_auth": {
        "proxies": ["127.0.0.1"],
        "attribute_headers": {"mail": "X-Stepgate-Mail", "display-name": "X-Stepgate-Name"},
    }
}


@pytest.fixture
def site(make_jit_site):
    return make_jit_site(policies=JIT_OFF, resources=JIT_OFF_RESOURCES, extra=FORWARD_AUTH)


def ask(site, cookie=None, url=f"http://{APP_HOST}/reports", **headers):
    return requests.get(
        site.url + "/forward-auth",
        headers={"X-Original-URL": url, **headers},
        cookies={"stepgate_session": cookie} if cookie else None,
        allow_redirects=False,
        timeout=10,
    )


def rows_in_the_user_store(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.__tablename__: db.session.scalar(select(func.count()).select_from(table))
            for table in (identity.User, identity.UserAttribute, FederatedLink)
        }


def test_a_person_signed_in_with_jit_off_sees_subject_and_claims_and_nothing_is_stored(site):
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-off/welcome", "olga", given_name="Olga", family_name="Berg")
        assert page.status_code == 200 and page.url == browser.url("/demo/jit-off/welcome")
        assert '<strong id="user-name">olga</strong>' in page.text and 'id="no-local-account"' in page.text
        assert '<code id="provider">devop</code>' in page.text
        assert attributes_shown(page) == {
            "display-name": "Olga Berg",
            "first-name": "Olga",
            "last-name": "Berg",
            "mail": "olga@example.org",
        }
        assert browser.cookie("stepgate_session").startswith(federated_sessions.PREFIX)
    assert rows_in_the_user_store(site.app) == {"users": 0, "user_attributes": 0, "federated_links": 0}
    with site.app.app_context():
        [row] = federated_sessions.active()
        assert (
            row.provider == "devop"
            and row.user_name == "olga"
            and f'<code id="subject">{row.subject}</code>' in page.text
        )
        [event] = audit.query(event="signin.success")
        assert event.user_id is None and event.detail["local_account"] is False
        assert event.detail["subject"] == row.subject


def test_forward_auth_sends_the_subject_and_mapped_claims_and_never_lets_a_client_copy_through(site):
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-off/", "pia", given_name="Pia Ølund\r\nX-Evil:", family_name="1")
        cookie = browser.cookie("stepgate_session")
    forged = {header: "forged" for header in HEADERS}
    answer = ask(site, cookie, **forged)
    assert answer.status_code == 200, answer.text
    with site.app.app_context():
        [row] = federated_sessions.active()
    assert answer.headers["X-Stepgate-User"] == "pia"
    assert answer.headers["X-Stepgate-Subject"] == row.subject
    assert answer.headers["X-Stepgate-Provider"] == "devop"
    assert answer.headers["X-Stepgate-Mail"] == "pia@example.org"
    assert answer.headers["X-Stepgate-Name"] == "Pia %C3%98lund%0D%0AX-Evil: 1"  # one header, percent-encoded
    assert "X-Evil" not in answer.headers
    # Anyone on a public page: every identity header is answered, empty, so the proxy replaces a client's copy.
    public = ask(site, None, url=f"http://{APP_HOST}/public/x", **forged)
    assert public.status_code == 200
    assert {header: public.headers.get(header) for header in HEADERS} == dict.fromkeys(HEADERS, "")


@pytest.mark.parametrize(
    "value, sent",
    [
        ("a\rb", "a%0Db"),
        ("a\nX-Stepgate-User: admin", "a%0AX-Stepgate-User: admin"),
        ("a\x00b", "a%00b"),
        ("Ｘ-admin", "%EF%BC%B8-admin"),
        ("100%", "100%25"),
        ('say "hi"', "say %22hi%22"),
    ],
)
def test_claim_values_that_could_break_or_forge_a_header_are_encoded(value, sent):
    from app.forward_auth import header_value

    assert header_value(value) == sent


def test_signing_out_ends_a_jit_off_session_for_the_page_and_the_proxy(site):
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-off/", "quincy")
        cookie = browser.cookie("stepgate_session")
        assert ask(site, cookie).status_code == 200
        browser.sign_out()
    assert ask(site, cookie).status_code == 401  # a copied cookie is worthless too
    with site.app.app_context():
        assert federated_sessions.active() == []
        assert [e.event for e in audit.query(event="signout")] == ["signout"]


def test_the_console_lists_jit_off_sessions_and_an_administrator_ends_one(site):
    with site.app.app_context():
        identity.create_user("default", "admin", {"groups": "admins"}, PASSWORD)
        db.session.commit()
    with site.browser() as person:
        provider_sign_in(person, "/demo/jit-off/", "rita", given_name="<script>x</script>")
        cookie = person.cookie("stepgate_session")
    with site.browser() as admin:
        admin.get("/admin/sessions")
        page = admin.submit({"USERNAME": "admin", "PASSWORD": PASSWORD})
        assert page.url == admin.url("/admin/sessions"), page.text[:300]
        with site.app.app_context():
            [row] = federated_sessions.active()
        assert f'<code class="subject">{row.subject}</code>' in page.text and "rita" in page.text
        assert "&lt;script&gt;x&lt;/script&gt;" in page.text and "<script>x</script>" not in page.text
        csrf = admin.form(page)["fields"]["csrf_token"]
        ended = admin.post(f"/admin/sessions/{row.id_digest}/end", {"csrf_token": csrf})
        assert ended.status_code == 200 and "No live session without a local account" in ended.text
    assert ask(site, cookie).status_code == 401


def test_a_step_needing_a_local_account_after_jit_off_ends_with_a_clear_error(make_jit_site):
    site = make_jit_site(
        policies={"JIT off then password": {"scheme": "JITOffThenPassword"}},
        resources=[{"url": "/demo/mixed/**", "policy": "JIT off then password"}],
        schemes={"JITOffThenPassword.yaml": JIT_OFF_THEN_PASSWORD},
    )
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/mixed/", "sven")
        assert page.status_code == 403
        assert "<code>flow.needs_local_account</code>" in page.text and "needs a local account" in page.text
        assert browser.cookie("stepgate_session") is None
    assert rows_in_the_user_store(site.app) == {"users": 0, "user_attributes": 0, "federated_links": 0}
    with site.app.app_context():
        [failure] = audit.query(event="signin.failure")
        assert failure.reason == "flow.needs_local_account" and failure.step == "User_Authentication"


def test_schemes_check_warns_about_a_step_needing_a_local_account_after_jit_off(make_settings):
    from app import create_app

    app = create_app(make_settings(schemes={"JITOffThenPassword.yaml": JIT_OFF_THEN_PASSWORD}), testing=True)
    result = app.test_cli_runner().invoke(args=["schemes", "check"])
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert "JITOffThenPassword.yaml:13: step 'User_Authentication' (UserAuthenticationPlugin)" in warning
    assert "step 'JIT_Off' before it turns just-in-time provisioning off" in warning
    assert "JITOffScheme" in result.output and result.output.count("warning:") == 1  # the shipped scheme is clean


def test_jit_off_per_provider_opens_a_session_for_its_people_and_provisions_nothing(make_jit_site):
    site = make_jit_site(
        devop_options={"jit_provisioning": False},
        policies={"Per provider": {"scheme": "PerProviderScheme"}},
        resources=[{"url": "/demo/per-provider/**", "policy": "Per provider"}],
        schemes={"PerProviderScheme.yaml": PER_PROVIDER},
    )
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/per-provider/", "tove")
        assert 'id="no-local-account"' in page.text
    with site.browser() as browser:  # a JIT scheme that would provision: refused, nothing written
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "tove")
        assert page.status_code == 403 and "<code>provisioning.jit_off</code>" in page.text
    assert rows_in_the_user_store(site.app) == {"users": 0, "user_attributes": 0, "federated_links": 0}


JIT_OFF_THEN_PASSWORD = """\
name: JITOffThenPassword
description: JIT off, then a step that needs a local account (misconfigured on purpose)
level: 1
module:
  name: Mixed
  steps:
    OpenID_Connect:
      plugin: OpenIDConnectPlugin
      params: {provider: devop, username_attr: preferred_username}
    JIT_Off:
      plugin: FederatedSessionPlugin
      params: {claim_mapping: "email:mail"}
    User_Authentication:
      plugin: UserAuthenticationPlugin
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: JIT_Off}
    JIT_Off: {on_success: User_Authentication}
    User_Authentication: {on_success: success}
"""

PER_PROVIDER = """\
name: PerProviderScheme
description: JIT off for the providers that say so, JIT on for the others
level: 1
module:
  name: PerProvider
  steps:
    OpenID_Connect:
      plugin: OpenIDConnectPlugin
      params: {provider: "*", username_attr: preferred_username}
    JIT_Switch:
      plugin: FederatedSessionPlugin
      params: {applies_to: providers_with_jit_off, claim_mapping: "email:mail"}
    User_Identification1:
      plugin: UserIdentificationPlugin
    OAuth_Self_Registration:
      plugin: OAuthUserSelfRegistrationPlugin
      params: {autoprovisioning: "True", autoprovision_key_user_record_attribute_list: email}
    User_Identification2:
      plugin: UserIdentificationPlugin
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: JIT_Switch}
    JIT_Switch: {on_success: success, on_failure: User_Identification1}
    User_Identification1: {on_success: success, on_failure: OAuth_Self_Registration}
    OAuth_Self_Registration: {on_success: User_Identification2}
    User_Identification2: {on_success: success}
"""


def test_a_dry_run_of_the_jit_off_scheme_shows_the_claims_passed_on_and_writes_nothing(make_settings, tmp_path):
    from app import create_app

    app = create_app(make_settings(), testing=True)
    with app.app_context():
        db.create_all()
    claims = tmp_path / "claims.json"
    claims.write_text(
        '{"iss": "http://127.0.0.1:9", "sub": "op-7", "email": "nina@example.org", '
        '"email_verified": true, "given_name": "Nina", "phone_number": "+1 555", '
        '"preferred_username": "nina"}'
    )
    result = app.test_cli_runner().invoke(args=["schemes", "trace", "JITOffScheme", "--claims", str(claims)])
    assert result.exit_code == 0, result.output
    assert "result: success" in result.output
    assert "no local account (JIT off): devop subject op-7" in result.output
    assert "  mail: nina@example.org" in result.output and "phone" not in result.output
    assert rows_in_the_user_store(app) == {"users": 0, "user_attributes": 0, "federated_links": 0}


def test_a_jit_off_session_never_opens_the_console_whatever_its_claims_say(make_jit_site):
    level_two = JIT_OFF_GROUPS.replace("level: 1", "level: 2")
    site = make_jit_site(
        policies={"Admin": {"scheme": "JITOffGroups"}},
        resources=[{"url": "/admin/**", "policy": "Admin"}],
        schemes={"JITOffGroups.yaml": level_two},
    )
    with site.browser() as browser:
        page = provider_sign_in(browser, "/admin/users", "admins")  # groups: admins, as a claim
        assert page.status_code == 403 and "<code>admin.forbidden</code>" in page.text


JIT_OFF_GROUPS = """\
name: JITOffGroups
description: JIT off with a claim mapped onto groups (what docs/administration.md warns against)
level: 1
module:
  name: Groups
  steps:
    OpenID_Connect:
      plugin: OpenIDConnectPlugin
      params: {provider: devop, username_attr: preferred_username}
    JIT_Off:
      plugin: FederatedSessionPlugin
      params: {claim_mapping: "preferred_username:groups"}
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: JIT_Off}
    JIT_Off: {on_success: success}
"""


def test_purge_deletes_expired_sessions_without_a_local_account(app):
    principal = {"provider": "devop", "issuer": "http://127.0.0.1:9", "subject": "s", "user_name": "w", "claims": {}}
    with app.app_context():
        federated_sessions.open_session(principal, 1, "JITOffScheme", -1)
        live, _, _ = federated_sessions.open_session(principal, 1, "JITOffScheme", 600)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge"])
    assert "1 expired sessions" in result.output, result.output
    with app.app_context():
        assert [row.id_digest for row in db.session.scalars(select(federated_sessions.FederatedSession))] == [
            federated_sessions.digest(live)
        ]


def test_forward_auth_header_names_must_be_distinct_and_valid(tmp_path):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    path = tmp_path / "settings.yaml"
    path.write_text(
        "secret_key: test-secret-key-0123456789\n"
        'database_url: "sqlite:///:memory:"\n'
        "external_url: http://localhost\n"
        "forward_auth:\n"
        "  subject_header: X-Stepgate-Mail\n"
        '  provider_header: "X Provider"\n'
        "  attribute_headers: {mail: x-stepgate-mail}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    found = [str(p).split("settings.yaml", 1)[1] for p in caught.value.problems]
    assert found == [
        ":6: 'provider_header' must be an HTTP header name",
        ":5: forward_auth headers must have distinct names "
        "(given: X-Stepgate-User, X-Stepgate-Mail, X-Stepgate-Provider, x-stepgate-mail)",
    ]
