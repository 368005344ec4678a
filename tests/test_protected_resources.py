"""Application domains decide which resources are protected and by which scheme; the most specific wins."""

from __future__ import annotations

import html

import pytest
import requests

from app import create_app
from app.extensions import db
from app.policy import compile_pattern, parse_application_domains
from app.stores import sql as identity
from app.web.messages import message_for
from app.yamlsource import Checker, load_yaml_text
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.path_attacks import raw_get

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


def test_patterns_ignore_case_unless_the_resource_is_case_sensitive():
    assert compile_pattern("/HR/**", case_sensitive=False).fullmatch("/hr/Alice")
    assert not compile_pattern("/HR/**", case_sensitive=True).fullmatch("/hr/Alice")


SWITCHES = """\
application_domains:
  Apps:
    authentication_policies:
      Public: {public: true}
      Password: {scheme: PasswordScheme}
      Strong: {scheme: StrongScheme}
    resources:
      - {url: /, policy: Public}
      - {url: /shop/**, policy: Password}
      - {url: /shop/Admin/**, policy: Strong}
      - {url: /Wiki/**, case_sensitive: true, policy: Public}
      - {url: /jsp/**, path_parameters: true, policy: Password}
      - {url: /jsp/admin/**, path_parameters: true, policy: Strong}
"""


@pytest.fixture(scope="module")
def switched():
    doc = load_yaml_text(SWITCHES, "settings.yaml")
    check = Checker()
    parsed = parse_application_domains(doc["application_domains"], doc, check)
    assert check.problems == []
    return parsed


@pytest.mark.parametrize(
    ("raw", "policy"),
    [
        ("/shop/admin/users", "Strong"),  # IIS and many Java containers serve /shop/Admin here
        ("/SHOP/ADMIN/users", "Strong"),
        ("/shop/%41dmin/users", "Strong"),
        ("/shop/Admin/x/../users", "Strong"),
        ("/shop//Admin/users", "Strong"),
        ("/Wiki/Page", "Public"),
        ("/wiki/Page", None),  # a case-sensitive pattern needs the exact case
        ("/jsp/orders;jsessionid=1", "Password"),
        ("/jsp/admin/users;jsessionid=1", "Strong"),
        ("/shop/report?path=/shop/Admin", "Password"),  # the query is never part of the path
    ],
)
def test_the_judged_path_decides_with_each_resources_switches(switched, raw, policy):
    path, _, _ = raw.partition("?")
    judgement = switched.judge("127.0.0.1", path, "GET")
    assert judgement.reason is None
    assert (judgement.resource.policy.name if judgement.resource else None) == policy


@pytest.mark.parametrize(
    "raw",
    [
        "/shop;x/Admin/users",  # Tomcat serves /shop/Admin/users; nginx and Flask serve a /shop page
        "/shop/..;/Admin/users",
        "/jsp/..;/shop/Admin/users",  # the resource opts in, the other reading finds another resource
        "/jsp;jsessionid=1/orders",  # '/jsp;jsessionid=1/orders' is no resource for servers that keep ';'
        "/jsp/admin;jsessionid=1/users",  # '/jsp/**' or '/jsp/admin/**' depending on the server
        "/shop/cart;x",  # both readings find /shop/**, which does not opt in
    ],
)
def test_path_parameters_are_refused_unless_both_readings_find_one_resource_that_opts_in(switched, raw):
    judgement = switched.judge("127.0.0.1", raw, "GET")
    assert judgement.resource is None
    assert judgement.reason in ("path.parameters", "path.ambiguous_dot_segment")


@pytest.mark.parametrize("raw", ["/shop/cart/../Admin/users", "/shop/Admin/%2e%2e/cart", "/Wiki/../shop/"])
def test_dot_dot_that_leaves_a_resource_is_refused_as_routers_that_keep_it_would_serve_another(switched, raw):
    judgement = switched.judge("127.0.0.1", raw, "GET")
    assert (judgement.resource, judgement.reason) == (None, "path.dot_segment")


def test_a_refused_path_is_no_resource_at_all(switched):
    judgement = switched.judge("127.0.0.1", "/shop%2FAdmin/users", "GET")
    assert (judgement.resource, judgement.reason) == (None, "path.encoded_slash")


def test_the_switches_must_be_true_or_false(tmp_path):
    path = tmp_path / "settings.yaml"
    text = SWITCHES.replace("case_sensitive: true", "case_sensitive: yes please").replace(
        "path_parameters: true, policy: Password", "path_parameters: 1, policy: Password"
    )
    doc = load_yaml_text(text, str(path))
    check = Checker()
    parse_application_domains(doc["application_domains"], doc, check)
    assert [str(p) for p in check.problems] == [
        f"{path}:11: resource 'case_sensitive' must be true or false",
        f"{path}:12: resource 'path_parameters' must be true or false",
    ]


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


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/demo%2Fstrong/vault", "path.encoded_slash"),
        ("/demo/%2e%2e/demo/strong/vault", "path.dot_segment"),
        ("/demo/./strong/vault", "path.not_normal"),  # Flask would route '/demo/./strong/vault' as sent
        ("/demo//strong/vault", "path.not_normal"),
        ("/demo/strong;x/vault", "path.parameters"),
        ("/demo/strong%252fvault", "path.double_encoding"),
        ("/demo/strong%5cvault", "path.backslash"),
        ("/demo/strong%00/vault", "path.control_character"),
        ("/demo/strong./vault", "path.trailing_dot_or_space"),
        ("/demo/%c0%ae%c0%ae/", "path.bad_utf8"),
    ],
)
def test_the_in_process_gate_refuses_a_path_it_cannot_judge_with_a_400_page(step_up_site, target, reason, caplog):
    status, _, body = raw_get(step_up_site.port, target)
    assert status == 400
    assert message_for(reason) in html.unescape(body.decode())
    assert reason in caplog.text


def test_the_in_process_gate_judges_encoded_letters_and_case_as_the_protected_path(step_up_site):
    with Browser(step_up_site.url) as browser:
        browser.get("/demo/")
        browser.submit({"USERNAME": "carol", "PASSWORD": "pw-carol-123"})
        level_1 = {"Cookie": f"stepgate_session={browser.cookie('stepgate_session')}"}
    for target in ("/demo/%73trong/vault", "/demo/STRONG/vault", "/DEMO/Strong/vault?x=/demo/"):
        status, _, body = raw_get(step_up_site.port, target, level_1)
        assert status == 200 and b'id="loginData"' in body, target  # step-up: sign in at level 2 first
    status, _, body = raw_get(step_up_site.port, "/?x=/demo/strong/vault")
    assert status == 200 and b'id="loginData"' not in body


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        ("/demo/%73trong/vault", True),
        ("/demo/strong/vault#top", True),
        ("/demo/strong/%2e%2e/", False),
        ("/demo%2fstrong/vault", False),
        ("/demo/strong;x/vault", False),
    ],
)
def test_a_return_address_is_judged_like_a_request(step_up_site, target, accepted):
    answer = requests.get(step_up_site.url + "/login", params={"next": target}, allow_redirects=False, timeout=10)
    if accepted:
        assert answer.status_code == 200 and 'id="loginData"' in answer.text
    else:
        assert answer.status_code == 400 and message_for("redirect.not_allowed") in html.unescape(answer.text)
