"""Authentication schemes: an OAM module (steps + orchestration) with its challenge parameters.

A scheme file is validated once, here, with the file and line of every
problem; after that the engine trusts the frozen ``Scheme`` it gets.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from app.engine.challenge_page import ChallengePage, parse_challenge_page
from app.engine.conditions import Branch, ConditionParser, Facts, choose
from app.engine.outcome import Outcome
from app.engine.plugin import Plugin, build_params
from app.engine.registry import PluginRegistry, UnknownPlugin
from app.yamlsource import Checker, ConfigError, Located, LocatedList, Problem, load_yaml_text, unknown_message

SUCCESS = "success"
FAILURE = "failure"
TERMINALS = (SUCCESS, FAILURE)
RESERVED = {SUCCESS, FAILURE, "initial_step"}
TRANSITION_KEYS = {"on_success": Outcome.SUCCESS, "on_failure": Outcome.FAILURE, "on_error": Outcome.ERROR}
KEY_OF = {outcome: key for key, outcome in TRANSITION_KEYS.items()}


@dataclass(frozen=True)
class ChallengeParameters:
    """OAM's challenge parameters that stepgate implements; any other name is a mistake, said with file:line."""

    initial_command: str = "NONE"
    OverrideRetryLimit: int = 5


CHALLENGE_PARAMETERS = {f.name for f in fields(ChallengeParameters)}
INITIAL_COMMANDS = {"NONE"}
SCHEME_KEYS = {"name", "description", "level", "challenge_parameters", "challenge_url", "context_type", "context_value"}


@dataclass(frozen=True)
class Step:
    name: str
    plugin_name: str
    plugin: Plugin
    description: str
    line: int


@dataclass(frozen=True)
class Transitions:
    """Where each outcome goes: one step, or conditional branches (``app/engine/conditions.py``).

    ``on_success`` / ``on_failure`` / ``on_error`` hold the unconditional target,
    which for a conditional transition is its last (``else``) branch.
    """

    on_success: str
    on_failure: str
    on_error: str
    conditional: dict[str, tuple[Branch, ...]] = field(default_factory=dict)  # by TRANSITION_KEYS key

    def target(self, outcome: Outcome) -> str:
        """The unconditional (default) target of an outcome."""
        return {Outcome.SUCCESS: self.on_success, Outcome.FAILURE: self.on_failure, Outcome.ERROR: self.on_error}[
            outcome
        ]

    def branches(self, outcome: Outcome) -> tuple[Branch, ...]:
        """Every branch of an outcome in order; a plain transition is one branch without a condition."""
        return self.conditional.get(KEY_OF[outcome]) or (Branch(None, self.target(outcome), 0),)

    def choose(self, outcome: Outcome, facts: Facts) -> Branch:
        return choose(self.branches(outcome), facts)

    def all_targets(self) -> list[str]:
        return [b.goto for o in TRANSITION_KEYS.values() for b in self.branches(o)]

    def describe(self, outcome: Outcome) -> str:
        """How the table shows an outcome: ``TOTP`` or ``success if federated; else TOTP``."""
        branches = self.branches(outcome)
        if len(branches) == 1:
            return _title(branches[0].goto)
        parts = [f"{_title(b.goto)} if {b.when.text}" for b in branches[:-1] if b.when is not None]
        return "; ".join([*parts, f"else {_title(branches[-1].goto)}"])


