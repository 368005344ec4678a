"""Settings are read once, from YAML with ${VAR} substitution, and refused whole when anything is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.runtime import load_runtime
from app.settings import load_settings
from app.yamlsource import ConfigError, load_yaml_text

ROOT = Path(__file__).resolve().parent.parent


def test_environment_variables_and_defaults_are_substituted():
    doc = load_yaml_text("a: ${SG_A}\nb: ${SG_B:-fallback}\nc: x-${SG_A}-y\n", "s.yaml", env={"SG_A": "one"})
    assert doc == {"a": "one", "b": "fallback", "c": "x-one-y"}


def test_an_unset_variable_without_default_is_a_located_error():
    with pytest.raises(
        ConfigError, match=r"^s.yaml:2: environment variable 'SG_MISSING' is not set and has no default$"
    ):
        load_yaml_text("a: 1\nb: ${SG_MISSING}\n", "s.yaml", env={})


def test_the_shipped_settings_are_valid():
    runtime = load_runtime(ROOT / "config" / "settings.yaml")
    assert "default" in runtime.settings.identity_stores
    assert set(runtime.settings.application_domains.schemes_used()) <= set(runtime.schemes)


def write(tmp_path, text: str, external_url: bool = True) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "schemes").mkdir(exist_ok=True)
    path = tmp_path / "config" / "settings.yaml"
    path.write_text(text + ("external_url: http://localhost\n" if external_url else ""))  # last: lines stay
    return path


def problems(path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_runtime(path)
    return [str(p) for p in caught.value.problems]


def test_every_settings_problem_is_reported_with_file_line_and_key(tmp_path):
    path = write(
        tmp_path,
        "secret_key: short\nschemes_dir: schemes\nsesion_lifetime_seconds: 5\n"
        "flow_lifetime_seconds: -1\nidentity_stores:\n  hr: {}\n",
    )
    found = problems(path)
    assert found[0].startswith(
        f"{path}:3: unknown key 'sesion_lifetime_seconds' in settings (did you mean 'session_lifetime_seconds'? known: "
    )
    assert "session_lifetime_seconds" in found[0]
    assert found[1:] == [
        f"{path}:1: 'secret_key' must be a string of at least 16 characters (use ${{STEPGATE_SECRET_KEY}})",
        f"{path}:6: identity_stores must define a store named 'default'",
        f"{path}:4: 'flow_lifetime_seconds' must be a whole number > 0",
    ]


def test_a_policy_naming_an_unknown_scheme_is_refused(tmp_path):
    path = write(
        tmp_path,
        "secret_key: 0123456789abcdef0123\napplication_domains:\n  D:\n"
        "    authentication_policies:\n      P:\n        scheme: NoSuchScheme\n"
        "    resources:\n      - {url: /x/**, policy: P}\n",
    )
    assert problems(path) == [
        f"{path}:6: authentication policy 'P' names unknown scheme 'NoSuchScheme' (schemes: none)"
    ]


def test_a_resource_with_an_unknown_policy_is_refused(tmp_path):
    path = write(
        tmp_path,
        "secret_key: 0123456789abcdef0123\napplication_domains:\n  D:\n"
        "    authentication_policies:\n      P: {public: true}\n"
        "    resources:\n      - url: /x/**\n        policy: Q\n",
    )
    assert problems(path) == [f"{path}:8: resource policy 'Q' is not one of: P"]


def test_broken_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "secret_key: 0123456789abcdef0123\napplication_domains: [\n", external_url=False)
    assert problems(path)[0].startswith(f"{path}:3: invalid YAML")


def test_settings_file_can_be_chosen_by_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "secret_key: 0123456789abcdef0123\n")
    monkeypatch.setenv("STEPGATE_SETTINGS", str(path))
    assert load_settings().file == str(path)


def test_the_server_refuses_to_start_half_configured(tmp_path):
    path = write(tmp_path, "secret_key: short\n")
    with pytest.raises(ConfigError):
        create_app(path)


def run_cli(*args, env_settings: Path | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    if env_settings:
        env["STEPGATE_SETTINGS"] = str(env_settings)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_schemes_check_reports_file_and_line_and_exits_non_zero(tmp_path):
    path = write(tmp_path, "secret_key: 0123456789abcdef0123\nschemes_dir: schemes\n")
    (tmp_path / "schemes" / "bad.yaml").write_text(
        "name: Bad\nmodule:\n  steps:\n    A: {plugin: NoSuchPlugin}\n  orchestration:\n    initial_step: A\n"
    )
    result = run_cli("schemes", "check", env_settings=path)
    assert result.returncode == 1
    assert f"{tmp_path / 'schemes' / 'bad.yaml'}:4: unknown plugin 'NoSuchPlugin'" in result.stderr
    assert "configuration problem(s); not starting" in result.stderr


def test_schemes_check_passes_on_the_shipped_configuration():
    result = run_cli("schemes", "check")
    assert result.returncode == 0, result.stderr
    assert "ok  PasswordScheme" in result.stdout


SHIPPED_SECRETS = ("STEPGATE_SECRET_KEY", "SCIM_TOKEN", "DEVOP_CLIENT_SECRET", "REGISTRATION_SECRET_KEY")


def test_production_refuses_the_shipped_development_secrets(monkeypatch):
    for name in SHIPPED_SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEPGATE_ENV", "production")
    monkeypatch.setenv("STEPGATE_EXTERNAL_URL", "https://sso.example.org")
    with pytest.raises(ConfigError) as caught:
        load_runtime(ROOT / "config" / "settings.yaml")
    assert [str(problem) for problem in caught.value.problems] == [
        f"{ROOT / 'config' / 'settings.yaml'}:1: STEPGATE_ENV=production refuses the shipped development fallback of: "
        "secret_key, identity_providers.devop.client_secret, scim.tokens (set their environment variables)",
        f"{ROOT / 'schemes' / 'UserSelfRegistrationScheme.yaml'}:25: STEPGATE_ENV=production refuses the shipped "
        "development fallback of parameter 'secret_key' of step 'OAuth_Self_Registration' (give it a secret of its "
        "own, from the environment or as an {AES} value)",
    ]


def test_production_starts_once_every_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("STEPGATE_ENV", "production")
    monkeypatch.setenv("STEPGATE_EXTERNAL_URL", "https://sso.example.org")
    monkeypatch.setenv("STEPGATE_SECRET_KEY", "a-real-secret-key-from-the-vault")
    monkeypatch.setenv("SCIM_TOKEN", "a-real-scim-token-from-the-vault")
    monkeypatch.setenv("DEVOP_CLIENT_SECRET", "a-real-client-secret")
    monkeypatch.setenv("REGISTRATION_SECRET_KEY", "a-real-registration-key")
    assert load_runtime(ROOT / "config" / "settings.yaml").settings.secret_key == "a-real-secret-key-from-the-vault"
