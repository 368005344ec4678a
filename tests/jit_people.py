"""People the enhanced-JIT tests provision through the real development provider, and the console's sign-in."""

from __future__ import annotations

import requests

from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.jit_steps import provider_sign_in

PASSWORD = "correct horse battery staple"
STRONG = "sunny-meadow-42"
ADMIN_POLICY = {"Admin": {"scheme": "AdminScheme"}}
ADMIN_RESOURCE = [{"url": "/admin/**", "policy": "Admin"}]


def provisioned_without_password(site, *names: str) -> dict[str, str]:
    """Sign each person in once through AutoProvisioningNoPasswordScheme; their session cookies by name."""
    cookies = {}
    for name in names:
        with site.browser() as browser:
            page = provider_sign_in(browser, "/demo/jit-nopassword/", name)
            assert f'<strong id="user-name">{name}</strong>' in page.text, page.text[:300]
            cookies[name] = browser.cookie("stepgate_session")
    return cookies


def provisioned_with_password(site, name: str, **claims) -> str:
    """Sign in through AutoProvisioningScheme, choosing STRONG as the password; the session cookie."""
    with site.browser() as browser:
        prompt = provider_sign_in(browser, "/demo/jit/", name, **claims)
        done = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG}, response=prompt)
        assert f'<strong id="user-name">{name}</strong>' in done.text, done.text[:300]
        return browser.cookie("stepgate_session")


def signed_in(site, cookie: str, path: str = "/demo/jit-nopassword/") -> bool:
    """Whether this cookie still opens a protected page (not sent to sign in)."""
    answer = requests.get(site.url + path, cookies={"stepgate_session": cookie}, allow_redirects=False, timeout=10)
    return answer.status_code == 200


def link_of(site, user_name: str) -> tuple[str, str]:
    with site.app.app_context():
        [link] = federation.links_of(identity.find_by_user_name("default", user_name).id)
        return link.issuer, link.subject


def add_admin(site) -> None:
    with site.app.app_context():
        identity.create_user("default", "admin", {"groups": "admins"}, PASSWORD)
        db.session.commit()


def console(site):
    """A browser signed in to the console as ``admin``."""
    browser = site.browser()
    browser.get("/admin/users")
    page = browser.submit({"USERNAME": "admin", "PASSWORD": PASSWORD})
    assert page.url.startswith(browser.url("/admin/")), page.text[:300]
    return browser
