"""Identity providers and the JIT schemes are validated at load, with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.engine.registry import PluginRegistry
from app.engine.scheme import parse_scheme
from app.settings import load_settings
from app.yamlsource import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def shipped(name: str, settings=None):
    settings = settings or load_settings(ROOT / "config" / "settings.yaml")
    path = ROOT / "schemes" / name
    return parse_scheme(path.read_text(), name, PluginRegistry.discover(), settings)


def test_the_password_jit_scheme_is_oam_table_42_5():
    assert shipped("AutoProvisioningScheme.yaml").table() == [
        ("OpenID_Connect", "OpenIDConnectPlugin", "User_Identification1", "Failure", "Failure"),
        ("User_Identification1", "UserIdentificationPlugin", "Success", "Credential_Collector", "Failure"),
        ("Credential_Collector", "CredentialCollectorPlugin", "OAuth_Self_Registration", "Failure", "Failure"),
        ("OAuth_Self_Registration", "OAuthUserSelfRegistrationPlugin", "User_Identification2", "Failure", "Failure"),
        ("User_Identification2", "UserIdentificationPlugin", "Success", "Failure", "Failure"),
    ]


def test_the_no_password_jit_scheme_is_oam_table_42_7():
    assert shipped("AutoProvisioningNoPasswordScheme.yaml").table() == [
        ("OpenID_Connect", "OpenIDConnectPlugin", "User_Identification1", "Failure", "Failure"),
        ("User_Identification1", "UserIdentificationPlugin", "Success", "OAuth_Self_Registration", "Failure"),
        ("OAuth_Self_Registration", "OAuthUserSelfRegistrationPlugin", "User_Identification2", "Failure", "Failure"),
        ("User_Identification2", "UserIdentificationPlugin", "Success", "Failure", "Failure"),
    ]


def write_settings(tmp_path, providers: str) -> Path:
    path = tmp_path / "config" / "settings.yaml"
    path.parent.mkdir()
    path.write_text(
        "secret_key: test-secret-key-0123456789\nidentity_providers:\n" + providers + "external_url: http://localhost\n"
    )
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return [str(p).split("settings.yaml:", 1)[1] for p in caught.value.problems]


def test_a_bad_provider_is_reported_with_line_and_field(tmp_path):
    path = write_settings(
        tmp_path,
        "  corp:\n"
        "    issuer: http://idp.example.org\n"
        "    client_id: stepgate\n"
        "    token_endpoint_auth_method: private_key_jwt\n"
        "    scopes: [profile]\n"
        "    trust_emails: true\n",
    )
    assert problems(path) == [
        "8: unknown key 'trust_emails' in identity provider 'corp' (did you mean 'trust_email'? "
        "known: acr_values, breaker_cooldown_seconds, breaker_failures, client_id, client_secret, "
        "connect_timeout, display_name, id_token_signed_response_alg, issuer, jwks_min_refresh_seconds, "
        "leeway_seconds, max_age, max_id_token_age_seconds, mfa_acr_values, mfa_amr_values, optional, "
        "post_logout_redirect_uri, read_timeout, "
        "rp_initiated_logout, scopes, token_endpoint_auth_method, total_timeout, trust_email, trusted_audiences)",
        "4: 'issuer' http://idp.example.org must use https (http only on loopback, for development)",
        "4: 'client_secret' is required (use ${VAR} for secrets)",
        "7: 'scopes' of provider 'corp' must be a list that includes 'openid'",
        "6: 'token_endpoint_auth_method' must be one of ('client_secret_basic', 'client_secret_post')",
    ]


def test_google_is_disabled_until_its_client_id_is_in_the_environment(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLIENT_ID", raising=False)
    assert not load_settings(ROOT / "config" / "settings.yaml").identity_providers["google"].enabled
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "123.apps.googleusercontent.com")
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "from-the-environment")
    google = load_settings(ROOT / "config" / "settings.yaml").identity_providers["google"]
    assert google.enabled and google.client_secret == "from-the-environment"
    assert "from-the-environment" not in repr(google)


def scheme_problems(text: str) -> list[str]:
    settings = load_settings(ROOT / "config" / "settings.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_scheme(text, "jit.yaml", PluginRegistry.discover(), settings)
    return [str(p) for p in caught.value.problems]


def jit_scheme(oidc_params: dict, registration_params: dict) -> str:
    doc = {
        "name": "Broken",
        "module": {
            "steps": {
                "OpenID_Connect": {"plugin": "OpenIDConnectPlugin", "params": oidc_params},
                "OAuth_Self_Registration": {"plugin": "OAuthUserSelfRegistrationPlugin", "params": registration_params},
                "User_Identification": {"plugin": "UserIdentificationPlugin"},
            },
            "orchestration": {
                "initial_step": "OpenID_Connect",
                "OpenID_Connect": {"on_success": "OAuth_Self_Registration"},
                "OAuth_Self_Registration": {"on_success": "User_Identification"},
                "User_Identification": {"on_success": "success"},
            },
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_an_unknown_provider_and_bad_provisioning_parameters_are_refused_at_load_with_their_lines():
    text = jit_scheme(
        {"provider": "nowhere"},
        {
            "autoprovisioning": "True",
            "autoprovision_key_user_record_attribute_list": "email",
            "autoprovision_idtoken_to_user_attribute_mapping": "email:mail, name:cn",
            "autoprovision_attribute_sync": "mail:sometimes",
            "autoprovision_password_policy_regex": "([",
        },
    )
    assert scheme_problems(text)[:4] == [
        "jit.yaml:7: identity provider 'nowhere' is not defined (providers: devop, google)",
        "jit.yaml:13: claim 'name' is mapped but not in autoprovision_key_user_record_attribute_list",
        "jit.yaml:14: sync policy of 'mail' must be force, import or never",
        "jit.yaml:15: not a valid regular expression: unterminated character set at position 1",
    ]


def test_self_registration_needs_an_absolute_page_address_and_a_secret_key():
    text = jit_scheme({"provider": "devop"}, {"autoprovisioning": "false", "registration_url": "/register"})
    assert scheme_problems(text) == [
        "jit.yaml:12: registration_url '/register' must be an absolute http(s) URL",
        "jit.yaml:11: secret_key is required when autoprovisioning is false",
    ]


def test_a_disabled_provider_alone_cannot_serve_a_scheme(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLIENT_ID", raising=False)
    text = jit_scheme(
        {"provider": "google"},
        {
            "autoprovisioning": True,
            "autoprovision_key_user_record_attribute_list": "email",
            "autoprovision_idtoken_to_user_attribute_mapping": "email:mail",
        },
    )
    assert scheme_problems(text)[:1] == [
        "jit.yaml:7: none of the named identity providers is enabled (is its client_id set?)"
    ]
