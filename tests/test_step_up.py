"""Step-up: a signed-in person who needs more is asked only for the missing factor, not for everything again.

The person signs in at the development provider (JIT with a password: session
level 1, methods ``fed``). /demo/stepup/ needs level 2 through a scheme that
starts with SessionIdentificationPlugin and asks for the password only when
the session lacks ``pwd``, the way a second-factor step slots in for ``mfa``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit import AuditEvent
from app.extensions import db
from tests.jit_steps import provider_sign_in

PASSWORD = "Step-up password 42"
STEP_UP_SCHEME = """
name: StepUpScheme
level: 2
module:
  steps:
    Session: {plugin: SessionIdentificationPlugin}
    Credential_Collector:
      plugin: CredentialCollectorPlugin
      params:
        CRED_PARAM_1: "{ID=USERNAME},{DISPLAY_NAME=USERNAME},{TYPE=text_readonly}"
        CRED_PARAM_2: "{ID=PASSWORD},{DISPLAY_NAME=PASSWORD},{TYPE=password}"
    User_Identification: {plugin: UserIdentificationPlugin}
    User_Authentication: {plugin: UserAuthenticationPlugin}
  orchestration:
    initial_step: Session
    Session:
      on_success:
        - when: {amr: pwd}
          goto: success
        - goto: Credential_Collector
      on_failure: failure
    Credential_Collector: {on_success: User_Identification, on_failure: failure}
    User_Identification: {on_success: User_Authentication, on_failure: failure}
    User_Authentication: {on_success: success, on_failure: failure}
"""


def step_up_site(make_jit_site):
    return make_jit_site(
        schemes={"StepUpScheme.yaml": STEP_UP_SCHEME},
        policies={"Step-up": {"scheme": "StepUpScheme"}},
        resources=[{"url": "/demo/stepup/**", "policy": "Step-up"}],
        extra={"forward_auth": {"proxies": ["127.0.0.1"], "amr_header": "X-Stepgate-Amr"}},
    )


def methods(browser, site, path: str) -> list[str]:
    answer = browser.session.get(
        f"{site.url}/forward-auth", headers={"X-Original-URL": f"{site.url}{path}"}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Stepgate-Amr"].split()


def test_a_federated_session_steps_up_with_only_its_password(make_jit_site):
    site = step_up_site(make_jit_site)
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit/", "stella")
        page = browser.submit({"PASSWORD": PASSWORD, "CONFIRM_PASSWORD": PASSWORD})
        assert page.status_code == 200 and page.url.endswith("/demo/jit/")
        assert methods(browser, site, "/demo/jit/") == ["fed"]

        page = browser.get("/demo/stepup/")
        assert "Development provider" not in page.text  # not sent to the provider again
        assert 'value="stella"' in page.text and "readonly" in page.text and 'name="PASSWORD"' in page.text
        page = browser.submit({"USERNAME": "someone-else", "PASSWORD": PASSWORD})
        assert page.status_code == 200 and page.url.endswith("/demo/stepup/")
        assert set(methods(browser, site, "/demo/stepup/")) == {"fed", "pwd"}


def _sign_out_in_another_tab(browser, site) -> None:
    browser.sign_out()  # the same browser: its session cookie goes, the step-up form's flow cookie stays


def _sign_out_from_another_browser_holding_the_cookie(browser, site) -> None:
    with site.browser() as other:  # the server ends the session; this browser still sends its cookie
        other.session.cookies.set("stepgate_session", browser.cookie("stepgate_session"), domain="127.0.0.1", path="/")
        assert other.sign_out().status_code == 200


@pytest.mark.parametrize("end_session", [_sign_out_in_another_tab, _sign_out_from_another_browser_holding_the_cookie])
def test_a_step_up_whose_session_ended_meanwhile_fails_closed_and_opens_no_session(make_jit_site, end_session):
    """The flow took its person and methods from the session; once that session is ended, finishing the flow
    would mint a live session out of a revoked one, so the right password is refused instead."""
    site = step_up_site(make_jit_site)
    with site.browser() as browser:
        provider_sign_in(browser, "/demo/jit/", "stella")
        browser.submit({"PASSWORD": PASSWORD, "CONFIRM_PASSWORD": PASSWORD})
        prompt = browser.get("/demo/stepup/")
        assert 'value="stella"' in prompt.text and 'name="PASSWORD"' in prompt.text
        ended = browser.cookie("stepgate_session")

        end_session(browser, site)
        page = browser.submit({"USERNAME": "stella", "PASSWORD": PASSWORD}, response=prompt)

        assert page.status_code == 401 and "The session this sign-in began from has ended" in page.text
        assert browser.cookie("stepgate_session") in (None, ended)  # no new session was handed out
        probe = browser.session.get(
            f"{site.url}/forward-auth",
            headers={"X-Original-URL": f"{site.url}/demo/jit/"},
            allow_redirects=False,
            timeout=10,
        )
        assert probe.status_code != 200  # nothing this browser holds is a session any more
    with site.app.app_context():
        refusal = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "signin.failure", AuditEvent.reason == "session.ended")
        ).all()
        assert len(refusal) == 1 and refusal[0].scheme == "StepUpScheme"


def test_without_a_session_the_step_up_scheme_refuses(make_jit_site):
    site = step_up_site(make_jit_site)
    with site.browser() as browser:
        page = browser.get("/demo/stepup/")
        assert page.status_code == 401 and 'name="PASSWORD"' not in page.text


def test_a_step_up_by_the_same_person_keeps_the_higher_level_it_had():
    from app.routing import level_after

    stepped_up = {"session": {"user_id": 7, "level": 3, "amr": ["pwd"]}}
    assert level_after(stepped_up, 7, 1) == 3
    assert level_after(stepped_up, 8, 1) == 1  # another person signed in: nothing carries over
    assert level_after({}, 7, 2) == 2


def test_a_flow_resumed_after_its_session_ended_is_not_identified_by_it():
    from app.engine import FlowContext
    from plugins.session_identification import SessionIdentificationPlugin

    data = {"session": {"user_id": 7, "level": 1, "amr": ["fed"], "expires_at": "2000-01-01T00:00:00"}}
    ctx = FlowContext("f", "StepUpScheme", "Session", data, {}, None, "/")
    result = SessionIdentificationPlugin(None).process(ctx)
    assert result.reason == "session.expired" and ctx.user_id is None
