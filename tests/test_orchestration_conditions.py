"""Conditional transitions: a closed YAML form, validated with file:line, evaluated by the runner over the flow."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.engine import FlowContext, Plugin, StepResult
from app.engine.registry import PluginRegistry
from app.engine.runner import Failed, FlowState, Succeeded, advance
from app.engine.scheme import parse_scheme
from app.graph import mermaid
from app.yamlsource import ConfigError


@dataclass(frozen=True)
class FactsParams:
    provider: str = ""
    methods: list[str] = field(default_factory=list)
    user_id: int = 0
    provisioned: bool = False


class FactsPlugin(Plugin):
    """Stands for an identifying step: publishes a federated identity, methods and a user."""

    name = "FactsPlugin"
    Params = FactsParams

    def process(self, ctx: FlowContext) -> StepResult:
        if self.params.provider:
            amr = [m[4:] for m in self.params.methods if m.startswith("idp:")]
            ctx.data["federated"] = {"provider": self.params.provider, "claims": {"amr": amr, "acr": "gold"}}
        for method in self.params.methods:
            ctx.add_method(method)
        if self.params.user_id:
            ctx.user_id = self.params.user_id
        if self.params.provisioned:
            ctx.data["provisioned"] = True
        return StepResult.success()


class Visit(Plugin):
    name = "Visit"

    def process(self, ctx: FlowContext) -> StepResult:
        ctx.data.setdefault("visited", []).append(ctx.step_name)
        return StepResult.success()


class Settings:
    identity_providers = {"corp": object(), "partner": object()}


REGISTRY = PluginRegistry([FactsPlugin, Visit])


def scheme(first_params: str, branches: str, settings=Settings()):
    text = f"""name: Conditional
level: 2
module:
  steps:
    Identify: {{plugin: FactsPlugin, params: {first_params}}}
    Second_Factor: {{plugin: Visit}}
    Audit: {{plugin: Visit}}
  orchestration:
    initial_step: Identify
    Identify:
      on_success:
{branches}
      on_failure: Audit
    Second_Factor: {{on_success: success}}
    Audit: {{on_success: success}}
