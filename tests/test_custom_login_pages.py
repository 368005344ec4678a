"""An administrator's own prompt page, as OAM takes it (42.2): challenge URL, customHTML, actiontype REDIRECT.

Each scenario signs in at the real development provider over real HTTP; the
external login page is a real server on another loopback port.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, request
from markupsafe import escape

from app.stores import sql as identity
from tests.jit_steps import provider_sign_in
from tests.oidc_fixtures import PortServer, free_port

STRONG = "sunny-meadow-42"
CUSTOM = {"JIT custom page": {"scheme": "AutoProvisioningCustomPageScheme"}}
CUSTOM_AREA = [{"url": "/demo/jit-custom/**", "policy": "JIT custom page"}]

SEED_SAMPLE = """<h4> Creating User Account with following details </h4>
<form id="loginData" action="/oam/server/auth_cred_submit" method="post" name="loginData">
\t<div id="oam_credentials" class="input-row">
\t\t<span class="ctrl"></span>
\t<div class="button-row">
\t\t<span class="ctrl">
\t\t\t<input id="login_button" type="submit" value="Login" class="formButton"
\t\t\t\tonclick="this.disabled=true;document.body.style.cursor = 'wait';
\t\t\t\tthis.className='formButton-disabled';form.submit();return false;"/>
\t<div id="ignore_oam_error_codes"></div>
"""
"""The seed's sample page, character for character (its divs are never closed)."""


def scheme_with(name: str, *, page: dict[str, str] | None = None, collector: str) -> str:
    """The shipped AutoProvisioningScheme renamed, with a scheme header for the page and collector parameters."""
    from tests.conftest import ROOT

    text = (ROOT / "schemes" / "AutoProvisioningScheme.yaml").read_text()
    text = text.replace("name: AutoProvisioningScheme", f"name: {name}").replace(
        "name: AutoProvisioning_WithPasswd", f"name: {name}_module"
    )
    header = "".join(f"{key}: {value}\n" for key, value in (page or {}).items())
    text = text.replace("challenge_parameters:", header + "challenge_parameters:", 1)
    return text.replace("        properties_file: labels/autoprovisioning.properties\n", collector)


@pytest.fixture
def custom_site(make_jit_site):
    return make_jit_site(policies=CUSTOM, resources=CUSTOM_AREA)


def test_a_newcomer_chooses_a_password_on_the_administrators_page_served_at_the_challenge_url(custom_site):
    with custom_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-custom/welcome", "henry", given_name="Henry")
        assert page.status_code == 200 and page.url == browser.url("/CustomReadServlet"), page.url
        assert 'id="custom-heading"' in page.text, "the administrator's own page"
        assert '<label for="PASSWORD">Password</label>' in page.text, "labelled from the .properties beside it"
        form = browser.form(page)
        assert form["action"] == "/oam/server/auth_cred_submit"
        assert form["fields"]["USERNAME"] == "henry" and form["fields"]["csrf_token"]

        weak = browser.submit({"PASSWORD": "short", "CONFIRM_PASSWORD": "short"})
        assert weak.url == browser.url("/CustomReadServlet"), "back to the page, with what went wrong"
        errors = weak.text.split('id="ignore_oam_error_codes">', 1)[1]
        assert errors.startswith('<p class="error" role="alert" id="form-error">') and "password policy" in errors

        done = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})
        assert done.url == browser.url("/demo/jit-custom/welcome")
        assert '<strong id="user-name">henry</strong>' in done.text
    with custom_site.app.app_context():
        assert identity.find_by_user_name("default", "henry").check_password(STRONG)
    with custom_site.browser() as browser:
        again = provider_sign_in(browser, "/demo/jit-custom/", "henry")
        assert again.url == browser.url("/demo/jit-custom/"), "a returning person never sees the page"


def test_the_page_is_labelled_in_the_browsers_language(custom_site):
    with custom_site.browser() as browser:
        browser.session.headers["Accept-Language"] = "fr-CH, fr;q=0.9, en;q=0.5"
        page = provider_sign_in(browser, "/demo/jit-custom/", "ines")
        assert '<label for="PASSWORD">Mot de passe</label>' in page.text
        assert "<title>Création de votre compte</title>" in page.text


def test_the_seeds_sample_page_works_unchanged_and_its_text_is_never_run_as_a_template(make_jit_site):
    scheme = scheme_with(
        "SeedPageScheme",
        page={"challenge_url": "/CustomReadServlet", "context_type": "customHTML", "context_value": "custom/seed.html"},
        collector="        actiontype: REDIRECT\n        loginPageURL: /CustomReadServlet\n",
    )
    site = make_jit_site(
        schemes={
            "SeedPageScheme.yaml": scheme,
            "custom/seed.html": SEED_SAMPLE + "<p id='literal'>{{ 7 * 7 }}</p>\n",
            "custom/seed.properties": "PASSWORD=<b>Pass</b> & word\n",
        },
        policies={"Seed": {"scheme": "SeedPageScheme"}},
        resources=[{"url": "/demo/seed/**", "policy": "Seed"}],
    )
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/seed/", "jules")
        assert "Creating User Account with following details" in page.text
        # no 49 anywhere but inside a form value (the random CSRF token may hold those two digits)
        without_values = re.sub(r"""value=(["'])[^"']*\1""", "", page.text)
        assert "<p id='literal'>{{ 7 * 7 }}</p>" in page.text and "49" not in without_values
        assert "&lt;b&gt;Pass&lt;/b&gt; &amp; word" in page.text, "labels are escaped like every other value"
        assert "onclick" in page.text, "the page is served as written; the CSP blocks the inline handler"
        assert (
            "script-src 'self'" in page.headers["Content-Security-Policy"]
            or "default-src" in page.headers["Content-Security-Policy"]
        )
        done = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})
        assert done.url == browser.url("/demo/seed/") and '<strong id="user-name">jules</strong>' in done.text


