"""Dry runs of a scheme (``schemes trace``): every step, its outcome, its reason, the transition taken.

A trace runs the real plugins against the real identity store, inside one
database transaction that is rolled back at the end, so a step that would
provision a user or link an identity shows what it would write and writes
nothing. Steps that talk to the outside world (a credential prompt, a redirect
to an IdP) are answered by their plugin's ``simulate`` hook from a Scenario.
``load_store_state`` fills a throwaway database from a file instead, to try a
scheme against a store state before it exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.engine.conditions import Facts, methods_of
from app.engine.context import FlowContext, Scenario
from app.engine.outcome import Outcome, StepResult
from app.engine.runner import (
    FEDERATED_SESSION,
    MAX_TRANSITIONS,
    NEEDS_LOCAL_ACCOUNT,
    missing_methods,
    note_identification,
)
from app.engine.scheme import FAILURE, SUCCESS, Scheme
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity

log = logging.getLogger("stepgate.trace")


@dataclass(frozen=True)
class TraceStep:
    step: str
    plugin: str
    outcome: str
    reason: str | None
    transition: str
    simulated: bool
    detail: dict | None = None
    condition: str | None = None  # the branch condition that chose ``transition`` (``else``: none held)


@dataclass(frozen=True)
class TracedUser:
    id: int
    store: str
    user_name: str
    status: str
    attributes: dict[str, str]
    links: list[tuple[str, str]]
    created: bool
    has_password: bool


@dataclass
class Trace:
    scheme: str
    version: str
    steps: list[TraceStep] = field(default_factory=list)
    result: str = FAILURE
    reason: str | None = None
    user: TracedUser | None = None
    federated: dict | None = None
    federated_session: dict | None = None  # JIT off: the session's provider, subject and claims; no user
    amr: list[str] = field(default_factory=list)


@contextmanager
def rolled_back() -> Iterator[Session]:
    """``db.session`` bound to one transaction that is always rolled back.

    ``join_transaction_mode="rollback_only"``: a plugin's ``commit()`` flushes
    into the outer transaction and goes no further.
    """
    db.session.remove()
    connection = db.engine.connect()
    outer = connection.begin()
    sqlite = _begin_sqlite(connection)
    session = Session(bind=connection, join_transaction_mode="rollback_only", autoflush=True)
    db.session.registry.set(session)
    try:
        yield session
    finally:
        session.close()
        if outer.is_active:
            outer.rollback()
        if sqlite is not None:
            sqlite.isolation_level = ""  # the driver manages transactions again for the pool's next user
        connection.close()
        db.session.remove()


def _begin_sqlite(connection) -> Any:
    """Open a real SQLite transaction before anything runs.

    pysqlite starts transactions lazily, so a plugin's SAVEPOINT would become
    the outermost transaction and its RELEASE would commit: a dry run would
    write. With the driver's own handling off and an explicit BEGIN, every
    savepoint nests inside the transaction the dry run rolls back.
    """
    if connection.dialect.name != "sqlite":
        return None
    driver = connection.connection.driver_connection
    driver.isolation_level = None
    connection.exec_driver_sql("BEGIN")
    return driver


def run_trace(scheme: Scheme, scenario: Scenario) -> Trace:
    """Run ``scheme`` for ``scenario`` without side effects; return what each step did."""
    with rolled_back():
        newest_before = db.session.scalar(select(func.max(identity.User.id))) or 0
        trace = Trace(scheme.name, scheme.version)
        data: dict[str, Any] = {}
        _walk(scheme, scenario, data, trace)
        trace.federated = data.get("federated")
        trace.amr = methods_of(data)
        if trace.result == SUCCESS and data.get("user_id") is None:
            trace.federated_session = data.get(FEDERATED_SESSION)
        elif trace.result == SUCCESS:
            trace.user = _traced_user(data["user_id"], newest_before)
        return trace


def _walk(scheme: Scheme, scenario: Scenario, data: dict[str, Any], trace: Trace) -> None:
    current, secrets = scheme.initial_step, {}
    for _ in range(MAX_TRANSITIONS):
        step = scheme.steps[current]
        if data.get(FEDERATED_SESSION) and getattr(step.plugin, "needs_local_account", False):
            trace.reason = NEEDS_LOCAL_ACCOUNT
            return
        ctx = FlowContext("dry-run", scheme.name, step.name, data, secrets, None, "/")
        before = data.get("user_id")
        result, simulated = _run(step.plugin, ctx, scenario)
        note_identification(data, before, step.name, step.plugin_name)
        if result.outcome is Outcome.CHALLENGE:
            trace.steps.append(TraceStep(step.name, step.plugin_name, "challenge", result.reason, FAILURE, False))
            trace.reason = "trace.needs_simulation"
            return
        branch = scheme.next_branch(step.name, result.outcome, Facts(data, identity.attributes_of))
        target = branch.goto
        conditional = len(scheme.orchestration[step.name].branches(result.outcome)) > 1
        trace.steps.append(
            TraceStep(
                step.name,
                step.plugin_name,
                result.outcome.value,
                result.reason,
                target,
                simulated,
                result.detail,
                branch.label() if conditional else None,
            )
        )
        if target == SUCCESS:
            if data.get("user_id") is None and not data.get(FEDERATED_SESSION):
                trace.reason = "flow.no_user_identified"
                return
            if missing_methods(data):
                trace.reason = "authn.methods_missing"
                return
            trace.result, trace.reason = SUCCESS, None
            return
        if target == FAILURE:
            trace.reason = result.reason or f"{result.outcome.value}.unspecified"
            return
        current = target
    trace.reason = "flow.transition_limit"


def _run(plugin: Any, ctx: FlowContext, scenario: Scenario) -> tuple[StepResult, bool]:
    """The step's simulated result if it has one, else its real ``process``; exceptions become ERROR."""
    try:
        simulated = plugin.simulate(ctx, scenario)
        if simulated is not None:
            return simulated, True
        return plugin.process(ctx), False
    except Exception as exc:
        log.exception("plugin %s raised during a dry run of step %s", type(plugin).__name__, ctx.step_name)
        return StepResult.error("plugin.exception", {"exception": f"{type(exc).__name__}: {exc}"}), False


