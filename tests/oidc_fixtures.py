"""OpenID Provider fixtures: the real development provider (devop/, oidc-provider from npm)
and a deliberately misbehaving one (tests/rogue_op.py), both on free loopback ports.

``jit_site`` builds a stepgate whose ``devop`` provider is the real development
provider: it picks the server's port first, registers a client for that
callback at the provider (dynamic client registration), then serves the app on
that port. Import these fixtures from ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from tests.browser import Browser
from tests.rogue_op import RogueProvider
from tests.servers import free_port

DEVOP = Path(__file__).resolve().parent.parent / "devop"
CALLBACK = "/oam/server/oidc/callback"


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the development provider exited: {process.stdout.read()}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still starting on a busy machine
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the development provider did not answer at {url} within {seconds}s")


def register_client(base: str, redirect_uri: str, post_logout_redirect_uris: list[str] | None = None) -> dict:
    """A new client of the development provider at ``base`` for one stepgate callback URL
    (and where RP-initiated logout may return), through its dynamic registration endpoint."""
    response = requests.post(
        f"{base}/reg",
        json={
            "redirect_uris": [redirect_uri],
            **({"post_logout_redirect_uris": post_logout_redirect_uris} if post_logout_redirect_uris else {}),
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class DevProvider:
    issuer: str

    def register_client(self, redirect_uri: str, post_logout_redirect_uris: list[str] | None = None) -> dict:
        return register_client(self.issuer, redirect_uri, post_logout_redirect_uris)


@pytest.fixture(scope="session")
def devop() -> DevProvider:
    """The real development OpenID Provider, once per test session."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the development OpenID Provider (devop/)")
    if not (DEVOP / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DEVOP, check=True, timeout=600)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [node, "server.mjs", "--port", str(port), "--issuer", issuer, "--allow-registration"],
        cwd=DEVOP,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_up(f"{issuer}/.well-known/openid-configuration", process)
        yield DevProvider(issuer)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        process.stdout.close()


@pytest.fixture
def rogue_op():
    """A misbehaving OpenID Provider whose tokens a test forges on purpose."""
    provider = RogueProvider().start()
    yield provider
    provider.stop()


class PortServer:
    """A real HTTP server for one app on a given loopback port, in a thread (as LiveServer)."""

    def __init__(self, application, port: int):
        import threading

        self.app = application
        self._server = make_server("127.0.0.1", port, application, threaded=True)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@dataclass
class JitSite:
    app: object
    server: PortServer

    @property
    def url(self) -> str:
        return self.server.url

    def browser(self) -> Browser:
        return Browser(self.url)


DEMO_POLICIES = {
    "Public": {"public": True},
    "Password": {"scheme": "PasswordScheme"},
    "JIT": {"scheme": "AutoProvisioningScheme"},
    "JIT without password": {"scheme": "AutoProvisioningNoPasswordScheme"},
}
DEMO_RESOURCES = [
    {"url": "/", "policy": "Public"},
    {"url": "/demo/**", "policy": "Password"},
    {"url": "/demo/jit/**", "policy": "JIT"},
    {"url": "/demo/jit-nopassword/**", "policy": "JIT without password"},
]


@pytest.fixture
def make_jit_site(make_settings, request):
    """Build a stepgate served on a real port, with the shipped JIT schemes.

    ``with_devop`` registers a client at the real development provider for this
    site's callback and configures it as provider ``devop`` (plus
    ``devop_options`` such as ``trust_email``, or a function of the site's URL returning them; a
    ``post_logout_redirect_uri`` among them is registered at the provider too); ``database_url`` replaces the
    test's SQLite database; ``providers``,
    ``schemes``, ``policies`` and ``resources`` add to the demo configuration (``providers`` may be a
    function of the site's URL too); ``extra``
    adds other settings.
    """
    sites: list[JitSite] = []

    def make(
        providers=None,
        schemes=None,
        policies=None,
        resources=None,
        with_devop=True,
        devop_options=None,
        database_url=None,
        extra=None,
    ) -> JitSite:
        port = free_port()
        configured = {}
        if with_devop:
            dev = request.getfixturevalue("devop")
            if callable(devop_options):  # options that name the site's own URL, known only now
                devop_options = devop_options(f"http://127.0.0.1:{port}")
            logout_uri = (devop_options or {}).get("post_logout_redirect_uri")
            client = dev.register_client(f"http://127.0.0.1:{port}{CALLBACK}", [logout_uri] if logout_uri else None)
            configured["devop"] = {
                "issuer": dev.issuer,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "read_timeout": 5,
                **(devop_options or {}),
            }
        else:
            configured["devop"] = {"issuer": "http://127.0.0.1:9", "client_id": "unused", "client_secret": "unused"}
        if callable(providers):  # providers registered for the site's own callback URL, known only now
            providers = providers(f"http://127.0.0.1:{port}")
        configured.update(providers or {})
        domains = {
            "Demo": {
                "authentication_policies": {**DEMO_POLICIES, **(policies or {})},
                "resources": DEMO_RESOURCES + list(resources or []),
            }
        }
        settings = {
            "identity_providers": configured,
            "application_domains": domains,
            "external_url": f"http://127.0.0.1:{port}",  # the provider's registered callback is on this port
            **(extra or {}),
        }
        if database_url:
            settings["database_url"] = database_url
        path = make_settings(extra=settings, schemes=schemes)
        application = create_app(path, testing=True)
        with application.app_context():
            db.create_all()
        site = JitSite(application, PortServer(application, port))
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.server.stop()
        with site.app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def jit_site(make_jit_site) -> JitSite:
    """A stepgate with the shipped JIT schemes and the real development provider as ``devop``."""
    return make_jit_site()


POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test, dropped afterwards (skipped without a server)."""
    import secrets

    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 as postgres: {exc}")
    name = f"stepgate_jit_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


ROGUE_JIT_SCHEME = """
name: RogueScheme
description: JIT without password through the misbehaving test provider
module:
  steps:
    OpenID_Connect:
      plugin: OpenIDConnectPlugin
      params: {provider: rogue, username_attr: preferred_username}
    User_Identification1:
      plugin: UserIdentificationPlugin
    OAuth_Self_Registration:
      plugin: OAuthUserSelfRegistrationPlugin
      params:
        autoprovisioning: true
        autoprovision_key_user_record_attribute_list: email, given_name
        autoprovision_idtoken_to_user_attribute_mapping: email:mail
    User_Identification2:
      plugin: UserIdentificationPlugin
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {on_success: User_Identification1, on_failure: failure, on_error: failure}
    User_Identification1: {on_success: success, on_failure: OAuth_Self_Registration, on_error: failure}
    OAuth_Self_Registration: {on_success: User_Identification2, on_failure: failure, on_error: failure}
    User_Identification2: {on_success: success, on_failure: failure, on_error: failure}
"""
"""Sign in at the misbehaving provider and create the account from its ID token, at ``/demo/rogue/``."""


def rogue_site(make_jit_site, rogue_op: RogueProvider, **provider_settings) -> JitSite:
    """A stepgate whose ``/demo/rogue/`` signs in through ``rogue_op`` (``provider_settings`` added to its own)."""
    return make_jit_site(
        with_devop=False,
        # 5 s, not the rogue's 1 s: these sites test what a token says, not timeouts, on a machine that may be busy
        providers={"rogue": rogue_op.settings(**{"read_timeout": 5, **provider_settings})},
        schemes={"RogueScheme.yaml": ROGUE_JIT_SCHEME},
        policies={"Rogue": {"scheme": "RogueScheme"}},
        resources=[{"url": "/demo/rogue/**", "policy": "Rogue"}],
    )
