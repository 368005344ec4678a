"""A development provider whose back channel passes the fault proxy, and the people around it during a brownout.

stepgate finds the provider by its issuer, ``http://127.0.0.1:<proxy port>``:
discovery, keys, token and userinfo go through the fault proxy
(tests/faultproxy.py) to the provider, which listens on another port. Browsers
reach the provider directly (``DirectToProvider`` rewrites the proxy's address
to the provider's), so the proxy's faults hit stepgate's calls only: the token
endpoint hangs while the login page still works, as in the brownout of issue 17.

Used by tests/test_faults_provider.py and bench/provider_brownout.py.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

from tests.browser import Browser
from tests.faultproxy import FaultProxy
from tests.jit_steps import at_provider
from tests.oidc_fixtures import register_client
from tests.servers import free_port, wait_for

DEVOP = Path(__file__).resolve().parent.parent / "devop"
APP_HOST = "app.example.org"
"""The host of the application protected through forward-auth (the session checks)."""


class ProxiedProvider:
    """``node devop/server.mjs`` on its own port, announcing the proxy's address as its issuer."""

    def __init__(self, proxy_factory=FaultProxy):
        node = shutil.which("node")
        if node is None or not (DEVOP / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("node and devop/node_modules are needed (make devop/node_modules/.package-lock.json)")
        self.port = free_port()
        self.proxy: FaultProxy = proxy_factory(self.port)
        self.issuer = f"http://127.0.0.1:{self.proxy.port}"
        self.direct = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [node, "server.mjs", "--port", str(self.port), "--issuer", self.issuer, "--allow-registration"],
            cwd=DEVOP,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(f"{self.direct}/.well-known/openid-configuration", self.process)

    def register_client(self, redirect_uri: str) -> dict:
        return register_client(self.direct, redirect_uri)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class DirectToProvider(HTTPAdapter):
    """Sends a browser's requests for the proxy's address to the provider's own port."""

    def __init__(self, via: str, to: str):
        super().__init__()
        self.via, self.to = via, to

    def send(self, request, **kwargs):
        request.url = self.to + request.url[len(self.via) :]
        return super().send(request, **kwargs)


def browser_for(site_url: str, provider: ProxiedProvider, timeout: float = 30) -> Browser:
    browser = Browser(site_url, timeout=timeout)
    browser.session.mount(provider.issuer + "/", DirectToProvider(provider.issuer, provider.direct))
    return browser


def callback_url(browser: Browser, path: str, login: str) -> str:
    """Start a sign-in at ``path`` and sign in at the provider; the stepgate callback URL, not yet visited."""
    page = browser.get(path)
    assert at_provider(page), f"expected the provider's login page, got {page.status_code} {page.url}"
    answer = browser.submit({"login": login}, allow_redirects=False)
    for _ in range(10):
        location = urljoin(answer.url, answer.headers["Location"])
        if location.startswith(browser.base_url):
            return location
        answer = browser.session.get(location, allow_redirects=False, timeout=browser.timeout)
    raise AssertionError(f"the provider never sent the browser back: {answer.status_code} {answer.url}")


def signed_in_sessions(settings: Path, count: int) -> list[str]:
    """``count`` users, each with an open session: their session cookies (distinct, as many people)."""
    from app import create_app, sessions
    from app.extensions import db
    from app.stores import sql as identity

    application = create_app(settings, testing=True)
    tokens = []
    with application.app_context():
        db.create_all()
        for number in range(count):
            user = identity.create_user("default", f"reader{number}", {"mail": f"reader{number}@example.org"})
            db.session.flush()
            tokens.append(sessions.open_session(user.id, user.user_name, 9, "PasswordScheme", 3600)[0])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return tokens


@dataclass
class SessionChecks:
    """Signed-in people in threads: each asks ``/forward-auth`` (or opens a protected page) with their own cookie."""

    url: str
    cookies: list[str]
    clients: int = 4
    pause: float = 0.02
    path: str = "/forward-auth"
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.clients)]

    def start(self) -> SessionChecks:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> SessionChecks:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self

    def _run(self, number: int) -> None:
        with requests.Session() as http:
            turn = number
            while not self._stop.is_set():
                cookie = self.cookies[turn % len(self.cookies)]
                turn += self.clients
                headers = {"X-Original-URL": f"http://{APP_HOST}/reports", "Cookie": f"stepgate_session={cookie}"}
                started = time.perf_counter()
                try:
                    answer = http.get(self.url + self.path, headers=headers, timeout=30, allow_redirects=False)
                except requests.RequestException as exc:
                    self.failures.append(exc.__class__.__name__)
                    continue
                self.latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    self.failures.append(str(answer.status_code))
                time.sleep(self.pause)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def site_settings(port: int, issuer: str, client: dict, provider_options: dict | None = None) -> dict:
    """stepgate on ``port``: the demo's JIT resources, an application behind forward-auth, the provider as ``devop``."""
    from tests.oidc_fixtures import DEMO_POLICIES, DEMO_RESOURCES

    return {
        "external_url": f"http://127.0.0.1:{port}",  # the provider's registered callback is on this port
        "identity_providers": {
            "devop": {
                "issuer": issuer,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                **(provider_options or {}),
            }
        },
        "forward_auth": {"proxies": ["127.0.0.1"]},
        "application_domains": {
            "Demo": {
                "authentication_policies": {**DEMO_POLICIES, "Staff": {"scheme": "PasswordScheme"}},
                "resources": [*DEMO_RESOURCES, {"url": "/**", "host": APP_HOST, "policy": "Staff"}],
            }
        },
    }
