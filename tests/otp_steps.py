"""What a person does in the second-factor tests: read the enrolment page, compute codes as an app would."""

from __future__ import annotations

import re
import time

from app.mfa import rfc6238

MFA_PATH = "/demo/mfa/"


def code_at(secret: str, offset_steps: int = 0, now: float | None = None) -> str:
    """The code an authenticator app shows ``offset_steps`` steps from now."""
    step = rfc6238.step_at(time.time() if now is None else now) + offset_steps
    return rfc6238.hotp(rfc6238.secret_bytes(secret), step)


def away_from_step_edge(margin: float = 3.0) -> None:
    """Wait until at least ``margin`` seconds remain in the current step, so a code can't expire mid-test."""
    left = rfc6238.PERIOD - time.time() % rfc6238.PERIOD
    if left < margin:
        time.sleep(left + 0.1)


def secret_shown(page) -> str:
    match = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
    assert match, f"no TOTP secret on {page.url}: {page.text[:400]}"
    return match.group(1).replace(" ", "")


def recovery_codes_shown(page) -> list[str]:
    block = page.text.split('id="recovery-codes"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<code>([A-Z2-7-]+)</code>", block)


def signed_in(page) -> bool:
    return '<strong id="user-name">' in page.text


def asked_for_code(page) -> bool:
    return 'id="otpForm"' in page.text


def password_step(browser, user: str, password: str, path: str = MFA_PATH):
    """Open ``path`` in a fresh flow and type the user name and password."""
    browser.session.cookies.clear()
    browser.get(path)
    assert browser.form()["id"] == "loginData", browser.last.text[:300]
    return browser.submit({"USERNAME": user, "PASSWORD": password})


def enrol(browser, user: str, password: str, path: str = MFA_PATH) -> tuple[str, list[str]]:
    """Sign in for the first time: set up TOTP from the page's secret, keep the recovery codes, go on."""
    page = password_step(browser, user, password, path)
    assert 'id="totp-qr"' in page.text and "<svg" in page.text, page.text[:400]
    secret = secret_shown(page)
    away_from_step_edge()
    page = browser.submit({"otp": code_at(secret)})
    codes = recovery_codes_shown(page)
    page = browser.submit()
    assert signed_in(page), page.text[:400]
    return secret, codes


def unused_code(secret: str) -> str:
    """A right code not used yet: the next step's, which the ±1 window accepts now (enrolment used this one)."""
    return code_at(secret, +1)