@pytest.mark.parametrize(
    "forged",
    [
        {},
        {"csrf_token": "forged"},
        {"loginid": "guessed"},
        {"loginid": ""},
    ],
    ids=["no-token", "forged-csrf-token", "loginid-never-sent", "empty-loginid"],
)
def test_a_post_without_the_pages_token_creates_nothing(custom_site, forged):
    with custom_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-custom/", "kate")
        assert page.url == browser.url("/CustomReadServlet")
        browser.post("/oam/server/auth_cred_submit", {"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG, **forged})
        assert browser.cookie("stepgate_session") is None
    with custom_site.app.app_context():
        assert identity.find_by_user_name("default", "kate") is None


def test_the_challenge_url_without_a_flow_is_a_clear_page_and_takes_no_posts(custom_site):
    with custom_site.browser() as browser:
        page = browser.get("/CustomReadServlet")
        assert page.status_code == 400 and "This sign-in has expired" in page.text
        posted = browser.post("/CustomReadServlet", {"PASSWORD": STRONG})
        assert posted.status_code in (400, 405)


class ExternalLoginPage:
    """The organisation's own login page on another port: it shows a form that posts back with the loginid."""

    def __init__(self):
        page = Flask("external_login_page")
        self.gate_url = ""  # known once the gate has its port

        @page.get("/login")
        def login():
            loginid, error = request.args.get("loginid", ""), request.args.get("error", "")
            return (
                f"<p id='error'>{escape(error)}</p>"
                f"<form method='post' action='{self.gate_url}/oam/server/auth_cred_submit'>"
                f"<input type='hidden' name='loginid' value='{escape(loginid)}'>"
                "<input name='PASSWORD' type='password'><input name='CONFIRM_PASSWORD' type='password'></form>"
            )

        self.server = PortServer(page, free_port())
        self.url = self.server.url + "/login"


def test_an_external_login_page_posts_back_with_the_loginid_it_was_sent_once(make_jit_site):
    external = ExternalLoginPage()
    scheme = scheme_with(
        "ExternalPageScheme",
        collector=f"        actiontype: REDIRECT\n        loginPageURL: {external.url}?brand=acme\n",
    )
    site = make_jit_site(
        schemes={"ExternalPageScheme.yaml": scheme},
        policies={"External": {"scheme": "ExternalPageScheme"}},
        resources=[{"url": "/demo/ext/**", "policy": "External"}],
    )
    external.gate_url = site.url
    try:
        with site.browser() as browser:
            page = provider_sign_in(browser, "/demo/ext/", "liam")
            assert page.url.startswith(external.url + "?"), page.url
            sent = parse_qs(urlsplit(page.url).query)
            assert sent["brand"] == ["acme"] and len(sent["loginid"][0]) >= 40
            login_id = sent["loginid"][0]
            submit = site.url + "/oam/server/auth_cred_submit"

            guessed = browser.post(submit, {"loginid": login_id[:-2] + "xx", "PASSWORD": STRONG})
            assert guessed.status_code == 400 and "<code>form.csrf</code>" in guessed.text, "neither token"

            weak = browser.post(submit, {"loginid": login_id, "PASSWORD": "short", "CONFIRM_PASSWORD": "short"})
            assert weak.url.startswith(external.url), "back to the page, with what went wrong and a new loginid"
            again = parse_qs(urlsplit(weak.url).query)
            assert again["error"] == ["registration.password_too_short"] and again["loginid"] != [login_id]
            replayed = browser.post(submit, {"loginid": login_id, "PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})
            assert replayed.status_code == 400, "a loginid is good for one post"
            assert browser.cookie("stepgate_session") is None

            browser.get(weak.url)
            done = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})  # the page's own form
            assert done.url == site.url + "/demo/ext/" and '<strong id="user-name">liam</strong>' in done.text
        with site.app.app_context():
            assert identity.find_by_user_name("default", "liam").check_password(STRONG)
    finally:
        external.server.stop()


PARAMS = "challenge_parameters:\n"
PAGE = "context_type: customHTML\ncontext_value: custom/"
BROKEN = [  # (scheme header, message, suggested fix, line of the problem)
    (PARAMS + "  initial_comand: NONE\n", "unknown challenge parameter 'initial_comand'", "initial_command", 3),
    (PARAMS + "  OverrideRetryLimt: 3\n", "unknown challenge parameter 'OverrideRetryLimt'", "OverrideRetryLimit", 3),
    (PARAMS + "  initial_command: LOGIN\n", "initial_command 'LOGIN' is not supported", None, 3),
    ("context_type: customHtml\n", "unknown context_type 'customHtml'", "customHTML", 2),
    ("context_type: customHTML\n", "context_type customHTML needs context_value", None, 1),
    (PAGE + "missing.html\n", "cannot read the custom page", None, 3),
    (PAGE + "nofields.html\n", 'no element with id="oam_credentials"', None, 3),
    (PAGE + "elsewhere.html\n", "no <form> with action=", None, 3),
    (
        "challenge_url: https://evil.example/login\n",
        "'https://evil.example/login' must be a path",
        None,
        2,
    ),
    ("challenge_url: //evil.example/login\n", "must be a path", None, 2),
    ("challenge_url: /admin/login\n", "must be a path", None, 2),
    ("challenge_url: /a/../oam/server/x\n", "must be a path", None, 2),
    ("challenge_url: /Custom%2FRead\n", "must be a path", None, 2),
]


@pytest.mark.parametrize("header,message,suggestion,line", BROKEN, ids=[b[1] for b in BROKEN])
def test_schemes_check_names_the_file_line_and_the_fix(tmp_path, header, message, suggestion, line):
    from app.engine.registry import PluginRegistry
    from app.engine.scheme import parse_scheme
    from app.yamlsource import ConfigError

    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "nofields.html").write_text('<form action="/oam/server/auth_cred_submit"></form>')
    (tmp_path / "custom" / "elsewhere.html").write_text('<form action="/x"><div id="oam_credentials"></div></form>')
    text = f"name: Broken\n{header}module:\n  steps:\n    Ask:\n      plugin: CredentialCollectorPlugin\n" + (
        "      params: {CRED_PARAM_1: '{ID=USERNAME}'}\n  orchestration:\n    initial_step: Ask\n"
        "    Ask: {on_success: success}\n"
    )
    file = tmp_path / "Broken.yaml"
    with pytest.raises(ConfigError) as raised:
        parse_scheme(text, str(file), PluginRegistry.discover())
    [problem] = [p for p in raised.value.problems if message in p.message]
    assert (problem.file, problem.line) == (str(file), line)
    if suggestion:
        assert f"did you mean '{suggestion}'?" in problem.message


@pytest.mark.parametrize(
    "params,message",
    [
        ("actiontype: POPUP", "actiontype 'POPUP' must be one of FORM, REDIRECT"),
        ("actiontype: REDIRECT", "actiontype REDIRECT needs loginPageURL"),
        ("loginPageURL: /CustomReadServlet", "loginPageURL is only read with actiontype REDIRECT"),
        ("{actiontype: REDIRECT, loginPageURL: 'javascript:alert(1)'}", "must be a path or an absolute http(s) URL"),
        ("{actiontype: REDIRECT, loginPageURL: '//evil.example/x'}", "is not a usable path"),
        ("{actiontype: REDIRECT, loginPageURL: 'https://login.example/#x'}", "without #fragment"),
    ],
)
def test_the_collectors_login_page_parameters_are_checked(params, message):
    from app.engine.registry import PluginRegistry
    from app.engine.scheme import parse_scheme
    from app.yamlsource import ConfigError

    body = params if params.startswith("{") else "{" + params + "}"
    cred = "CRED_PARAM_1: '{ID=USERNAME}'"
    text = (
        "name: Broken\nmodule:\n  steps:\n    Ask:\n      plugin: CredentialCollectorPlugin\n"
        f"      params: {{{cred}, {body[1:]}\n"
        "  orchestration:\n    initial_step: Ask\n    Ask: {on_success: success}\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_scheme(text, "Broken.yaml", PluginRegistry.discover())
    assert any(message in p.message for p in raised.value.problems), raised.value.problems


def test_a_login_page_path_that_is_not_the_schemes_challenge_url_fails_closed(make_jit_site):
    scheme = scheme_with(
        "MismatchScheme", collector="        actiontype: REDIRECT\n        loginPageURL: /SomewhereElse\n"
    )
    site = make_jit_site(
        schemes={"MismatchScheme.yaml": scheme},
        policies={"Mismatch": {"scheme": "MismatchScheme"}},
        resources=[{"url": "/demo/mismatch/**", "policy": "Mismatch"}],
    )
    with site.browser() as browser:
        page = provider_sign_in(browser, "/demo/mismatch/", "mona")
        assert "the scheme is misconfigured" in page.text and re.search(
            r"<code>login_page\.misconfigured</code>", page.text
        )
    with site.app.app_context():
        assert identity.find_by_user_name("default", "mona") is None


def test_schemes_show_prints_the_challenge_url_and_the_custom_page(runner):
    output = runner.invoke(args=["schemes", "show", "AutoProvisioningCustomPageScheme"]).output
    assert "challenge URL /CustomReadServlet; context type customHTML; context value " in output
    assert output.split("context value ", 1)[1].split("\n", 1)[0].endswith("schemes/custom/autoprovisioning.html")
