"""Reloading scheme files while the server runs: valid changes swap in, flows finish on their version."""

from __future__ import annotations

import logging

import pytest

from app import create_app, flows, reload
from app.extensions import db
from app.runtime import current
from tests.conftest import LiveServer

PASSWORD = "correct horse battery staple"
OTP_PARAM = '        CRED_PARAM_3: "{ID=OTP},{DISPLAY_NAME=One-time code},{TYPE=text}"\n'


@pytest.fixture
def site(make_settings):
    return make_settings(extra={"scheme_reload_seconds": 0})


@pytest.fixture
def server(site):
    application = create_app(site, testing=True)
    with application.app_context():
        db.create_all()
    live = LiveServer(application).start()
    yield live
    live.stop()
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def scheme_file(site):
    return site.parent.parent / "schemes" / "PasswordScheme.yaml"


@pytest.fixture
def alice(server, add_user_to):
    return add_user_to(server.app, "alice")


@pytest.fixture
def add_user_to():
    from app.stores import sql as identity

    def add(application, user_name):
        with application.app_context():
            identity.create_user("default", user_name, {"mail": f"{user_name}@example.org"}, PASSWORD)
            db.session.commit()

    return add


def with_otp_prompt(text: str) -> str:
    anchor = "        properties_file: labels/login.properties\n"
    assert anchor in text
    return text.replace(anchor, OTP_PARAM + anchor)


def test_a_valid_change_is_swapped_in_and_a_flow_in_progress_finishes_on_its_version(
    server, scheme_file, alice, browser_for
):
    old_browser, new_browser = browser_for(server), browser_for(server)
    old_form = old_browser.get("/demo/")
    assert "One-time code" not in old_form.text
    with server.app.app_context():
        old_version = current().schemes["PasswordScheme"].version

    scheme_file.write_text(with_otp_prompt(scheme_file.read_text()))
    new_form = new_browser.get("/demo/")
    assert "One-time code" in new_form.text  # the very next request runs the new version

    done = old_browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert done.status_code == 200 and '<strong id="user-name">alice</strong>' in done.text
    with server.app.app_context():
        runtime = current()
        new_version = runtime.schemes["PasswordScheme"].version
        assert new_version != old_version
        assert runtime.scheme_for_flow("PasswordScheme", old_version) is not None
        versions = {row.scheme_version for row in db.session.scalars(db.select(flows.Flow))}
    assert versions == {old_version, new_version}


def test_an_invalid_change_is_refused_with_file_and_line_and_the_previous_version_keeps_serving(
    server, scheme_file, alice, browser_for, caplog
):
    browser = browser_for(server)
    good = scheme_file.read_text()
    browser.get("/demo/")
    broken = good.replace("KEY_PASSWORD_PARAM: PASSWORD", "KEY_PASSWORD_PARAMETER: PASSWORD")
    assert broken != good
    scheme_file.write_text(broken)
    with caplog.at_level(logging.ERROR, logger="stepgate.reload"):
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert '<strong id="user-name">alice</strong>' in done.text
    line = broken.splitlines().index("        KEY_PASSWORD_PARAMETER: PASSWORD") + 1
    refused = [r.getMessage() for r in caplog.records if r.name == "stepgate.reload"]
    assert any(
        f"{scheme_file}:{line}: unknown parameter 'KEY_PASSWORD_PARAMETER'" in m
        and "previous schemes keep serving" in m
        for m in refused
    ), refused

    fresh = browser_for(server)
    with caplog.at_level(logging.ERROR, logger="stepgate.reload"):
        assert fresh.get("/demo/").status_code == 200 and fresh.form()["id"] == "loginData"
    assert len([r for r in caplog.records if r.name == "stepgate.reload"]) == len(refused)  # reported once
    with server.app.app_context():
        result = reload.reloader_of(server.app).last_result
    assert not result.ok and result.problems[0].line == line

    scheme_file.write_text(with_otp_prompt(good))
    assert "One-time code" in browser_for(server).get("/demo/").text


def test_removing_a_scheme_a_policy_uses_is_refused(server, scheme_file, browser_for, caplog):
    scheme_file.rename(scheme_file.with_suffix(".disabled"))
    with caplog.at_level(logging.ERROR, logger="stepgate.reload"):
        page = browser_for(server).get("/demo/")
    assert page.status_code == 200 and "loginData" in page.text
    assert any(
        "names scheme 'PasswordScheme', which the changed files no longer define" in r.getMessage()
        for r in caplog.records
    )


