"""The plugin contract: an OAM name, declared parameters, one method.

A plugin declares its parameters as a frozen dataclass named ``Params``; each
field's type and default say what OAM's metadata says as ``string~300~true``
(type, size, required). The loader builds that dataclass once per step and
reports unknown, missing or mistyped keys with their YAML line, so a plugin
only ever sees typed values.

Field types understood: ``str``, ``int``, ``bool``, ``list[str]`` (a YAML list
or OAM's comma-separated string) and ``dict[str, str]`` (a YAML mapping, or
OAM's ``key:value, key:value`` string). A ``dict`` field whose metadata has a
``pattern`` collects every top-level key matching that regex instead (OAM's
``CRED_PARAM_1``, ``CRED_PARAM_2``, ...).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, ClassVar

from app.engine.context import FlowContext, Scenario
from app.engine.outcome import StepResult
from app.yamlsource import Located, Problem


@dataclasses.dataclass(frozen=True)
class NoParams:
    pass


class Plugin:
    """Base class of all authentication plugins.

    Subclasses set ``name`` (the OAM plugin name), ``description`` and
    ``Params``, and implement ``process``. ``check`` may add semantic checks
    that need the settings (an identity store or provider that must exist).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any, settings: Any = None):
        self.params = params
        self.settings = settings

    def process(self, ctx: FlowContext) -> StepResult:  # pragma: no cover - contract
        raise TypeError(f"{type(self).__name__} must implement process()")

    def simulate(self, ctx: FlowContext, scenario: Scenario) -> StepResult | None:
        """A dry run's stand-in for a step that talks to the outside world.

        ``schemes trace`` calls this before ``process``: a plugin that would
        answer the browser (a prompt, a redirect to an IdP) returns the result
        the outside world would lead to, taken from ``scenario``. The default,
        None, runs ``process`` as usual (for steps that only read the store).
        """
        return None

    @classmethod
    def check(cls, params: Any, settings: Any) -> list[tuple[str | None, str]]:
        """Semantic checks at load time: ``[(param_key_or_None, message)]``."""
        return []

    def value_rules(self) -> dict[str, Any]:
        """Rules this step applies to values an earlier prompt collects, by value ID (CRED_PARAM ID).

        A prompt states them before the person types (a new password's policy, say);
        the engine only passes them along (``FlowContext.value_rules``).
        """
        return {}


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def split_pairs(value: str) -> dict[str, str] | None:
    pairs: dict[str, str] = {}
    for item in split_list(value):
        key, sep, val = item.partition(":")
        if not sep or not key.strip() or not val.strip():
            return None
        pairs[key.strip()] = val.strip()
    return pairs


def _coerce(value: Any, annotation: Any) -> tuple[Any, str | None]:
    """Convert a YAML value to a declared type; return (value, error message)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _coerce(value, options[0]) if len(options) == 1 else (value, None)
    if annotation is bool:
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        return None, "must be true or false"
    if annotation is int:
        if isinstance(value, bool):
            return None, "must be a whole number"
        if isinstance(value, int):
            return value, None
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value), None
        return None, "must be a whole number"
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value), None
        return None, "must be a string"
    if origin is list:
        if isinstance(value, str):
            return split_list(value), None
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            return [str(v) for v in value], None
        return None, "must be a list or a comma-separated string"
    if origin is dict:
        if isinstance(value, str):
            pairs = split_pairs(value)
            if pairs is None:
                return None, "must be 'key:value' pairs separated by commas"
            return pairs, None
        if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
            return {str(k): str(v) for k, v in value.items()}, None
        return None, "must be a mapping or 'key:value' pairs separated by commas"
    return value, None


def _resolve(annotation: Any, owner: type) -> Any:
    if isinstance(annotation, str):
        module = __import__(owner.__module__, fromlist=["_"])
        return eval(annotation, vars(typing) | vars(module))  # noqa: S307 - our own annotations
    return annotation


def build_params(plugin: type[Plugin], raw: Any, step_where: Located, key: str = "params") -> tuple[Any, list[Problem]]:
    """Build ``plugin.Params`` from a YAML mapping; collect located problems."""
    problems: list[Problem] = []
    if raw is None:
        raw = Located()
        raw.file, raw.line, raw.key_lines = step_where.file, step_where.line_of(key), {}
    if not isinstance(raw, Located):
        return None, [step_where.problem(key, f"'{key}' must be a mapping of parameter names to values")]
    fields = dataclasses.fields(plugin.Params)
    patterned = {f.name: re.compile(f.metadata["pattern"]) for f in fields if "pattern" in f.metadata}
    plain = {f.name: f for f in fields if f.name not in patterned}
    kwargs: dict[str, Any] = {name: {} for name in patterned}
    for name, value in raw.items():
        if name in plain:
            annotation = _resolve(plain[name].type, plugin.Params)
            converted, err = _coerce(value, annotation)
            if err:
                problems.append(raw.problem(name, f"parameter '{name}' of {plugin.name} {err}"))
            else:
                kwargs[name] = converted
            continue
        group = next((g for g, rx in patterned.items() if rx.fullmatch(name)), None)
        if group is not None:
            kwargs[group][name] = str(value)
            continue
        known = sorted(plain) + [f"{f.metadata['pattern']}" for f in fields if f.name in patterned]
        problems.append(
            raw.problem(name, f"unknown parameter '{name}' for {plugin.name} (known: {', '.join(known) or 'none'})")
        )
    for f in fields:
        if f.name in patterned:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in kwargs:
            problems.append(raw.problem(None, f"missing required parameter '{f.name}' for {plugin.name}"))
    if problems:
        return None, problems
    return plugin.Params(**kwargs), []


def secret_params(params: Any) -> dict[str, Any]:
    """The parameters a plugin marks ``metadata={"secret": True}`` (keys, not settings), by name."""
    if not dataclasses.is_dataclass(params):
        return {}
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params) if f.metadata.get("secret")}


def describe_params(plugin: type[Plugin]) -> list[dict[str, Any]]:
    """Parameter metadata for docs and the console: name, type, required, default."""
    out = []
    for f in dataclasses.fields(plugin.Params):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        out.append(
            {
                "name": f.metadata.get("pattern", f.name),
                "type": str(f.type),
                "required": required,
                "default": default,
                "help": f.metadata.get("help", ""),
                "secret": bool(f.metadata.get("secret")),
            }
        )
    return out
