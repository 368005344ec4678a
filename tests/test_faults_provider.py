"""A provider that hangs, trickles or refuses: sign-ins end within their deadline on a gateway page, and
signed-in people's session checks and pages are answered at once meanwhile (issue 17).

Real gunicorn (2 workers x 4 threads, config/gunicorn.conf.py), the real development provider behind the
fault proxy (tests/provider_brownout.py: stepgate's calls pass the proxy, browsers reach the provider directly).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.oidc_fixtures import CALLBACK
from tests.provider_brownout import (
    ProxiedProvider,
    SessionChecks,
    browser_for,
    callback_url,
    signed_in_sessions,
    site_settings,
)
from tests.servers import Gunicorn, free_port

pytestmark = pytest.mark.slow

READ_TIMEOUT, TOTAL_TIMEOUT = 2, 3
MARGIN = 1.5
"""What a loaded, shared machine may add to a deadline: gunicorn, the flow's rows, the page."""
PAGE = "/demo/jit-nopassword/welcome"


@pytest.fixture(scope="module")
def provider():
    try:
        started = ProxiedProvider()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield started
    started.proxy.stop()
    started.stop()


@pytest.fixture
def site(request, provider, make_settings):
    """stepgate under gunicorn (2 workers x 4 threads) with the proxied provider; 40 people signed in.

    A test may add provider settings through indirect parametrisation (``request.param``)."""
    provider.proxy.passing()
    port = free_port()
    client = provider.register_client(f"http://127.0.0.1:{port}{CALLBACK}")
    options = {"read_timeout": READ_TIMEOUT, "total_timeout": TOTAL_TIMEOUT} | getattr(request, "param", {})
    settings = make_settings(extra=site_settings(port, provider.issuer, client, options))
    cookies = signed_in_sessions(settings, 40)
    with Gunicorn(settings, workers=2, port=port, env={"STEPGATE_THREADS": "4"}) as server:
        server.cookies = cookies
        [(status, *_)] = come_back(prepared(server, provider, 1, first=1000))  # discovery and keys now stored
        assert status == 302
        yield server
    provider.proxy.passing()


def prepared(site, provider, count: int, first: int = 0):
    """``count`` browsers, each signed in at the provider and about to come back to stepgate's callback."""
    browsers = [browser_for(site.url, provider) for _ in range(count)]
    urls = [callback_url(b, PAGE, f"person{first + n}") for n, b in enumerate(browsers)]
    return list(zip(browsers, urls, strict=True))


def come_back(pairs) -> list[tuple[int, float, str, str | None]]:
    """Every browser follows its callback at once: (status, seconds, reason code, Retry-After) each."""

    def one(pair):
        browser, url = pair
        # Its connection to stepgate may have idled past gunicorn's keep-alive while earlier rounds waited: a
        # browser retries a request such a connection loses; requests does not, so it starts on a fresh one.
        browser.session.close()
        started = time.monotonic()
        page = browser.session.get(url, timeout=60, allow_redirects=False)
        reason = re.search(r"<code>([a-z_.]+)</code>", page.text)
        return page.status_code, time.monotonic() - started, reason and reason.group(1), page.headers.get("Retry-After")

    with ThreadPoolExecutor(len(pairs)) as pool:
        answers = list(pool.map(one, pairs))
    for browser, _ in pairs:
        browser.session.close()
    return answers


def test_browsers_stuck_at_a_hung_token_endpoint_get_a_gateway_page_and_signed_in_people_are_answered_at_once(
    site, provider
):
    pairs = prepared(site, provider, 16)
    checks = SessionChecks(site.url, site.cookies, clients=3).start()
    pages = SessionChecks(site.url, site.cookies, clients=1, path="/demo/").start()
    time.sleep(1)
    provider.proxy.black_hole()
    answers = come_back(pairs)
    checks.stop()
    pages.stop()

    assert {status for status, *_ in answers} <= {503, 504}, answers
    for status, seconds, reason, retry_after in answers:
        assert seconds < TOTAL_TIMEOUT + MARGIN, answers
        if status == 504:
            assert reason == "idp.timeout"
        else:
            assert reason in ("idp.busy", "idp.unavailable") and retry_after is not None
            assert seconds < 1, "refused at once, not after waiting"
    assert sum(1 for status, *_ in answers if status == 504) <= 4, "at most 2 provider calls per worker"
    assert checks.failures == [] and pages.failures == []
    assert len(checks.latencies) > 50
    assert checks.percentile(0.99) < 1.0, f"forward-auth p99 {checks.percentile(0.99):.3f} s"
    assert pages.percentile(0.99) < 1.0, f"protected page p99 {pages.percentile(0.99):.3f} s"