def test_old_versions_are_kept_for_one_flow_lifetime_then_forgotten(app, scheme_file, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(reload, "_now", lambda: clock[0])
    with app.app_context():
        reloader = reload.reloader_of(app)
        old = current().schemes["PasswordScheme"].version
        scheme_file.write_text(with_otp_prompt(scheme_file.read_text()))
        assert reloader.reload().changed
        clock[0] += app.extensions["stepgate"].settings.flow_lifetime_seconds - 1
        assert reloader.prune() == [] and current().scheme_for_flow("PasswordScheme", old) is not None
        clock[0] += 2
        assert reloader.prune() == [("PasswordScheme", old)]
        assert current().scheme_for_flow("PasswordScheme", old) is None


def test_the_check_interval_limits_how_often_the_folder_is_read(make_settings, monkeypatch):
    clock = [50.0]
    monkeypatch.setattr(reload, "_now", lambda: clock[0])
    application = create_app(make_settings(extra={"scheme_reload_seconds": 5}), testing=True)
    reloader = reload.reloader_of(application)
    assert reloader.check() is None
    clock[0] += 5
    assert reloader.check() == reload.ReloadResult(changed=False)


def test_a_bad_reload_interval_names_its_file_and_line(make_settings):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    path = make_settings(extra={"scheme_reload_seconds": -1})
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    line = path.read_text().splitlines().index("scheme_reload_seconds: -1") + 1
    assert str(exc.value) == f"{path}:{line}: 'scheme_reload_seconds' must be a whole number >= 0"


@pytest.mark.slow
def test_each_gunicorn_worker_reloads_on_its_own(site, scheme_file, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    from tests.browser import Browser
    from tests.conftest import ROOT

    application = create_app(site)
    with application.app_context():
        db.create_all()
        db.engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(log_path, "w") as log_file:
        server = subprocess.Popen(
            [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "app:create_app()"],
            cwd=ROOT,
            env={**os.environ, "STEPGATE_SETTINGS": str(site)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(base + "/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)

        def prompts() -> list[str]:
            pages = []
            for _ in range(12):  # fresh connections: both workers take some of them
                with Browser(base) as b:
                    pages.append(b.get("/demo/").text)
            return pages

        assert all("loginData" in p and "One-time code" not in p for p in prompts())
        good = scheme_file.read_text()
        scheme_file.write_text(good.replace("plugin: UserAuthenticationPlugin", "plugin: NoSuchPlugin"))
        assert all("loginData" in p and "One-time code" not in p for p in prompts())
        refusals = [line for line in log_path.read_text().splitlines() if "unknown plugin 'NoSuchPlugin'" in line]
        assert refusals and all(f"{scheme_file}:" in line for line in refusals)
        scheme_file.write_text(with_otp_prompt(good))
        assert all("One-time code" in p for p in prompts())
    finally:
        server.terminate()
        server.wait(10)


def test_sighup_makes_the_next_request_reload(make_settings):
    import os
    import signal

    previous = signal.getsignal(signal.SIGHUP)
    try:
        application = create_app(make_settings(extra={"scheme_reload_seconds": 3600}))
        reloader = reload.reloader_of(application)
        assert reloader.check() is None  # an hour between looks
        os.kill(os.getpid(), signal.SIGHUP)
        result = reloader.check()
        assert result.changed and result.loaded == sorted(application.extensions["stepgate"].schemes)
        assert reloader.check() is None
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_in_production_a_reload_that_brings_back_a_development_secret_is_refused(make_settings, monkeypatch):
    monkeypatch.setenv("STEPGATE_ENV", "production")
    monkeypatch.setenv("REGISTRATION_SECRET_KEY", "a-real-registration-key")
    path = make_settings()
    application = create_app(path, testing=True)
    registration = path.parent.parent / "schemes" / "UserSelfRegistrationScheme.yaml"
    registration.write_text(registration.read_text().replace("${REGISTRATION_SECRET_KEY:-", "${NOT_SET_ANYWHERE:-"))
    result = reload.reloader_of(application).reload()
    assert [(problem.file, problem.line) for problem in result.problems] == [(str(registration), 25)]
    assert "refuses the shipped development fallback of parameter 'secret_key'" in result.problems[0].message
    serving = application.extensions["stepgate"].schemes["UserSelfRegistrationScheme"]
    assert serving.steps["OAuth_Self_Registration"].plugin.params.secret_key == "a-real-registration-key"
