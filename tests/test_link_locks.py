"""WSO2's lock by social identity: lock one federated link, not the account.

The next sign-in through the locked (issuer, subject) is refused on a clear
page with its reason code, while the account's password still signs in.
From the CLI and from the console, against the real development provider.
"""

from __future__ import annotations

from app import audit
from app.stores import sql as identity
from tests.jit_people import (
    ADMIN_POLICY,
    ADMIN_RESOURCE,
    STRONG,
    add_admin,
    console,
    link_of,
    provisioned_with_password,
    signed_in,
)
from tests.jit_steps import provider_sign_in


def password_sign_in(site, name: str):
    with site.browser() as browser:
        browser.get("/demo/")
        return browser.submit({"USERNAME": name, "PASSWORD": STRONG})


def refused_at_the_link(site, name: str, path: str = "/demo/jit/") -> bool:
    with site.browser() as browser:
        page = provider_sign_in(browser, path, name)
        refused = page.status_code == 403 and "<code>federation.link_locked</code>" in page.text
        return refused and "Use another way in" in page.text and browser.cookie("stepgate_session") is None


def test_a_link_locked_from_the_cli_refuses_that_sign_in_while_the_password_still_works(jit_site):
    cookie = provisioned_with_password(jit_site, "dora")
    issuer, subject = link_of(jit_site, "dora")
    result = jit_site.app.test_cli_runner().invoke(
        args=["providers", "lock-link", issuer, subject, "--reason", "social account reported stolen"]
    )
    assert result.exit_code == 0, result.output
    assert not signed_in(jit_site, cookie, "/demo/jit/")  # the sessions it may have opened are ended
    assert refused_at_the_link(jit_site, "dora")
    assert refused_at_the_link(jit_site, "dora", "/demo/jit-nopassword/")  # another scheme: refused alike
    page = password_sign_in(jit_site, "dora")
    assert '<strong id="user-name">dora</strong>' in page.text, "the account's other way in stays open"
    with jit_site.app.app_context():
        dora = identity.find_by_user_name("default", "dora")
        assert dora.status == "active"
        [event] = audit.query(user_id=dora.id, event="federation.link_locked")
        assert event.detail["subject"] == subject and event.detail["reason"] == "social account reported stolen"
        assert [e.reason for e in audit.query(event="signin.failure")] == ["federation.link_locked"] * 2
    assert jit_site.app.test_cli_runner().invoke(args=["providers", "unlock-link", issuer, subject]).exit_code == 0
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit/", "dora")
        assert '<strong id="user-name">dora</strong>' in page.text


def test_locking_an_unknown_link_says_so(jit_site):
    result = jit_site.app.test_cli_runner().invoke(args=["providers", "lock-link", "http://127.0.0.1:1", "nobody"])
    assert result.exit_code != 0 and "no account is linked to issuer" in result.output


def test_a_link_locked_from_the_console_refuses_that_sign_in_and_a_jit_off_sign_in_too(make_jit_site):
    site = make_jit_site(
        policies={**ADMIN_POLICY, "JIT off": {"scheme": "JITOffScheme"}},
        resources=[*ADMIN_RESOURCE, {"url": "/demo/jit-off/**", "policy": "JIT off"}],
    )
    add_admin(site)
    provisioned_with_password(site, "elin")
    with site.app.app_context():
        elin = identity.find_by_user_name("default", "elin")
    with console(site) as admin:
        page = admin.get(f"/admin/users/{elin.id}")
        assert "Lock link (account stays open)" in page.text
        lock = next(f for f in _forms(page.text) if f["action"].endswith("/lock") and "/links/" in f["action"])
        done = admin.post(lock["action"], {**lock["fields"], "reason": "<b>phished</b>"})
        assert done.status_code == 200 and 'class="status-locked link-locked"' in done.text
        assert "&lt;b&gt;phished&lt;/b&gt;" in done.text and "<b>phished</b>" not in done.text
    assert refused_at_the_link(site, "elin")
    assert refused_at_the_link(site, "elin", "/demo/jit-off/")
    assert '<strong id="user-name">elin</strong>' in password_sign_in(site, "elin").text


def _forms(html: str):
    from tests.browser import parse_forms

    return parse_forms(html)
