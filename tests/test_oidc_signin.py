"""Signing in at an OpenID Provider: the redirect, the callback, and every way it can go wrong."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from app import audit
from app.oidc.client import OIDCClient
from app.oidc.providers import IdentityProvider
from app.stores import sql as identity
from tests.jit_steps import at_provider, cancel_at_provider, provider_sign_in


def test_the_authorization_request_carries_state_nonce_and_pkce_s256(jit_site):
    with jit_site.browser() as browser:
        page = browser.get("/demo/jit-nopassword/", allow_redirects=False)
        assert page.status_code == 302
        query = parse_qs(urlsplit(page.headers["Location"]).query)
        assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
        assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32 and query["code_challenge"][0]
        assert query["redirect_uri"] == [f"{jit_site.url}/oam/server/oidc/callback"]
        assert set(query["scope"][0].split()) == {"openid", "profile", "email"}
        assert browser.cookie("stepgate_flow")


def test_each_authorization_request_is_fresh_and_keeps_the_endpoints_own_query():
    """An endpoint such as Azure AD B2C's carries a query of its own; state, nonce and PKCE are new every time."""
    endpoint = "https://op.example/authorize?p=B2C_1_signin"
    documents = {"discovery": ({"authorization_endpoint": endpoint}, None)}

    class Documents:
        def get(self, issuer, kind, *, reread=False):
            return documents.get(kind)

        def fresh(self, fetched_at, ttl):
            return True

    provider = IdentityProvider("b2c", "https://op.example", "client id+1", client_secret="-", scopes=("openid",))
    client = OIDCClient(provider, Documents())
    first, second = (client.authorization_request("https://sg.example/cb?x=1") for _ in range(2))
    queries = [parse_qs(urlsplit(request.url).query) for request in (first, second)]
    for request, query in zip((first, second), queries, strict=True):
        assert request.url.startswith("https://op.example/authorize?")
        assert query["p"] == ["B2C_1_signin"] and query["client_id"] == ["client id+1"]
        assert query["redirect_uri"] == ["https://sg.example/cb?x=1"] and query["scope"] == ["openid"]
        assert query["state"] == [request.state] and query["nonce"] == [request.nonce]
        assert query["code_challenge"] == [create_s256_code_challenge(request.code_verifier)]
        assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    assert first.state != second.state and first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier


def test_cancelling_at_the_provider_ends_on_a_clear_page_with_an_audit_reason(jit_site):
    with jit_site.browser() as browser:
        page = cancel_at_provider(browser, "/demo/jit-nopassword/")
        assert page.url.startswith(f"{jit_site.url}/oam/server/oidc/callback")
        assert page.status_code == 401
        assert "You cancelled the sign-in" in page.text and "<code>idp.access_denied</code>" in page.text
        assert browser.cookie("stepgate_session") is None
    with jit_site.app.app_context():
        [event] = audit.query(event="signin.failure")
        assert event.reason == "idp.access_denied" and event.step == "OpenID_Connect"
        assert list(identity.list_users()) == []


def test_an_unreachable_provider_ends_on_error_with_a_clear_page(make_jit_site):
    site = make_jit_site(with_devop=False)  # devop points at a closed loopback port
    with site.browser() as browser:
        page = browser.get("/demo/jit-nopassword/")
    assert page.status_code == 502  # the provider's fault, not the person's: a gateway error
    assert "be reached right now" in page.text and "<code>idp.unreachable</code>" in page.text
    with site.app.app_context():
        [step] = audit.query(event="step", reason="idp.unreachable")
        assert step.outcome == "error" and step.detail["provider"] == "devop"


def test_a_callback_without_a_flow_cookie_fails_cleanly(jit_site):
    with jit_site.browser() as browser:
        page = browser.get("/oam/server/oidc/callback?state=abc&code=xyz")
    assert page.status_code == 400 and "<code>flow.expired</code>" in page.text


def test_a_callback_with_a_foreign_state_is_refused_before_the_code_is_used(jit_site):
    with jit_site.browser() as browser:
        page = browser.get("/demo/jit-nopassword/")
        assert at_provider(page)
        forged = browser.get("/oam/server/oidc/callback?state=attacker-state&code=attacker-code")
    assert forged.status_code == 401 and "<code>oidc.state_mismatch</code>" in forged.text
    with jit_site.app.app_context():
        assert list(identity.list_users()) == []


def test_a_scheme_offering_several_providers_shows_a_chooser(make_jit_site, rogue_op):
    site = make_jit_site(providers={"rogue": rogue_op.settings(display_name="Rogue <b>Corp</b>")})
    with site.browser() as browser:
        chooser = browser.get("/demo/jit-nopassword/")
        assert chooser.status_code == 200 and 'id="identity-providers"' in chooser.text
        assert "Rogue &lt;b&gt;Corp&lt;/b&gt;" in chooser.text  # names are escaped
        unknown = browser.get("/oam/server/auth_cred_submit?provider=nobody")
        assert unknown.status_code == 401 and "<code>oidc.unknown_provider</code>" in unknown.text
        browser.get("/demo/jit-nopassword/")
        page = browser.get("/oam/server/auth_cred_submit?provider=devop")
        assert at_provider(page)
        done = browser.submit({"login": "dave", "email_unverified": ""})
        assert '<strong id="user-name">dave</strong>' in done.text


def test_claim_values_are_escaped_on_the_demo_page(jit_site):
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "eve", given_name="<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
