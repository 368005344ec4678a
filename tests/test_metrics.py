"""/metrics in the Prometheus text format, right across gunicorn workers; logs as JSON lines on request."""

from __future__ import annotations

import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app import audit
from app.extensions import db
from tests.browser import Browser
from tests.servers import Gunicorn

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(add_user):
    return add_user("alice", password=PASSWORD, mail="alice@example.org")


def scrape(base_url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    answer = requests.get(base_url + "/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def sign_in(base_url: str, password: str = PASSWORD) -> requests.Response:
    with Browser(base_url) as browser:
        browser.get("/demo/")
        return browser.submit({"USERNAME": "alice", "PASSWORD": password})


def test_a_sign_in_counts_once_and_its_steps_are_timed_by_plugin(live_server, alice):
    before = scrape(live_server.url)
    assert "signed in" not in sign_in(live_server.url, "wrong").text  # shown the prompt again
    assert '<strong id="user-name">alice</strong>' in sign_in(live_server.url).text
    after = scrape(live_server.url)
    assert value(after, "stepgate_signins_total", scheme="PasswordScheme") == (
        value(before, "stepgate_signins_total", scheme="PasswordScheme") + 1
    )
    failed = {"plugin": "UserAuthenticationPlugin", "outcome": "failure", "reason": "credentials.invalid"}
    assert (
        value(after, "stepgate_step_outcomes_total", **failed)
        == value(before, "stepgate_step_outcomes_total", **failed) + 1
    )
    for plugin in ("CredentialCollectorPlugin", "UserIdentificationPlugin", "UserAuthenticationPlugin"):
        timed = value(after, "stepgate_step_seconds_count", plugin=plugin)
        assert timed > value(before, "stepgate_step_seconds_count", plugin=plugin)
        assert value(after, "stepgate_step_seconds_sum", plugin=plugin) > 0


def test_active_flows_are_counted_in_the_database(live_server, alice):
    assert value(scrape(live_server.url), "stepgate_active_flows") == 0
    with Browser(live_server.url) as waiting:
        waiting.get("/demo/")  # a flow now waits for credentials
        assert value(scrape(live_server.url), "stepgate_active_flows") == 1
        waiting.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert value(scrape(live_server.url), "stepgate_active_flows") == 0


def test_provisioned_and_updated_users_are_counted_from_committed_audit_events(app, live_server):
    before = scrape(live_server.url)
    with app.app_context():
        audit.record("user.provisioned", user_id=1)
        audit.record("user.updated", user_id=1)
        db.session.commit()
        audit.record("user.provisioned", user_id=2)
        db.session.rollback()  # never happened: not counted
    after = scrape(live_server.url)
    assert value(after, "stepgate_users_provisioned_total") == value(before, "stepgate_users_provisioned_total") + 1
    assert value(after, "stepgate_users_updated_total") == value(before, "stepgate_users_updated_total") + 1
    assert value(after, "stepgate_audit_events_total", event="user.provisioned") == (
        value(before, "stepgate_audit_events_total", event="user.provisioned") + 1
    )


def test_metrics_are_refused_to_addresses_not_allowed(make_settings, app):
    from app import create_app
    from tests.conftest import LiveServer

    server = LiveServer(create_app(make_settings(extra={"metrics_allow": ["10.1.2.0/24"]}), testing=True)).start()
    try:
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 403
    finally:
        server.stop()


@pytest.mark.slow
def test_counts_add_up_over_every_gunicorn_worker(make_settings, app, alice):
    with Gunicorn(make_settings(), workers=2) as server:
        for _ in range(4):
            assert '<strong id="user-name">alice</strong>' in sign_in(server.url).text
        for _ in range(8):  # new connections land on either worker; each must report the total
            samples = scrape(server.url)
            assert value(samples, "stepgate_signins_total", scheme="PasswordScheme") == 4


def test_logs_are_one_json_object_per_line_when_asked(make_settings, capfd):
    from app import create_app

    application = create_app(make_settings(extra={"log_format": "json"}), testing=True)
    try:
        with application.app_context():
            db.create_all()
            audit.record("user.created", detail={"user_name": 'bob "the" builder\nnext'})
            db.session.commit()
        lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]
        created = next(e for e in entries if e["logger"] == "stepgate.audit")
        assert created["level"] == "info"
        assert "event=user.created" in created["message"]
        assert created["time"].endswith("+00:00")
    finally:
        from app import logging_setup

        logging_setup.configure("text")
        with application.app_context():
            db.engine.dispose()
