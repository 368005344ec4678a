"""Prometheus metrics: sign-ins, users, failures by reason, step latency, provider isolation (``app/web/metrics.py``).

Counters come from audit events, counted once their transaction commits, so
every branch that records ``signin.success``, ``user.provisioned`` or
``user.updated`` is counted without calling this module. Step latency is
measured around each step by the gate. Active flows are counted in the
database by the endpoint at scrape time, right across workers and machines.

Under gunicorn (``config/gunicorn.conf.py``) ``PROMETHEUS_MULTIPROC_DIR`` is set
and every worker writes its values to files there; a scrape, answered by any
worker, adds them all up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import time

from flask import g
from prometheus_client import Counter, Histogram

from app import audit
from app.oidc import breaker, bulkhead

AUDIT_EVENTS = Counter("stepgate_audit_events", "Committed audit events by name", ["event"])
SIGNINS = Counter("stepgate_signins", "Successful sign-ins by scheme", ["scheme"])
SIGNIN_FAILURES = Counter("stepgate_signin_failures", "Failed sign-ins by scheme and reason", ["scheme", "reason"])
STEP_OUTCOMES = Counter(
    "stepgate_step_outcomes", "Step outcomes by plugin, outcome and reason", ["plugin", "outcome", "reason"]
)
USERS_PROVISIONED = Counter("stepgate_users_provisioned", "Users created by just-in-time provisioning")
USERS_UPDATED = Counter("stepgate_users_updated", "Users updated from a federated sign-in")
STEP_SECONDS = Histogram(
    "stepgate_step_seconds",
    "Time spent in one step, by plugin",
    ["plugin"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

PROVIDER_BREAKER_TRANSITIONS = Counter(
    "stepgate_provider_breaker_transitions",
    "Circuit breaker state changes by identity provider and new state (open, half_open, closed)",
    ["provider", "state"],
)
PROVIDER_CALLS_REJECTED = Counter(
    "stepgate_provider_calls_rejected",
    "Provider calls refused at once because the worker's bulkhead was full, by identity provider",
    ["provider"],
)


def count_event(event: str, scheme: str, reason: str, plugin: str, outcome: str) -> None:
    AUDIT_EVENTS.labels(event).inc()
    if event == "signin.success":
        SIGNINS.labels(scheme).inc()
    elif event == "signin.failure":
        SIGNIN_FAILURES.labels(scheme, reason).inc()
    elif event == "step":
        STEP_OUTCOMES.labels(plugin, outcome, reason).inc()
    elif event == "user.provisioned":
        USERS_PROVISIONED.inc()
    elif event == "user.updated":
        USERS_UPDATED.inc()


def step_clock_start() -> None:
    """Called by the gate before it runs steps; each ``step_finished`` measures from the previous mark."""
    g.stepgate_step_clock = time.perf_counter()


def step_finished(plugin: str) -> None:
    now = time.perf_counter()
    started = g.get("stepgate_step_clock", now)
    STEP_SECONDS.labels(plugin).observe(now - started)
    g.stepgate_step_clock = now


def _count(values: dict) -> None:
    count_event(
        values["event"],
        values["scheme"] or "",
        values["reason"] or "",
        values["plugin"] or "",
        values["outcome"] or "",
    )


audit.on_commit(_count)


@breaker.on_transition
def _breaker_moved(provider: str, state: breaker.State) -> None:
    PROVIDER_BREAKER_TRANSITIONS.labels(provider, state.value).inc()


@bulkhead.on_rejection
def _bulkhead_full(provider: str) -> None:
    PROVIDER_CALLS_REJECTED.labels(provider).inc()
