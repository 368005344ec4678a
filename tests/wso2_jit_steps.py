"""What a person does in the WSO2 JIT mode tests: answer the consent page, choose a user name.

``wso2_site`` is a stepgate with the shipped schemes and the real development
provider, whose demo paths are the ones config/settings.yaml ships for WSO2's
JIT options (read from that file, so the tests walk the shipped wiring).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WSO2_SCHEMES = (
    "JitUserNamePromptScheme",
    "JitPasswordConsentScheme",
    "JitConsentScheme",
    "JitSilentScheme",
    "JitNoProvisioningScheme",
)
STRONG = "sunny-meadow-42"


def shipped_demo_wiring() -> tuple[dict, list]:
    """The shipped policies and resources of the WSO2 schemes (config/settings.yaml's Demo domain)."""
    demo = yaml.safe_load((ROOT / "config" / "settings.yaml").read_text())["application_domains"]["Demo"]
    policies = {
        name: policy for name, policy in demo["authentication_policies"].items() if policy.get("scheme") in WSO2_SCHEMES
    }
    resources = [r for r in demo["resources"] if r["policy"] in policies]
    return policies, resources


def make_wso2_site(make_jit_site, **options):
    """The shipped WSO2 demo paths, and the admin console at /admin/ (AdminScheme, group ``admins``)."""
    policies, resources = shipped_demo_wiring()
    policies["Admin Console"] = {"scheme": "AdminScheme"}
    resources.append({"url": "/admin/**", "policy": "Admin Console"})
    return make_jit_site(policies=policies, resources=resources, **options)


@pytest.fixture
def wso2_site(make_jit_site):
    return make_wso2_site(make_jit_site)


def subject_of(login: str) -> str:
    """The development provider's ``sub`` for a login (devop/server.mjs ``subjectOf``)."""
    return hashlib.sha256(f"devop:{login}".encode()).hexdigest()[:24]


def on_consent_page(page) -> bool:
    return 'id="consent"' in page.text


def answer_consent(browser, page, *, decline: tuple[str, ...] = (), action: str = "accept"):
    """Untick the purposes named in ``decline`` and press Agree (or ``action="decline"``)."""
    assert on_consent_page(page), f"expected the consent page, got {page.url}: {page.text[:300]}"
    form = browser.form(page)
    fields = {k: v for k, v in form["fields"].items() if k.removeprefix("purpose_") not in decline}
    fields["action"] = action
    browser.last = browser.session.post(urljoin(page.url, form["action"]), data=fields, timeout=browser.timeout)
    return browser.last


def on_user_name_page(page) -> bool:
    return 'id="user-name-form"' in page.text


def choose_user_name(browser, page, name: str):
    assert on_user_name_page(page), f"expected the user-name form, got {page.url}: {page.text[:300]}"
    return browser.submit({"user_name": name}, response=page)


def suggestion_on(page) -> str | None:
    if 'id="user-name-suggestion"' not in page.text:
        return None
    return page.text.split('id="user-name-suggestion"', 1)[1].split("<code>", 1)[1].split("</code>", 1)[0]