@dataclass(frozen=True)
class Scheme:
    name: str
    description: str
    level: int
    challenge_parameters: ChallengeParameters
    module_name: str
    steps: dict[str, Step]
    orchestration: dict[str, Transitions]
    initial_step: str
    file: str
    version: str
    challenge_page: ChallengePage = ChallengePage()

    @cached_property
    def value_rules(self) -> dict[str, Any]:
        """Every step's ``Plugin.value_rules``, merged in step order (once: a scheme never changes once loaded)."""
        merged: dict[str, Any] = {}
        for step in self.steps.values():
            merged.update(step.plugin.value_rules())
        return merged

    def next_step(self, step: str, outcome: Outcome, facts: Facts | None = None) -> str:
        """Where ``outcome`` of ``step`` leads; conditions are evaluated over ``facts`` (none: the default)."""
        return self.next_branch(step, outcome, facts).goto

    def next_branch(self, step: str, outcome: Outcome, facts: Facts | None = None) -> Branch:
        transitions = self.orchestration[step]
        if facts is None:
            return Branch(None, transitions.target(outcome), 0)
        return transitions.choose(outcome, facts)

    def table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows in the layout of OAM's Table 42-2: Name, Plugin, On Success, On Failure, On Error."""
        return [
            (
                name,
                step.plugin_name,
                *(self.orchestration[name].describe(o) for o in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.ERROR)),
            )
            for name, step in self.steps.items()
        ]


def _title(target: str) -> str:
    return target.capitalize() if target in TERMINALS else target


def parse_scheme(text: str, file: str, registry: PluginRegistry, settings: Any = None) -> Scheme:
    """Validate one scheme document and build it; raise ConfigError with every problem found."""
    doc = load_yaml_text(text, file)
    check = Checker()
    if not isinstance(doc, Located):
        raise ConfigError([Problem(file, 1, "a scheme file must be a mapping with 'name' and 'module'")])
    check.unknown_keys(doc, SCHEME_KEYS | {"module"}, "scheme")
    name = _string(doc, "name", check, required=True)
    description = _string(doc, "description", check) or ""
    level = doc.get("level", 1)
    if not isinstance(level, int) or isinstance(level, bool) or level < 0:
        check.add(doc.problem("level", "'level' must be a whole number >= 0"))
    challenge = _challenge_parameters(doc, check)
    page = parse_challenge_page(doc, check)
    module = doc.get("module")
    if module is None:
        check.add(doc.problem(None, "missing required key 'module'"))
        check.raise_if_any()
    module = check.require_mapping(module, doc, "module", "module")
    if module is None:
        check.raise_if_any()
    check.unknown_keys(module, {"name", "description", "steps", "orchestration"}, "module")
    steps = _steps(module, check, registry, settings)
    declared = set(module["steps"]) if isinstance(module.get("steps"), Located) else set(steps)
    conditions = ConditionParser(_provider_names(settings), set(registry.names()))
    orchestration, initial = _orchestration(module, steps, declared, check, conditions)
    check.raise_if_any()
    _check_graph(module, steps, orchestration, initial, check)
    check.raise_if_any()
    return Scheme(
        name=name,
        description=description,
        level=level,
        challenge_parameters=challenge,
        module_name=str(module.get("name") or name),
        steps=steps,
        orchestration=orchestration,
        initial_step=initial,
        file=file,
        version=hashlib.sha256((text + page.html).encode()).hexdigest()[:16],
        challenge_page=page,
    )


def _provider_names(settings: Any) -> set[str] | None:
    providers = getattr(settings, "identity_providers", None)
    return set(providers) if providers is not None else None


def _string(where: Located, key: str, check: Checker, required: bool = False) -> str | None:
    if key not in where:
        if required:
            check.add(where.problem(None, f"missing required key '{key}'"))
        return None
    value = where[key]
    if not isinstance(value, str) or not value.strip():
        check.add(where.problem(key, f"'{key}' must be a non-empty string"))
        return None
    return value


def _challenge_parameters(doc: Located, check: Checker) -> ChallengeParameters:
    raw = doc.get("challenge_parameters")
    if raw is None:
        return ChallengeParameters()
    raw = check.require_mapping(raw, doc, "challenge_parameters", "challenge_parameters")
    if raw is None:
        return ChallengeParameters()
    for key in raw:
        if key not in CHALLENGE_PARAMETERS:
            check.add(raw.problem(key, unknown_message("challenge parameter", key, CHALLENGE_PARAMETERS, "scheme")))
    command = str(raw.get("initial_command", "NONE"))
    if command.upper() not in INITIAL_COMMANDS:
        check.add(raw.problem("initial_command", f"initial_command '{command}' is not supported (known: NONE)"))
    limit = raw.get("OverrideRetryLimit", 5)
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        check.add(raw.problem("OverrideRetryLimit", "'OverrideRetryLimit' must be a whole number >= 1"))
        limit = 5
    return ChallengeParameters(command.upper(), limit)


