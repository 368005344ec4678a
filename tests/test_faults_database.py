"""The database fails under a running server: every answer within its deadline, 503 not 500, back without a restart.

Real gunicorn servers (2 workers x 4 threads, the shipped settings) talk to
PostgreSQL through the fault-injecting proxy (tests/faultproxy.py), which goes
silent (black hole), refuses connections or cuts them mid-transaction. Each
request a client sends carries an ``X-Probe`` number, logged with the
worker's pid in the access log, so recovery is measured on every worker.
SQLite's full disk is made real with ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import psycopg
import pytest
import requests
import yaml
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.database import DatabaseSettings
from tests import pg
from tests.browser import Browser, parse_forms
from tests.jit_steps import at_provider
from tests.oidc_fixtures import CALLBACK, DEMO_POLICIES, DEMO_RESOURCES
from tests.servers import Gunicorn, flask_cli, flask_cli_here, free_port

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"
SCIM_TOKEN = "scim-token-0123456789abcdef"
SHIPPED = DatabaseSettings()
# The worst single answer: a pooled connection's call waits out the response bound, then one reconnect its
# connect timeout; every later request of the outage is refused at once (app/database.py, Reconnection).
DEADLINE = SHIPPED.response_timeout_seconds + SHIPPED.connect_timeout_seconds
MARGIN = 3.0
RECOVERY = 10.0
APP_URL = "http://app.test/demo/reports"


@pytest.fixture
def direct_url():
    """A fresh PostgreSQL database, reached directly (the test's own view of it)."""
    yield from pg.throwaway_database("the database fault scenarios need one")


@dataclass
class Site:
    server: Gunicorn
    proxy: object
    direct_url: str
    access_log: Path

    def sql(self, statement: str, params=None) -> list:
        u = make_url(self.direct_url)
        with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True) as c:
            cursor = c.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def log_lines(self) -> list[str]:
        return self.server.log.read_text(errors="replace").splitlines()

    def workers_by_probe(self) -> dict[str, str]:
        """Probe number -> pid of the worker that answered it."""
        found = {}
        for line in self.access_log.read_text().splitlines():
            pid, probe = line.split()[:2]
            found[probe] = pid
        return found


@pytest.fixture
def site_factory(make_settings, direct_url, fault_proxy, tmp_path):
    started: list[Gunicorn] = []

    def start(extra: dict | None = None, port: int | None = None) -> Site:
        proxy = fault_proxy(make_url(direct_url).port or 5432)
        settings = make_settings(
            extra={
                "database_url": direct_url,
                "forward_auth": {"proxies": ["127.0.0.1/32"]},
                "scim": {"tokens": [SCIM_TOKEN], "identity_store": "default"},
                # the clients sign in as alice from 127.0.0.1 again and again: no throttling (app/throttling.py)
                "password_signin": {"throttling": {"per_address": {"limit": 0}, "per_name": {"limit": 0}}},
                **(extra or {}),
            }
        )
        upgraded = flask_cli(settings, "db", "upgrade")  # the schema from the migrations, as in production
        assert upgraded.returncode == 0, upgraded.stderr
        added = flask_cli_here(
            settings, "users", "add", "alice", "--password", PASSWORD, "--attr", "mail=a@example.org"
        )
        assert added.exit_code == 0, added.output
        doc = yaml.safe_load(settings.read_text())
        doc["database_url"] = make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False)
        settings.write_text(yaml.safe_dump(doc, sort_keys=False))
        access_log = tmp_path / "access.log"
        server = Gunicorn(
            settings,
            workers=2,
            port=port,
            env={
                "STEPGATE_THREADS": "4",
                "STEPGATE_ACCESS_LOG": str(access_log),
                "GUNICORN_CMD_ARGS": "--access-logformat '%(p)s %({x-probe}i)s %(s)s %(U)s'",
            },
        )
        server.__enter__()
        started.append(server)
        return Site(server, proxy, direct_url, access_log)

    yield start
    for server in started:
        server.__exit__()


_probes = iter(range(1, 10**9))
_probe_lock = threading.Lock()


