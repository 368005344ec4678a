"""Runs a scheme for one flow: execute the current step, follow its outcome, repeat.

The runner knows schemes, outcomes and the flow's state; it knows no plugin and
no web framework. It stops when a step must answer the browser, or when the
flow reaches ``success`` or ``failure``. The caller persists the state.

Retries (OAM's ``OverrideRetryLimit``): a FAILURE that ends at ``failure`` after
the person was shown a credential prompt sends them back to that prompt with
the reason, until the limit is reached. An ERROR never retries: a malfunction
does not get better by asking again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.engine.conditions import Facts, methods_of
from app.engine.context import FlowContext, Submission
from app.engine.outcome import Outcome, StepResult
from app.engine.scheme import FAILURE, SUCCESS, Scheme

log = logging.getLogger("stepgate.engine")

FEDERATED_SESSION = "federated_session"
"""Flow data key of a JIT-off sign-in (app/engine/context.py); the engine reads it, never which plugin set it."""
NEEDS_LOCAL_ACCOUNT = "flow.needs_local_account"

MAX_TRANSITIONS = 32
"""OAM graphs may loop back; one request may take at most this many transitions."""


@dataclass
class FlowState:
    """The persisted part of a flow, as the runner sees it."""

    id: str
    scheme_name: str
    scheme_version: str
    target_url: str
    current_step: str | None = None
    waiting: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    failures: int = 0
    prompt_step: str | None = None


@dataclass(frozen=True)
class Respond:
    """A step answered the browser; the flow waits at ``step``."""

    response: Any
    step: str


@dataclass(frozen=True)
class Succeeded:
    user_id: int | None  # None: a JIT-off session on ``state.data["federated_session"]``, no local account
    level: int
    amr: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    reason: str
    step: str | None


RunResult = Respond | Succeeded | Failed
Recorder = Callable[[FlowState, str, str, StepResult], None]
FaultHandler = Callable[[Exception], StepResult | None]
"""Turns an exception that is no bug (a dependency that cannot serve) into the step's result; None for a bug."""


def advance(
    state: FlowState,
    scheme: Scheme,
    submission: Submission | None,
    *,
    record: Recorder,
    secrets: dict[str, str] | None = None,
    propagate_exceptions: bool = False,
    faults: FaultHandler | None = None,
    attributes_of: Callable[[int], Any] | None = None,
) -> RunResult:
    """Advance ``state`` as far as it goes in this request.

    ``attributes_of(user_id)`` gives conditions on user attributes and groups their values.
    """
    secrets = {} if secrets is None else secrets
    if state.current_step is None:
        state.current_step = scheme.initial_step
    if not state.waiting:
        submission = None
    for _ in range(MAX_TRANSITIONS):
        step = scheme.steps[state.current_step]
        if state.data.get(FEDERATED_SESSION) and getattr(step.plugin, "needs_local_account", False):
            log.warning("scheme %s: step %s needs a local account, and JIT provisioning is off", scheme.name, step.name)
            return Failed(NEEDS_LOCAL_ACCOUNT, step.name)
        ctx = FlowContext(
            state.id,
            scheme.name,
            step.name,
            state.data,
            secrets,
            submission,
            state.target_url,
            state.failures,
            challenge_page=scheme.challenge_page,
            value_rules=scheme.value_rules,
        )
        identified_before = state.data.get("user_id")
        result = _run_step(step.plugin, ctx, propagate_exceptions, faults)
        note_identification(state.data, identified_before, step.name, step.plugin_name)
        record(state, step.name, step.plugin_name, result)
        submission = None
        if result.outcome is Outcome.CHALLENGE:
            state.waiting = True
            if result.prompt:
                state.prompt_step = step.name
            return Respond(result.response, step.name)
        state.waiting = False
        target = scheme.next_step(step.name, result.outcome, Facts(state.data, attributes_of))
        if target == SUCCESS:
            if state.data.get("user_id") is None and not state.data.get(FEDERATED_SESSION):
                log.error("scheme %s reached success at %s without identifying a user", scheme.name, step.name)
                return Failed("flow.no_user_identified", step.name)
            if missing := missing_methods(state.data):
                log.warning("scheme %s reached success without the required methods %s", scheme.name, missing)
                return Failed("authn.methods_missing", step.name)
            state.data.pop("error", None)
            return Succeeded(state.data.get("user_id"), scheme.level, tuple(methods_of(state.data)))
        if target == FAILURE:
            reason = result.reason or f"{result.outcome.value}.unspecified"
            if result.outcome is Outcome.FAILURE and state.prompt_step:
                state.failures += 1
                if state.failures < scheme.challenge_parameters.OverrideRetryLimit:
                    state.data["error"] = reason
                    state.data.pop("user_id", None)
                    state.current_step = state.prompt_step
                    continue
                return Failed("flow.retry_limit_reached", step.name)
            return Failed(reason, step.name)
        state.current_step = target
    log.error("scheme %s exceeded %d transitions in one request", scheme.name, MAX_TRANSITIONS)
    return Failed("flow.transition_limit", state.current_step)


def note_identification(data: dict[str, Any], before: Any, step: str, plugin: str) -> None:
    """Remember which step (and plugin) identified the user, for conditions such as ``identified_by``."""
    after = data.get("user_id")
    if after is not None and after != before:
        data["identified_by"] = {"step": step, "plugin": plugin}


def missing_methods(data: dict[str, Any]) -> list[str]:
    """Methods the resource's policy requires (``required_amr``) that this flow has not established."""
    have = set(methods_of(data))
    return [m for m in data.get("required_amr") or () if m not in have]


def _run_step(plugin: Any, ctx: FlowContext, propagate: bool, faults: FaultHandler | None = None) -> StepResult:
    try:
        result = plugin.process(ctx)
    except Exception as exc:
        answered = faults(exc) if faults is not None else None
        if answered is not None:  # e.g. the database went away under the step: an outage, not a bug
            return answered
        if propagate:
            raise
        log.exception("plugin %s raised in step %s of flow", type(plugin).__name__, ctx.step_name)
        return StepResult.error("plugin.exception")
    if not isinstance(result, StepResult):
        if propagate:
            raise TypeError(f"{type(plugin).__name__}.process returned {result!r}, not a StepResult")
        return StepResult.error("plugin.bad_result")
    return result