def _traced_user(user_id: int, newest_before: int) -> TracedUser | None:
    db.session.flush()
    user = identity.get_user(user_id)
    if user is None:
        return None
    links = [(link.issuer, link.subject) for link in federation.links_of(user.id)]
    return TracedUser(
        user.id,
        user.store,
        user.user_name,
        user.status,
        user.attributes,
        links,
        created=user.id > newest_before,
        has_password=user.password_hash is not None,
    )


def load_store_state(doc: Any) -> int:
    """Fill the (throwaway) store from ``{"users": [{user_name, store, password, status, attributes, links}]}``.

    Returns the number of users; raises ValueError with the position of a bad entry.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("users", []), list):
        raise ValueError("the store state must be a mapping with a 'users' list")
    for i, entry in enumerate(doc.get("users", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("user_name"), str):
            raise ValueError(f"users[{i}] needs a 'user_name' string")
        attributes = entry.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError(f"users[{i}].attributes must be a mapping")
        try:
            status = identity.UserStatus(entry.get("status", "active"))
        except ValueError as exc:
            raise ValueError(f"users[{i}].status must be one of active, locked, disabled") from exc
        user = identity.create_user(
            str(entry.get("store", "default")),
            entry["user_name"],
            {str(k): str(v) for k, v in attributes.items()},
            entry.get("password"),
            status,
        )
        db.session.flush()
        for link in entry.get("links") or []:
            if not isinstance(link, dict) or not {"issuer", "subject"} <= set(link):
                raise ValueError(f"users[{i}].links entries need 'issuer' and 'subject'")
            federation.link_user(user.id, str(link["issuer"]), str(link["subject"]), str(link.get("provider", "")))
    db.session.commit()
    return len(doc.get("users", []))
