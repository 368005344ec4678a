"""Dry runs: a scheme traced step by step for a scenario, with nothing written to the store.

The shipped PasswordScheme and JIT schemes (tests/test_scheme_trace_jit.py),
plus test-only plugins where the engine's contract itself is under test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.engine import FlowContext, Plugin, Scenario, StepResult
from app.engine.registry import PluginRegistry
from app.engine.scheme import parse_scheme
from app.extensions import db
from app.runtime import current
from app.stores import federation
from app.stores import sql as identity
from app.trace import run_trace
from plugins import ALL

PASSWORD = "correct horse battery staple"
ISSUER = "https://idp.example.org"


@dataclass(frozen=True)
class NoParams:
    pass


class FakeIdPPlugin(Plugin):
    """Would redirect to an IdP; in a dry run the claims stand in for the validated ID token."""

    name = "FakeIdPPlugin"
    Params = NoParams

    def process(self, ctx: FlowContext) -> StepResult:
        return StepResult.challenge("<a href='https://idp.example.org/authorize'>redirect</a>")

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult:
        if "error" in scenario.claims:
            return StepResult.failure(f"idp.{scenario.claims['error']}")
        if "sub" not in scenario.claims:
            return StepResult.error("id_token.invalid")
        ctx.data["federated"] = {
            "provider": "fake",
            "issuer": ISSUER,
            "subject": scenario.claims["sub"],
            "claims": dict(scenario.claims),
        }
        ctx.values["USERNAME"] = scenario.claims.get("preferred_username")
        return StepResult.success()


class FakeProvisioningPlugin(Plugin):
    """Finds the linked user or creates one with mapped attributes (mail, first-name), as JIT would."""

    name = "FakeProvisioningPlugin"
    Params = NoParams

    def process(self, ctx: FlowContext) -> StepResult:
        fed = ctx.data["federated"]
        user = federation.find_linked_user(fed["issuer"], fed["subject"])
        if user is None:
            claims = fed["claims"]
            with db.session.begin_nested():  # a SAVEPOINT, as a race-safe insert does
                user = identity.create_user(
                    "default", ctx.values["USERNAME"], {"mail": claims["email"], "first-name": claims["given_name"]}
                )
                db.session.flush()
                federation.link_user(user.id, fed["issuer"], fed["subject"], fed["provider"])
            db.session.commit()  # a real plugin commits; the dry run must still write nothing
            ctx.user_id = user.id
            return StepResult.success("user.provisioned")
        ctx.user_id = user.id
        return StepResult.success("user.linked")


JIT_SCHEME = """
name: FakeJitScheme
module:
  name: FakeJitModule
  steps:
    IdP: {plugin: FakeIdPPlugin}
    Provision: {plugin: FakeProvisioningPlugin}
  orchestration:
    initial_step: IdP
    IdP: {on_success: Provision, on_failure: failure, on_error: failure}
    Provision: {on_success: success}