def _steps(module: Located, check: Checker, registry: PluginRegistry, settings: Any) -> dict[str, Step]:
    raw = module.get("steps")
    if raw is None:
        check.add(module.problem(None, "missing required key 'steps'"))
        return {}
    raw = check.require_mapping(raw, module, "steps", "steps")
    if raw is None:
        return {}
    if not raw:
        check.add(module.problem("steps", "'steps' must name at least one step"))
    steps: dict[str, Step] = {}
    for step_name, body in raw.items():
        if step_name.lower() in RESERVED:
            check.add(raw.problem(step_name, f"'{step_name}' is reserved and cannot name a step"))
            continue
        body = check.require_mapping(body, raw, step_name, f"steps.{step_name}")
        if body is None:
            continue
        check.unknown_keys(body, {"plugin", "description", "params"}, f"step '{step_name}'")
        plugin_name = body.get("plugin")
        if not isinstance(plugin_name, str):
            check.add(body.problem("plugin" if "plugin" in body else None, f"step '{step_name}' needs a 'plugin' name"))
            continue
        try:
            plugin_cls = registry.get(plugin_name)
        except UnknownPlugin as exc:
            check.add(body.problem("plugin", str(exc)))
            continue
        params, problems = build_params(plugin_cls, body.get("params"), body)
        for p in problems:
            check.add(p)
        if params is None:
            continue
        params_where = body.get("params") if isinstance(body.get("params"), Located) else body
        semantic = plugin_cls.check(params, settings)
        for key, message in semantic:
            check.add(params_where.problem(key if key in params_where else None, message))
        if semantic:
            continue
        steps[step_name] = Step(
            step_name,
            plugin_name,
            plugin_cls(params, settings),
            str(body.get("description") or ""),
            raw.line_of(step_name),
        )
    return steps


def _orchestration(
    module: Located, steps: dict[str, Step], declared: set[str], check: Checker, conditions: ConditionParser
) -> tuple[dict[str, Transitions], str]:
    """Transitions per step; names are checked against every declared step, even one whose params are wrong."""
    raw = module.get("orchestration")
    if raw is None:
        check.add(module.problem(None, "missing required key 'orchestration'"))
        return {}, ""
    raw = check.require_mapping(raw, module, "orchestration", "orchestration")
    if raw is None:
        return {}, ""
    initial = raw.get("initial_step")
    if initial is None:
        check.add(raw.problem(None, "missing required key 'initial_step'"))
    elif initial not in declared:
        check.add(raw.problem("initial_step", f"initial_step '{initial}' is not a step of this module"))
    result: dict[str, Transitions] = {}
    for step_name, body in raw.items():
        if step_name == "initial_step":
            continue
        if step_name not in declared:
            check.add(raw.problem(step_name, f"orchestration names unknown step '{step_name}'"))
            continue
        body = check.require_mapping(body, raw, step_name, f"orchestration.{step_name}")
        if body is None:
            continue
        check.unknown_keys(body, set(TRANSITION_KEYS), f"orchestration of '{step_name}'")
        targets, conditional = {}, {}
        for key in TRANSITION_KEYS:
            if key not in body:
                if key == "on_success":
                    check.add(body.problem(None, f"step '{step_name}' needs 'on_success'"))
                targets[key] = FAILURE
                continue
            if isinstance(body[key], LocatedList):
                branches = _branches(step_name, key, body[key], steps, declared, check, conditions)
                conditional[key] = branches
                targets[key] = branches[-1].goto if branches else FAILURE
                continue
            targets[key] = _target(step_name, key, body[key], body, steps, declared, check)
        result[step_name] = Transitions(**targets, conditional=conditional)
    for step_name, step in steps.items():
        if step_name not in result and step_name not in [p for p in raw if p != "initial_step"]:
            check.add(Problem(raw.file, step.line, f"step '{step_name}' has no orchestration entry"))
    return result, initial if isinstance(initial, str) else ""


