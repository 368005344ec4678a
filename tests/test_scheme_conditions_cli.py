"""`schemes check/show/graph/trace` with conditional transitions, on the example IdentifierFirstScheme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import create_app
from app.extensions import db

PASSWORD = "correct horse battery staple"
SCHEME = "IdentifierFirstScheme"
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / f"{SCHEME}.yaml"


@pytest.fixture
def runner(make_settings):
    """A CLI runner over the shipped schemes plus the example IdentifierFirstScheme (its table names devop)."""
    application = create_app(make_settings(schemes={f"{SCHEME}.yaml": EXAMPLE.read_text()}), testing=True)
    with application.app_context():
        db.create_all()
    yield application.test_cli_runner()
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_check_counts_the_conditional_transitions(runner):
    result = runner.invoke(args=["schemes", "check"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if f" {SCHEME} " in line)
    assert line.startswith("ok") and line.endswith("1 conditional transition(s)")


def test_check_reports_a_broken_condition_with_file_and_line(make_settings):
    from app.yamlsource import ConfigError

    text = EXAMPLE.read_text()
    broken = text.replace("when: {routed: true}", "when: {routed: maybe}")
    path = make_settings(schemes={f"{SCHEME}.yaml": broken})
    try:
        create_app(path, testing=True)
    except ConfigError as exc:
        line = broken.splitlines().index("        - when: {routed: maybe}") + 1
        assert f"{SCHEME}.yaml:{line}: condition 'routed' must be true or false" in str(exc)
    else:
        raise AssertionError("a broken condition was accepted")


def test_show_prints_each_branch_in_the_table(runner):
    result = runner.invoke(args=["schemes", "show", SCHEME])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("Identifier "))
    assert "IdentifierFirstPlugin" in row and "OpenID_Connect if routed; else Credential_Collector" in row


def test_graph_draws_one_labelled_edge_per_branch(runner):
    result = runner.invoke(args=["schemes", "graph", SCHEME, "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    assert 'step0 -->|"success: routed"| step1' in result.output
    assert 'step0 -->|"success: else"| step5' in result.output


def test_trace_of_an_organisation_address_takes_the_provider_branch(runner, tmp_path):
    claims = tmp_path / "ida.json"
    claims.write_text(
        json.dumps({"sub": "ida-1", "preferred_username": "ida", "email": "ida@example.org", "amr": ["pwd", "mfa"]})
    )
    result = runner.invoke(
        args=["schemes", "trace", SCHEME, "--claims", str(claims), "--value", "USERNAME=Ida@Example.ORG"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:6] == ["1.", "Identifier", "IdentifierFirstPlugin", "success", "routing.provider", "->"]
    assert lines[1].split()[6:8] == ["OpenID_Connect", "[routed]"]
    assert "result: success" in result.output and "would be created" in result.output
    assert "amr: fed idp:pwd idp:mfa" in result.output  # the shipped devop is not trusted for mfa


def test_trace_of_a_user_name_takes_the_password_branch(runner, tmp_path):
    state = tmp_path / "store.json"
    state.write_text(json.dumps({"users": [{"user_name": "jon", "password": PASSWORD}]}))
    result = runner.invoke(
        args=[
            "schemes",
            "trace",
            SCHEME,
            "--store-state",
            str(state),
            "--value",
            "USERNAME=jon",
            "--value",
            f"PASSWORD={PASSWORD}",
        ]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[4:8] == ["routing.local", "->", "Credential_Collector", "[else]"]
    assert "result: success" in result.output and "amr: pwd" in result.output
