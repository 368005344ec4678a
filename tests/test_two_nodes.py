"""Two machines behind a load balancer, sharing one PostgreSQL database.

A sign-in begun on one node finishes on the other: with the local password
scheme, and through the real development OpenID Provider (the provider's answer
reaches the other node, as a load balancer may send it), with just-in-time
provisioning of the account.

Two gunicorn processes on different ports stand for two nodes (each with its
own session-cache generation file, as on separate machines). The browser keeps
one cookie jar for both, as it would behind a load balancer.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests import pg
from tests.browser import Browser
from tests.jit_steps import at_provider
from tests.oidc_fixtures import CALLBACK, DEMO_POLICIES, DEMO_RESOURCES
from tests.servers import Gunicorn, flask_cli, flask_cli_here, free_port

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"


@pytest.fixture
def shared_database():
    yield from pg.throwaway_database("the two-node test needs a shared database")


@pytest.fixture
def node_ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture
def node_extra(shared_database, node_ports, tmp_path) -> dict:
    """Settings of node A (node B differs only in its generation file, as on another machine).

    Browsers reach the deployment at node A's address (a load balancer's, in production).
    """
    return {
        "database_url": shared_database,
        "session_cache": {"generation_file": str(tmp_path / "a.gen")},
        "external_url": f"http://127.0.0.1:{node_ports[0]}",
    }


@pytest.fixture
def nodes(make_settings, node_extra, node_ports, tmp_path):
    node_a = make_settings(extra=node_extra)
    upgraded = flask_cli(node_a, "db", "upgrade")  # the schema comes from the migrations, as in production
    assert upgraded.returncode == 0, upgraded.stderr
    added = flask_cli_here(node_a, "users", "add", "alice", "--password", PASSWORD, "--attr", "mail=alice@example.org")
    assert added.exit_code == 0, added.output
    node_b = node_a.with_name("node-b.yaml")
    node_b.write_text(node_a.read_text().replace(str(tmp_path / "a.gen"), str(tmp_path / "b.gen")))
    with Gunicorn(node_a, port=node_ports[0]) as first, Gunicorn(node_b, port=node_ports[1]) as second:
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
        browser.sign_out(first.url)
        assert '<strong id="user-name">' not in browser.session.get(first.url + "/demo/", timeout=10).text


@pytest.fixture
def federated_node_extra(node_extra, node_ports, devop) -> dict:
    """Both nodes use one client of the development provider, registered for node A's callback.

    It adds to ``node_extra``; a test asks for it before ``nodes`` so both nodes start with it.
    """
    client = devop.register_client(f"http://127.0.0.1:{node_ports[0]}{CALLBACK}")
    provider = {"issuer": devop.issuer, "client_id": client["client_id"], "client_secret": client["client_secret"]}
    node_extra["identity_providers"] = {"devop": provider}
    node_extra["application_domains"] = {
        "Demo": {"authentication_policies": DEMO_POLICIES, "resources": DEMO_RESOURCES}
    }
    return node_extra


def test_a_federated_sign_in_begun_on_one_node_is_finished_and_provisioned_by_the_other(federated_node_extra, nodes):
    first, second = nodes
    with Browser(first.url) as browser:
        page = browser.get("/demo/jit-nopassword/welcome")
        assert at_provider(page), page.text[:300]
        form = browser.form(page)
        answer = browser.session.post(
            urljoin(page.url, form["action"]),
            data={**form["fields"], "login": "nadia", "given_name": "Nadia", "email_unverified": ""},
            allow_redirects=False,
            timeout=10,
        )
        while not answer.headers["Location"].startswith(first.url + CALLBACK):  # the provider's own redirects
            assert answer.status_code in (302, 303), answer.text[:300]
            answer = browser.session.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False)
        # the load balancer sends the provider's answer to the other node
        callback = answer.headers["Location"].replace(first.url, second.url, 1)
        done = browser.session.get(callback, timeout=10)
        assert done.url == second.url + "/demo/jit-nopassword/welcome", done.text[:500]
        assert '<strong id="user-name">nadia</strong>' in done.text
        on_first = browser.session.get(first.url + "/demo/jit-nopassword/", timeout=10)
        assert '<strong id="user-name">nadia</strong>' in on_first.text
    shown = flask_cli(Path(first.env["STEPGATE_SETTINGS"]), "users", "show", "nadia")
    assert shown.returncode == 0 and "mail: nadia@example.org" in shown.stdout, shown.stdout + shown.stderr