def probe() -> str:
    with _probe_lock:
        return str(next(_probes))


def client() -> requests.Session:
    """A client that opens a new connection per request, so requests spread over the workers."""
    session = requests.Session()
    session.headers["Connection"] = "close"
    return session


def ask(site: Site, cookie: str | None, number: str | None = None, timeout: float = 30) -> requests.Response:
    return client().get(
        site.server.url + "/forward-auth",
        headers={"X-Original-URL": APP_URL, "X-Probe": number or probe(), "Accept": "*/*"},
        cookies={"stepgate_session": cookie} if cookie else None,
        allow_redirects=False,
        timeout=timeout,
    )


def sign_in(site: Site, record=None) -> str | None:
    """Sign in as alice with a fresh browser; the session cookie, or None when a step was refused.

    ``record(probe, started, elapsed, status)`` is told about every request.
    """
    session = client()
    url = site.server.url + "/demo/reports"
    steps = [("GET", url, None)]
    while steps:
        method, target, data = steps.pop()
        number, started = probe(), time.monotonic()
        answer = session.request(
            method, target, data=data, headers={"X-Probe": number}, allow_redirects=False, timeout=30
        )
        if record:
            record(number, started, time.monotonic() - started, answer.status_code)
        if answer.status_code == 302:
            location = urljoin(target, answer.headers["Location"])
            if location.endswith("/demo/reports"):
                return session.cookies.get("stepgate_session")
            steps.append(("GET", location, None))
        elif answer.status_code == 200 and 'id="loginData"' in answer.text:
            form = parse_forms(answer.text)[0]
            fields = {**form["fields"], "USERNAME": "alice", "PASSWORD": PASSWORD}
            steps.append(("POST", urljoin(target, form["action"]), fields))
        else:
            return None
    return None


@dataclass
class Answer:
    kind: str
    probe: str
    started: float
    elapsed: float
    status: int


def test_a_silent_database_keeps_every_answer_within_its_deadline_and_every_worker_recovers_within_10_s(
    site_factory,
):
    site = site_factory()
    cookie = sign_in(site)
    assert cookie is not None
    answers: list[Answer] = []
    stop = threading.Event()

    def forward_auth_client():
        while not stop.is_set():
            number, started = probe(), time.monotonic()
            try:
                status = ask(site, cookie, number).status_code
            except requests.RequestException:
                status = 0
            answers.append(Answer("forward-auth", number, started, time.monotonic() - started, status))
            time.sleep(0.05)

    def sign_in_client():
        while not stop.is_set():
            sign_in(site, lambda *a: answers.append(Answer("sign-in", *a)))
            time.sleep(0.05)

    clients = [threading.Thread(target=f) for f in (forward_auth_client, forward_auth_client, sign_in_client)]
    clients += [threading.Thread(target=sign_in_client)]
    for thread in clients:
        thread.start()
    time.sleep(1)
    silent_from = time.monotonic()
    site.proxy.black_hole()

    def one_sign_in_start():
        """A new sign-in started in the silence: its flow row must be written, so it can only be refused."""
        number, started = probe(), time.monotonic()
        try:
            status = client().get(site.server.url + "/demo/reports", headers={"X-Probe": number}, timeout=30)
            status = status.status_code
        except requests.RequestException:
            status = 0
        answers.append(Answer("sign-in", number, started, time.monotonic() - started, status))

    time.sleep(0.5)
    starter = threading.Thread(target=one_sign_in_start)  # the silence is seen even if the clients sat it out
    starter.start()
    clients.append(starter)
    time.sleep(4.5)
    back_at = time.monotonic()
    site.proxy.passing()
    time.sleep(RECOVERY + 5)
    stop.set()
    for thread in clients:
        thread.join(60)

    assert "Traceback" not in site.server.log.read_text()
    slow = [a for a in answers if a.elapsed > DEADLINE + MARGIN or a.status == 0]
    assert not slow, f"answers beyond {DEADLINE + MARGIN} s: {slow[:5]}"
    assert {a.status for a in answers if a.kind == "forward-auth"} <= {200, 503}
    assert {a.status for a in answers if a.kind == "sign-in"} <= {200, 302, 503}
    during = [a for a in answers if a.started < back_at and a.started + a.elapsed > silent_from]  # met the silence
    assert any(a.status == 503 for a in during), "nothing was refused while the database was silent"
    late = [a for a in answers if a.started >= back_at + RECOVERY]
    assert late and all(a.status in (200, 302) for a in late), [a for a in late if a.status not in (200, 302)]

    workers = site.workers_by_probe()
    first_success: dict[str, float] = {}
    for a in sorted(answers, key=lambda a: a.started):
        if a.kind == "sign-in" and a.started >= back_at and a.status in (200, 302) and a.probe in workers:
            first_success.setdefault(workers[a.probe], a.started + a.elapsed - back_at)
    assert len(first_success) == 2, f"sign-ins after recovery reached only workers {sorted(first_success)}"
    print(
        "database black hole 5 s, back at t=0: first successful sign-in request per worker at "
        + ", ".join(f"{seconds:.2f} s" for seconds in sorted(first_success.values()))
        + f"; slowest answer during the fault {max(a.elapsed for a in during):.2f} s"
    )
    assert all(seconds <= RECOVERY for seconds in first_success.values()), first_success


