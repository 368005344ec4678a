"""Forward-auth judges the path the upstream will serve: every encoding of a protected path is refused or judged as it.

The site (tests/path_attacks.py): public everywhere, /app/** needs level 1,
/app/level2/** level 2. Each case is asked about by a proxy as nginx asks
(X-Original-URL) and as Traefik and Caddy ask (X-Forwarded-Uri), for nobody,
a level-1 session and a level-2 session.
"""

from __future__ import annotations

import logging

import pytest
import requests

from app import create_app
from app.extensions import db
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.path_attacks import CASES, REFUSED, domains_settings, level_of, loosest_reading
from tests.proxied import STRONG_SCHEME

PASSWORD = "correct horse battery staple"
APP_HOST = "app.example.org"


@pytest.fixture
def site(make_settings, app, add_user):
    """stepgate protecting the site, with alice's sessions by level (0: nobody signed in)."""
    add_user("alice", password=PASSWORD)
    application = create_app(
        make_settings(extra=domains_settings(), schemes={"StrongPasswordScheme.yaml": STRONG_SCHEME}), testing=True
    )
    server = LiveServer(application).start()
    yield server, {0: None, 1: _sign_in(server, "/app/"), 2: _sign_in(server, "/app/level2/")}
    server.stop()
    with application.app_context():
        db.engine.dispose()


def _sign_in(server, target: str) -> str:
    with Browser(server.url) as browser:
        browser.get("/login?" + requests.compat.urlencode({"next": target}))
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD}, allow_redirects=False)
        assert done.status_code == 302 and done.headers["Location"] == target
        return browser.cookie("stepgate_session")


def ask(server, target: str, cookie: str | None, style: str = "nginx") -> requests.Response:
    if style == "nginx":
        headers = {"X-Original-URL": f"http://{APP_HOST}{target}", "X-Original-Method": "GET"}
    else:
        headers = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": APP_HOST, "X-Forwarded-Uri": target}
    return requests.get(
        server.url + "/forward-auth",
        headers=headers,
        cookies={"stepgate_session": cookie} if cookie else None,
        allow_redirects=False,
        timeout=10,
    )


def test_the_table_has_at_least_forty_encodings_and_each_claim_matches_the_loosest_upstream():
    assert len(CASES) >= 40
    for target, judged in CASES:
        if judged != REFUSED:
            assert loosest_reading(target) == judged, target


def answers_against_the_table(server, sessions, style: str) -> list[str]:
    """Every case, for every session: what went wrong (empty when all is right)."""
    wrong = []
    for target, judged in CASES:
        for level, cookie in sessions.items():
            answer = ask(server, target, cookie, style)
            if judged == REFUSED:
                if answer.status_code != 403 or not answer.json()["error"].startswith("path."):
                    wrong.append(f"{target} at level {level}: {answer.status_code} {answer.text} (expected a refusal)")
                continue
            expected = 200 if level >= level_of(judged) else 401 if level == 0 else 403
            if answer.status_code != expected:
                wrong.append(f"{target} at level {level}: {answer.status_code}, expected {expected} for {judged}")
    return wrong


@pytest.mark.parametrize("style", ["nginx", "traefik"])
def test_every_encoding_is_refused_or_judged_as_the_path_the_upstream_serves(site, style):
    server, sessions = site
    wrong = answers_against_the_table(server, sessions, style)
    assert not wrong, "\n".join(wrong)


def test_a_refusal_says_why_in_json_and_in_the_log(site, caplog):
    server, sessions = site
    with caplog.at_level(logging.WARNING, logger="stepgate.forward_auth"):
        answer = ask(server, "/public/..%2Fapp/level2/secret", sessions[1])
    assert answer.status_code == 403  # not 400: nginx's auth_request would make that a 500
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "error": "path.encoded_slash",
        "message": "This address contains an encoded '/' (%2F), which servers read differently.",
    }
    assert "path.encoded_slash" in caplog.text and "..%2Fapp/level2/secret" in caplog.text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("/app/level2\x01/secret", "path.control_character"),
        ("/app/level2\x7f/secret", "path.control_character"),
        ("/app/level2 /secret", "path.trailing_dot_or_space"),
        ("/app/lev\xe9l2/secret", "path.bad_utf8"),  # a raw byte that is not UTF-8
    ],
)
def test_raw_bytes_a_proxy_passes_on_are_refused(site, raw, reason):
    server, sessions = site
    answer = requests.get(
        server.url + "/forward-auth",
        headers={"X-Original-URL": f"http://{APP_HOST}{raw}".encode("latin-1")},
        cookies={"stepgate_session": sessions[1]},
        timeout=10,
    )
    assert answer.status_code == 403 and answer.json()["error"] == reason


def test_a_query_is_never_part_of_the_path(site):
    server, sessions = site
    assert ask(server, "/public/?x=/app/level2/secret", None).status_code == 200
    assert ask(server, "/app/level2/secret?x=/public/", sessions[1]).status_code == 403


def test_a_resources_switches_apply_in_forward_auth_as_in_process(make_settings, app, add_user):
    add_user("alice", password=PASSWORD)
    settings = domains_settings()
    settings["application_domains"]["Site"]["resources"] += [
        {"url": "/Vault/**", "case_sensitive": True, "policy": "Vault"},  # a case-sensitive upstream's /Vault
        {"url": "/portal/**", "path_parameters": True, "policy": "Staff"},  # a Servlet container's session ids
    ]
    application = create_app(
        make_settings(extra=settings, schemes={"StrongPasswordScheme.yaml": STRONG_SCHEME}), testing=True
    )
    server = LiveServer(application).start()
    try:
        level_1 = _sign_in(server, "/app/")
        assert ask(server, "/Vault/gold", level_1).status_code == 403
        assert ask(server, "/vault/gold", level_1).status_code == 200  # another path there: public (/**)
        assert ask(server, "/portal/orders;jsessionid=0123", level_1).status_code == 200
        assert ask(server, "/portal/orders;jsessionid=0123", None).status_code == 401
        refused = ask(server, "/portal;jsessionid=0123/orders", level_1)  # '/portal;...' is no /portal/** elsewhere
        assert refused.status_code == 403 and refused.json()["error"] == "path.parameters"
        assert ask(server, "/app/orders;jsessionid=0123", level_1).json()["error"] == "path.parameters"
    finally:
        server.stop()
        with application.app_context():
            db.engine.dispose()