"""


@pytest.fixture
def jit_scheme(app):
    with app.app_context():
        registry = PluginRegistry([*ALL, FakeIdPPlugin, FakeProvisioningPlugin])
        return parse_scheme(JIT_SCHEME, "FakeJitScheme.yaml", registry, current().settings)


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(identity.User))


def test_password_trace_recognises_a_returning_user(app, add_user):
    add_user("alice", password=PASSWORD, mail="alice@example.org")
    with app.app_context():
        trace = run_trace(
            current().schemes["PasswordScheme"], Scenario(values={"USERNAME": "alice", "PASSWORD": PASSWORD})
        )
    assert [(s.step, s.outcome, s.transition, s.simulated) for s in trace.steps] == [
        ("Credential_Collector", "success", "User_Identification", True),
        ("User_Identification", "success", "User_Authentication", False),
        ("User_Authentication", "success", "success", False),
    ]
    assert trace.result == "success" and trace.reason is None
    assert trace.user.user_name == "alice" and not trace.user.created
    assert trace.user.attributes == {"mail": "alice@example.org"}


def test_password_trace_shows_where_a_wrong_password_fails(app, add_user):
    add_user("alice", password=PASSWORD)
    with app.app_context():
        trace = run_trace(current().schemes["PasswordScheme"], Scenario(values={"USERNAME": "alice", "PASSWORD": "no"}))
    last = trace.steps[-1]
    assert (last.step, last.outcome, last.reason, last.transition) == (
        "User_Authentication",
        "failure",
        "credentials.invalid",
        "failure",
    )
    assert trace.result == "failure" and trace.reason == "credentials.invalid" and trace.user is None


def test_a_prompt_without_a_value_in_the_scenario_fails_with_the_missing_field(app):
    with app.app_context():
        trace = run_trace(current().schemes["PasswordScheme"], Scenario(values={"USERNAME": "alice"}))
    assert [(s.step, s.outcome, s.reason) for s in trace.steps] == [
        ("Credential_Collector", "failure", "credentials.missing")
    ]
    assert trace.steps[0].detail == {"why": "the scenario gives no PASSWORD"}


def test_a_new_person_is_provisioned_with_exactly_the_mapped_attributes_and_nothing_is_written(app, jit_scheme):
    claims = {
        "sub": "s-42",
        "preferred_username": "bob",
        "email": "bob@example.org",
        "given_name": "Bob",
        "phone_number": "+1 555 0100",
    }
    with app.app_context():
        before = user_count()
        trace = run_trace(jit_scheme, Scenario(claims=claims))
        assert user_count() == before
        assert federation.find_linked_user(ISSUER, "s-42") is None
    with app.app_context():  # a fresh connection: nothing was committed underneath either
        assert user_count() == before and identity.find_by_user_name("default", "bob") is None
    assert [(s.step, s.outcome, s.reason) for s in trace.steps] == [
        ("IdP", "success", None),
        ("Provision", "success", "user.provisioned"),
    ]
    assert trace.user.created and trace.user.user_name == "bob"
    assert trace.user.attributes == {"first-name": "Bob", "mail": "bob@example.org"}
    assert trace.user.links == [(ISSUER, "s-42")]
    assert trace.federated["subject"] == "s-42"


def test_a_returning_federated_person_is_recognised_by_their_link(app, add_user, jit_scheme):
    uid = add_user("carol", mail="carol@example.org")
    with app.app_context():
        federation.link_user(uid, ISSUER, "s-7", "fake")
        db.session.commit()
        trace = run_trace(jit_scheme, Scenario(claims={"sub": "s-7", "preferred_username": "carol-new-name"}))
    assert trace.steps[-1].reason == "user.linked"
    assert trace.user.user_name == "carol" and not trace.user.created


def test_an_idp_error_follows_on_failure(app, jit_scheme):
    with app.app_context():
        trace = run_trace(jit_scheme, Scenario(claims={"error": "access_denied"}))
    assert [(s.step, s.outcome, s.reason, s.transition) for s in trace.steps] == [
        ("IdP", "failure", "idp.access_denied", "failure")
    ]
    assert trace.result == "failure" and trace.reason == "idp.access_denied"


def test_a_step_that_would_wait_for_the_browser_without_a_simulation_ends_the_trace(app):
    class NoSimulation(FakeIdPPlugin):
        def simulate(self, ctx, scenario):
            return None

    with app.app_context():
        registry = PluginRegistry([*ALL, NoSimulation, FakeProvisioningPlugin])
        scheme = parse_scheme(JIT_SCHEME, "FakeJitScheme.yaml", registry, current().settings)
        trace = run_trace(scheme, Scenario(claims={"sub": "x"}))
    assert trace.steps[0].outcome == "challenge" and trace.reason == "trace.needs_simulation"


def test_cli_trace_prints_each_step_and_the_result(runner, add_user, tmp_path):
    add_user("alice", password=PASSWORD, mail="alice@example.org")
    result = runner.invoke(
        args=["schemes", "trace", "PasswordScheme", "--value", "USERNAME=alice", "--value", f"PASSWORD={PASSWORD}"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("trace of PasswordScheme (version ")
    assert lines[1].split() == [
        "1.",
        "Credential_Collector",
        "CredentialCollectorPlugin",
        "success",
        "-",
        "->",
        "User_Identification",
        "(simulated)",
    ]
    assert lines[3].split() == [
        "3.",
        "User_Authentication",
        "UserAuthenticationPlugin",
        "success",
        "-",
        "->",
        "success",
    ]
    assert "result: success" in lines
    assert "user: default/alice (existing; status active; password set)" in lines
    assert "  mail: alice@example.org" in lines


def test_cli_trace_against_a_store_state_file_uses_a_throwaway_store(app, runner, tmp_path):
    state = tmp_path / "store.json"
    state.write_text(
        json.dumps({"users": [{"user_name": "dora", "password": PASSWORD, "attributes": {"mail": "dora@example.org"}}]})
    )
    result = runner.invoke(
        args=[
            "schemes",
            "trace",
            "PasswordScheme",
            "--store-state",
            str(state),
            "--value",
            "USERNAME=dora",
            "--value",
            f"PASSWORD={PASSWORD}",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "a throwaway store with 1 user(s)" in result.output
    assert "result: success" in result.output and "user: default/dora (existing;" in result.output
    with app.app_context():
        assert identity.find_by_user_name("default", "dora") is None


def test_cli_trace_refuses_a_bad_store_state_file_clearly(runner, tmp_path):
    state = tmp_path / "store.yaml"
    state.write_text("users:\n  - {attributes: {mail: x}}\n")
    result = runner.invoke(args=["schemes", "trace", "PasswordScheme", "--store-state", str(state)])
    assert result.exit_code == 2
    assert "users[0] needs a 'user_name' string" in result.output


@pytest.fixture
def postgres_settings(make_settings):
    """Settings on a fresh PostgreSQL database of its own at 127.0.0.1:5432, dropped afterwards; else skip."""
    import secrets

    psycopg = pytest.importorskip("psycopg")
    name = f"stepgate_trace_{secrets.token_hex(4)}"
    admin_url = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 to create a database in: {exc}")
    yield make_settings(extra={"database_url": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"})
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_on_postgresql_a_provisioning_trace_writes_nothing_either(postgres_settings):
    from app import create_app

    application = create_app(postgres_settings, testing=True)
    with application.app_context():
        db.create_all()
        registry = PluginRegistry([*ALL, FakeIdPPlugin, FakeProvisioningPlugin])
        scheme = parse_scheme(JIT_SCHEME, "FakeJitScheme.yaml", registry, current().settings)
        claims = {"sub": "pg-1", "preferred_username": "pat", "email": "pat@example.org", "given_name": "Pat"}
        trace = run_trace(scheme, Scenario(claims=claims))
    assert trace.result == "success" and trace.user.created
    assert trace.user.attributes == {"first-name": "Pat", "mail": "pat@example.org"}
    with application.app_context():
        assert user_count() == 0 and federation.find_linked_user(ISSUER, "pg-1") is None
        db.session.remove()
        db.engine.dispose()
