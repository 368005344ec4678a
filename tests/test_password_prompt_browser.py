"""The JIT password prompt in Chromium: the policy is on the page before anyone types; a refusal names its rule.

A newcomer signs in at the real development provider and lands on stepgate's
"Creating your account" prompt. Before typing, the rules (length, classes)
are listed under the password's label and tied to the field; both password
fields tell the browser a new password is being chosen. A password missing a
digit is refused with that rule marked, and a good one creates the account.
The local sign-in prompt keeps ``current-password``.
"""

from __future__ import annotations

import pytest

from tests.browser import Browser

pytestmark = pytest.mark.slow
STRONG = "correct horse 42 battery"


@pytest.fixture(scope="module")
def chromium_page(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        yield browser.new_page()
        browser.close()


READ_PROMPT = """() => {
  const input = (id) => document.getElementById(id);
  const after = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  const rules = document.getElementById("PASSWORD-rules");
  return {
    autocomplete: ["USERNAME", "PASSWORD", "CONFIRM_PASSWORD"].map(id => input(id).getAttribute("autocomplete")),
    rules: rules ? [...rules.querySelectorAll("li")].map(li => li.textContent.trim()) : null,
    failed: [...document.querySelectorAll("ul.rules li.failed")].map(li => li.dataset.rule),
    describedBy: input("PASSWORD").getAttribute("aria-describedby"),
    invalid: input("PASSWORD").getAttribute("aria-invalid"),
    rulesBeforeInput: !!rules && after(rules, input("PASSWORD")),
    labelBeforeRules: !!rules && after(document.querySelector("label[for=PASSWORD]"), rules),
    rulesVisible: !!rules && rules.getBoundingClientRect().height > 0,
    alert: document.querySelector("[role=alert]")?.textContent.trim() ?? null,
  };
}"""


def reach_the_prompt(page, site, login: str) -> None:
    page.goto(site.url + "/demo/jit/reports")
    page.fill("#devop-login input[name=login]", login)
    page.click("#devop-login button[type=submit]")
    page.wait_for_selector("#loginData")


def test_the_policy_is_stated_before_typing_and_the_failed_rule_is_named(jit_site, chromium_page):
    page = chromium_page
    reach_the_prompt(page, jit_site, "iris")
    before = page.evaluate(READ_PROMPT)
    assert before["autocomplete"] == ["username", "new-password", "new-password"]
    assert before["rules"] == ["At least 10 characters", "A letter", "A digit (0-9)"]
    assert before["describedBy"] == "PASSWORD-rules"
    assert before["labelBeforeRules"] and before["rulesBeforeInput"] and before["rulesVisible"]
    assert before["alert"] is None and before["failed"] == [] and before["invalid"] is None

    page.fill("#PASSWORD", "no digits at all here")
    page.fill("#CONFIRM_PASSWORD", "no digits at all here")
    page.click("#login_button")
    page.wait_for_selector("[role=alert]")
    refused = page.evaluate(READ_PROMPT)
    assert refused["failed"] == ["registration.password_no_digit"]
    assert refused["invalid"] == "true"
    assert "no digit" in refused["alert"]
    assert refused["rules"] == before["rules"]  # still stated, for the next try

    page.fill("#PASSWORD", "short1")
    page.fill("#CONFIRM_PASSWORD", "short1")
    page.click("#login_button")
    page.wait_for_selector("li.failed")
    assert page.evaluate(READ_PROMPT)["failed"] == ["registration.password_too_short"]

    page.fill("#PASSWORD", STRONG)
    page.fill("#CONFIRM_PASSWORD", STRONG)
    page.click("#login_button")
    page.wait_for_url(jit_site.url + "/demo/jit/reports")
    assert page.inner_text("#user-name") == "iris"


def test_the_local_sign_in_prompt_asks_for_the_current_password_and_states_no_policy(jit_site):
    with Browser(jit_site.url) as browser:
        page = browser.get("/demo/")
    assert 'autocomplete="current-password"' in page.text
    assert "new-password" not in page.text and 'class="rules"' not in page.text
