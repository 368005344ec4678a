"""Every page a person trusts, in headless Chromium: its structure read from the DOM, no screenshot.

One stepgate for the module, wired as config/settings.yaml ships the demo, with
the real development provider (devop/) as ``devop`` and the example
registration page (examples/registration_page) beside it, all on loopback
ports; one Chromium; one administrator signed in once for the console's
pages. Each page is reached the way a person reaches it (a real sign-in at
the provider where the page needs one) and then read in the browser: the
shared stylesheet applied (computed style, not the browser's defaults), one
heading, every field labelled before it, errors tied to and beside their
field, links that are links. JSON clients are read with a plain HTTP client.

Wording is the translation catalogue's business (tests/test_translations*.py):
these tests look for ids, classes, reason codes and geometry, and for words
only where the page's point is a word (a status heading, Werkzeug's defaults).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from app import create_app
from app.extensions import db
from app.secretbox import MASTER_KEY_ENV, new_master_key
from app.stores import sql as identity
from examples.registration_page.app import create_app as create_registration_page
from tests import pg
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.jit_steps import cancel_at_provider, provider_sign_in
from tests.oidc_fixtures import CALLBACK, PortServer
from tests.otp_steps import code_at
from tests.servers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
STRONG = "correct horse 42 battery"
SCIM_TOKEN = "scim-token-for-the-pages-0123456789"
REGISTRATION_SECRET = "registration-secret-for-the-pages"
SECRET_DETAIL = "connection string postgresql://admin:hunter2@db"
WERKZEUG_MARKERS = ("Werkzeug", "The requested URL", "Method Not Allowed", "Internal Server Error", "Not Found")
CONSOLE_WINDOW = {"width": 1920, "height": 1080}  # a desktop's full-HD screen: the console's nine-column tables
RED = "rgb(207, 34, 46)"  # admin.css's failure colour (#cf222e)


# --- the site, the browser and the people, once per module --------------------------------------------------


@dataclass
class PagesSite:
    app: object
    server: PortServer
    page: LiveServer

    @property
    def url(self) -> str:
        return self.server.url


def _demo_domains() -> dict:
    """The demo's policies and resources exactly as config/settings.yaml ships them (the console's included)."""
    return yaml.safe_load((ROOT / "config" / "settings.yaml").read_text())["application_domains"]


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """The module's database: a SQLite file, or a fresh PostgreSQL database on the PostgreSQL leg."""
    server = pg.server_url()
    if server is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('pages') / 'stepgate.db'}"
        return
    url = pg.create_database(server)
    yield url
    pg.drop_database(url)


