"""Conditions on orchestration transitions: a small, closed expression form over the flow context.

A transition (``on_success``, ``on_failure``, ``on_error``) may be a list of
branches instead of one step name; the first branch whose ``when`` holds is
taken, and the last branch has no ``when`` (the default)::

    on_success:
      - when: {federated: true}
        goto: success
      - goto: TOTP

A condition is a mapping of tests that must all hold; ``all``, ``any`` and
``not`` combine them. The tests are a fixed list (``ATOMS``): nothing in a YAML
file is ever evaluated as code, and an unknown test is a load-time problem with
its file and line. Tests read only the flow's facts (``Facts``), never the
request, so ``schemes trace`` evaluates them exactly as a real flow does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.yamlsource import Located, LocatedList, Problem

MFA = "mfa"
UPSTREAM_PREFIX = "idp:"
"""Upstream ``amr`` values are kept in the session's methods with this prefix: ``idp:mfa`` is the provider's
claim, ``mfa`` is stepgate's own conclusion (a local second factor, or a provider trusted for it)."""


FIRST_FACTORS = frozenset({"pwd", "fed"})
SECOND_FACTORS = frozenset({"otp", "hwk", "swk", "sms", "tel"})
"""A second-factor plugin records one of these (``ctx.add_method("otp")``); with a first factor that makes ``mfa``."""


def methods_of(data: Mapping[str, Any]) -> list[str]:
    """The methods a flow has established: its own, those of the session it stepped up (same user), and
    ``mfa`` when a first and a second factor are both among them."""
    methods = list(data.get("amr") or ())
    session = data.get("session") or {}
    if session and session.get("user_id") == data.get("user_id"):
        methods += [m for m in session.get("amr") or () if m not in methods]
    if MFA not in methods and FIRST_FACTORS & set(methods) and SECOND_FACTORS & set(methods):
        methods.append(MFA)
    return methods


@dataclass(frozen=True)
class Facts:
    """What conditions may look at: the flow's persisted data, and the identified user's attributes (lazily)."""

    data: Mapping[str, Any]
    attributes_of: Callable[[int], Mapping[str, str]] | None = None

    def attributes(self) -> Mapping[str, str]:
        user_id = self.data.get("user_id")
        if user_id is None or self.attributes_of is None:
            return {}
        return self.attributes_of(user_id) or {}

    def methods(self) -> set[str]:
        """Authentication methods used in this flow, and by the session a step-up flow started from."""
        return set(methods_of(self.data))

    def federated(self) -> Mapping[str, Any]:
        return self.data.get("federated") or {}

    def claims(self) -> Mapping[str, Any]:
        return self.federated().get("claims") or {}


@dataclass(frozen=True)
class Condition:
    """One parsed test (``kind`` from ATOMS, or all/any/not) with its operand; ``text`` is how tables show it."""

    kind: str
    operand: Any
    text: str

    def holds(self, facts: Facts) -> bool:
        if self.kind == "all":
            return all(c.holds(facts) for c in self.operand)
        if self.kind == "any":
            return any(c.holds(facts) for c in self.operand)
        if self.kind == "not":
            return not self.operand.holds(facts)
        return ATOMS[self.kind].test(facts, self.operand)


@dataclass(frozen=True)
class Branch:
    """``when`` (None: always) → ``goto``; ``line`` is where the branch is written."""

    when: Condition | None
    goto: str
    line: int

    def label(self) -> str:
        return "else" if self.when is None else self.when.text


# ---- the tests --------------------------------------------------------------------------------


