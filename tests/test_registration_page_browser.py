"""The example registration page (examples/registration_page) looks like stepgate's pages, in headless Chromium.

Same stylesheet as stepgate, one field per row, each error beside its field
(tied to it for screen readers), and "Start again" a link back to stepgate
when a registration can't go on. The site is the one tests/test_self_registration.py
runs: stepgate, the example page and a stand-in IdP on loopback ports.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.selfregistration_site import start_site

pytestmark = pytest.mark.slow
RESOURCE = "/demo/reports?year=2026"


@pytest.fixture
def site(make_settings):
    running = start_site(make_settings)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chromium_page(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        yield browser.new_page()
        browser.close()


READ_LOOK = """() => ({
  sheets: [...document.styleSheets].map(s => s.href),
  maxWidth: getComputedStyle(document.body).maxWidth,
  header: !!document.querySelector("body > header"),
  lang: document.documentElement.lang,
})"""

READ_FORM = """() => [...document.querySelectorAll("#registration .row")].map(row => {
  const input = row.querySelector("input");
  const error = row.querySelector(".field-error");
  const box = (e) => e.getBoundingClientRect();
  return {
    field: input.name,
    inputs: row.querySelectorAll("input").length,
    labelled: !!(document.querySelector(`label[for="${input.id}"]`) || input.closest("label")),
    top: box(row).top, bottom: box(row).bottom,
    width: input.type === "checkbox" ? null : Math.round(box(input).width),
    rowWidth: Math.round(box(row).width),
    error: error ? error.textContent.trim() : null,
    errorBelowInput: error ? box(error).top >= box(input).bottom - 1 : null,
    invalid: input.getAttribute("aria-invalid"),
    describedBy: input.getAttribute("aria-describedby"),
    errorId: error ? error.id : null,
  };
})"""


def assert_stepgate_look(page, site) -> None:
    look = page.evaluate(READ_LOOK)
    assert look["sheets"] == [site.page.url + "/static/base.css"]
    assert look["maxWidth"] == "704px" and look["header"] and look["lang"] == "en"
    stylesheet = page.request.get(site.page.url + "/static/base.css").text()
    assert stylesheet == page.request.get(site.stepgate.url + "/static/base.css").text()  # the same file


def reach_the_page(page, site) -> None:
    """Sign in at the stand-in IdP; its answer is a navigation, as a real IdP's redirect back would be.

    (Submitting the stand-in's form would be a form whose answer redirects to another origin, which
    stepgate's CSP ``form-action`` rightly stops; a real IdP comes back with a redirect, not a form.)
    """
    page.goto(site.stepgate.url + RESOURCE)
    assert page.locator("form#idp").count() == 1
    query = urlencode({"sub": "idp-user-7", "email": "carol@example.org", "email_verified": "true"})
    page.goto(f"{site.stepgate.url}/oam/server/auth_cred_submit?{query}")
    page.wait_for_selector("#registration")


def test_the_form_has_stepgates_look_and_one_field_per_row(site, chromium_page):
    page = chromium_page
    reach_the_page(page, site)
    assert page.url.startswith(site.page.url + "/register")
    assert_stepgate_look(page, site)
    rows = page.evaluate(READ_FORM)
    assert [r["field"] for r in rows] == ["userName", "givenName", "familyName", "department", "accept_terms"]
    assert all(r["inputs"] == 1 and r["labelled"] for r in rows)
    assert all(later["top"] >= earlier["bottom"] for earlier, later in zip(rows, rows[1:], strict=False))
    assert all(r["width"] == r["rowWidth"] for r in rows if r["width"] is not None)  # each text field fills its row
    assert all(r["error"] is None and r["invalid"] is None for r in rows)


def test_each_error_is_shown_beside_its_own_field(site, chromium_page):
    page = chromium_page
    reach_the_page(page, site)
    page.fill("#userName", "not a user name!")
    page.fill("#department", "")
    # the server's checks, not the browser's: submit() skips the form's own validation
    page.evaluate("setTimeout(() => document.getElementById('registration').submit(), 0)")
    page.wait_for_selector("#problem")
    rows = {r["field"]: r for r in page.evaluate(READ_FORM)}
    for field, text in (
        ("userName", "Choose a user name"),
        ("department", "Enter your department"),
        ("accept_terms", "Accept the terms of use"),
    ):
        row = rows[field]
        assert row["error"] and row["error"].startswith(text), row
        assert row["errorBelowInput"] and row["invalid"] == "true" and row["describedBy"] == row["errorId"]
    assert rows["givenName"]["error"] is None and rows["familyName"]["error"] is None
    assert page.inner_text("#problem") == "Check the fields marked below."
    assert page.input_value("#userName") == "not a user name!"  # what was typed stays


def test_a_stopped_registration_offers_start_again_as_a_link(site, chromium_page):
    page = chromium_page
    response = page.goto(site.page.url + "/register?registrationid=unknown-id")
    assert response.status == 404
    assert_stepgate_look(page, site)
    link = page.locator("a#start-again")
    assert link.count() == 1 and link.inner_text() == "Start again"
    assert link.get_attribute("href") == site.stepgate.url + "/"
    assert "Start again" not in page.inner_text("#refused")  # a link, not words to follow
    with page.expect_navigation():
        link.click()
    assert page.url == site.stepgate.url + "/"