"""
    return parse_scheme(text, "cond.yaml", REGISTRY, settings)


ASGARDEO = """\
        - when: {federated: true, not: {required_amr: mfa}}
          goto: success
        - when: {mfa: true}
          goto: success
        - goto: Second_Factor"""


def run(sch, data=None, attributes=None):
    state = FlowState("f", sch.name, sch.version, "/", data=dict(data or {}))
    result = advance(
        state,
        sch,
        None,
        record=lambda *a: None,
        propagate_exceptions=True,
        attributes_of=lambda uid: attributes or {},
    )
    return result, state.data.get("visited", [])


def test_federated_sign_in_skips_the_second_factor_and_local_sign_in_takes_it():
    federated, visited = run(scheme("{provider: corp, methods: [fed], user_id: 3}", ASGARDEO))
    assert isinstance(federated, Succeeded) and visited == []
    assert federated.amr == ("fed",)
    local, visited = run(scheme("{methods: [pwd], user_id: 3}", ASGARDEO))
    assert isinstance(local, Succeeded) and visited == ["Second_Factor"]


def test_a_resource_that_requires_mfa_sends_the_federated_person_to_the_second_factor_and_refuses_success_without():
    sch = scheme("{provider: corp, methods: [fed], user_id: 3}", ASGARDEO)
    result, visited = run(sch, {"required_amr": ["mfa"]})
    assert visited == ["Second_Factor"]
    assert isinstance(result, Failed) and result.reason == "authn.methods_missing"


def test_a_trusted_upstream_mfa_satisfies_the_requirement_but_the_raw_upstream_value_alone_does_not():
    trusted, visited = run(scheme("{provider: corp, methods: [fed, 'idp:mfa', mfa], user_id: 3}", ASGARDEO))
    assert isinstance(trusted, Succeeded) and "mfa" in trusted.amr and visited == []
    untrusted, _ = run(
        scheme("{provider: corp, methods: [fed, 'idp:mfa'], user_id: 3}", ASGARDEO), {"required_amr": ["mfa"]}
    )
    assert isinstance(untrusted, Failed) and untrusted.reason == "authn.methods_missing"


def test_a_first_and_a_second_factor_together_make_mfa():
    result, _ = run(scheme("{methods: [pwd, otp], user_id: 3}", ASGARDEO), {"required_amr": ["mfa"]})
    assert isinstance(result, Succeeded) and set(result.amr) == {"pwd", "otp", "mfa"}


@pytest.mark.parametrize(
    ("when", "params", "data", "attributes", "expected"),
    [
        ("{provider: [partner, corp]}", "{provider: corp, user_id: 3}", {}, {}, []),
        ("{provider: partner}", "{provider: corp, user_id: 3}", {}, {}, ["Second_Factor"]),
        ("{identified_by: FactsPlugin}", "{user_id: 3}", {}, {}, []),
        ("{identified_by: Visit}", "{user_id: 3}", {}, {}, ["Second_Factor"]),
        ("{provisioned: true}", "{user_id: 3, provisioned: true}", {}, {}, []),
        ("{provisioned: true}", "{user_id: 3}", {}, {}, ["Second_Factor"]),
        ("{group: admins}", "{user_id: 3}", {}, {"groups": "staff, admins"}, []),
        ("{group: admins}", "{user_id: 3}", {}, {"groups": "administrators"}, ["Second_Factor"]),
        ("{attribute: {department: [hr, it]}}", "{user_id: 3}", {}, {"department": "it"}, []),
        ("{attribute: {department: hr}}", "{user_id: 3}", {}, {"department": "HR"}, ["Second_Factor"]),
        ("{level: 2}", "{user_id: 3}", {"session": {"user_id": 3, "level": 2}}, {}, []),
        ("{level: 2}", "{user_id: 3}", {"session": {"user_id": 3, "level": 1}}, {}, ["Second_Factor"]),
        ("{signed_in: true}", "{user_id: 3}", {"session": {"user_id": 3, "level": 1}}, {}, []),
        ("{upstream_acr: gold}", "{provider: corp, user_id: 3}", {}, {}, []),
        ("{upstream_amr: [hwk, otp]}", "{provider: corp, methods: ['idp:otp'], user_id: 3}", {}, {}, []),
        ("{upstream_amr: otp}", "{provider: corp, methods: ['idp:pwd'], user_id: 3}", {}, {}, ["Second_Factor"]),
        ("{any: [{provider: partner}, {amr: pwd}]}", "{methods: [pwd], user_id: 3}", {}, {}, []),
        ("{all: [{amr: pwd}, {federated: true}]}", "{methods: [pwd], user_id: 3}", {}, {}, ["Second_Factor"]),
        ("{not: {federated: true}}", "{user_id: 3}", {}, {}, []),
    ],
)
def test_each_test_of_the_closed_form(when, params, data, attributes, expected):
    branches = f"        - when: {when}\n          goto: success\n        - goto: Second_Factor"
    result, visited = run(scheme(params, branches), data, attributes)
    assert isinstance(result, Succeeded)
    assert visited == expected


def test_the_session_of_another_user_lends_no_methods():
    sch = scheme("{methods: [pwd], user_id: 4}", ASGARDEO)
    result, visited = run(sch, {"session": {"user_id": 3, "level": 1, "amr": ["otp"]}})
    assert visited == ["Second_Factor"] and "otp" not in result.amr


def problems(branches: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        scheme("{user_id: 3}", branches)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("branches", "expected"),
    [
        (
            "        - when: {federatd: true}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: unknown condition 'federatd' (known: federated, provider, identified_by",
        ),
        (
            "        - when: {federated: yes please}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: condition 'federated' must be true or false",
        ),
        (
            "        - when: {provider: corpp}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: identity provider 'corpp' is not defined (known: corp, partner)",
        ),
        (
            "        - when: {identified_by: OpenIDConnect}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: plugin 'OpenIDConnect' is not defined (known: FactsPlugin, Visit)",
        ),
        (
            "        - when: {level: -1}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: condition 'level' must be a whole number >= 0",
        ),
        (
            "        - when: {federated: true}\n          goto: Nowhere\n        - goto: Second_Factor",
            "cond.yaml:13: on_success of 'Identify' goes to unknown step 'Nowhere'",
        ),
        (
            "        - when: {federated: true}\n          goto: success\n"
            "        - when: {mfa: true}\n          goto: Second_Factor",
            "cond.yaml:14: the last branch of on_success of 'Identify' must have no 'when'",
        ),
        ("        - goto: success\n        - goto: Second_Factor", "cond.yaml:12: only the last branch of on_success"),
        (
            "        - when: {federated: true}\n        - goto: Second_Factor",
            "cond.yaml:12: branch 1 of on_success of 'Identify' needs 'goto'",
        ),
        (
            "        - when: {eval: '__import__(\"os\")'}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: unknown condition 'eval'",
        ),
        (
            "        - when: {any: []}\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: 'any' takes a non-empty list",
        ),
        (
            "        - when: federated\n          goto: success\n        - goto: Second_Factor",
            "cond.yaml:12: a condition must be a mapping",
        ),
    ],
)
def test_a_broken_condition_is_reported_with_file_and_line(branches, expected):
    found = problems(branches)
    assert any(p.startswith(expected) for p in found), found


def test_a_step_reached_only_through_a_branch_is_reachable():
    sch = scheme("{user_id: 3}", "        - when: {mfa: true}\n          goto: Second_Factor\n        - goto: success")
    assert sch.orchestration["Identify"].all_targets().count("Second_Factor") == 1


def test_the_table_shows_each_branch_and_the_default():
    sch = scheme("{user_id: 3}", ASGARDEO)
    row = dict((r[0], r) for r in sch.table())["Identify"]
    assert row[2] == "Success if federated and not required_amr=mfa; Success if mfa; else Second_Factor"


def test_the_graph_draws_one_labelled_edge_per_branch():
    text = mermaid(scheme("{user_id: 3}", ASGARDEO))
    assert 'step0 -->|"success: federated and not required_amr=mfa"| success' in text
    assert 'step0 -->|"success: mfa"| success' in text
    assert 'step0 -->|"success: else"| step1' in text
