"""Application domains: which resources are protected, and by which scheme.

Mirrors OAM: an application domain holds resources (host, URL pattern, methods)
and authentication policies; each resource is assigned one policy, which is
either public or names an authentication scheme. For a request the most
specific matching resource wins: a named host beats any host, a longer literal
prefix beats a shorter one, then more literal characters beat fewer, an exact
pattern beats a wildcard, listed methods beat all methods.

Resources are matched against the path the upstream serves, never the raw one:
``judge`` runs ``app.urlpath.judge_path`` first, so forward-auth, the in-process
gate and return-address checks all judge a request the same way. Patterns are
case-insensitive unless a resource says ``case_sensitive: true``; ``;``
parameters are refused unless the resource says ``path_parameters: true``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.urlpath import JudgedPath, judge_path
from app.yamlsource import Checker, Located, LocatedList

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@dataclass(frozen=True)
class AuthenticationPolicy:
    name: str
    scheme: str | None  # None: a public resource policy
    line: int
    file: str
    amr: tuple[str, ...] = ()  # methods the session must hold besides the scheme's level, e.g. ("mfa",)
    groups: tuple[str, ...] = ()  # provisioned groups (SCIM /Groups), one of which the user must be in

    @property
    def public(self) -> bool:
        return self.scheme is None

    def satisfied_by(self, session, level: int) -> bool:
        """Whether a valid session reaches the scheme's ``level`` and holds every required method."""
        return session.level >= level and all(m in session.amr for m in self.amr)


@dataclass(frozen=True)
class Resource:
    url: str
    host: str | None
    methods: frozenset[str]
    policy: AuthenticationPolicy
    domain: str
    regex: re.Pattern[str]
    case_sensitive: bool = False
    path_parameters: bool = False  # ';' parameters may reach it (both readings must find this resource)

    def matches(self, host: str, path: str, method: str) -> bool:
        if self.host is not None and self.host != host.lower():
            return False
        if self.methods and method.upper() not in self.methods:
            return False
        return self.regex.fullmatch(path) is not None

    @property
    def specificity(self) -> tuple[int, int, int, int, int]:
        prefix = re.split(r"\*", self.url, maxsplit=1)[0]
        literal = len(self.url.replace("*", ""))
        return (self.host is not None, len(prefix), literal, "*" not in self.url, bool(self.methods))


def compile_pattern(url: str, case_sensitive: bool = True) -> re.Pattern[str]:
    """``/hr/**`` matches /hr and everything below it; ``*`` matches within one segment."""
    out, i = "", 0
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    if url.endswith("/**"):
        base = url[:-3]
        return re.compile(re.escape(base).replace(r"\*", "[^/]*") + r"(?:/.*)?", flags)
    while i < len(url):
        if url.startswith("**", i):
            out, i = out + ".*", i + 2
        elif url[i] == "*":
            out, i = out + "[^/]*", i + 1
        else:
            out, i = out + re.escape(url[i]), i + 1
    return re.compile(out, flags)


class Judgement(NamedTuple):
    """The resource for a request (None: none covers it), or why its path was refused (``reason``)."""

    resource: Resource | None
    path: JudgedPath
    reason: str | None = None


@dataclass(frozen=True)
class ApplicationDomains:
    resources: tuple[Resource, ...]

    def judge(self, host: str, raw_path: str, method: str) -> Judgement:
        """The resource for a raw (undecoded) path, judged as the upstream serves it."""
        judged = judge_path(raw_path)
        if judged.reason:
            return Judgement(None, judged, judged.reason)
        resource = self.match(host, judged.path, method)
        for unresolved in judged.unresolved:
            # Many applications route '/vault/<path>' without resolving '..': '/vault/..' must not change resources.
            if self.match(host, unresolved, method) is not resource:
                return Judgement(None, judged, "path.dot_segment")
        if judged.without_parameters is not None:
            # Servlet containers drop ';...' from each segment, most servers keep it: both must agree.
            other = self.match(host, judged.without_parameters, method)
            if other is not resource or (resource is not None and not resource.path_parameters):
                return Judgement(None, judged, "path.parameters")
        return Judgement(resource, judged)

    def match(self, host: str, path: str, method: str) -> Resource | None:
        """The resource for an already judged (decoded, normal) path."""
        candidates = [r for r in self.resources if r.matches(host, path, method)]
        return max(candidates, key=lambda r: r.specificity) if candidates else None

    def schemes_used(self) -> dict[str, list[Resource]]:
        used: dict[str, list[Resource]] = {}
        for r in self.resources:
            if r.policy.scheme:
                used.setdefault(r.policy.scheme, []).append(r)
        return used

    def policies_without(self, schemes) -> list[AuthenticationPolicy]:
        """Policies naming a scheme that is not among ``schemes`` (at start-up and on reload)."""
        return [p for p in self.policies() if p.scheme and p.scheme not in schemes]

    def policies(self) -> list[AuthenticationPolicy]:
        return list({(p.file, p.line): p for p in (r.policy for r in self.resources)}.values())