def test_a_refusing_database_is_answered_503_with_retry_after_in_each_clients_format_and_told_in_few_lines(
    site_factory,
):
    site = site_factory()
    cookie = sign_in(site)
    assert cookie is not None
    asked: list[str] = []
    while len({site.workers_by_probe().get(n) for n in asked} - {None}) < 2:  # until both workers have cached it
        assert len(asked) < 40, (
            f"forward-auth requests reached only {set(site.workers_by_probe().values())}:\n" + site.server.log_tail()
        )
        asked.append(probe())
        assert ask(site, cookie, asked[-1]).status_code == 200  # checked, and cached for session_cache.seconds
    lines_before = len(site.log_lines())
    site.proxy.refusing()
    refused_at = time.monotonic()
    for _ in range(4):  # forward-auth keeps answering from the cache within its window...
        assert ask(site, cookie, timeout=10).status_code == 200

    page = client().get(site.server.url + "/demo/reports", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 503 and page.headers["Retry-After"] == str(SHIPPED.retry_after_seconds)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "database is not answering" in page.text and "database.unavailable" in page.text

    checked = ask(site, "a-session-no-worker-has-cached", timeout=10)
    assert checked.status_code == 503 and checked.headers["Retry-After"] == str(SHIPPED.retry_after_seconds)
    assert checked.json()["error"] == "database.unavailable"

    scim = client().get(
        site.server.url + "/scim/v2/Users", headers={"Authorization": f"Bearer {SCIM_TOKEN}"}, timeout=10
    )
    assert scim.status_code == 503 and scim.headers["Content-Type"] == "application/scim+json"
    assert scim.headers["Retry-After"] == str(SHIPPED.retry_after_seconds)
    body = scim.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == "503"

    regdata = client().get(site.server.url + "/oamfed/user/regdata?registrationid=x", timeout=10)
    assert regdata.status_code == 503 and regdata.json()["error"] == "database.unavailable"

    metrics = client().get(site.server.url + "/metrics", timeout=10)  # still answers, without the database's gauge
    assert metrics.status_code == 200 and "stepgate_active_flows" not in metrics.text

    def many():
        for _ in range(40):
            started = time.monotonic()
            assert sign_in(site) is None
            assert ask(site, "another-uncached-session", timeout=10).status_code == 503
            assert time.monotonic() - started < 2  # refused at once, not after a connect timeout

    hammering = [threading.Thread(target=many) for _ in range(4)]
    for thread in hammering:
        thread.start()
    for thread in hammering:
        thread.join(120)
    time.sleep(max(0.0, refused_at + 5.5 - time.monotonic()))
    beyond = ask(site, cookie, timeout=10)  # ...and beyond it fails closed
    assert beyond.status_code == 503 and beyond.json()["error"] == "database.unavailable"
    site.proxy.passing()

    deadline = time.monotonic() + RECOVERY
    while True:  # every worker that warned says it is back once a request of its own has used the database
        assert sign_in(site) is not None or time.monotonic() < deadline, "no sign-in within 10 s of the database"
        log = site.log_lines()[lines_before:]
        warned = [line for line in log if "database unavailable" in line]
        back = [line for line in log if "database is back after" in line]
        if warned and len(back) == len(warned):
            break
        assert time.monotonic() < deadline, f"not every worker said it is back: {warned} {back}"
        time.sleep(0.2)

    assert "Traceback" not in "\n".join(log), "\n".join(log)[-3000:]
    told = [line for line in log if "stepgate.audit" not in line]
    assert 1 <= len(warned) <= 2 and len(told) <= 3 * len(warned), told  # ~500 requests refused
    assert "requests were answered 503" in back[0] or "request(s) were answered 503" in back[0]


@pytest.fixture
def provider_site(site_factory, devop):
    port = free_port()
    client_ = devop.register_client(f"http://127.0.0.1:{port}{CALLBACK}")
    provider = {"issuer": devop.issuer, "client_id": client_["client_id"], "client_secret": client_["client_secret"]}
    return site_factory(
        {
            "identity_providers": {"devop": provider},
            "application_domains": {"Demo": {"authentication_policies": DEMO_POLICIES, "resources": DEMO_RESOURCES}},
            "external_url": f"http://127.0.0.1:{port}",  # the redirect_uri registered above
        },
        port=port,
    )


def provider_answer(browser: Browser, site: Site, login: str) -> str:
    """Sign in at the provider as ``login``; the callback URL it sends the browser back to (not yet followed)."""
    page = browser.get("/demo/jit-nopassword/welcome")
    assert at_provider(page), page.text[:300]
    form = browser.form(page)
    answer = browser.session.post(
        urljoin(page.url, form["action"]),
        data={**form["fields"], "login": login, "given_name": login.title(), "email_unverified": ""},
        allow_redirects=False,
        timeout=10,
    )
    while not answer.headers["Location"].startswith(site.server.url + CALLBACK):
        answer = browser.session.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False)
    return answer.headers["Location"]


