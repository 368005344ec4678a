"""What a person does in the JIT tests: sign in at the development provider through a browser."""

from __future__ import annotations

from urllib.parse import urljoin

from tests.browser import parse_forms


def at_provider(page) -> bool:
    return "Development provider" in page.text and 'id="devop-login"' in page.text


def provider_sign_in(browser, path: str, login: str, *, email_verified: bool = True, **claims):
    """Open ``path`` on stepgate, sign in at the development provider as ``login``; return the page reached."""
    page = browser.get(path)
    assert at_provider(page), f"expected the provider's login page, got {page.url}: {page.text[:300]}"
    fields = {"login": login, "email_unverified": "" if email_verified else "true", **claims}
    return browser.submit(fields)


def cancel_at_provider(browser, path: str):
    page = browser.get(path)
    assert at_provider(page)
    cancel = next(f for f in parse_forms(page.text) if f["id"] == "devop-cancel")
    browser.last = browser.session.post(urljoin(page.url, cancel["action"]), timeout=browser.timeout)
    return browser.last


def attributes_shown(page) -> dict[str, str]:
    """The attributes table of the demo page, as a dict."""
    import re

    table = page.text.split('id="attributes"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", table))