def parse_application_domains(raw: Any, where: Located, check: Checker) -> ApplicationDomains:
    if raw is None:
        return ApplicationDomains(())
    raw = check.require_mapping(raw, where, "application_domains", "application_domains")
    if raw is None:
        return ApplicationDomains(())
    resources: list[Resource] = []
    for domain_name, domain in raw.items():
        domain = check.require_mapping(domain, raw, domain_name, f"application domain '{domain_name}'")
        if domain is None:
            continue
        check.unknown_keys(
            domain, {"description", "authentication_policies", "resources"}, f"application domain '{domain_name}'"
        )
        policies = _policies(domain, check)
        resources.extend(_resources(domain_name, domain, policies, check))
    return ApplicationDomains(tuple(resources))


def _policies(domain: Located, check: Checker) -> dict[str, AuthenticationPolicy]:
    raw = check.require_mapping(
        domain.get("authentication_policies"), domain, "authentication_policies", "authentication_policies"
    )
    policies: dict[str, AuthenticationPolicy] = {}
    for name, body in (raw or {}).items():
        body = check.require_mapping(body, raw, name, f"authentication policy '{name}'")
        if body is None:
            continue
        check.unknown_keys(
            body, {"scheme", "public", "description", "amr", "groups"}, f"authentication policy '{name}'"
        )
        public, scheme = body.get("public", False), body.get("scheme")
        amr = _required_methods(name, body, check)
        groups = _groups(body, name, check)
        if public is True and scheme is None and not amr and not groups:
            policies[name] = AuthenticationPolicy(name, None, raw.line_of(name), raw.file)
        elif isinstance(scheme, str) and scheme and public is False:
            policies[name] = AuthenticationPolicy(name, scheme, body.line_of("scheme"), raw.file, amr, groups)
        else:
            check.add(
                raw.problem(name, f"authentication policy '{name}' needs either 'scheme: NAME' or 'public: true'")
            )
    return policies


AMR_VALUE = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _required_methods(name: str, body: Located, check: Checker) -> tuple[str, ...]:
    """``amr: [mfa]``: methods a session must hold for the policy (docs/provider-routing.md)."""
    raw = body.get("amr", [])
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, list) or not all(isinstance(m, str) and AMR_VALUE.fullmatch(m) for m in raw):
        check.add(body.problem("amr", f"'amr' of policy '{name}' must be a list of method names such as mfa, otp"))
        return ()
    return tuple(raw)


def _groups(body: Located, name: str, check: Checker) -> tuple[str, ...]:
    """``groups``: names of provisioned groups (docs/scim.md); a user in none of them is refused (403)."""
    raw = body.get("groups")
    if raw is None:
        return ()
    if not isinstance(raw, LocatedList) or not raw or not all(isinstance(g, str) and g.strip() for g in raw):
        check.add(body.problem("groups", f"authentication policy '{name}' groups must be a list of group names"))
        return ()
    if body.get("public") is True:
        check.add(body.problem("groups", f"authentication policy '{name}' is public: it cannot require groups"))
    return tuple(g.strip() for g in raw)


def _resources(
    domain_name: str, domain: Located, policies: dict[str, AuthenticationPolicy], check: Checker
) -> list[Resource]:
    raw = domain.get("resources")
    if not isinstance(raw, LocatedList):
        check.add(domain.problem("resources" if "resources" in domain else None, "'resources' must be a list"))
        return []
    out = []
    for i, item in enumerate(raw):
        item = check.require_mapping(item, raw, i, "resource")
        if item is None:
            continue
        check.unknown_keys(
            item,
            {"url", "host", "methods", "policy", "description", "case_sensitive", "path_parameters"},
            "resource",
        )
        url, policy_name = item.get("url"), item.get("policy")
        if not isinstance(url, str) or not url.startswith("/"):
            check.add(item.problem("url" if "url" in item else None, "resource 'url' must be a path starting with '/'"))
            continue
        if policy_name not in policies:
            check.add(
                item.problem(
                    "policy" if "policy" in item else None,
                    f"resource policy '{policy_name}' is not one of: {', '.join(policies) or 'none'}",
                )
            )
            continue
        methods = item.get("methods") or []
        if not isinstance(methods, list) or not {str(m).upper() for m in methods} <= METHODS:
            check.add(item.problem("methods", f"'methods' must be a list of {', '.join(sorted(METHODS))}"))
            continue
        host = item.get("host")
        if host is not None and (not isinstance(host, str) or "/" in host):
            check.add(item.problem("host", "'host' must be a host name, optionally with ':port'"))
            continue
        switches = {key: item.get(key, False) for key in ("case_sensitive", "path_parameters")}
        wrong = [key for key, value in switches.items() if not isinstance(value, bool)]
        for key in wrong:
            check.add(item.problem(key, f"resource '{key}' must be true or false"))
        if wrong:
            continue
        out.append(
            Resource(
                url,
                host.lower() if host else None,
                frozenset(str(m).upper() for m in methods),
                policies[policy_name],
                domain_name,
                compile_pattern(url, switches["case_sensitive"]),
                **switches,
            )
        )
    return out
