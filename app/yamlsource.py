"""YAML documents that remember where every value came from.

Configuration errors must name the file, the line and the field, so the loader
keeps a ``Located`` record for each mapping: the file, the line of the mapping
itself and the line of each key. ``${VAR}`` and ``${VAR:-default}`` in scalar
strings are replaced from the environment while loading, so secrets never have
to sit in a file.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (the same nodes and line marks, about ten times faster: every app start
reads every scheme), else PyYAML's own."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, located."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """One or more problems in configuration files; never partially applied."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Located(dict):
    """A YAML mapping that knows its file and the line of each of its keys."""

    file: str
    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def problem(self, key: str | None, message: str) -> Problem:
        line = self.line if key is None else self.line_of(key)
        return Problem(self.file, line, message)


class LocatedList(list):
    """A YAML sequence that knows the line of each item."""

    file: str
    line: int
    item_lines: list[int]

    def problem(self, index: int | None, message: str) -> Problem:
        line = self.line if index is None else self.item_lines[index]
        return Problem(self.file, line, message)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(text: str, env: Mapping[str, str], on_missing) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; call ``on_missing(name)`` for unset names."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is not None and value != "":
            return value
        if default is not None:
            return default
        on_missing(name)
        return ""

    return _ENV_REF.sub(repl, text)


class _Builder:
    def __init__(self, file: str, env: Mapping[str, str]):
        self.file = file
        self.env = env
        self.problems: list[Problem] = []
        self.scalars = _ScalarConstructor()  # one per document: a constructor keeps state while it builds

    def build(self, node: yaml.Node) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = Located()
            out.file, out.line, out.key_lines = self.file, line, {}
            for key_node, value_node in node.value:
                key = self.build(key_node)
                if not isinstance(key, (str, int, float, bool)):
                    self.problems.append(
                        Problem(self.file, key_node.start_mark.line + 1, "mapping keys must be plain values")
                    )
                    continue
                key = str(key)
                if key in out:
                    self.problems.append(Problem(self.file, key_node.start_mark.line + 1, f"duplicate key '{key}'"))
                out[key] = self.build(value_node)
                out.key_lines[key] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = LocatedList(self.build(item) for item in node.value)
            seq.file, seq.line = self.file, line
            seq.item_lines = [item.start_mark.line + 1 for item in node.value]
            return seq
        value = self.scalars.scalar(node)
        if isinstance(value, str) and "${" in value:
            value = substitute_env(
                value,
                self.env,
                lambda name: self.problems.append(
                    Problem(self.file, line, f"environment variable '{name}' is not set and has no default")
                ),
            )
        return value


class _ScalarConstructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe scalar rules (int, float, bool, null, timestamp, binary) without a loader per value.

    A ``SafeLoader`` also builds a reader, scanner, parser and resolver, which a composed node no longer
    needs: one per scalar was half of loading the shipped schemes, which every app start does.
    """

    def scalar(self, node: yaml.ScalarNode) -> Any:
        value = self.construct_object(node, deep=True)
        self.constructed_objects.clear()  # it keeps every node it built; a node is built once here
        return value


def load_yaml(path: str | Path, env: Mapping[str, str] | None = None) -> Any:
    """Parse one YAML file into Located/LocatedList values; raise ConfigError on any problem."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(name, 0, f"cannot read file: {exc.strerror or exc}")]) from exc
    return load_yaml_text(text, name, env)


def load_yaml_text(text: str, name: str, env: Mapping[str, str] | None = None) -> Any:
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError([Problem(name, line, f"invalid YAML: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(name, 0, f"invalid YAML: {exc}")]) from exc
    if node is None:
        return None
    builder = _Builder(name, os.environ if env is None else env)
    try:
        value = builder.build(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ConfigError([Problem(name, mark.line + 1 if mark else 0, f"invalid value: {exc.problem}")]) from exc
    if builder.problems:
        raise ConfigError(builder.problems)
    return value


@dataclass
class Checker:
    """Collects problems while a typed object is built from a Located mapping."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def require_mapping(
        self, value: Any, where: Located | LocatedList, key: str | int | None, what: str
    ) -> Located | None:
        if isinstance(value, Located):
            return value
        self.add(_problem_at(where, key, f"'{what}' must be a mapping"))
        return None

    def unknown_keys(self, mapping: Located, allowed: Iterator[str] | set[str], what: str) -> None:
        allowed = set(allowed)
        for key in mapping:
            if key not in allowed:
                self.add(mapping.problem(key, unknown_message("key", key, allowed, what)))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def unknown_message(kind: str, name: Any, known: set[str], where: str) -> str:
    """ "unknown key 'initial_comand' in X (did you mean 'initial_command'? known: ...)": a typo names its fix."""
    folded = {k.lower(): k for k in known}
    close = difflib.get_close_matches(str(name).lower(), sorted(folded), n=1, cutoff=0.75)
    hint = f"did you mean '{folded[close[0]]}'? " if close else ""
    return f"unknown {kind} '{name}' in {where} ({hint}known: {', '.join(sorted(known))})"


def _problem_at(where: Located | LocatedList, key: str | int | None, message: str) -> Problem:
    if isinstance(where, LocatedList):
        return where.problem(key if isinstance(key, int) else None, message)
    return where.problem(key if isinstance(key, str) else None, message)


def problem_at(where: Located | LocatedList, key: str | int | None, message: str) -> Problem:
    """A problem located at ``key`` of ``where`` (or at ``where`` itself)."""
    return _problem_at(where, key, message)


def load_block(settings_file: str | Path, key: str, parse: Callable[[object, Located, Checker], T]) -> T:
    """Parse one top-level block of a settings file with ``parse(raw, doc, check)``; ConfigError with file:line."""
    doc = load_yaml(settings_file)
    if not isinstance(doc, Located):
        raise ConfigError([Problem(str(settings_file), 1, "settings must be a YAML mapping")])
    check = Checker()
    parsed = parse(doc.get(key), doc, check)
    check.raise_if_any()
    return parsed
