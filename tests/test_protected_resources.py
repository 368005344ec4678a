"""Application domains decide which resources are protected and by which scheme; the most specific wins."""

from __future__ import annotations

import pytest

from app import create_app, identity
from app.extensions import db
from app.policy import compile_pattern, parse_application_domains
from app.yamlsource import Checker, load_yaml_text
from tests.browser import Browser
from tests.conftest import LiveServer

DOMAINS = """\
application_domains:
  HR:
    authentication_policies:
      Public: {public: true}
      Password: {scheme: PasswordScheme}
      Strong: {scheme: StrongScheme}
    resources:
      - {url: /, policy: Public}
      - {url: /hr/**, policy: Password}
      - {url: /hr/public/**, policy: Public}
      - {url: /hr/*/salary, policy: Strong}
      - {url: /hr/admin, methods: [POST], policy: Strong}
      - {url: /hr/**, host: hr.example.org, policy: Strong}
"""


@pytest.fixture(scope="module")
def domains():
    doc = load_yaml_text(DOMAINS, "settings.yaml")
    check = Checker()
    parsed = parse_application_domains(doc["application_domains"], doc, check)
    assert check.problems == []
    return parsed


@pytest.mark.parametrize(
    ("host", "path", "method", "policy"),
    [
        ("127.0.0.1", "/", "GET", "Public"),
        ("127.0.0.1", "/hr", "GET", "Password"),
        ("127.0.0.1", "/hr/", "GET", "Password"),
        ("127.0.0.1", "/hr/reports/2026", "GET", "Password"),
        ("127.0.0.1", "/hr/public/holidays", "GET", "Public"),
        ("127.0.0.1", "/hr/alice/salary", "GET", "Strong"),
        ("127.0.0.1", "/hr/alice/bob/salary", "GET", "Password"),
        ("127.0.0.1", "/hr/admin", "POST", "Strong"),
        ("127.0.0.1", "/hr/admin", "GET", "Password"),
        ("hr.example.org", "/hr/public/holidays", "GET", "Strong"),
    ],
)
def test_the_most_specific_resource_decides(domains, host, path, method, policy):
    assert domains.match(host, path, method).policy.name == policy


def test_an_unconfigured_path_matches_nothing(domains):
    assert domains.match("127.0.0.1", "/payroll", "GET") is None
    assert domains.match("127.0.0.1", "/hrx", "GET") is None


def test_patterns_do_not_cross_segments_with_a_single_star():
    assert compile_pattern("/a/*/c").fullmatch("/a/b/c")
    assert not compile_pattern("/a/*/c").fullmatch("/a/b/x/c")
    assert compile_pattern("/a/**").fullmatch("/a")
    assert not compile_pattern("/a/**").fullmatch("/ab")


def test_schemes_used_lists_the_resources_of_each_scheme(domains):
    used = domains.schemes_used()
    assert sorted(used) == ["PasswordScheme", "StrongScheme"]
    assert [r.url for r in used["StrongScheme"]] == ["/hr/*/salary", "/hr/admin", "/hr/**"]


STRONG = """\
name: StrongScheme
level: 2
module:
  steps:
    Credential_Collector:
      plugin: CredentialCollectorPlugin
      params:
        CRED_PARAM_1: "{ID=USERNAME},{DISPLAY_NAME=USERNAME},{TYPE=text}"
        CRED_PARAM_2: "{ID=PASSWORD},{DISPLAY_NAME=PASSWORD},{TYPE=password}"
    User_Identification: {plugin: UserIdentificationPlugin}
    User_Authentication: {plugin: UserAuthenticationPlugin}
  orchestration:
    initial_step: Credential_Collector
    Credential_Collector: {on_success: User_Identification}
    User_Identification: {on_success: User_Authentication}
    User_Authentication: {on_success: success}
"""


@pytest.fixture
def step_up_site(make_settings):
    """A live server where /demo/** needs PasswordScheme (level 1) and /demo/strong/** StrongScheme (level 2)."""
    domain = {
        "Demo": {
            "authentication_policies": {
                "Public": {"public": True},
                "Password": {"scheme": "PasswordScheme"},
                "Strong": {"scheme": "StrongScheme"},
            },
            "resources": [
                {"url": "/", "policy": "Public"},
                {"url": "/demo/**", "policy": "Password"},
                {"url": "/demo/strong/**", "policy": "Strong"},
            ],
        }
    }
    application = create_app(
        make_settings({"application_domains": domain}, schemes={"StrongScheme.yaml": STRONG}), testing=True
    )
    with application.app_context():
        db.create_all()
        identity.create_user("default", "carol", {}, "pw-carol-123")
        db.session.commit()
    server = LiveServer(application).start()
    yield server
    server.stop()
    with application.app_context():
        db.engine.dispose()


def test_a_resource_needing_a_higher_level_asks_again_step_up(step_up_site):
    with Browser(step_up_site.url) as browser:
        browser.get("/demo/")
        page = browser.submit({"USERNAME": "carol", "PASSWORD": "pw-carol-123"})
        assert "at level 1" in page.text
        first_session = browser.cookie("stepgate_session")
        browser.get("/demo/strong/vault")
        assert browser.form()["id"] == "loginData"
        page = browser.submit({"USERNAME": "carol", "PASSWORD": "pw-carol-123"})
        assert page.url == browser.url("/demo/strong/vault") and "at level 2" in page.text
        assert browser.cookie("stepgate_session") != first_session
        assert "at level 2" in browser.get("/demo/").text
