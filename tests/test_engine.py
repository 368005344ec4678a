"""The runner follows On Success / On Failure / On Error, stops at terminals, retries prompts, caps loops.

These tests use dummy plugins only (authentik's DummyStage): the engine must
work for any plugin, knowing none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.engine import FlowContext, Plugin, StepResult
from app.engine.context import Submission
from app.engine.registry import PluginRegistry
from app.engine.runner import MAX_TRANSITIONS, Failed, FlowState, Respond, Succeeded, advance
from app.engine.scheme import parse_scheme


@dataclass(frozen=True)
class DummyParams:
    outcome: str = "success"
    user_id: int = 0


class DummyPlugin(Plugin):
    """Returns the configured outcome; 'raise' raises; sets user_id when configured."""

    name = "DummyPlugin"
    Params = DummyParams

    def process(self, ctx: FlowContext) -> StepResult:
        ctx.data.setdefault("visited", []).append(ctx.step_name)
        if self.params.user_id:
            ctx.user_id = self.params.user_id
        if self.params.outcome == "raise":
            raise RuntimeError("bug in a plugin")
        return {
            "success": StepResult.success(),
            "failure": StepResult.failure("dummy.failure"),
            "error": StepResult.error("dummy.error"),
        }[self.params.outcome]


class DummyPrompt(Plugin):
    """Asks the browser (a credential prompt) until it answers, then succeeds."""

    name = "DummyPrompt"

    def process(self, ctx: FlowContext) -> StepResult:
        if ctx.submission is None:
            return StepResult.challenge(f"prompt (error={ctx.error})", prompt=True)
        return StepResult.success()


REGISTRY = PluginRegistry([DummyPlugin, DummyPrompt])


def scheme(steps: str, orchestration: str, retry_limit: int = 5):
    text = (
        f"name: Test\nlevel: 2\nchallenge_parameters:\n  OverrideRetryLimit: {retry_limit}\n"
        f"module:\n  steps:\n{steps}\n  orchestration:\n{orchestration}\n"
    )
    return parse_scheme(text, "test.yaml", REGISTRY)


def run(sch, state=None, submission=None, propagate=True, faults=None):
    state = state or FlowState("flow-id", sch.name, sch.version, "/target")
    events = []
    result = advance(
        state,
        sch,
        submission,
        record=lambda s, step, plugin, r: events.append((step, r.outcome.value)),
        propagate_exceptions=propagate,
        faults=faults,
    )
    return result, state, events


TWO_STEPS = """\
    A: {plugin: DummyPlugin, params: {outcome: %s, user_id: 7}}
    B: {plugin: DummyPlugin, params: {outcome: success}}
    C: {plugin: DummyPlugin, params: {outcome: success}}"""
ROUTES = """\
    initial_step: A
    A: {on_success: B, on_failure: C, on_error: failure}
    B: {on_success: success, on_failure: failure, on_error: failure}
    C: {on_success: failure, on_failure: failure, on_error: failure}"""


def test_on_success_goes_to_the_next_step_and_success_signs_the_user_in():
    result, state, events = run(scheme(TWO_STEPS % "success", ROUTES))
    assert result == Succeeded(user_id=7, level=2)
    assert events == [("A", "success"), ("B", "success")]


def test_on_failure_follows_its_own_transition():
    result, _, events = run(scheme(TWO_STEPS % "failure", ROUTES))
    assert events == [("A", "failure"), ("C", "success")]
    assert isinstance(result, Failed)


def test_on_error_ends_at_the_failure_terminal_with_the_plugins_reason():
    result, _, events = run(scheme(TWO_STEPS % "error", ROUTES))
    assert events == [("A", "error")]
    assert result == Failed("dummy.error", "A")


def test_success_without_an_identified_user_is_refused():
    sch = scheme("    A: {plugin: DummyPlugin}", "    initial_step: A\n    A: {on_success: success}")
    assert run(sch)[0] == Failed("flow.no_user_identified", "A")


def test_a_challenge_answers_the_browser_and_the_flow_resumes_at_that_step():
    sch = scheme(
        "    P: {plugin: DummyPrompt}\n    A: {plugin: DummyPlugin, params: {user_id: 3}}",
        "    initial_step: P\n    P: {on_success: A}\n    A: {on_success: success}",
    )
    result, state, _ = run(sch)
    assert result == Respond("prompt (error=None)", "P")
    assert state.waiting and state.current_step == "P"
    result, state, events = run(sch, state, Submission("POST", form={"x": "1"}))
    assert result == Succeeded(3, 2)
    assert events == [("P", "success"), ("A", "success")]


def test_a_submission_is_ignored_when_the_flow_is_not_waiting_for_one():
    sch = scheme(
        "    P: {plugin: DummyPrompt}\n    A: {plugin: DummyPlugin, params: {user_id: 3}}",
        "    initial_step: P\n    P: {on_success: A}\n    A: {on_success: success}",
    )
    result, _, _ = run(sch, submission=Submission("POST", form={"forged": "1"}))
    assert isinstance(result, Respond)


PROMPT_THEN_FAIL = (
    "    P: {plugin: DummyPrompt}\n    A: {plugin: DummyPlugin, params: {outcome: failure}}",
    "    initial_step: P\n    P: {on_success: A}\n    A: {on_success: success}",
)


def test_a_failure_after_a_prompt_shows_the_prompt_again_with_the_reason():
    sch = scheme(*PROMPT_THEN_FAIL, retry_limit=3)
    _, state, _ = run(sch)
    result, state, _ = run(sch, state, Submission("POST"))
    assert result == Respond("prompt (error=dummy.failure)", "P")
    assert state.failures == 1


def test_the_retry_limit_ends_the_flow():
    sch = scheme(*PROMPT_THEN_FAIL, retry_limit=3)
    _, state, _ = run(sch)
    for _ in range(2):
        result, state, _ = run(sch, state, Submission("POST"))
        assert isinstance(result, Respond)
    result, state, _ = run(sch, state, Submission("POST"))
    assert result == Failed("flow.retry_limit_reached", "A")
    assert state.failures == 3


def test_an_error_after_a_prompt_is_not_retried():
    sch = scheme(
        "    P: {plugin: DummyPrompt}\n    A: {plugin: DummyPlugin, params: {outcome: error}}",
        "    initial_step: P\n    P: {on_success: A}\n    A: {on_success: success}",
    )
    _, state, _ = run(sch)
    result, _, _ = run(sch, state, Submission("POST"))
    assert result == Failed("dummy.error", "A")


def test_a_loop_in_the_orchestration_is_capped():
    sch = scheme(
        "    A: {plugin: DummyPlugin, params: {outcome: failure}}\n    B: {plugin: DummyPlugin}",
        "    initial_step: A\n    A: {on_success: success, on_failure: B}\n    B: {on_success: A}",
    )
    result, _, events = run(sch)
    assert isinstance(result, Failed) and result.reason == "flow.transition_limit"
    assert len(events) == MAX_TRANSITIONS


def test_an_exception_in_a_plugin_raises_under_tests_and_becomes_error_in_production():
    sch = scheme(
        "    A: {plugin: DummyPlugin, params: {outcome: raise}}\n    B: {plugin: DummyPlugin, params: {user_id: 1}}",
        "    initial_step: A\n    A: {on_success: success, on_error: B}\n    B: {on_success: success}",
    )
    with pytest.raises(RuntimeError, match="bug in a plugin"):
        run(sch, propagate=True)
    result, _, events = run(sch, propagate=False)
    assert events == [("A", "error"), ("B", "success")]
    assert result == Succeeded(1, 2)


def test_an_exception_the_fault_handler_knows_becomes_its_result_even_under_tests():
    """A dependency that cannot serve (the database gone under a step) is an outage the web layer answers, not a bug."""
    sch = scheme(
        "    A: {plugin: DummyPlugin, params: {outcome: raise}}",
        "    initial_step: A\n    A: {on_success: success, on_error: failure}",
    )
    outage = lambda exc: StepResult.error("database.unavailable") if "bug" in str(exc) else None  # noqa: E731
    result, _, events = run(sch, propagate=True, faults=outage)
    assert events == [("A", "error")] and result == Failed("database.unavailable", "A")
    with pytest.raises(RuntimeError, match="bug in a plugin"):  # what the handler does not know is still a bug
        run(sch, propagate=True, faults=lambda exc: None)
