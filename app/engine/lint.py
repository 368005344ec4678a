"""Warnings about schemes that load but cannot work as written (``schemes check`` prints them).

Asgardeo warns that turning JIT provisioning off breaks a sign-in flow whose
later steps need a local account (TOTP, e-mail OTP, a password). Here: a step
whose plugin ``needs_local_account`` that a flow can reach after a step that
``opens_federated_session`` succeeded is reported with its file and line; at
run time such a flow ends with ``flow.needs_local_account``.
"""

from __future__ import annotations

from collections import deque

from app.engine.outcome import Outcome
from app.engine.scheme import TERMINALS, Scheme
from app.yamlsource import Problem


def warnings(scheme: Scheme) -> list[Problem]:
    found: list[Problem] = []
    for name, step in scheme.steps.items():
        if not getattr(step.plugin, "opens_federated_session", False):
            continue
        for later in _reachable_after_success(scheme, name):
            plugin = scheme.steps[later].plugin
            if getattr(plugin, "needs_local_account", False):
                found.append(
                    Problem(
                        scheme.file,
                        scheme.steps[later].line,
                        f"step '{later}' ({scheme.steps[later].plugin_name}) needs a local account, but step "
                        f"'{name}' before it turns just-in-time provisioning off: such sign-ins end with "
                        "flow.needs_local_account",
                    )
                )
    return found


def _reachable_after_success(scheme: Scheme, step: str) -> list[str]:
    starts = [b.goto for b in scheme.orchestration[step].branches(Outcome.SUCCESS) if b.goto not in TERMINALS]
    seen, queue = list(dict.fromkeys(starts)), deque(dict.fromkeys(starts))
    while queue:
        transitions = scheme.orchestration[queue.popleft()]
        for target in transitions.all_targets():  # conditional branches included
            if target not in TERMINALS and target not in seen:
                seen.append(target)
                queue.append(target)
    return seen
