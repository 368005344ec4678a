"""The admin console in headless Chromium (Debian's chromium, driven by Playwright): what an admin sees and does.

The chromium fixture installs Debian's package when missing (as root), or skips.
"""

from __future__ import annotations

import pytest

from tests.test_admin_console import PASSWORD, SCRIPT, make_settings  # noqa: F401 - make_settings is a fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium_browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page_for(chromium_browser):
    contexts = []

    def open_page():
        context = chromium_browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, base, path, user):
    page.goto(base + path)
    page.fill("#USERNAME", user)
    page.fill("#PASSWORD", PASSWORD)
    page.click("#login_button")
    page.wait_for_load_state()


def test_an_admin_finds_a_provisioned_user_sees_claims_as_text_locks_them_and_their_next_sign_in_is_refused(
    live_server, add_user, page_for
):
    add_user("admin", password=PASSWORD, groups="admins")
    add_user("erin", password=PASSWORD, mail="erin@example.org", display_name=SCRIPT, given_name="Erin")
    base = live_server.url

    admin = page_for()
    sign_in(admin, base, "/admin/", "admin")
    assert admin.url == base + "/admin/schemes"
    admin.get_by_role("link", name="PasswordScheme", exact=True).click()
    admin.wait_for_selector("#graph svg")  # the bundled Mermaid drew the graph in the browser
    assert "User_Authentication" in admin.inner_text("#graph")

    admin.click("text=Users")
    admin.fill("input[name=name]", "mail")
    admin.fill("input[name=value]", "erin@example.org")
    admin.click("#user-search button")
    admin.click("#users >> text=erin")
    assert admin.inner_text("#user-name") == "erin"
    assert SCRIPT in admin.inner_text("#attributes")  # shown as text...
    assert admin.locator("#attributes script").count() == 0  # ...never as an element
    assert admin.dialogs == []

    admin.click("#lock")
    admin.wait_for_load_state()
    assert admin.inner_text("#user-status") == "locked"
    assert "erin: active → locked" in admin.inner_text(".flash")
    assert "locked" in admin.inner_text("#events")

    erin = page_for()
    sign_in(erin, base, "/demo/", "erin")
    assert "This account is locked" in erin.inner_text("[role=alert]")
    assert erin.dialogs == [] and admin.dialogs == []


def test_a_signed_in_non_admin_gets_403(live_server, add_user, page_for):
    add_user("frank", password=PASSWORD, groups="staff")
    page = page_for()
    sign_in(page, live_server.url, "/demo/", "frank")
    response = page.goto(live_server.url + "/admin/users")
    assert response.status == 200 and page.locator("#loginData").count() == 1  # AdminScheme's level 2: sign in again
    page.fill("#USERNAME", "frank")
    page.fill("#PASSWORD", PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/admin/users")) as answer:
        page.click("#login_button")
    assert answer.value.status == 403
    assert "not an administrator" in page.inner_text("[role=alert]")