def open_both_breakers(site, provider) -> list:
    """Hang the provider and send rounds of callbacks until both workers answer every one "unavailable" at once."""
    rounds = [prepared(site, provider, 6, first=10 * n) for n in range(8)]  # at the provider before it hangs
    provider.proxy.black_hole()
    for pairs in rounds:
        answers = come_back(pairs)
        if all(reason == "idp.unavailable" for _, _, reason, _ in answers):
            return answers
    pytest.fail(f"the breaker never opened on both workers: {answers}")


@pytest.mark.parametrize("site", [{"breaker_cooldown_seconds": 120}], indirect=True)
def test_repeated_timeouts_open_the_breaker_which_refuses_callbacks_and_new_sign_ins_at_once(site, provider):
    # A long cooldown: the first worker's breaker may open several rounds before the second's, and a breaker
    # whose cooldown has passed rightly lets a start through as its probe. The default cooldown's recovery
    # is the next test's.
    answers = open_both_breakers(site, provider)
    assert all(status == 503 and seconds < 1 and retry is not None for status, seconds, _, retry in answers), answers
    starts = [started_sign_in(site, provider) for _ in range(6)]  # new people are not sent to the provider at all
    assert all(status == 503 and reason == "idp.unavailable" for status, reason in starts), starts


def test_sign_ins_work_again_within_10_s_of_the_providers_return_with_the_shipped_cooldown(site, provider):
    answers = open_both_breakers(site, provider)
    assert all(status == 503 and seconds < 1 and retry == "5" for status, seconds, _, retry in answers), answers

    provider.proxy.passing()
    back, successes, attempts, first = time.monotonic(), 0, [], None
    while successes < 4 and time.monotonic() - back < 10:
        status = sign_in_status(site, provider, 100 + len(attempts))
        attempts.append(status)
        successes = successes + 1 if status == 302 else 0
        first = first or (time.monotonic() - back if status == 302 else None)
        if status != 302:
            time.sleep(0.3)
    assert successes == 4, f"sign-ins did not work again within 10 s of the provider's return: {attempts}"
    print(f"provider back: first sign-in after {first:.1f} s, 4 in a row after {time.monotonic() - back:.1f} s")


def started_sign_in(site, provider) -> tuple[int, str | None]:
    """Open the protected page with no session: (status, reason code) of stepgate's answer, not followed."""
    with browser_for(site.url, provider) as browser:
        page = browser.session.get(site.url + PAGE, timeout=30, allow_redirects=False)
    reason = re.search(r"<code>([a-z_.]+)</code>", page.text)
    return page.status_code, reason and reason.group(1)


def sign_in_status(site, provider, number: int) -> int:
    """A whole sign-in's last answer: 302 when it worked; the refusal's status, at the start or at the callback."""
    status, _ = started_sign_in(site, provider)
    if status != 302:
        return status
    try:
        pairs = prepared(site, provider, 1, first=number)
    except AssertionError:  # this start reached the other worker, whose breaker is still open
        return 503
    [(status, *_)] = come_back(pairs)
    return status


def test_a_slow_provider_cannot_stretch_a_sign_in_past_its_total_deadline(provider, make_settings):
    provider.proxy.passing()
    port = free_port()
    client = provider.register_client(f"http://127.0.0.1:{port}{CALLBACK}")
    options = {"read_timeout": 10, "total_timeout": TOTAL_TIMEOUT}  # each call alone is in time; together, not
    settings = make_settings(extra=site_settings(port, provider.issuer, client, options))
    signed_in_sessions(settings, 1)
    with Gunicorn(settings, workers=2, port=port) as server:
        pairs = prepared(server, provider, 1)
        provider.proxy.delaying(0.8)
        try:
            [(status, seconds, reason, _)] = come_back(pairs)
        finally:
            provider.proxy.passing()
    assert (status, reason) == (504, "idp.timeout")
    assert TOTAL_TIMEOUT - 0.5 < seconds < TOTAL_TIMEOUT + MARGIN
    assert "deadline passed" in failure_detail(settings, "idp.timeout")


def failure_detail(settings, reason: str) -> str:
    from app import audit, create_app
    from app.extensions import db

    application = create_app(settings, testing=True)
    with application.app_context():
        [step] = audit.query(event="step", reason=reason)
        detail = step.detail["detail"]
        db.session.remove()
        db.engine.dispose()
    return detail


def test_a_provider_that_refuses_connections_answers_a_bad_gateway_page_at_once(site, provider):
    pairs = prepared(site, provider, 2)
    provider.proxy.refusing()
    answers = come_back(pairs)
    assert all(status == 502 and reason == "idp.unreachable" and seconds < 1 for status, seconds, reason, _ in answers)
