"""Asgardeo's conditional rule (schemes/AsgardeoMfaScheme.yaml), over real HTTP against the development
provider: a local sign-in needs the second factor (TOTP), a federated one skips it unless the resource requires MFA;
then the just-in-time account enrols TOTP like a local one (WSO2's enhanced JIT), and a step-up asks for the code only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from app.extensions import db
from app.secretbox import MASTER_KEY_ENV, new_master_key
from tests.conftest import UNUSED_PROVIDERS
from tests.jit_steps import at_provider
from tests.otp_steps import (
    asked_for_code,
    away_from_step_edge,
    code_at,
    recovery_codes_shown,
    secret_shown,
    signed_in,
    unused_code,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
POLICIES = {
    "Asgardeo": {"scheme": "AsgardeoMfaScheme"},
    "Asgardeo MFA": {"scheme": "AsgardeoMfaScheme", "amr": ["mfa"]},
}
RESOURCES = [{"url": "/demo/asg/**", "policy": "Asgardeo"}, {"url": "/demo/asg-mfa/**", "policy": "Asgardeo MFA"}]
NO_THROTTLING = {"password_signin": {"throttling": {"per_address": {"limit": 0}, "per_name": {"limit": 0}}}}


ASGARDEO_SCHEME = (ROOT / "schemes" / "AsgardeoMfaScheme.yaml").read_text()


@pytest.fixture
def make_settings(make_settings):
    """Every site of these tests has the example scheme besides the shipped ones."""

    def make(extra=None, schemes=None, **kwargs):
        return make_settings(extra, schemes={"AsgardeoMfaScheme.yaml": ASGARDEO_SCHEME, **(schemes or {})}, **kwargs)

    return make


@pytest.fixture(autouse=True)
def master_key(monkeypatch):
    monkeypatch.setenv(MASTER_KEY_ENV, new_master_key())


@pytest.fixture
def site(make_jit_site):
    return make_jit_site(policies=POLICIES, resources=RESOURCES, extra=NO_THROTTLING)


def type_identifier(browser, path: str, identifier: str):
    browser.get(path)
    assert 'name="USERNAME"' in browser.last.text and "PASSWORD" not in browser.last.text, browser.last.text[:300]
    return browser.submit({"USERNAME": identifier})


def local_sign_in(browser, path: str, user: str):
    browser.session.cookies.clear()
    type_identifier(browser, path, user)
    return browser.submit({"PASSWORD": PASSWORD})


def federated_sign_in(browser, path: str, login: str, **claims):
    """Type ``login@example.org`` (the development provider's domain), then sign in there as ``login``."""
    page = type_identifier(browser, path, f"{login}@example.org")
    assert at_provider(page), page.text[:300]
    fields = {"login": login, "email_unverified": "", "preferred_username": login, "email": f"{login}@example.org"}
    return browser.submit({**fields, **claims})


def enrol_here(browser, page) -> str:
    """The TOTP step's enrolment page: confirm a code, pass the recovery codes; the secret."""
    assert 'id="totp-qr"' in page.text, page.text[:400]
    secret = secret_shown(page)
    away_from_step_edge()
    page = browser.submit({"otp": code_at(secret)})
    assert recovery_codes_shown(page)
    assert signed_in(browser.submit())
    return secret


def session_methods(site) -> list[list[str]]:
    with site.app.app_context():
        rows = db.session.execute(text("SELECT amr FROM sessions WHERE revoked = :no"), {"no": False}).scalars()
        return [row.split() for row in rows]


def test_a_local_user_is_asked_for_the_second_factor_and_enrols_then_is_asked_next_time(site):
    with site.app.app_context():
        from app.stores import sql as identity

        identity.create_user("default", "lena", {}, PASSWORD)
        db.session.commit()
    with site.browser() as b:
        page = local_sign_in(b, "/demo/asg/", "lena")
        assert not signed_in(page)
        secret = enrol_here(b, page)

        page = local_sign_in(b, "/demo/asg/", "lena")
        assert asked_for_code(page) and 'id="totp-qr"' not in page.text
        assert signed_in(b.submit({"otp": unused_code(secret)}))
    assert any({"pwd", "otp", "mfa"} <= set(m) for m in session_methods(site))


def test_a_federated_user_is_not_asked_for_a_second_factor(site):
    with site.browser() as b:
        page = federated_sign_in(b, "/demo/asg/", "fedora")
        assert signed_in(page) and not asked_for_code(page)
    (methods,) = session_methods(site)
    assert "fed" in methods and "otp" not in methods and "mfa" not in methods


def test_a_federated_user_is_asked_for_totp_where_the_resource_requires_mfa_and_enrols_just_in_time(site):
    with site.browser() as b:
        page = federated_sign_in(b, "/demo/asg-mfa/", "felix")
        assert not signed_in(page)
        secret = enrol_here(b, page)  # the account made just in time holds the factor, as a local one does
        b.sign_out()
        page = federated_sign_in(b, "/demo/asg-mfa/", "felix")
        assert asked_for_code(page) and 'id="totp-qr"' not in page.text
        assert signed_in(b.submit({"otp": unused_code(secret)}))
    assert any({"fed", "otp", "mfa"} <= set(m) for m in session_methods(site))


def test_a_provider_trusted_for_mfa_that_asserted_it_spares_the_code_even_where_required(make_jit_site):
    site = make_jit_site(
        policies=POLICIES, resources=RESOURCES, extra=NO_THROTTLING, devop_options={"mfa_amr_values": ["mfa"]}
    )
    with site.browser() as b:
        page = federated_sign_in(b, "/demo/asg-mfa/", "maya", amr="pwd mfa")
        assert signed_in(page) and not asked_for_code(page)


def test_an_upstream_mfa_from_an_untrusted_provider_does_not_spare_the_code(site):
    with site.browser() as b:
        page = federated_sign_in(b, "/demo/asg-mfa/", "uma", amr="pwd mfa")
        assert not signed_in(page) and 'id="totp-qr"' in page.text


def test_a_step_up_to_a_resource_requiring_mfa_asks_only_for_the_code(site):
    with site.browser() as b:
        assert signed_in(federated_sign_in(b, "/demo/asg/", "stella"))
        page = b.get("/demo/asg-mfa/")  # the session lacks mfa: only the missing factor is asked
        assert 'id="totp-qr"' in page.text and 'name="USERNAME"' not in page.text and not at_provider(page)
        enrol_here(b, page)
        assert signed_in(b.get("/demo/asg-mfa/"))


def test_schemes_trace_shows_the_rule_choose_the_mfa_step_for_local_and_skip_it_for_federated(runner, tmp_path):
    state = str(ROOT / "docs" / "store-state.example.yaml")
    local = runner.invoke(
        args=["schemes", "trace", "AsgardeoMfaScheme", "--store-state", state]
        + ["--value", "USERNAME=alice", "--value", f"PASSWORD={PASSWORD}", "--value", "OTP=123456"]
    )
    assert local.exit_code == 0, local.output
    assert "User_Authentication" in local.output and "-> TOTP [else]" in local.output
    assert "result: success" in local.output and "amr: pwd otp mfa" in local.output

    claims = tmp_path / "claims.json"  # the example's claims, from the test settings' provider
    example = json.loads((ROOT / "docs" / "claims.example.json").read_text())
    claims.write_text(json.dumps({**example, "iss": UNUSED_PROVIDERS["devop"]["issuer"]}))
    args = ["schemes", "trace", "AsgardeoMfaScheme", "--claims", str(claims), "--store-state", state]
    federated = runner.invoke(args=args + ["--value", "USERNAME=nina@example.org"])
    assert federated.exit_code == 0, federated.output
    assert "-> success [federated and not required_amr=mfa]" in federated.output
    assert "TOTPPlugin" not in federated.output and "amr: fed" in federated.output


def test_schemes_show_prints_the_rule_in_the_table(runner):
    shown = runner.invoke(args=["schemes", "show", "AsgardeoMfaScheme"])
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if line.startswith("User_Authentication"))
    assert "Success if federated and not required_amr=mfa; Success if mfa; else TOTP" in row
