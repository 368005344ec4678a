"""404, 405 and 500 are pages in stepgate's look for people and JSON for API clients, never Werkzeug's defaults.

Checked in headless Chromium over real HTTP: the page's title and heading say
what happened, the shared stylesheet applies, the message is an alert, the
reason code is shown and a link leads back to the start page. A 500 tells the
person nothing of the exception (the log has it). Under /scim/v2 the SCIM
area's own error JSON still answers.
"""

from __future__ import annotations

import logging

import pytest
import requests

from app import create_app
from app.extensions import db
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow
SECRET_DETAIL = "connection string postgresql://admin:hunter2@db"


@pytest.fixture
def server(make_settings):
    """A live server as in production (exceptions become 500 pages), with one route that fails."""
    application = create_app(make_settings(), testing=False)

    def broken():
        raise RuntimeError(SECRET_DETAIL)

    application.add_url_rule("/broken", "broken", broken)
    with application.app_context():
        db.create_all()
    live = LiveServer(application).start()
    yield live
    live.stop()
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def chromium_page(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        yield browser.new_page()
        browser.close()


READ_PAGE = """() => ({
  title: document.title,
  lang: document.documentElement.lang,
  h1: [...document.querySelectorAll("h1")].map(h => h.textContent.trim()),
  alert: document.querySelector("[role=alert]")?.textContent.trim(),
  code: document.querySelector("main code")?.textContent,
  home: document.querySelector("main a[href]")?.getAttribute("href"),
  sheets: [...document.styleSheets].map(s => s.href),
  maxWidth: getComputedStyle(document.body).maxWidth,
  alertBorder: getComputedStyle(document.querySelector("[role=alert]")).borderTopStyle,
  text: document.body.innerText,
})"""


def assert_stepgate_page(page: dict, title: str, reason: str) -> None:
    assert page["title"] == title and page["h1"] == [title]
    assert page["lang"] == "en"
    assert page["code"] == reason
    assert page["home"] == "/"
    assert any(href.endswith("/static/base.css") for href in page["sheets"])
    assert page["maxWidth"] == "704px"  # base.css's 44rem: the shared stylesheet applies
    assert page["alertBorder"] == "solid"  # .error's box
    assert page["alert"]
    for werkzeug in ("Not Found", "Method Not Allowed", "Internal Server Error", "requested URL"):
        assert werkzeug not in page["text"]


def test_an_unknown_address_is_a_stepgate_page_in_a_browser(server, chromium_page):
    response = chromium_page.goto(server.url + "/no/such/page")
    assert response.status == 404
    assert_stepgate_page(chromium_page.evaluate(READ_PAGE), "Page not found", "page.not_found")


def test_a_form_sent_with_the_wrong_method_is_a_stepgate_page_in_a_browser(server, chromium_page):
    chromium_page.goto(server.url + "/")
    with chromium_page.expect_navigation() as navigation:
        chromium_page.evaluate(
            """() => { const f = document.createElement("form"); f.method = "post"; f.action = "/";
                       document.body.append(f); f.submit(); }"""
        )
    assert navigation.value.status == 405
    assert set(navigation.value.headers["allow"].split(", ")) >= {"GET", "HEAD"}
    assert_stepgate_page(chromium_page.evaluate(READ_PAGE), "Not allowed here", "request.method_not_allowed")


def test_a_failure_on_our_side_is_a_stepgate_page_that_tells_nothing_of_it(server, chromium_page, caplog):
    caplog.set_level(logging.ERROR)
    response = chromium_page.goto(server.url + "/broken")
    assert response.status == 500
    assert response.headers["cache-control"] == "no-store"
    page = chromium_page.evaluate(READ_PAGE)
    assert_stepgate_page(page, "Something went wrong", "server.error")
    assert "hunter2" not in chromium_page.content() and "RuntimeError" not in chromium_page.content()
    assert any(SECRET_DETAIL in (r.exc_text or "") or r.exc_info for r in caplog.records)  # the log has it


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/no/such/page", 404, "page.not_found"),
        ("DELETE", "/", 405, "request.method_not_allowed"),
        ("GET", "/broken", 500, "server.error"),
    ],
)
def test_api_clients_get_json_errors(server, method, path, status, reason):
    answer = requests.request(method, server.url + path, headers={"Accept": "application/json"}, timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == reason and answer.json()["message"]
    assert "hunter2" not in answer.text


def test_scim_paths_keep_the_scim_error_json(server):
    for method, path, status in (("GET", "/scim/v2/NoSuchEndpoint", 404), ("PUT", "/scim/v2/Users", 405)):
        answer = requests.request(method, server.url + path, timeout=10)
        assert answer.status_code == status
        assert answer.headers["Content-Type"].startswith("application/scim+json")
        assert answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_a_browser_default_accept_gets_html_and_curl_gets_html_too(server):
    for accept in ("text/html,application/xhtml+xml,*/*;q=0.8", "*/*"):
        answer = requests.get(server.url + "/nowhere", headers={"Accept": accept}, timeout=10)
        assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("text/html")
        assert "<h1>Page not found</h1>" in answer.text