STALL = """
CREATE FUNCTION stepgate_test_stall() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$;
CREATE TRIGGER stepgate_test_stall BEFORE INSERT ON federated_links
FOR EACH ROW EXECUTE FUNCTION stepgate_test_stall();
"""


def test_a_connection_cut_during_jit_provisioning_leaves_no_half_written_user_and_the_flow_marked_failed(
    provider_site,
):
    site = provider_site
    site.sql(STALL)  # the link's INSERT waits 3 s after the user's: the cut lands between them
    with Browser(site.server.url) as browser:
        callback = provider_answer(browser, site, "nadia")
        finished: dict = {}
        follow = threading.Thread(
            target=lambda: finished.update(page=browser.session.get(callback, allow_redirects=False, timeout=30))
        )
        follow.start()
        deadline = time.monotonic() + 10
        while not site.sql(  # this test's database only: the server is shared with other tests and runs
            "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()"
        ):
            assert time.monotonic() < deadline, "the provisioning never reached the link's INSERT"
            time.sleep(0.05)
        site.proxy.cut()
        follow.join(30)
    page = finished["page"]
    assert page.status_code == 503 and page.headers["Retry-After"], page.text[:500]  # an outage, not a "no"
    assert "Traceback" not in site.server.log.read_text()
    assert site.sql("SELECT count(*) FROM users WHERE user_name = 'nadia'") == [(0,)]
    assert site.sql("SELECT count(*) FROM federated_links") == [(0,)]
    assert site.sql(  # no user anywhere without its link, no attributes without their user
        "SELECT count(*) FROM user_attributes a LEFT JOIN users u ON u.id = a.user_id WHERE u.id IS NULL"
    ) == [(0,)]
    flows = site.sql("SELECT status FROM flows WHERE scheme_name = 'AutoProvisioningNoPasswordScheme'")
    assert flows == [("failed",)], flows  # saved as failed in a fresh transaction, not left active

    site.sql("DROP TRIGGER stepgate_test_stall ON federated_links")
    with Browser(site.server.url) as browser:
        done = browser.session.get(provider_answer(browser, site, "nadia"), timeout=10)
        assert '<strong id="user-name">nadia</strong>' in done.text, done.text[:500]
    linked = site.sql(
        "SELECT count(*) FROM users u JOIN federated_links l ON l.user_id = u.id WHERE u.user_name = 'nadia'"
    )
    assert linked == [(1,)]


