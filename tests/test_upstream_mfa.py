"""Upstream MFA: a provider's `amr`/`acr` count as a second factor only where the provider is trusted for it.

The resource /demo/mfa/ is protected by a policy that requires `amr: [mfa]`
over the shipped JIT scheme without password. The real development provider
is told, on its login page, which `amr` and `acr` to assert.
"""

from __future__ import annotations

import pytest

from tests.jit_steps import provider_sign_in

MFA_POLICY = {"MFA": {"scheme": "AutoProvisioningNoPasswordScheme", "amr": ["mfa"]}}
MFA_RESOURCE = [{"url": "/demo/mfa/**", "policy": "MFA"}]
FORWARD_AUTH = {"forward_auth": {"proxies": ["127.0.0.1"], "amr_header": "X-Stepgate-Amr"}}


def mfa_site(make_jit_site, **trust):
    return make_jit_site(devop_options=trust, policies=MFA_POLICY, resources=MFA_RESOURCE, extra=FORWARD_AUTH)


def forward_auth(browser, site, path: str):
    return browser.session.get(
        f"{site.url}/forward-auth", headers={"X-Original-URL": f"{site.url}{path}"}, allow_redirects=False, timeout=10
    )


def test_upstream_mfa_from_a_provider_trusted_for_it_opens_the_resource_and_is_recorded(make_jit_site):
    site = mfa_site(make_jit_site, mfa_amr_values=["mfa"])
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/mfa/", "mfa-alice", amr="pwd mfa")
        assert page.status_code == 200 and page.url.endswith("/demo/mfa/")
        answer = forward_auth(browser, site, "/demo/mfa/")
        assert answer.status_code == 200
        assert set(answer.headers["X-Stepgate-Amr"].split()) == {"fed", "idp:pwd", "idp:mfa", "mfa"}


@pytest.mark.parametrize(
    ("trust", "asserted"),
    [
        ({}, {"amr": "pwd mfa"}),  # the provider says mfa, but nobody said to believe it
        ({"mfa_amr_values": ["mfa"]}, {"amr": "pwd"}),  # trusted, but it did not say so
        ({"mfa_amr_values": ["hwk"]}, {"amr": "mfa"}),  # trusted for another value only
        ({"mfa_acr_values": ["urn:devop:loa:2"]}, {"acr": "urn:devop:loa:1"}),
    ],
)
def test_upstream_mfa_does_not_count_unless_the_provider_is_trusted_for_that_value(make_jit_site, trust, asserted):
    site = mfa_site(make_jit_site, **trust)
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/mfa/", "mfa-bob", **asserted)
        assert page.status_code == 403
        assert "authn.methods_missing" in page.text
        assert "stepgate_session" not in browser.session.cookies
        assert forward_auth(browser, site, "/demo/mfa/").status_code == 401


def test_a_trusted_acr_counts_as_a_second_factor(make_jit_site):
    site = mfa_site(make_jit_site, mfa_acr_values=["urn:devop:loa:2"])
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/mfa/", "mfa-carol", acr="urn:devop:loa:2")
        assert page.status_code == 200 and page.url.endswith("/demo/mfa/")
        assert "mfa" in forward_auth(browser, site, "/demo/mfa/").headers["X-Stepgate-Amr"].split()


def test_a_session_without_mfa_is_sent_to_sign_in_again_for_the_mfa_resource(make_jit_site):
    site = mfa_site(make_jit_site, mfa_amr_values=["mfa"])
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "mfa-dave", amr="pwd")
        assert page.status_code == 200 and page.url.endswith("/demo/jit-nopassword/")
        answer = forward_auth(browser, site, "/demo/mfa/")
        assert answer.status_code == 403 and "/login?next=" in answer.headers["Location"]
        assert forward_auth(browser, site, "/demo/jit-nopassword/").headers["X-Stepgate-Amr"].split() == [
            "fed",
            "idp:pwd",
        ]
        page = provider_sign_in(browser, "/demo/mfa/", "mfa-dave", amr="pwd mfa")
        assert page.status_code == 200 and page.url.endswith("/demo/mfa/")


def test_a_policy_requirement_that_is_not_a_method_name_is_refused_with_its_line(make_settings):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    path = make_settings(
        extra={
            "application_domains": {
                "D": {
                    "authentication_policies": {"P": {"scheme": "PasswordScheme", "amr": ["mfa; drop"]}},
                    "resources": [{"url": "/x/**", "policy": "P"}],
                }
            }
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "'amr' of policy 'P' must be a list of method names" in str(caught.value)
