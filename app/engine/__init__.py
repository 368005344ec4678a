"""The scheme engine: schemes as data, plugins behind a registry, a plugin-blind runner."""

from app.engine.context import FlowContext, Scenario, Submission
from app.engine.outcome import Outcome, StepResult
from app.engine.plugin import Plugin
from app.engine.scheme import Scheme

__all__ = ["FlowContext", "Outcome", "Plugin", "Scenario", "Scheme", "StepResult", "Submission"]
