"""Scheme files are validated at load, and every problem names the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from app.engine.plugin import Plugin, build_params
from app.engine.registry import PluginRegistry
from app.engine.scheme import load_schemes, parse_scheme
from app.settings import load_settings
from app.yamlsource import ConfigError, load_yaml_text

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).parent / "fixtures" / "broken_schemes"


def problems_of(name: str) -> list[str]:
    path = BROKEN / name
    settings = load_settings(ROOT / "config" / "settings.yaml")
    with pytest.raises(ConfigError) as caught:
        parse_scheme(path.read_text(), name, PluginRegistry.discover(), settings)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "unknown_plugin.yaml",
            "unknown_plugin.yaml:5: unknown plugin 'CredentialCollectorPluginn' "
            "(known: ConsentPlugin, CredentialCollectorPlugin, ",
        ),
        (
            "unknown_param.yaml",
            "unknown_param.yaml:8: unknown parameter 'KEY_LDAP_FILTR' for UserIdentificationPlugin "
            "(known: KEY_FEDERATED_MATCH, KEY_IDENTITY_STORE_REF, KEY_LDAP_FILTER)",
        ),
        ("unknown_target.yaml", "unknown_target.yaml:10: on_success of 'Identify' goes to unknown step 'Authenticat'"),
        ("unreachable.yaml", "unreachable.yaml:6: step 'Authenticate' can't be reached from initial_step 'Identify'"),
        ("no_success.yaml", "no_success.yaml:6: no path from initial_step 'Identify' reaches success"),
        ("bad_yaml.yaml", "bad_yaml.yaml:6: invalid YAML"),
        (
            "bad_cred_param.yaml",
            "bad_cred_param.yaml:7: CRED_PARAM_1: TYPE must be one of text, password, text_readonly, hidden",
        ),
        ("bad_retry_limit.yaml", "bad_retry_limit.yaml:4: 'OverrideRetryLimit' must be a whole number >= 1"),
        ("missing_required_param.yaml", "missing_required_param.yaml:7: identity store 'nowhere' is not defined"),
    ],
)
def test_broken_scheme_is_reported_with_file_line_and_field(fixture, expected):
    assert any(p.startswith(expected) for p in problems_of(fixture)), problems_of(fixture)


def test_every_problem_of_a_directory_is_reported_at_once(tmp_path):
    for name in ("unknown_plugin.yaml", "unreachable.yaml"):
        (tmp_path / name).write_text((BROKEN / name).read_text())
    with pytest.raises(ConfigError) as caught:
        load_schemes(tmp_path, PluginRegistry.discover())
    files = {Path(p.file).name for p in caught.value.problems}
    assert files == {"unknown_plugin.yaml", "unreachable.yaml"}


def test_two_files_cannot_share_a_scheme_name(tmp_path):
    text = (
        "name: Same\nmodule:\n  steps:\n    Identify: {plugin: UserIdentificationPlugin}\n"
        "  orchestration:\n    initial_step: Identify\n    Identify: {on_success: success}\n"
    )
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"b.yaml:1: scheme name 'Same' is already used by .*a.yaml"):
        load_schemes(tmp_path, PluginRegistry.discover())


@pytest.mark.parametrize("path", sorted((ROOT / "schemes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scheme_loads(path):
    settings = load_settings(ROOT / "config" / "settings.yaml")
    scheme = parse_scheme(path.read_text(), str(path), PluginRegistry.discover(), settings)
    assert scheme.initial_step in scheme.steps
    assert set(scheme.orchestration) == set(scheme.steps)


def test_the_scheme_table_has_the_layout_of_oam_table_42_2():
    settings = load_settings(ROOT / "config" / "settings.yaml")
    scheme = parse_scheme(
        (ROOT / "schemes" / "PasswordScheme.yaml").read_text(),
        "PasswordScheme.yaml",
        PluginRegistry.discover(),
        settings,
    )
    assert scheme.table() == [
        ("Credential_Collector", "CredentialCollectorPlugin", "User_Identification", "Failure", "Failure"),
        ("User_Identification", "UserIdentificationPlugin", "User_Authentication", "Failure", "Failure"),
        ("User_Authentication", "UserAuthenticationPlugin", "Success", "Failure", "Failure"),
    ]


@dataclass(frozen=True)
class TypedParams:
    name: str
    retries: int = 3
    enabled: bool = False
    attributes: list[str] | None = None
    mapping: dict[str, str] | None = None


class TypedPlugin(Plugin):
    name = "TypedPlugin"
    Params = TypedParams


def test_parameters_are_typed_once_at_load_in_oam_string_syntax():
    raw = load_yaml_text(
        "params:\n  name: x\n  retries: '7'\n  enabled: 'True'\n"
        "  attributes: email, given_name\n  mapping: 'email:mail, given_name:first-name'\n",
        "p.yaml",
    )
    params, problems = build_params(TypedPlugin, raw["params"], raw)
    assert problems == []
    assert params == TypedParams("x", 7, True, ["email", "given_name"], {"email": "mail", "given_name": "first-name"})


def test_parameter_type_errors_and_missing_required_are_located():
    raw = load_yaml_text("params:\n  retries: many\n  mapping: 'email'\n", "p.yaml")
    _, problems = build_params(TypedPlugin, raw["params"], raw)
    assert [str(p) for p in problems] == [
        "p.yaml:2: parameter 'retries' of TypedPlugin must be a whole number",
        "p.yaml:3: parameter 'mapping' of TypedPlugin must be 'key:value' pairs separated by commas",
        "p.yaml:2: missing required parameter 'name' for TypedPlugin",
    ]


def test_unknown_plugin_lists_the_known_names():
    registry = PluginRegistry.discover()
    with pytest.raises(KeyError) as caught:
        registry.get("LDAPPlugin")
    assert "CredentialCollectorPlugin" in str(caught.value) and "UserAuthenticationPlugin" in str(caught.value)
