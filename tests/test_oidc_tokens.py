"""Forged and broken ID tokens from a deliberately misbehaving provider are refused, cleanly."""

from __future__ import annotations

import pytest

from app import audit
from app.stores import sql as identity
from tests.oidc_fixtures import ROGUE_JIT_SCHEME as ROGUE_SCHEME
from tests.rogue_op import SUBJECT


@pytest.fixture
def rogue_site(make_jit_site, rogue_op):
    return make_jit_site(
        with_devop=False,
        providers={"rogue": rogue_op.settings()},
        schemes={"RogueScheme.yaml": ROGUE_SCHEME},
        policies={"Rogue": {"scheme": "RogueScheme"}},
        resources=[{"url": "/demo/rogue/**", "policy": "Rogue"}],
    )


def signed_in_user_name(site):
    with site.app.app_context():
        user = identity.find_by_user_name("default", "rogue-user")
        return user.user_name if user else None


def test_a_well_formed_token_from_the_test_provider_signs_in(rogue_site, rogue_op):
    with rogue_site.browser() as browser:
        page = browser.get("/demo/rogue/")
    assert page.status_code == 200 and '<strong id="user-name">rogue-user</strong>' in page.text
    assert signed_in_user_name(rogue_site) == "rogue-user"


@pytest.mark.parametrize(
    ("mode", "reason", "text"),
    [
        ("wrong_key", "id_token.bad_signature", "not signed by your identity provider"),
        ("alg_none", "id_token.bad_algorithm", "unsigned or uses a refused algorithm"),
        ("wrong_audience", "id_token.bad_audience", "issued for another application"),
        ("wrong_issuer", "id_token.bad_issuer", "issued by another provider"),
        ("wrong_nonce", "id_token.bad_nonce", "does not belong to this sign-in"),
        ("expired", "id_token.expired", "has expired"),
        ("userinfo_other_sub", "userinfo.sub_mismatch", "described another person"),
    ],
)
def test_a_forged_token_ends_on_a_clear_page_with_an_audit_reason_and_no_user(rogue_site, rogue_op, mode, reason, text):
    rogue_op.mode = mode
    with rogue_site.browser() as browser:
        page = browser.get("/demo/rogue/")
        assert browser.cookie("stepgate_session") is None
    assert page.status_code == 401
    assert text in page.text and f"<code>{reason}</code>" in page.text
    assert signed_in_user_name(rogue_site) is None
    with rogue_site.app.app_context():
        [event] = audit.query(event="signin.failure")
        assert event.reason == reason and event.step == "OpenID_Connect"
        [step] = audit.query(event="step", reason=reason)
        assert step.plugin == "OpenIDConnectPlugin" and step.outcome == "failure"


def test_a_rotated_signing_key_is_fetched_once_and_then_reused(rogue_site, rogue_op):
    with rogue_site.browser() as browser:
        assert browser.get("/demo/rogue/").status_code == 200
    assert rogue_op.jwks_requests == 1
    rogue_op.rotate_keys()
    with rogue_site.browser() as browser:
        assert browser.get("/demo/rogue/").status_code == 200
    assert rogue_op.jwks_requests == 2
    with rogue_site.browser() as browser:
        assert browser.get("/demo/rogue/").status_code == 200
    assert rogue_op.jwks_requests == 2, "known keys come from the database, not a new fetch"


@pytest.mark.parametrize(
    ("mode", "reason", "text"),
    [
        ("slow_token", "idp.timeout", "did not answer in time"),
        ("token_500", "idp.bad_response", "sent an answer we could not use"),
    ],
)
def test_a_slow_or_broken_token_endpoint_ends_on_error_with_a_clear_page(rogue_site, rogue_op, mode, reason, text):
    rogue_op.mode = mode
    with rogue_site.browser() as browser:
        page = browser.get("/demo/rogue/")
    assert page.status_code == {"idp.timeout": 504, "idp.bad_response": 502}[reason]  # the provider's fault, not 401
    assert text in page.text and f"<code>{reason}</code>" in page.text
    with rogue_site.app.app_context():
        [step] = audit.query(event="step", reason=reason)
        assert step.outcome == "error" and step.plugin == "OpenIDConnectPlugin"


def test_a_replayed_callback_is_refused(rogue_site, rogue_op):
    with rogue_site.browser() as browser:
        first = browser.get("/demo/rogue/")
        callback = next(r for r in first.history if "/oam/server/oidc/callback" in r.url)
        replay = browser.get(callback.url)
    assert first.status_code == 200
    assert replay.status_code == 400 and "<code>flow.expired</code>" in replay.text
    assert SUBJECT not in replay.text


def test_unknown_key_ids_cannot_make_the_server_hammer_the_provider(make_jit_site, rogue_op):
    site = make_jit_site(
        with_devop=False,
        providers={"rogue": rogue_op.settings(jwks_min_refresh_seconds=3600)},
        schemes={"RogueScheme.yaml": ROGUE_SCHEME},
        policies={"Rogue": {"scheme": "RogueScheme"}},
        resources=[{"url": "/demo/rogue/**", "policy": "Rogue"}],
    )
    with site.browser() as browser:
        assert browser.get("/demo/rogue/").status_code == 200
    rogue_op.rotate_keys()
    for _ in range(3):
        with site.browser() as browser:
            page = browser.get("/demo/rogue/")
        assert page.status_code == 401 and "<code>id_token.bad_signature</code>" in page.text
    assert rogue_op.jwks_requests == 1, "within jwks_min_refresh_seconds the stored key set is used"
