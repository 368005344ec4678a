"""Two machines behind a load balancer, sharing one PostgreSQL database.

Two gunicorn processes on different ports stand for two nodes (each with its
own session-cache generation file, as on separate machines). The browser keeps
one cookie jar for both, as it would behind a load balancer.
"""

from __future__ import annotations

from urllib.parse import urljoin

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests import pg
from tests.browser import Browser
from tests.servers import Gunicorn, flask_cli

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_server() -> str | None:
    url = pg.server_url() or DEFAULT_SERVER
    u = make_url(url)
    try:
        psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, connect_timeout=3).close()
    except psycopg.OperationalError:
        return None
    return url


@pytest.fixture
def shared_database():
    server = _postgres_server()
    if server is None:
        pytest.skip("no PostgreSQL answers at 127.0.0.1:5432: the two-node test needs a shared database")
    url = pg.create_database(server)
    yield url
    pg.drop_database(url)


@pytest.fixture
def nodes(make_settings, shared_database, tmp_path):
    node_a = make_settings(
        extra={"database_url": shared_database, "session_cache": {"generation_file": str(tmp_path / "a.gen")}}
    )
    upgraded = flask_cli(node_a, "db", "upgrade")  # the schema comes from the migrations, as in production
    assert upgraded.returncode == 0, upgraded.stderr
    added = flask_cli(node_a, "users", "add", "alice", "--password", PASSWORD, "--attr", "mail=alice@example.org")
    assert added.returncode == 0, added.stderr
    node_b = node_a.with_name("node-b.yaml")
    node_b.write_text(node_a.read_text().replace(str(tmp_path / "a.gen"), str(tmp_path / "b.gen")))
    with Gunicorn(node_a) as first, Gunicorn(node_b) as second:
        yield first, second


def test_a_sign_in_begun_on_one_node_finishes_on_the_other_and_both_honour_the_session(nodes):
    first, second = nodes
    with Browser(first.url) as browser:
        page = browser.get("/demo/reports")
        assert page.status_code == 200 and browser.form()["id"] == "loginData"
        form = browser.form()
        # the load balancer sends the credentials to the other node
        done = browser.session.post(
            urljoin(second.url + "/", form["action"].lstrip("/")),
            data={**form["fields"], "USERNAME": "alice", "PASSWORD": PASSWORD},
            timeout=10,
        )
        assert done.url == second.url + "/demo/reports"
        assert '<strong id="user-name">alice</strong>' in done.text
        for node in (first, second):
            page = browser.session.get(node.url + "/demo/", timeout=10)
            assert '<strong id="user-name">alice</strong>' in page.text, node.url
        browser.session.get(first.url + "/logout", timeout=10)
        assert '<strong id="user-name">' not in browser.session.get(first.url + "/demo/", timeout=10).text
