"""The provider's authorization response, checked before its code is used: state, RFC 9207 ``iss``, error, code.

Over real HTTP: the misbehaving provider (tests/rogue_op.py) sends the browser
back with what a case names. A refused answer ends on a clear 401 page with its
reason code, an audit event and a log line, and its code is never exchanged
(the token endpoint is not called). docs/oidc-validation.md maps each case to
its rule.
"""

from __future__ import annotations

import pytest
from markupsafe import escape

from app import audit
from app.stores import sql as identity
from app.web.messages import MESSAGES
from tests.oidc_fixtures import rogue_site
from tests.rogue_op import DROP

ADVERTISED = {"authorization_response_iss_parameter_supported": True}


@pytest.fixture
def site(make_jit_site, rogue_op):
    return rogue_site(make_jit_site, rogue_op)


def assert_refused(site, rogue_op, reason: str, caplog) -> str:
    with site.browser() as browser:
        page = browser.get("/demo/rogue/")
        assert browser.cookie("stepgate_session") is None
    assert page.status_code == 401, page.text[:300]
    assert f"<code>{reason}</code>" in page.text and str(escape(MESSAGES[reason])) in page.text
    assert rogue_op.token_requests == 0, "a refused answer's code is never exchanged"
    with site.app.app_context():
        assert identity.find_by_user_name("default", "rogue-user") is None
        [event] = audit.query(event="signin.failure")
        assert event.reason == reason and event.step == "OpenID_Connect"
    assert any(reason in r.getMessage() and r.name == "stepgate.oidc" for r in caplog.records)
    return page.text


def signs_in(site, rogue_op) -> bool:
    with site.browser() as browser:
        page = browser.get("/demo/rogue/")
    return page.status_code == 200 and rogue_op.token_requests == 1


def issuer(suffix: str = ""):
    """The ``iss`` the provider sends: its own issuer plus ``suffix`` (filled in once the provider is known)."""
    return ("issuer", suffix)


# (id, discovery additions, authorization response changes, reason). RFC 9207 section 2.4 first.
REFUSED = [
    ("rfc9207-advertised-and-iss-missing", ADVERTISED, {}, "authorization_response.iss_missing"),
    (
        "rfc9207-advertised-and-iss-another-issuer",
        ADVERTISED,
        {"iss": "http://127.0.0.1:1"},
        "authorization_response.iss_mismatch",
    ),
    (
        "rfc9207-advertised-and-iss-with-a-trailing-slash",
        ADVERTISED,
        {"iss": issuer("/")},
        "authorization_response.iss_mismatch",
    ),
    ("rfc9207-advertised-and-iss-empty", ADVERTISED, {"iss": ""}, "authorization_response.iss_mismatch"),
    (
        "rfc9207-not-advertised-but-iss-another-issuer",
        {},
        {"iss": "https://attacker.example"},
        "authorization_response.iss_mismatch",
    ),
    (
        "rfc9207-not-advertised-but-iss-with-a-path",
        {},
        {"iss": issuer("/tenant")},
        "authorization_response.iss_mismatch",
    ),
    (
        "rfc9207-an-error-answer-from-another-issuer",
        ADVERTISED,
        {"iss": "https://attacker.example", "error": "access_denied", "code": DROP},
        "authorization_response.iss_mismatch",
    ),
    # OIDC Discovery 4.3: the discovery issuer must be the configured one (and a string at all)
    ("discovery-issuer-not-a-string", {"issuer": 5}, {}, "idp.bad_discovery"),
    ("discovery-issuer-another", {"issuer": "https://attacker.example"}, {}, "idp.bad_discovery"),
    # RFC 6749 10.12 and OIDC Core 3.1.2.7: the answer is bound to this flow by state
    ("state-missing", {}, {"state": DROP}, "oidc.state_mismatch"),
    ("state-another-flows", {}, {"state": "attacker-state"}, "oidc.state_mismatch"),
    ("state-empty", {}, {"state": ""}, "oidc.state_mismatch"),
    # RFC 6749 3.1: no parameter more than once
    ("code-repeated", {}, {"code": ["attacker-code", "another"]}, "authorization_response.repeated_parameter"),
    ("state-repeated", {}, {"state": ["attacker-state", "another"]}, "authorization_response.repeated_parameter"),
    (
        "iss-repeated",
        ADVERTISED,
        {"iss": [issuer(), "https://attacker.example"]},
        "authorization_response.repeated_parameter",
    ),
    # RFC 6749 4.1.2.1: an error answer is the provider's no, whatever else it carries
    ("error-access-denied", {}, {"error": "access_denied", "code": DROP}, "idp.access_denied"),
    ("error-server-error", {}, {"error": "server_error", "code": DROP}, "idp.error"),
    ("error-with-a-code-too", {}, {"error": "login_required"}, "idp.error"),
    ("error-empty", {}, {"error": "", "code": DROP}, "idp.error"),
    # a code is required when there is no error
    ("code-missing", {}, {"code": DROP}, "oidc.no_code"),
    ("code-empty", {}, {"code": ""}, "oidc.no_code"),
]


def _resolve(value, op):
    if isinstance(value, tuple):
        return op.issuer + value[1]
    if isinstance(value, list):
        return [_resolve(v, op) for v in value]
    return value


@pytest.mark.parametrize(("metadata", "response", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_an_authorization_response_breaking_a_rule_is_refused_before_its_code_is_used(
    site, rogue_op, caplog, metadata, response, reason
):
    rogue_op.metadata = metadata
    rogue_op.response_params = {name: _resolve(value, rogue_op) for name, value in response.items()}
    assert_refused(site, rogue_op, reason, caplog)


ACCEPTED = [
    ("rfc9207-advertised-and-iss-exact", ADVERTISED, {"iss": issuer()}),
    ("rfc9207-not-advertised-and-iss-absent", {}, {}),
    ("rfc9207-not-advertised-and-iss-exact", {}, {"iss": issuer()}),
    ("rfc9207-advertised-false-and-iss-absent", {"authorization_response_iss_parameter_supported": False}, {}),
]


@pytest.mark.parametrize(("metadata", "response"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_an_honest_authorization_response_signs_in(site, rogue_op, metadata, response):
    rogue_op.metadata = metadata
    rogue_op.response_params = {name: _resolve(value, rogue_op) for name, value in response.items()}
    assert signs_in(site, rogue_op)


def test_rfc9207_the_iss_check_uses_the_discovery_issuer_exactly_even_with_a_slash_in_settings(make_jit_site, rogue_op):
    """Settings may name the issuer with a trailing slash; the answer's ``iss`` is compared with discovery's."""
    site = rogue_site(make_jit_site, rogue_op, issuer=rogue_op.issuer + "/")
    rogue_op.metadata = ADVERTISED
    rogue_op.response_params = {"iss": rogue_op.issuer}
    assert signs_in(site, rogue_op)


def test_an_error_description_with_markup_is_neither_shown_raw_nor_a_500(site, rogue_op, caplog):
    rogue_op.response_params = {
        "error": "<script>alert(1)</script>",
        "error_description": "<img src=x onerror=alert(1)>",
        "code": DROP,
    }
    page = assert_refused(site, rogue_op, "idp.error", caplog)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