def test_a_full_sqlite_disk_is_answered_503_not_500(make_settings, tmp_path):
    from app import create_app
    from app.extensions import db

    path = tmp_path / "full.db"
    application = create_app(make_settings(extra={"database_url": f"sqlite:///{path}"}), testing=True)
    try:
        with application.app_context():
            db.create_all()
            with db.engine.connect() as connection:
                pages = connection.exec_driver_sql("PRAGMA page_count").scalar()

            @event.listens_for(db.engine, "connect")
            def _cap(dbapi_connection, _record):  # a disk with room for a few more pages, on every connection
                dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 4}")

            db.engine.dispose()
        browser = application.test_client()
        statuses = []
        for _ in range(300):  # every visit starts a sign-in, which writes its flow and an audit event
            answer = browser.get("/demo/reports", headers={"Accept": "text/html"})
            statuses.append(answer.status_code)
            if answer.status_code != 200:
                break
        assert statuses[-1] == 503 and set(statuses[:-1]) == {200}, statuses
        assert answer.headers["Retry-After"] == str(SHIPPED.retry_after_seconds)
        assert "database.unavailable" in answer.text
        api = browser.get("/scim/v2/Users", headers={"Accept": "application/json"})
        assert api.status_code in (401, 503)
    finally:
        with application.app_context():
            db.engine.dispose()


def test_database_deadlines_are_read_from_settings_and_bad_ones_refused_with_file_and_line(make_settings):
    from app.database import libpq_parameters
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    settings = load_settings(make_settings(extra={"database": {"statement_timeout_seconds": 2}}))
    assert settings.database.statement_timeout_seconds == 2
    parameters = libpq_parameters(settings.database)
    assert parameters["options"] == "-c statement_timeout=2000 -c idle_in_transaction_session_timeout=60000"
    assert parameters["tcp_user_timeout"] == 10000 and parameters["keepalives"] == 1

    bad = make_settings(
        extra={"database": {"connect_timeout_seconds": 0, "statment_timeout_seconds": 5, "response_timeout_seconds": 4}}
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    messages = [str(problem) for problem in caught.value.problems]
    assert any(m.endswith("'connect_timeout_seconds' must be a whole number from 2 to 60") for m in messages)
    assert any("unknown key 'statment_timeout_seconds' in database" in m for m in messages)
    longer = "'response_timeout_seconds' must be longer than 'statement_timeout_seconds' (4 <= 5)"
    assert any(longer in m for m in messages)
    assert all(re.match(rf"{re.escape(str(bad))}:\d+: ", m) for m in messages), messages


def test_a_sqlite_database_locked_beyond_busy_timeout_is_answered_503(make_settings, tmp_path):
    import sqlite3

    from app import create_app
    from app.extensions import db

    path = tmp_path / "locked.db"
    application = create_app(make_settings(extra={"database_url": f"sqlite:///{path}"}), testing=True)
    with application.app_context():
        db.create_all()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock, longer than busy_timeout (5 s)
        started = time.monotonic()
        answer = application.test_client().get("/demo/reports", headers={"Accept": "application/json"})
        assert answer.status_code == 503 and answer.json["error"] == "database.unavailable"
        assert answer.headers["Retry-After"] == str(SHIPPED.retry_after_seconds)
        assert 4.5 < time.monotonic() - started < 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        with application.app_context():
            db.engine.dispose()