@pytest.fixture(scope="module")
def site(devop, database, tmp_path_factory):
    """stepgate with the shipped schemes and demo wiring, devop as its provider, the registration page beside it.

    Exceptions become 500 pages as in production (Flask's PROPAGATE_EXCEPTIONS off), while the engine
    still raises a bug instead of turning it into an ERROR outcome; ``/broken`` fails on purpose.
    """
    base = tmp_path_factory.mktemp("pages-site")
    shutil.copytree(ROOT / "schemes", base / "schemes")
    (base / "config").mkdir()
    page = LiveServer(
        create_registration_page(
            {"REGISTRATION_SECRET_KEY": REGISTRATION_SECRET, "SCIM_TOKEN": SCIM_TOKEN, "PAGE_SECRET_KEY": "page-0123"}
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = devop.register_client(url + CALLBACK)
    settings = {
        "secret_key": "pages-secret-key-0123456789",
        "database_url": database,
        "schemes_dir": "schemes",
        "external_url": url,
        "allowed_hosts": ["127.0.0.1"],
        "application_domains": _demo_domains(),
        "identity_providers": {
            "devop": {
                "issuer": devop.issuer,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "read_timeout": 5,
            }
        },
        "scim": {"tokens": [SCIM_TOKEN]},
    }
    (base / "config" / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    with pytest.MonkeyPatch.context() as env:  # what the shipped schemes read from the environment
        env.setenv(MASTER_KEY_ENV, new_master_key())
        env.setenv("REGISTRATION_URL", page.url + "/register")
        env.setenv("REGISTRATION_SECRET_KEY", REGISTRATION_SECRET)
        application = create_app(base / "config" / "settings.yaml", testing=True)
        application.config["PROPAGATE_EXCEPTIONS"] = False

        def broken():
            raise RuntimeError(SECRET_DETAIL)

        application.add_url_rule("/broken", "broken", broken)
        page.app.config.update(STEPGATE_URL=url, STEPGATE_PUBLIC_URL=url)
        with application.app_context():
            db.create_all()
            for name, groups in (("admin", "staff, admins"), ("lena", "staff"), ("milo", "staff")):
                identity.create_user("default", name, {"groups": groups}, PASSWORD)
            db.session.commit()
        running = PagesSite(application, PortServer(application, port), page.start())
        yield running
        running.page.stop()
        running.server.stop()
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def chromium_browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def visitor(chromium_browser):
    """The tab people's tests use (a new browser profile per test costs a second on a busy machine)."""
    context = chromium_browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def page(visitor):
    """The visitors' tab with no cookie of any site: no session here, none at the provider."""
    visitor.context.clear_cookies()
    visitor.goto("about:blank")
    return visitor


@pytest.fixture(scope="module")
def admin(chromium_browser, site):
    """The administrator, signed in to the console once (AdminScheme) and kept for every console page."""
    context = chromium_browser.new_context(viewport=CONSOLE_WINDOW)
    console = context.new_page()
    console.goto(site.url + "/admin/")
    console.fill("#USERNAME", "admin")
    console.fill("#PASSWORD", PASSWORD)
    console.click("#login_button")
    console.wait_for_url(site.url + "/admin/schemes")
    yield console
    context.close()


@pytest.fixture(scope="module")
def nora(site) -> int:
    """A person who cancelled once at the provider, then signed up through it (real HTTP): her user id.

    Her cancel is the provider's newest refusal; her sign-up's routine ``oidc.redirect`` comes after it, and
    its User_Identification1 ``user.not_linked`` is the expected "no" that sends the scheme on to provisioning.
    """
    with Browser(site.url) as person:
        cancel_at_provider(person, "/demo/jit-nopassword/")
    with Browser(site.url) as person:
        done = provider_sign_in(person, "/demo/jit-nopassword/", "nora")
        assert '<strong id="user-name">nora</strong>' in done.text, done.text[:400]
    with site.app.app_context():
        return identity.find_by_user_name("default", "nora").id


# --- what every page is read for --------------------------------------------------------------------------------

READ_LOOK = """() => {
  const body = getComputedStyle(document.body);
  return {
    lang: document.documentElement.lang,
    title: document.title,
    sheets: [...document.styleSheets].map(s => ({href: s.href, rules: s.cssRules.length})),
    maxWidth: body.maxWidth,
    font: body.fontFamily,
    home: document.querySelector("body > header a[href]")?.getAttribute("href") ?? null,
    h1: [...document.querySelectorAll("h1")].map(h => h.textContent.trim()),
    text: document.documentElement.innerText,
  };
}"""

READ_FIELDS = """(scope) => {
  const root = scope ? document.querySelector(scope) : document;
  const before = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  return [...root.querySelectorAll("input, select, textarea")]
    .filter(i => !["hidden", "submit", "button"].includes(i.type))
    .map(i => {
      const label = (i.id && document.querySelector(`label[for="${i.id}"]`)) || i.closest("label");
      return {
        name: i.name, type: i.type, autocomplete: i.getAttribute("autocomplete"),
        labelled: !!label && label.textContent.trim().length > 0,
        labelFirst: !!label && (label.contains(i) || before(label, i)),
        visible: i.getBoundingClientRect().height > 0,
      };
    });
}"""


def read(page, script: str, arg=None):
    return page.evaluate(script, arg)


def assert_stepgate_look(page, origin: str, h1: str | None = None) -> dict:
    """stepgate's stylesheet loaded and applied, the header's link home, one heading: the page's look."""
    look = read(page, READ_LOOK)
    assert look["lang"], "the page says its language"
    assert [s["href"] for s in look["sheets"]] == [origin + "/static/base.css"]
    assert look["sheets"][0]["rules"] > 10, "the stylesheet arrived, not an empty answer"
    assert look["maxWidth"] == "704px", "base.css's 44rem column applies (a browser's default is none)"
    assert "system-ui" in look["font"], "base.css's font applies (a browser's default is a serif)"
    assert len(look["h1"]) == 1 and look["h1"][0], look["h1"]
    if h1 is not None:
        assert look["h1"] == [h1] and look["title"] == h1
    for marker in WERKZEUG_MARKERS:
        assert marker not in look["text"]
    return look


def assert_fields_labelled(page, scope: str) -> list[dict]:
    fields = read(page, READ_FIELDS, scope)
    assert fields, f"no field in {scope}"
    for field in fields:
        assert field["labelled"] and field["labelFirst"] and field["visible"], field
    return fields


def sign_in_with_password(page, url: str, user: str, password: str = PASSWORD) -> None:
    page.goto(url)
    page.fill("#USERNAME", user)
    page.fill("#PASSWORD", password)
    page.click("#login_button")
    page.wait_for_load_state()


def sign_in_at_provider(page, url: str, login: str) -> None:
    page.goto(url)
    page.fill("#devop-login input[name=login]", login)
    page.click("#devop-login button[type=submit]")
    page.wait_for_load_state()


# --- error pages ------------------------------------------------------------------------------------------------

READ_ERROR = """() => {
  const alert = document.querySelector("main [role=alert]");
  const style = alert && getComputedStyle(alert);
  return {
    alertShown: !!alert && alert.getBoundingClientRect().height > 0 && alert.textContent.trim().length > 0,
    alertBox: style ? [style.borderTopStyle, style.backgroundColor] : null,
    reason: document.querySelector("main code")?.textContent ?? null,
    home: document.querySelector("main a[href]")?.getAttribute("href") ?? null,
  };
}"""


def post_a_form(page, action: str) -> None:
    page.evaluate(
        """(action) => { const f = document.createElement("form"); f.method = "post"; f.action = action;
                         document.body.append(f); f.submit(); }""",
        action,
    )


@pytest.mark.parametrize(
    ("status", "h1", "reason"),
    [
        (404, "Page not found", "page.not_found"),
        (405, "Not allowed here", "request.method_not_allowed"),
        (500, "Something went wrong", "server.error"),
    ],
)
def test_an_http_error_is_a_stepgate_page_in_a_browser(site, page, status, h1, reason):
    if status == 405:  # a form posted where only GET is answered
        page.goto(site.url + "/")
        with page.expect_navigation() as navigation:
            post_a_form(page, "/")
        answer = navigation.value
    else:
        answer = page.goto(site.url + {404: "/no/such/page", 500: "/broken"}[status])
    assert answer.status == status and answer.headers["content-type"].startswith("text/html")
    assert_stepgate_look(page, site.url, h1)
    error = read(page, READ_ERROR)
    assert error["alertShown"] and error["alertBox"][0] == "solid", "base.css's .error box, not bare text"
    assert error["alertBox"][1] != "rgba(0, 0, 0, 0)"
    assert error["reason"] == reason and error["home"] == "/"
    assert "hunter2" not in page.content() and "RuntimeError" not in page.content()


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/no/such/page", 404, "page.not_found"),
        ("DELETE", "/", 405, "request.method_not_allowed"),
        ("GET", "/broken", 500, "server.error"),
    ],
)
def test_an_api_client_gets_the_same_errors_as_json(site, method, path, status, reason):
    answer = requests.request(method, site.url + path, headers={"Accept": "application/json"}, timeout=10)
    assert_json_error(answer, status, reason)


def test_an_unknown_federation_endpoint_answers_json_whatever_the_client_accepts(site):
    answer = requests.get(site.url + "/oamfed/no/such/endpoint", headers={"Accept": "text/html"}, timeout=10)
    assert_json_error(answer, 404, "page.not_found")


def assert_json_error(answer: requests.Response, status: int, reason: str) -> None:
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert set(body) == {"error", "message"} and body["error"] == reason and body["message"]
    assert "hunter2" not in answer.text and "<html" not in answer.text.lower()


def test_scim_clients_get_scim_errors_for_unknown_paths_and_wrong_methods(site):
    for method, path, status in (("GET", "/scim/v2/NoSuchEndpoint", 404), ("PUT", "/scim/v2/Users", 405)):
        answer = requests.request(
            method, site.url + path, headers={"Accept": "text/html"}, timeout=10
        )  # even a client that asks for HTML
        assert answer.status_code == status
        assert answer.headers["Content-Type"].startswith("application/scim+json")
        body = answer.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert body["status"] == str(status)


# --- signing in and out -----------------------------------------------------------------------------------------


def test_the_sign_in_page_labels_its_fields_and_shows_a_refusal_then_signs_in(site, page):
    page.goto(site.url + "/demo/")
    assert_stepgate_look(page, site.url)
    fields = assert_fields_labelled(page, "#loginData")
    assert [(f["name"], f["autocomplete"]) for f in fields] == [
        ("USERNAME", "username"),
        ("PASSWORD", "current-password"),
    ]
    assert page.locator("ul.rules").count() == 0, "signing in with a password states no policy"

    page.fill("#USERNAME", "lena")
    page.fill("#PASSWORD", "not her password")
    page.click("#login_button")
    page.wait_for_selector("[role=alert]")
    assert_stepgate_look(page, site.url)
    assert read(page, "() => document.querySelector('[role=alert]').getBoundingClientRect().height") > 0
    assert page.locator("#loginData #USERNAME").count() == 1, "the form is offered again"

    page.fill("#USERNAME", "lena")
    page.fill("#PASSWORD", PASSWORD)
    page.click("#login_button")
    page.wait_for_url(site.url + "/demo/")
    assert page.inner_text("#user-name") == "lena"


READ_SIGNOUT = """() => {
  const form = document.querySelector("form#logout");
  return {
    method: form?.getAttribute("method"),
    action: form?.getAttribute("action"),
    csrf: !!form?.querySelector("input[type=hidden][name=csrf_token]")?.value,
    submit: form?.querySelectorAll("button[type=submit]").length,
    who: document.querySelector("main strong")?.textContent ?? null,
  };
}"""


def test_the_sign_out_pages_ask_with_a_post_form_then_say_it_is_done(site, page):
    sign_in_with_password(page, site.url + "/demo/", "lena")
    page.goto(site.url + "/logout")
    assert_stepgate_look(page, site.url)
    asked = read(page, READ_SIGNOUT)
    assert asked == {"method": "post", "action": "/logout", "csrf": True, "submit": 1, "who": "lena"}

    page.click("#logout_button")
    page.wait_for_load_state()
    assert_stepgate_look(page, site.url)
    home = page.locator("main a[href]")
    assert home.count() == 1 and home.get_attribute("href") == "/"
    page.goto(site.url + "/demo/")
    assert page.locator("#loginData").count() == 1, "the session has ended"


# --- the JIT password prompt --------------------------------------------------------------------------------------

READ_PROMPT = """() => {
  const input = document.getElementById("PASSWORD");
  const ids = (input.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean);
  const described = ids.map(id => document.getElementById(id)).filter(Boolean);
  const rules = document.querySelector("ul.rules");
  const box = (e) => e.getBoundingClientRect();
  const failed = [...document.querySelectorAll("ul.rules li.failed")];
  const plain = document.querySelector("ul.rules li:not(.failed)");
  return {
    autocomplete: [...document.querySelectorAll("input[type=password]")].map(i => i.getAttribute("autocomplete")),
    rules: rules ? [...rules.querySelectorAll("li")].map(li => li.dataset.rule) : [],
    rulesBeforeInput: !!rules && !!(rules.compareDocumentPosition(input) & Node.DOCUMENT_POSITION_FOLLOWING),
    rulesRightAboveInput: !!rules && rules.nextElementSibling === input && box(input).top - box(rules).bottom < 24,
    rulesVisible: !!rules && box(rules).height > 0,
    describesInput: described.includes(rules),
    failed: failed.map(li => li.dataset.rule),
    failedDescribeInput: failed.every(li => described.some(d => d.contains(li))),
    failedStandOut: failed.length > 0 && !!plain && getComputedStyle(failed[0]).color !== getComputedStyle(plain).color,
    invalid: input.getAttribute("aria-invalid"),
  };
}"""


def test_the_jit_password_prompt_states_the_policy_first_and_marks_the_failed_rule_beside_the_field(site, page):
    sign_in_at_provider(page, site.url + "/demo/jit/reports", "pia")
    page.wait_for_selector("#loginData")
    assert_stepgate_look(page, site.url)
    assert_fields_labelled(page, "#loginData")
    before = read(page, READ_PROMPT)
    assert before["autocomplete"] == ["new-password", "new-password"]
    assert "registration.password_too_short" in before["rules"] and "registration.password_no_digit" in before["rules"]
    assert before["rulesBeforeInput"] and before["rulesRightAboveInput"] and before["rulesVisible"]
    assert before["describesInput"], "the policy is tied to the field for screen readers"
    assert before["failed"] == [] and before["invalid"] is None

    page.fill("#PASSWORD", "no digits at all here")
    page.fill("#CONFIRM_PASSWORD", "no digits at all here")
    page.click("#login_button")
    page.wait_for_selector("ul.rules li.failed")
    refused = read(page, READ_PROMPT)
    assert refused["failed"] == ["registration.password_no_digit"]
    assert refused["failedDescribeInput"] and refused["rulesRightAboveInput"], "the failed rule sits at its field"
    assert refused["failedStandOut"] and refused["invalid"] == "true"
    assert refused["rules"] == before["rules"], "the whole policy is still stated for the next try"

    page.fill("#PASSWORD", STRONG)
    page.fill("#CONFIRM_PASSWORD", STRONG)
    page.click("#login_button")
    page.wait_for_url(site.url + "/demo/jit/reports")
    assert page.inner_text("#user-name") == "pia"


# --- the example registration page ------------------------------------------------------------------------------

READ_REGISTRATION = """() => {
  const box = (e) => e.getBoundingClientRect();
  const fields = [...document.querySelectorAll("#registration input")]
    .filter(i => !["hidden", "submit"].includes(i.type));
  return fields.map(input => {
    const row = input.closest(".row");
    const errorId = input.getAttribute("aria-describedby");
    const error = errorId ? document.getElementById(errorId) : null;
    const holder = input.closest("label") || input;
    return {
      field: input.name,
      top: box(holder).top, bottom: box(holder).bottom,
      rowTop: row ? box(row).top : null, rowBottom: row ? box(row).bottom : null,
      fieldsInRow: row ? row.querySelectorAll("input").length : null,
      error: error ? error.textContent.trim() : null,
      errorInRow: !!error && error.closest(".row") === row,
      errorRightAfter: !!error && error.previousElementSibling === holder,
      errorGap: error ? box(error).top - box(holder).bottom : null,
      invalid: input.getAttribute("aria-invalid"),
      strayErrors: row ? [...row.querySelectorAll(".field-error")].filter(e => e !== error).length : null,
    };
  });
}"""


def test_the_registration_page_looks_like_stepgate_one_field_a_row_errors_beside_their_fields(site, page):
    sign_in_at_provider(page, site.url + "/demo/selfreg/projects", "rhea")
    page.wait_for_selector("#registration")
    assert page.url.startswith(site.page.url + "/register?registrationid=")
    assert_stepgate_look(page, site.page.url)
    stepgate_css = requests.get(site.url + "/static/base.css", timeout=10).text
    assert requests.get(site.page.url + "/static/base.css", timeout=10).text == stepgate_css, "the same stylesheet"
    assert_fields_labelled(page, "#registration")
    rows = read(page, READ_REGISTRATION)
    assert len(rows) >= 4
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert later["top"] >= earlier["bottom"], f"{earlier['field']} and {later['field']} share a row"
        assert later["rowTop"] >= earlier["rowBottom"]
    assert all(r["fieldsInRow"] == 1 and r["error"] is None and r["invalid"] is None for r in rows)

    page.fill("#userName", "not a user name!")
    page.fill("#department", "")
    # the server's checks, not the browser's: submit() skips the form's own validation
    page.evaluate("setTimeout(() => document.getElementById('registration').submit(), 0)")
    page.wait_for_selector(".field-error")
    assert_stepgate_look(page, site.page.url)
    refused = {r["field"]: r for r in read(page, READ_REGISTRATION)}
    marked = {name for name, r in refused.items() if r["error"]}
    assert marked == {"userName", "department", "accept_terms"}
    for name in marked:
        row = refused[name]
        assert row["errorInRow"] and row["errorRightAfter"] and 0 <= row["errorGap"] < 16, row
        assert row["invalid"] == "true" and row["strayErrors"] == 0
    assert page.input_value("#userName") == "not a user name!", "what was typed stays"

    page.fill("#userName", "rhea")
    page.fill("#department", "Design")
    page.check("#accept_terms")
    page.click("#registration button[type=submit]")
    page.wait_for_url(site.url + "/demo/selfreg/projects")
    assert page.inner_text("#user-name") == "rhea"


def test_a_stopped_registration_offers_start_again_as_a_link(site, page):
    answer = page.goto(site.page.url + "/register?registrationid=no-such-registration")
    assert answer.status == 404
    assert_stepgate_look(page, site.page.url)
    link = read(
        page,
        """() => { const a = document.getElementById("start-again");
                   return a && {tag: a.tagName, href: a.href, inAlert: !!a.closest("[role=alert]"),
                                shown: a.getBoundingClientRect().height > 0}; }""",
    )
    assert link == {"tag": "A", "href": site.url + "/", "inAlert": False, "shown": True}
    with page.expect_navigation():
        page.click("#start-again")
    assert page.url == site.url + "/"


# --- consent and the user-name prompt (WSO2's JIT prompts) -------------------------------------------------------

READ_CONSENT = """() => {
  const form = document.getElementById("consent");
  return {
    csrf: !!form.querySelector("input[type=hidden][name=csrf_token]")?.value,
    purposes: [...form.querySelectorAll("fieldset.purpose")].map(set => {
      const boxes = set.querySelectorAll("input[type=checkbox]");
      const box = boxes[0];
      return {
        boxes: boxes.length,
        inLegend: !!box && !!box.closest("legend"),
        labelled: !!box && !!document.querySelector(`label[for="${box.id}"]`),
        required: !!set.querySelector(".required"),
        attributes: set.querySelectorAll("code").length,
      };
    }),
    buttons: [...form.querySelectorAll("button[type=submit]")].map(b => b.value),
  };
}"""


def test_a_newcomer_meets_the_consent_page_then_the_user_name_prompt(site, page):
    sign_in_at_provider(page, site.url + "/demo/jit-username/start", "uma")
    page.wait_for_selector("#consent")
    assert_stepgate_look(page, site.url)
    consent = read(page, READ_CONSENT)
    assert consent["csrf"] and consent["buttons"] == ["accept", "decline"]
    assert len(consent["purposes"]) == 2
    for purpose in consent["purposes"]:
        assert purpose["boxes"] == 1 and purpose["inLegend"] and purpose["labelled"] and purpose["attributes"] > 0
    assert [p["required"] for p in consent["purposes"]] == [True, False]

    page.click("#consent-accept")
    page.wait_for_selector("#user-name-form")
    assert_stepgate_look(page, site.url)
    fields = assert_fields_labelled(page, "#user-name-form")
    assert [(f["name"], f["autocomplete"]) for f in fields] == [("user_name", "username")]
    assert page.locator("#user-name-problem").count() == 0

    page.fill("#user_name", "Admin")  # the administrator's name, in another case: taken
    page.click("#user-name-submit")
    page.wait_for_selector("#user-name-problem")
    assert_stepgate_look(page, site.url)
    problem = read(
        page,
        """() => { const p = document.getElementById("user-name-problem");
                   const f = document.getElementById("user-name-form");
                   return {role: p.getAttribute("role"), reason: p.dataset.reason,
                           beforeForm: !!(p.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING),
                           shown: p.getBoundingClientRect().height > 0}; }""",
    )
    assert problem["role"] == "alert" and problem["reason"] and problem["beforeForm"] and problem["shown"]
    assert page.locator("#user-name-form #user_name").count() == 1, "asked again"


# --- the MFA code page ------------------------------------------------------------------------------------------

READ_CODE_PAGE = """() => {
  const input = document.getElementById("otp");
  const qr = document.querySelector("#totp-qr svg");
  return {
    autocomplete: input.getAttribute("autocomplete"), inputmode: input.getAttribute("inputmode"),
    qr: qr ? Math.round(qr.getBoundingClientRect().width) : 0,
    secret: document.getElementById("totp-secret")?.textContent.trim() ?? "",
    alert: !!document.querySelector("main [role=alert]"),
  };
}"""


def test_the_mfa_code_page_shows_the_enrolment_and_asks_for_a_one_time_code(site, page):
    sign_in_with_password(page, site.url + "/demo/mfa/", "milo")
    page.wait_for_selector("#otpForm")
    assert_stepgate_look(page, site.url)
    assert_fields_labelled(page, "#otpForm")
    enrolment = read(page, READ_CODE_PAGE)
    assert enrolment["autocomplete"] == "one-time-code" and enrolment["inputmode"], "the phone's keyboard fits"
    assert enrolment["qr"] > 100 and re.fullmatch(r"[A-Z2-7 ]{16,}", enrolment["secret"]), enrolment
    assert not enrolment["alert"]

    secret = enrolment["secret"].replace(" ", "")
    accepted = {code_at(secret, step) for step in (-1, 0, 1)}  # the window a right code may come from
    page.fill("#otp", next(wrong for wrong in ("000000", "111111", "222222", "333333") if wrong not in accepted))
    page.click("#otp_button")
    page.wait_for_selector("main [role=alert]")
    assert_stepgate_look(page, site.url)
    assert read(page, READ_CODE_PAGE)["alert"] and page.locator("#otpForm #otp").count() == 1


# --- the admin console --------------------------------------------------------------------------------------------

READ_TABLE = """(selector) => {
  const table = document.querySelector(selector);
  const heads = [...table.querySelectorAll("tr:first-child th")].map(th => th.textContent.trim());
  return [...table.querySelectorAll("tr")].slice(1).map(tr =>
    Object.fromEntries([...tr.cells].map((td, i) => [heads[i] ?? i, td.innerText.trim()])));
}"""


def test_the_providers_page_names_the_last_refusal_never_the_routine_redirect(site, admin, nora):
    admin.goto(site.url + "/admin/providers")
    rows = read(admin, READ_TABLE, "#providers")
    devop = next(r for r in rows if r["Name"] == "devop")
    assert devop["Last error"].startswith("idp.access_denied"), devop["Last error"]
    codes = read(admin, "() => [...document.querySelectorAll('#providers code')].map(c => c.textContent)")
    assert "oidc.redirect" not in codes, "newer than the refusal, and no error"


def test_a_links_last_sign_in_is_written_and_shown(site, admin, nora):
    admin.goto(f"{site.url}/admin/users/{nora}")
    [link] = read(admin, READ_TABLE, "#links")
    assert link["Provider"] == "devop"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert link["Last sign-in"].startswith(today), link


READ_EVENTS = """() => [...document.querySelectorAll("#events tr")].slice(1).filter(tr => tr.cells.length > 1)
.map(tr => {
  const cells = [...tr.cells];
  const outcome = cells[5], detail = cells[8], user = tr.querySelector("a.user-ref");
  const box = (e) => e.getBoundingClientRect();
  const before = detail.querySelector(".before"), after = detail.querySelector(".after");
  const inside = [...detail.querySelectorAll("code")].every(c =>
    box(c).left >= box(detail).left - 1 && box(c).right <= box(detail).right + 1);
  const lines = (e) => {  // the line boxes its text takes
    if (!e || !e.textContent.trim()) return 1;
    const range = document.createRange();
    range.selectNodeContents(e);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
  };
  return {
    event: cells[1].innerText.trim(), reason: cells[6].innerText.trim(),
    outcomeClass: outcome.className, outcomeColour: getComputedStyle(outcome).color,
    user: user ? user.textContent.trim() : null, userHref: user ? user.getAttribute("href") : null,
    beforeAfter: !!(before && after),
    ownLines: !!(before && after) && box(after).top >= box(before).bottom - 1,
    detailWidth: box(detail).width,
    detailInView: box(detail).right <= window.innerWidth,
    overflows: detail.scrollWidth > detail.clientWidth + 1 || !inside,
    whole: [cells[0], cells[2].querySelector("code"), cells[6].querySelector("code")].every(e => lines(e) === 1),
    emptyCodes: [...tr.querySelectorAll("code")].filter(c => !c.textContent && box(c).width > 0).length,
    detail: detail.innerText,
  };
})"""


def test_audit_rows_name_their_users_and_give_before_and_after_room(site, admin, nora):
    admin.goto(f"{site.url}/admin/users/{nora}")
    admin.click("#lock")
    admin.wait_for_selector("#unlock")
    long_value = "https://example.org/" + "a-very-long-path-segment/" * 12
    admin.fill("#set-attribute input[name=name]", "website")
    admin.fill("#set-attribute input[name=value]", long_value)
    admin.click("#set-attribute button[type=submit]")
    admin.wait_for_load_state()

    admin.goto(site.url + "/admin/audit")
    rows = read(admin, READ_EVENTS)
    with site.app.app_context():
        names = {f"/admin/users/{u.id}": u.user_name for u in db.session.scalars(db.select(identity.User))}
    named = [r for r in rows if r["userHref"]]
    assert named and all(r["user"] == names[r["userHref"]] for r in named), "names, not ids"
    assert {r["user"] for r in named} >= {"nora"}

    [locked] = [r for r in rows if r["event"] == "user.status"]
    assert locked["beforeAfter"] and locked["ownLines"], locked
    changed = [r for r in rows if r["event"] == "user.attribute_changed" and "website" in r["detail"]]
    assert changed, "the console's attribute change is in the log"
    for row in [locked, *changed]:
        assert not row["overflows"] and row["detailWidth"] >= 300 and row["detailInView"], row
    assert all(r["whole"] for r in rows), "times, flow references and reason codes are not broken letter by letter"
    assert not any(r["emptyCodes"] for r in rows), "an event without a reason shows no empty code box"
    assert read(admin, "() => document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"


def test_an_expected_user_not_linked_is_shown_as_a_branch_not_a_red_failure(site, admin, nora):
    admin.goto(site.url + "/admin/audit?reason=user.not_linked")
    not_linked = read(admin, READ_EVENTS)
    admin.goto(site.url + "/admin/audit?reason=idp.access_denied")
    refusals = read(admin, READ_EVENTS)
    assert not_linked and refusals
    for row in not_linked:
        assert "outcome-failure" not in row["outcomeClass"] and "outcome-error" not in row["outcomeClass"], row
        assert row["outcomeColour"] != RED, row
    assert refusals[0]["outcomeColour"] == RED, "a real refusal still reads as one"
