"""Dry runs of the shipped JIT schemes: the claims file stands in for the provider's validated ID token.

Before going live an administrator sees that a returning person is recognised
by their (issuer, subject) link, that a new one would be provisioned with
exactly the mapped attributes, and where an IdP error ends; nothing is written.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.engine import Scenario
from app.extensions import db
from app.runtime import current
from app.stores import federation
from app.stores import sql as identity
from app.trace import run_trace

ISSUER = "http://127.0.0.1:9"  # tests/conftest.py's unused devop provider: a dry run never calls it
PASSWORD = "a-good-password-1"
CLAIMS = {
    "iss": ISSUER,
    "sub": "op-42",
    "preferred_username": "nina",
    "email": "nina@example.org",
    "email_verified": True,
    "given_name": "Nina",
    "family_name": "Ng",
    "name": "Nina <b>Ng</b>",
    "locale": "fr",
    "phone_number": "+1 555 0100",
    "groups": "admins",
}


def steps_of(trace):
    return [(s.step, s.outcome, s.reason, s.transition) for s in trace.steps]


def users() -> int:
    return db.session.scalar(select(func.count()).select_from(identity.User))


def test_a_new_person_would_be_provisioned_with_exactly_the_mapped_attributes(app):
    with app.app_context():
        trace = run_trace(current().schemes["AutoProvisioningNoPasswordScheme"], Scenario(claims=CLAIMS))
        assert users() == 0 and federation.find_linked_user(ISSUER, "op-42") is None
    assert steps_of(trace) == [
        ("OpenID_Connect", "success", None, "User_Identification1"),
        ("User_Identification1", "failure", "user.not_linked", "OAuth_Self_Registration"),
        ("OAuth_Self_Registration", "success", "registration.created", "User_Identification2"),
        ("User_Identification2", "success", None, "success"),
    ]
    assert trace.steps[0].simulated and not trace.steps[2].simulated
    assert trace.result == "success" and trace.user.created and trace.user.user_name == "nina"
    assert trace.user.attributes == {  # phone_number and groups are not in the key list: never stored
        "display-name": "Nina <b>Ng</b>",
        "first-name": "Nina",
        "last-name": "Ng",
        "locale": "fr",
        "mail": "nina@example.org",
    }
    assert trace.user.links == [(ISSUER, "op-42")] and not trace.user.has_password
    assert trace.federated == {"provider": "devop", "issuer": ISSUER, "subject": "op-42", "claims": CLAIMS}


def test_a_returning_person_is_recognised_by_their_link_whatever_their_new_user_name(app, add_user):
    uid = add_user("nina", mail="nina@example.org")
    with app.app_context():
        federation.link_user(uid, ISSUER, "op-42", "devop")
        db.session.commit()
        trace = run_trace(
            current().schemes["AutoProvisioningScheme"],
            Scenario(claims={**CLAIMS, "preferred_username": "nina.ng"}),
        )
    assert steps_of(trace) == [
        ("OpenID_Connect", "success", None, "User_Identification1"),
        ("User_Identification1", "success", None, "success"),
    ]
    assert trace.user.id == uid and trace.user.user_name == "nina" and not trace.user.created


def test_the_password_prompt_of_the_jit_scheme_takes_the_scenarios_values(app):
    scheme_name = "AutoProvisioningScheme"
    with app.app_context():
        weak = run_trace(
            current().schemes[scheme_name],
            Scenario(claims=CLAIMS, values={"PASSWORD": "short", "CONFIRM_PASSWORD": "short"}),
        )
        good = run_trace(
            current().schemes[scheme_name],
            Scenario(claims=CLAIMS, values={"PASSWORD": PASSWORD, "CONFIRM_PASSWORD": PASSWORD}),
        )
    assert steps_of(weak)[-1] == ("OAuth_Self_Registration", "failure", "registration.password_too_short", "failure")
    assert weak.result == "failure"
    assert [s.step for s in good.steps] == [
        "OpenID_Connect",
        "User_Identification1",
        "Credential_Collector",
        "OAuth_Self_Registration",
        "User_Identification2",
    ]
    assert good.steps[2].simulated and good.steps[2].detail == {
        "collected": ["CONFIRM_PASSWORD", "PASSWORD", "USERNAME"]
    }
    assert good.user.created and good.user.has_password and good.user.user_name == "nina"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"error": "access_denied"}, "idp.access_denied"),
        ({"error": "server_error"}, "idp.error"),
        ({**CLAIMS, "iss": "https://evil.example"}, "oidc.unknown_provider"),
        ({k: v for k, v in CLAIMS.items() if k != "sub"}, "id_token.bad_claims"),
        ({k: v for k, v in CLAIMS.items() if k != "preferred_username"}, "id_token.no_username"),
    ],
)
def test_idp_errors_and_unusable_claims_end_at_the_first_step(app, claims, reason):
    with app.app_context():
        trace = run_trace(current().schemes["AutoProvisioningNoPasswordScheme"], Scenario(claims=claims))
    assert steps_of(trace) == [("OpenID_Connect", "failure", reason, "failure")]
    assert trace.result == "failure" and trace.reason == reason and trace.user is None


def test_cli_trace_with_a_claims_file(app, runner, tmp_path):
    claims = tmp_path / "nina.json"
    claims.write_text(json.dumps(CLAIMS))
    result = runner.invoke(args=["schemes", "trace", "AutoProvisioningNoPasswordScheme", "--claims", str(claims)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == [
        "1.",
        "OpenID_Connect",
        "OpenIDConnectPlugin",
        "success",
        "-",
        "->",
        "User_Identification1",
        "(simulated)",
    ]
    assert lines[3].split()[1:5] == [
        "OAuth_Self_Registration",
        "OAuthUserSelfRegistrationPlugin",
        "success",
        "registration.created",
    ]
    assert "user: default/nina (would be created; status active; password none)" in lines
    assert "  display-name: Nina <b>Ng</b>" in lines and f"  linked: {ISSUER} op-42" in lines
    with app.app_context():
        assert identity.find_by_user_name("default", "nina") is None


def test_cli_refuses_a_claims_file_that_is_not_a_mapping(runner, tmp_path):
    claims = tmp_path / "list.json"
    claims.write_text("[1, 2]")
    result = runner.invoke(args=["schemes", "trace", "AutoProvisioningScheme", "--claims", str(claims)])
    assert result.exit_code == 2 and "must hold a mapping" in result.output


def test_a_step_handing_off_to_an_external_registration_page_ends_the_trace_clearly(runner, tmp_path):
    claims = tmp_path / "nina.json"
    claims.write_text(json.dumps(CLAIMS))
    result = runner.invoke(args=["schemes", "trace", "UserSelfRegistrationScheme", "--claims", str(claims)])
    assert result.exit_code == 0, result.output
    assert "result: failure (trace.needs_simulation)" in result.output
    assert (
        "  OAuth_Self_Registration would wait for the browser, and OAuthUserSelfRegistrationPlugin "
        "has no simulation for a dry run"
    ) in result.output