def _words(value: Any) -> tuple[str, ...] | None:
    """A name or a list of names (YAML list or comma-separated string); None when it is neither."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list):
        items = [v.strip() if isinstance(v, str) else None for v in value]
    else:
        return None
    if not items or any(not v for v in items):
        return None
    return tuple(items)


def _upstream_amr(facts: Facts) -> set[str]:
    amr = facts.claims().get("amr")
    return {v for v in amr if isinstance(v, str)} if isinstance(amr, list) else set()


def _groups(facts: Facts) -> set[str]:
    raw = facts.attributes().get("groups", "")
    return {g for g in raw.replace(",", " ").split() if g}


def _attribute_holds(facts: Facts, wanted: Mapping[str, tuple[str, ...]]) -> bool:
    attributes = facts.attributes()
    return all(attributes.get(name) in values for name, values in wanted.items())


@dataclass(frozen=True)
class Atom:
    operand: str  # "bool", "names", "int", "attributes"
    test: Callable[[Facts, Any], bool]
    help: str


ATOMS: dict[str, Atom] = {
    "federated": Atom(
        "bool", lambda f, v: bool(f.federated()) == v, "an identity provider identified the person in this flow"
    ),
    "provider": Atom(
        "names", lambda f, v: f.federated().get("provider") in v, "the identity provider (settings name) was one of"
    ),
    "identified_by": Atom(
        "names",
        lambda f, v: (f.data.get("identified_by") or {}).get("plugin") in v,
        "the plugin of the step that identified the person was one of",
    ),
    "provisioned": Atom(
        "bool", lambda f, v: bool(f.data.get("provisioned")) == v, "the account was created in this flow"
    ),
    "routed": Atom(
        "bool",
        lambda f, v: bool(f.data.get("routed_provider")) == v,
        "an identifier-first step found the person's organisation provider by domain",
    ),
    "signed_in": Atom(
        "bool", lambda f, v: bool(f.data.get("session")) == v, "the flow began from a valid session (step-up)"
    ),
    "attribute": Atom("attributes", _attribute_holds, "each named user attribute equals (one of) the given value(s)"),
    "group": Atom("names", lambda f, v: bool(_groups(f) & set(v)), "the user is in one of these groups"),
    "level": Atom(
        "int",
        lambda f, v: int((f.data.get("session") or {}).get("level") or 0) >= v,
        "the session a step-up flow began from has at least this level",
    ),
    "amr": Atom("names", lambda f, v: bool(f.methods() & set(v)), "one of these methods was used (pwd, otp, fed, mfa)"),
    "mfa": Atom("bool", lambda f, v: (MFA in f.methods()) == v, "a second factor was used, here or trusted upstream"),
    "required_amr": Atom(
        "names",
        lambda f, v: bool(set(f.data.get("required_amr") or ()) & set(v)),
        "the resource's policy requires one of these methods",
    ),
    "upstream_amr": Atom(
        "names", lambda f, v: bool(_upstream_amr(f) & set(v)), "the validated ID token's amr contains one of"
    ),
    "upstream_acr": Atom("names", lambda f, v: f.claims().get("acr") in v, "the validated ID token's acr is one of"),
}
COMBINATORS = ("all", "any", "not")


# ---- parsing ----------------------------------------------------------------------------------


class ConditionParser:
    """Parses ``when`` mappings; collects located problems instead of raising.

    ``providers`` and ``plugins`` (known names) let the parser refuse a typo that
    would make a branch silently never match.
    """

    def __init__(self, providers: set[str] | None = None, plugins: set[str] | None = None):
        self.providers = providers
        self.plugins = plugins
        self.problems: list[Problem] = []

    def parse(self, raw: Any, where: Located | LocatedList, key: str | int) -> Condition | None:
        if not isinstance(raw, Located) or not raw:
            self._add(where, key, "a condition must be a mapping of tests, e.g. {federated: true}")
            return None
        parts = [self._one(name, value, raw) for name, value in raw.items()]
        if any(p is None for p in parts):
            return None
        return parts[0] if len(parts) == 1 else Condition("all", tuple(parts), " and ".join(p.text for p in parts))

    def _one(self, name: str, value: Any, where: Located) -> Condition | None:
        if name in ("all", "any"):
            if not isinstance(value, LocatedList) or not value:
                self._add(where, name, f"'{name}' takes a non-empty list of conditions")
                return None
            parts = [self.parse(item, value, i) for i, item in enumerate(value)]
            if any(p is None for p in parts):
                return None
            joiner = " and " if name == "all" else " or "
            return Condition(name, tuple(parts), "(" + joiner.join(p.text for p in parts) + ")")
        if name == "not":
            inner = self.parse(value, where, name)
            return None if inner is None else Condition("not", inner, f"not {inner.text}")
        atom = ATOMS.get(name)
        if atom is None:
            known = ", ".join([*ATOMS, *COMBINATORS])
            self._add(where, name, f"unknown condition '{name}' (known: {known})")
            return None
        operand = self._operand(name, atom, value, where)
        if operand is None:
            return None
        return Condition(name, operand, _text(name, operand))

    def _operand(self, name: str, atom: Atom, value: Any, where: Located) -> Any:
        if atom.operand == "bool":
            if isinstance(value, bool):
                return value
            self._add(where, name, f"condition '{name}' must be true or false")
        elif atom.operand == "int":
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
            self._add(where, name, f"condition '{name}' must be a whole number >= 0")
        elif atom.operand == "names":
            words = _words(value)
            if words is None:
                self._add(where, name, f"condition '{name}' must be a name or a list of names")
                return None
            return self._known(name, words, where)
        elif atom.operand == "attributes":
            return self._attributes(name, value, where)
        return None

    def _known(self, name: str, words: tuple[str, ...], where: Located) -> tuple[str, ...] | None:
        known = {"provider": self.providers, "identified_by": self.plugins}.get(name)
        unknown = [w for w in words if known is not None and w not in known]
        if unknown:
            what = "identity provider" if name == "provider" else "plugin"
            self._add(where, name, f"{what} '{unknown[0]}' is not defined (known: {', '.join(sorted(known))})")
            return None
        return words

    def _attributes(self, name: str, value: Any, where: Located) -> Any:
        if not isinstance(value, Located) or not value:
            self._add(where, name, f"condition '{name}' must map attribute names to a value or a list of values")
            return None
        wanted = {}
        for attr, values in value.items():
            words = (str(values),) if isinstance(values, (int, bool)) else _words(values)
            if words is None:
                self._add(value, attr, f"attribute '{attr}' must be given a value or a list of values")
                return None
            wanted[attr] = words
        return wanted

    def _add(self, where: Located | LocatedList, key: str | int | None, message: str) -> None:
        if isinstance(where, LocatedList):
            self.problems.append(where.problem(key if isinstance(key, int) else None, message))
        else:
            self.problems.append(where.problem(key if isinstance(key, str) and key in where else None, message))


def _text(name: str, operand: Any) -> str:
    if isinstance(operand, bool):
        return name if operand else f"not {name}"
    if isinstance(operand, int):
        return f"{name}>={operand}"
    if isinstance(operand, dict):
        return " and ".join(f"{k}={'|'.join(v)}" for k, v in operand.items())
    return f"{name}={'|'.join(operand)}"


def choose(branches: tuple[Branch, ...], facts: Facts) -> Branch:
    """The first branch whose condition holds; the loader made sure the last one always does."""
    for branch in branches:
        if branch.when is None or branch.when.holds(facts):
            return branch
    return branches[-1]
