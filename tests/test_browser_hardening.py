"""Browser hardening: every HTML page carries a CSP without inline script, nosniff, no referrer and no-store.

The pages come from ``app.url_map`` (every GET route, as nobody and as an
administrator), so a new page is checked without being listed. The templates
are scanned for inline ``<script>``, ``on…=`` handlers and ``style``
attributes, which the policy would block. In headless Chromium the sign-in
page, the demo page and the console (Mermaid's drawn graph included) run
without one CSP violation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import sessions
from app.extensions import db
from app.stores import sql as identity
from tests.conftest import DEMO_DOMAIN
from tests.test_admin_console import ADMIN_DOMAIN, PASSWORD

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"
TOKEN = "scim-token-0123456789abcdef"


@pytest.fixture
def make_settings(make_settings):
    def make(extra=None, **kwargs):
        domains = {**DEMO_DOMAIN, **ADMIN_DOMAIN}
        return make_settings({"application_domains": domains, "scim": {"tokens": [TOKEN]}, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def admin_cookie(app):
    with app.app_context():
        admin = identity.create_user("default", "admin", {"groups": "admins"}, PASSWORD, identity.UserStatus.ACTIVE)
        db.session.flush()
        cookie = sessions.create(admin.id, 2, "AdminScheme", 3600)
        db.session.commit()
        return cookie


def directives(policy: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in policy.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def assert_hardened_html(response, where: str) -> None:
    headers = response.headers
    policy = directives(headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"], where
    assert policy["script-src"] == ["'self'"], where  # no 'unsafe-inline', no 'unsafe-eval', no nonce
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"], where
    assert policy["object-src"] == ["'none'"] and policy["form-action"][0] == "'self'", where
    assert headers["X-Content-Type-Options"] == "nosniff", where
    assert headers["Referrer-Policy"] == "no-referrer", where
    assert headers["Cache-Control"] == "no-store", where
    assert headers["X-Frame-Options"] == "DENY", where


def get_routes(app) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static":
            paths.append(re.sub(r"<[^>]+>", "1", rule.rule))
    return sorted(set(paths))


@pytest.mark.parametrize("caller", ["nobody", "admin"])
def test_every_html_page_from_the_url_map_has_the_hardening_headers(app, admin_cookie, caller):
    client = app.test_client()
    if caller == "admin":
        client.set_cookie("stepgate_session", admin_cookie, domain="localhost")
    html_seen = 0
    for path in [*get_routes(app), "/no/such/page", "/admin/users/999999"]:
        with client.get(path) as response:
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            if response.mimetype == "text/html":
                html_seen += 1
                assert_hardened_html(response, f"{caller} {path} {response.status_code}")
    assert html_seen > 10


def test_only_the_console_allows_inline_styles_for_mermaid(app, admin_cookie):
    client = app.test_client()
    client.set_cookie("stepgate_session", admin_cookie, domain="localhost")
    console = directives(client.get("/admin/schemes/PasswordScheme").headers["Content-Security-Policy"])
    assert console["style-src"] == ["'self'", "'unsafe-inline'"] and console["script-src"] == ["'self'"]
    signin = directives(client.get("/demo/").headers["Content-Security-Policy"])
    assert signin["style-src"] == ["'self'"]


def test_json_answers_are_not_cached_and_not_sniffed(client):
    scim = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {TOKEN}"})
    regdata = client.get("/oamfed/user/regdata?registrationid=unknown")
    for response in (scim, regdata):
        assert (
            response.headers["Cache-Control"] == "no-store" and response.headers["X-Content-Type-Options"] == "nosniff"
        )
        assert "Content-Security-Policy" not in response.headers


def test_static_files_may_be_cached(client):
    response = client.get("/static/base.css")
    assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")
    response.close()


def test_forward_auth_answers_carry_nosniff_and_no_store(client):
    answer = client.get("/forward-auth", headers={"X-Original-URL": "http://localhost/demo/"})
    assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["Cache-Control"] == "no-store"


def test_sign_in_forms_may_lead_to_proxied_resources_and_providers_but_nowhere_else(make_settings):
    from app import create_app

    domains = {
        **DEMO_DOMAIN,
        "Apps": {
            "authentication_policies": {"P": {"scheme": "PasswordScheme"}},
            "resources": [{"url": "/**", "host": "app.example.org:8443", "policy": "P"}],
        },
    }
    application = create_app(make_settings({"application_domains": domains}), testing=True)
    with application.app_context():
        db.create_all()
        policy = directives(application.test_client().get("/demo/").headers["Content-Security-Policy"])
        db.engine.dispose()
    assert policy["form-action"] == ["'self'", "app.example.org:8443", "http://127.0.0.1:9"]  # and the provider


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE = re.compile(r"<[^>]+\sstyle\s*=|<style", re.I)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_carries_inline_script_handlers_or_styles(template):
    text = template.read_text()
    for name, pattern in (("inline <script>", INLINE_SCRIPT), ("on… handler", HANDLER), ("style", STYLE)):
        found = pattern.search(text)
        assert found is None, f"{template.name}: {name} at {found.group(0)!r}"
    assert JS_URL.search(text) is None


# -- in a real browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium_browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) =>
  (window.__violations = window.__violations || []).push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.mark.slow
def test_sign_in_demo_and_console_pages_run_without_a_csp_violation(live_server, add_user, chromium_browser):
    """Chromium logs every CSP refusal to the console ("Refused to …"); the page's own listener counts them too."""
    add_user("admin", password=PASSWORD, groups="admins")
    base = live_server.url
    context = chromium_browser.new_context()
    context.add_init_script(REPORT_VIOLATIONS)  # init scripts come from the browser, not the page: CSP allows them
    page = context.new_page()
    complaints: list[str] = []
    violations: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: complaints.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: complaints.append(str(e)))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)

    def visit(action) -> None:
        action()
        page.wait_for_load_state()
        violations.extend(page.evaluate("() => window.__violations || []"))

    def sign_in() -> None:
        assert page.locator("#loginData").count() == 1
        page.fill("#USERNAME", "admin")
        page.fill("#PASSWORD", PASSWORD)
        page.click("#login_button")

    try:
        visit(lambda: page.goto(base + "/demo/"))
        visit(sign_in)
        assert page.inner_text("#user-name") == "admin"
        visit(lambda: page.goto(base + "/admin/"))  # level 2: the console's own sign-in
        visit(sign_in)
        visit(lambda: page.get_by_role("link", name="PasswordScheme", exact=True).click())
        page.wait_for_selector("#graph svg")  # Mermaid drew under the console's policy
        violations.extend(page.evaluate("() => window.__violations || []"))
        visit(lambda: page.goto(base + "/admin/users"))
        visit(lambda: page.click("#users >> text=admin"))
        visit(lambda: page.click("#signout button"))  # the header's sign-out form, a POST
        assert "You are signed out" in page.inner_text("h1")
    finally:
        context.close()
    refused = [c for c in complaints if "Content Security Policy" in c or "Refused to" in c]
    assert refused == [] and violations == [], (refused, violations)
    assert [c for c in complaints if not c.startswith("Failed to load resource")] == [] and failed == []
