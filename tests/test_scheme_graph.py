"""Drawing a scheme: Mermaid text with steps, plugins, outcome edges and terminals; SVG through Chromium."""

from __future__ import annotations

import dataclasses
from xml.etree import ElementTree

import pytest

from app.engine.scheme import Step, Transitions
from app.graph import mermaid, render_svg, unreachable_steps
from app.runtime import current


@pytest.fixture
def password_scheme(app):
    with app.app_context():
        return current().schemes["PasswordScheme"]


def test_each_step_is_a_node_labelled_with_its_plugin(password_scheme):
    text = mermaid(password_scheme)
    assert text.startswith("flowchart TD\n")
    assert 'step0["Credential_Collector<br/>CredentialCollectorPlugin"]' in text
    assert 'step1["User_Identification<br/>UserIdentificationPlugin"]' in text
    assert 'step2["User_Authentication<br/>UserAuthenticationPlugin"]' in text
    assert "start --> step0" in text


def test_success_failure_and_error_edges_are_drawn_distinctly_to_the_terminals(password_scheme):
    text = mermaid(password_scheme)
    assert 'success(["success"])' in text and 'failure(["failure"])' in text
    assert "step2 -->|success| success" in text
    assert "step1 -.->|failure| failure" in text
    assert "step0 ==>|error| failure" in text
    styles = [line for line in text.splitlines() if line.strip().startswith("linkStyle")]
    assert len(styles) == 1 + 3 * 3  # the start edge and three outcomes for each of three steps
    assert "linkStyle 3 stroke:#cf222e,stroke-width:3px" in text  # step0's error edge, the thick red one


def test_a_step_no_transition_reaches_is_flagged(password_scheme):
    orphan = dataclasses.replace(password_scheme.steps["User_Authentication"], name="Forgotten_Step")
    scheme = dataclasses.replace(
        password_scheme,
        steps={**password_scheme.steps, "Forgotten_Step": orphan},
        orchestration={**password_scheme.orchestration, "Forgotten_Step": Transitions("success", "failure", "failure")},
    )
    assert isinstance(orphan, Step)
    assert unreachable_steps(scheme) == ["Forgotten_Step"]
    text = mermaid(scheme)
    assert 'step3["Forgotten_Step<br/>UserAuthenticationPlugin<br/>⚠ unreachable"]' in text
    assert "class step3 unreachable" in text
    assert unreachable_steps(password_scheme) == []


def test_labels_cannot_break_out_of_the_mermaid_syntax(password_scheme):
    step = dataclasses.replace(password_scheme.steps["Credential_Collector"], plugin_name='Evil"]-->x<script>')
    scheme = dataclasses.replace(password_scheme, steps={**password_scheme.steps, "Credential_Collector": step})
    text = mermaid(scheme)
    assert "<script>" not in text and '"]-->x' not in text
    assert "Evil#quot;]--#gt;x#lt;script#gt;" in text


def test_cli_prints_mermaid_text(runner):
    result = runner.invoke(args=["schemes", "graph", "PasswordScheme", "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    assert "step0 -->|success| step1" in result.output


def test_cli_names_the_schemes_when_the_name_is_unknown(app, runner):
    result = runner.invoke(args=["schemes", "graph", "NoSuchScheme", "--format", "mermaid"])
    assert result.exit_code == 2
    with app.app_context():
        names = ", ".join(sorted(current().schemes))
    assert "AdminScheme, " in names and "PasswordScheme" in names
    assert f"no scheme named 'NoSuchScheme' (schemes: {names})" in result.output


@pytest.mark.slow
def test_cli_writes_svg_drawn_by_the_bundled_mermaid_in_chromium(runner, chromium, tmp_path):
    out = tmp_path / "graph.svg"
    result = runner.invoke(args=["schemes", "graph", "PasswordScheme", "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for label in ("Credential_Collector", "UserAuthenticationPlugin", "success", "failure", "error"):
        assert label in svg
    assert "#cf222e" in svg  # the error edges' style made it into the drawing
    ElementTree.fromstring(svg)  # noqa: S314 - our own output; a standalone .svg must be well-formed XML, not HTML serialisation


def test_render_svg_refuses_a_missing_browser_with_a_clear_message(tmp_path):
    from app.graph import GraphError

    with pytest.raises(GraphError, match="no Chromium at /nonexistent/chromium"):
        render_svg("flowchart TD\n  a --> b\n", chromium="/nonexistent/chromium")
