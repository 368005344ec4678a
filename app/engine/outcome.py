"""What a step can say about itself: a closed set of outcomes, carried in a frozen result.

A plugin never decides where the flow goes next; it returns one of these and
the scheme's orchestration maps it to the next step (Keycloak's FlowStatus,
OAM's On Success / On Failure / On Error columns).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Outcome(enum.Enum):
    SUCCESS = "success"
    """The step did its job; follow ``on_success``."""

    FAILURE = "failure"
    """An expected "no" (unknown user, wrong password, cancelled at the IdP); follow ``on_failure``."""

    ERROR = "error"
    """A malfunction (IdP unreachable, bad configuration, a bug); follow ``on_error``."""

    CHALLENGE = "challenge"
    """Answer the browser with ``response`` and wait; the flow resumes at this step."""


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step, with an optional browser response and a stable reason code.

    ``reason`` is a dotted code (``credentials.invalid``, ``id_token.bad_signature``)
    used alike in logs, audit events and metrics. ``prompt`` marks a CHALLENGE that
    asks the person for credentials: after a FAILURE the engine may show that step
    again (OverrideRetryLimit). ``detail`` is extra audit data (never secrets).
    """

    outcome: Outcome
    reason: str | None = None
    response: Any = None
    prompt: bool = False
    detail: dict | None = None

    @classmethod
    def success(cls, reason: str | None = None, detail: dict | None = None) -> StepResult:
        return cls(Outcome.SUCCESS, reason, detail=detail)

    @classmethod
    def failure(cls, reason: str, detail: dict | None = None) -> StepResult:
        return cls(Outcome.FAILURE, reason, detail=detail)

    @classmethod
    def error(cls, reason: str, detail: dict | None = None) -> StepResult:
        return cls(Outcome.ERROR, reason, detail=detail)

    @classmethod
    def challenge(cls, response: Any, *, prompt: bool = False, reason: str | None = None) -> StepResult:
        return cls(Outcome.CHALLENGE, reason, response=response, prompt=prompt)
