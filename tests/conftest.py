"""Shared fixtures: a fresh app and database per test, a live server on a free port, a browser.

``make_settings`` writes a settings file into a temporary folder (its own
SQLite database and a copy of the schemes it names), so every test starts
from nothing and nothing leaks between tests.

``make test`` runs the suite in two passes (docs/testing.md): most tests in
parallel under pytest-xdist (``-m "not serial"``), then the ``serial`` ones,
because they assert seconds (timeouts, brownouts, lockout windows) or share
one outside resource (Redis' revocation channel). Tests are marked ``serial``
here, by module, by name or by fixture, so a new test in those files, or a new
one using ``fault_proxy``, is kept out of the parallel pass without
remembering to mark it.

The serial pass is not one queue: its tests mostly wait on timers and sockets,
so it runs them a few at a time (``--dist loadgroup``), out of reach of the
parallel pass's hundreds of tests. What only one test at a time may use is a
*lane* (``SERIAL_LANES``, an ``xdist_group``): the tests of one lane run one
after the other on one worker, and lanes run beside each other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event
from sqlalchemy.pool import Pool
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from tests import pg
from tests.browser import Browser
from tests.faultproxy import fault_proxy  # noqa: F401 - the fault-injecting TCP proxy
from tests.ldap_server import ldap_base, slapd_server  # noqa: F401 - a real OpenLDAP slapd
from tests.mail_server import mail_server  # noqa: F401 - a real SMTP server on loopback (aiosmtpd)
from tests.oidc_fixtures import devop, jit_site, make_jit_site, postgres_url, rogue_op  # noqa: F401 - OpenID Providers
from tests.servers import ServingThread
from tests.wso2_jit_steps import wso2_site  # noqa: F401 - WSO2's JIT modes on the shipped demo paths

ROOT = Path(__file__).resolve().parent.parent
DEMO_DOMAIN = {
    "Demo": {
        "authentication_policies": {
            "Public Resource Policy": {"public": True},
            "Protected Resource Policy": {"scheme": "PasswordScheme"},
        },
        "resources": [
            {"url": "/", "policy": "Public Resource Policy"},
            {"url": "/demo/**", "policy": "Protected Resource Policy"},
        ],
    }
}

SERIAL_MODULES = {
    "test_faults_database",  # brownouts and deadlines of a real PostgreSQL behind the fault proxy
    "test_faults_provider",
    "test_faults_redis",  # Redis' revocation channel is shared by every process
    "test_fault_proxy",
    "test_provider_deadline",
    "test_provider_breaker",
    "test_revocation_listener",  # kills Redis connections by name, publishes on the shared channel
    "test_session_revocation",  # "within 3 s" across two nodes, Redis
    "test_gunicorn_reload",
    "test_two_nodes",
}
"""Whole files whose tests time seconds or share an outside resource: run alone, after the parallel pass."""

SERIAL_TESTS = {
    "test_scheme_reload::test_each_gunicorn_worker_reloads_on_its_own",
    "test_oidc_transport::test_a_token_endpoint_slower_than_the_read_timeout_is_idp_timeout",  # asserts < 0.9 s
    "test_oidc_transport::test_each_request_thread_has_its_own_connection",  # 4 threads must not meet the bulkhead
    "test_account_lockout::test_the_lockout_ends_by_itself_after_its_duration",  # a 1 s lockout
    "test_account_lockout::test_failures_outside_the_window_do_not_add_up",  # a 1 s window
    "test_signin_throttling::test_the_budget_comes_back_when_the_window_ends",  # a 5 s window
}
"""Single tests (module::function, every parameter) that assert seconds."""

SERIAL_FIXTURES = {"fault_proxy"}
"""A test that injects faults times what it sees: serial wherever it is written."""

SERIAL_LANES = {
    # One revocation channel for every process on the machine: a publish of one test drops the caches of
    # another's listeners, and a listener's "the cache was dropped" would then prove nothing.
    "redis": {
        "test_faults_redis",
        "test_revocation_listener",
        "test_session_revocation::test_redis_carries_a_logout_to_another_machine_long_before_the_bound",
        "test_health_checks::test_readiness_fails_while_the_configured_redis_refuses",
    },
}
"""Serial tests that share one outside resource (module, or module::function): one at a time, in their lane.

Every other serial test shares nothing but the machine and runs beside them. A test may also
name its lane itself with ``@pytest.mark.xdist_group("redis")``; a test in a lane is serial."""


def _lane(module: str, test: str) -> str | None:
    return next((lane for lane, names in SERIAL_LANES.items() if module in names or test in names), None)


def pytest_configure(config):
    # xdist registers it too, but not when a file is run with ``-p no:xdist`` (and markers are strict)
    config.addinivalue_line("markers", "xdist_group(name): the serial lane of a test (tests/conftest.py)")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    in_lanes = []
    for item in items:
        module = item.path.stem
        test = f"{module}::{getattr(item, 'originalname', item.name)}"
        lane = _lane(module, test)
        if lane is not None:
            item.add_marker(pytest.mark.xdist_group(lane))
        in_lane = item.get_closest_marker("xdist_group") is not None
        if in_lane:
            in_lanes.append(item)
        if (
            in_lane
            or module in SERIAL_MODULES
            or test in SERIAL_TESTS
            or SERIAL_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.serial)
    # The serial pass hands out work in this order: a lane (one long unit of work) first, then the serial
    # tests that start servers, so that no long test is left to start when the other workers are done.
    laned = set(map(id, in_lanes))
    items.sort(key=lambda item: (id(item) not in laned, not _slow_serial(item)))


def _slow_serial(item) -> bool:
    return item.get_closest_marker("serial") is not None and item.get_closest_marker("slow") is not None


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2id at its lowest cost in the test processes (production keeps argon2's defaults).

    The default costs 64 MiB and about a second per hash on this shared machine, and
    tests hash and verify hundreds of passwords. What the tests check (one verification
    per refusal, argon2id hashes) holds at any cost; servers the suite starts as
    separate processes (gunicorn) keep the real cost.
    """
    from argon2 import PasswordHasher

    from app import passwords

    saved = passwords._hasher, passwords._DUMMY_HASH
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._hasher, passwords._DUMMY_HASH = cheap, cheap.hash("stepgate-dummy-password")
    yield
    passwords._hasher, passwords._DUMMY_HASH = saved