def _target(
    step_name: str, key: str, target: Any, where: Located | LocatedList, steps, declared, check: Checker, at: Any = None
) -> str:
    if isinstance(target, str) and target.lower() in TERMINALS:
        target = target.lower()
    if not isinstance(target, str) or (target not in TERMINALS and target not in declared):
        check.add(
            where.problem(
                key if at is None else at,
                f"{key} of '{step_name}' goes to unknown step '{target}' "
                f"(steps: {', '.join(steps)}; terminals: success, failure)",
            )
        )
    return target


def _branches(
    step_name: str, key: str, raw: LocatedList, steps, declared, check: Checker, conditions: ConditionParser
) -> tuple[Branch, ...]:
    """A conditional transition: ``[{when: ..., goto: ...}, ..., {goto: ...}]``, the last one unconditional."""
    branches: list[Branch] = []
    if not raw:
        check.add(raw.problem(None, f"{key} of '{step_name}' lists no branches"))
        return ()
    for i, item in enumerate(raw):
        item = check.require_mapping(item, raw, i, f"branch {i + 1} of {key} of '{step_name}'")
        if item is None:
            continue
        check.unknown_keys(item, {"when", "goto"}, f"branch of {key} of '{step_name}'")
        last = i == len(raw) - 1
        if "goto" not in item:
            check.add(item.problem(None, f"branch {i + 1} of {key} of '{step_name}' needs 'goto'"))
            continue
        goto = _target(step_name, key, item["goto"], item, steps, declared, check, at="goto")
        when = None
        if "when" in item:
            before = len(conditions.problems)
            when = conditions.parse(item["when"], item, "when")
            for problem in conditions.problems[before:]:
                check.add(problem)
            if last:
                check.add(
                    item.problem("when", f"the last branch of {key} of '{step_name}' must have no 'when' (the default)")
                )
        elif not last:
            check.add(item.problem(None, f"only the last branch of {key} of '{step_name}' may leave out 'when'"))
        branches.append(Branch(when, goto, raw.item_lines[i]))
    return tuple(branches)


def _check_graph(
    module: Located, steps: dict[str, Step], orch: dict[str, Transitions], initial: str, check: Checker
) -> None:
    seen, queue = {initial}, deque([initial])
    while queue:
        transitions = orch[queue.popleft()]
        for target in transitions.all_targets():
            if target not in TERMINALS and target not in seen:
                seen.add(target)
                queue.append(target)
    for name, step in steps.items():
        if name not in seen:
            check.add(Problem(module.file, step.line, f"step '{name}' can't be reached from initial_step '{initial}'"))
    if not any(SUCCESS in t.all_targets() for n, t in orch.items() if n in seen):
        check.add(module.problem("orchestration", f"no path from initial_step '{initial}' reaches success"))


def load_schemes(directory: str | Path, registry: PluginRegistry, settings: Any = None) -> dict[str, Scheme]:
    """Load every ``*.yaml`` scheme in a directory; all problems of all files at once."""
    directory = Path(directory)
    problems: list[Problem] = []
    schemes: dict[str, Scheme] = {}
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), 0, "schemes directory does not exist")])
    for path in sorted(directory.glob("*.y*ml")):
        try:
            scheme = parse_scheme(path.read_text(encoding="utf-8"), str(path), registry, settings)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if scheme.name in schemes:
            problems.append(
                Problem(str(path), 1, f"scheme name '{scheme.name}' is already used by {schemes[scheme.name].file}")
            )
            continue
        schemes[scheme.name] = scheme
    if problems:
        raise ConfigError(problems)
    return schemes