UNUSED_PROVIDERS = {"devop": {"issuer": "http://127.0.0.1:9", "client_id": "stepgate", "client_secret": "unused"}}
"""The shipped OpenID schemes need a provider to load; tests that sign in replace it (tests/oidc_fixtures.py)."""


@pytest.fixture(scope="session")
def postgres_database():
    """On the PostgreSQL leg (STEPGATE_TEST_DATABASE_URL set): one fresh database for the whole run."""
    server = pg.server_url()
    if server is None:
        yield None
        return
    url = pg.create_database(server)
    yield url
    pg.drop_database(url)


@pytest.fixture
def database_url(tmp_path, postgres_database):
    """This test's database: its own SQLite file, or the run's PostgreSQL database emptied after the test."""
    if postgres_database is None:
        yield f"sqlite:///{tmp_path / 'site' / 'stepgate.db'}"
        _opened.clear()  # SQLite's connections warn about nothing and belong to the thread that opened them
        return
    yield postgres_database
    _dispose_every_engine()
    pg.truncate_all(postgres_database)


_opened: list = []
"""Every DBAPI connection a SQLAlchemy pool opened during the current test (strong references, until its end)."""


@event.listens_for(Pool, "connect")
def _remember_connection(dbapi_connection, _record) -> None:
    _opened.append(dbapi_connection)


def _dispose_every_engine() -> None:
    """Close the pooled connections of every app this test made, even one it forgot to dispose.

    Otherwise a forgotten pool is closed by the garbage collector during some later
    test, which PostgreSQL's driver reports as a ResourceWarning (an error here).
    Disposing the apps' engines is not enough: an app the test let go of (a
    ``create_app`` of its own, collected with a cycle) is no longer among them while
    its connections wait for the collector, which once made CI's PostgreSQL leg fail
    an unrelated test. So every connection opened during the test is closed here too.
    """
    for engines in list(getattr(db, "_app_engines", {}).values()):
        for engine in engines.values():
            engine.dispose()
    while _opened:
        connection = _opened.pop()
        if not getattr(connection, "closed", True):  # psycopg's; a test's own SQLite file may be among them
            connection.close()


@pytest.fixture
def empty_database_url(tmp_path):
    """A database with no tables at all, of this leg's kind (for migrations)."""
    server = pg.server_url()
    if server is None:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = pg.create_database(server)
    yield url
    pg.drop_database(url)


@pytest.fixture
def make_settings(tmp_path, database_url):
    """Write settings (and copy schemes) under tmp_path; return the settings path."""

    def make(extra: dict | None = None, schemes: dict[str, str] | None = None, copy_schemes: bool = True) -> Path:
        base = tmp_path / "site"
        (base / "config").mkdir(parents=True, exist_ok=True)
        schemes_dir = base / "schemes"
        if copy_schemes and not schemes_dir.exists():
            shutil.copytree(ROOT / "schemes", schemes_dir)
        schemes_dir.mkdir(exist_ok=True)
        for name, text in (schemes or {}).items():
            (schemes_dir / name).write_text(text)
        doc = {
            "secret_key": "test-secret-key-0123456789",
            "database_url": database_url,
            "schemes_dir": "schemes",
            "application_domains": DEMO_DOMAIN,
            "identity_providers": UNUSED_PROVIDERS,
            # The test client's host; live servers answer on 127.0.0.1 (tests that sign in at a
            # provider set their own external_url, with the server's port).
            "external_url": "http://localhost",
            "allowed_hosts": ["127.0.0.1"],
        }
        doc.update(extra or {})
        path = base / "config" / "settings.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return make


@pytest.fixture
def app(make_settings):
    application = create_app(make_settings(), testing=True)
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class LiveServer:
    """A real HTTP server for one app on a free loopback port, in a thread."""

    def __init__(self, application):
        self.app = application
        self._server = make_server("127.0.0.1", 0, application, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._serving = ServingThread(self._server)

    def start(self) -> LiveServer:
        self._serving.start()
        return self

    def stop(self) -> None:
        self._serving.stop()


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def browser(live_server):
    with Browser(live_server.url) as b:
        yield b


@pytest.fixture
def add_user(app):
    """Create a user in the app's database: add_user("alice", password="...", mail="...")."""
    from app.stores import sql as identity

    def add(user_name: str, password: str | None = None, store: str = "default", status: str = "active", **attrs):
        with app.app_context():
            user = identity.create_user(
                store,
                user_name,
                {k.replace("_", "-"): v for k, v in attrs.items()},
                password,
                identity.UserStatus(status),
            )
            db.session.commit()
            return user.id

    return add


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium: installed with apt-get when missing and running as root, else the test skips."""
    from tests.debian import require

    require(["chromium"], Path(CHROMIUM).exists)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (make test installs it)")
    return CHROMIUM


@pytest.fixture
def browser_for():
    """Browsers for any live server, closed at the end of the test: browser_for(server)."""
    opened: list[Browser] = []

    def make(server: LiveServer) -> Browser:
        opened.append(Browser(server.url))
        return opened[-1]

    yield make
    for b in opened:
        b.session.close()
