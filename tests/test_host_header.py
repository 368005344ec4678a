"""Never trust the Host header: absolute URLs come from ``external_url``, forwarded headers only from trusted proxies.

Hostile ``Host``, ``X-Forwarded-Host``, ``X-Forwarded-Proto`` and ``Forwarded``
values are sent over raw sockets (duplicate headers, absolute-form targets and
non-ASCII bytes included) to real gunicorn servers running the project's
config/gunicorn.conf.py: one whose peer (127.0.0.1) is a trusted proxy and one
whose is not. Whatever arrives, the OpenID authorization redirect's
``redirect_uri`` and SCIM's ``Location`` are on external_url, and a host that
is not allowed gets 400.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import shutil
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from app import create_app
from app.deployment import Networks
from app.extensions import db
from app.settings import load_settings
from app.web.edge import TrustedProxies
from app.yamlsource import ConfigError
from tests.oidc_fixtures import DEMO_POLICIES, DEMO_RESOURCES
from tests.rogue_op import RogueProvider
from tests.servers import Gunicorn, flask_cli

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = "https://sso.example.org"
CALLBACK = EXTERNAL + "/oam/server/oidc/callback"
TOKEN = "scim-token-0123456789abcdef"
APP_HOST = "app.example.org"


# --- the servers -------------------------------------------------------------------------------------------------


def site_settings(base: Path, issuer: str, trusted_proxies: list[str], name: str) -> Path:
    doc = {
        "secret_key": "test-secret-key-0123456789",
        "database_url": f"sqlite:///{base / 'stepgate.db'}",
        "schemes_dir": "schemes",
        "external_url": EXTERNAL,
        "trusted_proxies": trusted_proxies,
        "identity_providers": {"devop": {"issuer": issuer, "client_id": "stepgate", "client_secret": "-"}},
        "scim": {"tokens": [TOKEN]},
        "forward_auth": {"proxies": ["127.0.0.1"]},
        "metrics_allow": ["10.9.9.9"],
        "application_domains": {
            "Demo": {"authentication_policies": DEMO_POLICIES, "resources": DEMO_RESOURCES},
            "Apps": {
                "authentication_policies": {"Staff": {"scheme": "PasswordScheme"}},
                "resources": [{"url": "/**", "host": APP_HOST, "policy": "Staff"}],
            },
        },
    }
    path = base / "config" / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{"trusted": gunicorn whose peer is a trusted proxy, "untrusted": one whose peer is not}; one database."""
    base = tmp_path_factory.mktemp("site")
    (base / "config").mkdir()
    shutil.copytree(ROOT / "schemes", base / "schemes")
    provider = RogueProvider().start()
    trusted = site_settings(base, provider.issuer, ["127.0.0.1"], "trusted.yaml")
    untrusted = site_settings(base, provider.issuer, ["10.0.0.0/8"], "untrusted.yaml")
    upgraded = flask_cli(trusted, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    try:
        with Gunicorn(trusted) as trusting, Gunicorn(untrusted) as distrusting:
            yield {"trusted": trusting, "untrusted": distrusting}
    finally:
        provider.stop()


def send(server: Gunicorn, request_line: str, headers: list[tuple[str, str]], body: bytes = b"") -> Answer:
    """One raw HTTP/1.1 request: the headers exactly as given (duplicates, odd bytes and all)."""
    lines = [request_line, *(f"{name}: {value}" for name, value in headers), "Connection: close"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, response.getheader("Location"), response.read())


class Answer:
    def __init__(self, status: int, location: str | None, body: bytes):
        self.status, self.location, self.body = status, location, body


# Each case: (what, request target, headers; the host the trusted server believes, the untrusted one believes).
# None: refused with 400 (not an allowed host, or not a host at all).
CASES = [
    ("the external host", "/", [("Host", "sso.example.org")], "ok", "ok"),
    ("an evil host", "/", [("Host", "evil.example")], None, None),
    ("the external host with another port", "/", [("Host", "sso.example.org:8443")], "ok", "ok"),
    ("the external host in capitals", "/", [("Host", "SSO.Example.ORG")], "ok", "ok"),
    ("the external host with a trailing dot", "/", [("Host", "sso.example.org.")], None, None),
    ("user info before the host", "/", [("Host", "a@sso.example.org")], None, None),
    ("user info naming the host", "/", [("Host", "sso.example.org@evil.example")], None, None),
    ("an IDN in UTF-8", "/", [("Host", "sso.exämple.org")], None, None),
    ("an IDN in punycode", "/", [("Host", "xn--sso-exmple-r5a.org")], None, None),
    ("an empty host", "/", [("Host", "")], None, None),
    ("two Host headers, evil second", "/", [("Host", "sso.example.org"), ("Host", "evil.example")], None, None),
    ("two Host headers, evil first", "/", [("Host", "evil.example"), ("Host", "sso.example.org")], None, None),
    ("an absolute-form target on an evil host", "http://evil.example/", [("Host", "sso.example.org")], "ok", "ok"),
    ("an absolute-form target with an evil Host", "http://sso.example.org/", [("Host", "evil.example")], None, None),
    (
        "X-Forwarded-Host evil",
        "/",
        [("Host", "sso.example.org"), ("X-Forwarded-Host", "evil.example")],
        None,  # the trusted proxy says the browser asked for evil.example
        "ok",  # anyone else's X-Forwarded-Host is ignored
    ),
    (
        "X-Forwarded-Host external behind an evil Host",
        "/",
        [("Host", "evil.example"), ("X-Forwarded-Host", "sso.example.org")],
        "ok",
        None,
    ),
    (
        "X-Forwarded-Host listing evil last",
        "/",
        [("Host", "sso.example.org"), ("X-Forwarded-Host", "sso.example.org, evil.example")],
        None,
        "ok",
    ),
    (
        "X-Forwarded-Proto http and a port",
        "/",
        [("Host", "sso.example.org"), ("X-Forwarded-Proto", "http"), ("X-Forwarded-Port", "8080")],
        "ok",
        "ok",
    ),
    (
        "Forwarded naming an evil host",
        "/",
        [("Host", "sso.example.org"), ("Forwarded", "for=10.9.9.9;host=evil.example;proto=http")],
        "ok",
        "ok",
    ),
    ("X-Forwarded-Prefix", "/", [("Host", "sso.example.org"), ("X-Forwarded-Prefix", "/evil")], "ok", "ok"),
]
IDS = [case[0] for case in CASES]
REFUSED_BY_GUNICORN = {"two Host headers, evil second", "two Host headers, evil first"}  # before stepgate sees them


def expected(case, peer: str):
    return case[3] if peer == "trusted" else case[4]


def target(case, path: str) -> str:
    """The case's request target for ``path``: absolute-form keeps its scheme and host."""
    parts = urlsplit(case[1])
    return f"{parts.scheme}://{parts.netloc}{path}" if parts.netloc else path


@pytest.mark.parametrize("peer", ["trusted", "untrusted"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_openid_redirect_uri_is_always_on_external_url(servers, case, peer):
    answer = send(servers[peer], f"GET {target(case, '/demo/jit/welcome')} HTTP/1.1", case[2])
    if expected(case, peer) is None:
        assert answer.status == 400, answer.body[:300]
        return
    assert answer.status == 302, answer.body[:300]
    authorization = urlsplit(answer.location)
    assert authorization.path.endswith("/authorize"), answer.location
    assert parse_qs(authorization.query)["redirect_uri"] == [CALLBACK]


@pytest.mark.parametrize("peer", ["trusted", "untrusted"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_scim_location_is_always_on_external_url(servers, case, peer):
    name = f"user-{IDS.index(case[0])}-{peer}"
    body = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}).encode()
    headers = [*case[2], ("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/scim+json")]
    answer = send(servers[peer], f"POST {target(case, '/scim/v2/Users')} HTTP/1.1", headers, body)
    if expected(case, peer) is None:
        assert answer.status == 400, answer.body[:300]
        assert "evil" not in answer.body.decode("utf-8", "replace")
        return
    assert answer.status == 201, answer.body[:300]
    created = json.loads(answer.body)
    assert answer.location == created["meta"]["location"] == f"{EXTERNAL}/scim/v2/Users/{created['id']}"


@pytest.mark.parametrize("peer", ["trusted", "untrusted"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_auth_answers_by_the_protected_url_never_by_its_own_host(servers, case, peer):
    """/forward-auth is asked by a configured proxy (its peer address is checked), about the application's URL.

    The Host the proxy addresses stepgate by builds nothing: the sign-in
    ``Location`` is ``forward_auth.signin_url`` with the application's URL as
    ``next``, whatever the Host and forwarded headers say.
    """
    headers = [*case[2], ("X-Original-URL", f"https://{APP_HOST}/reports")]
    answer = send(servers[peer], f"GET {target(case, '/forward-auth')} HTTP/1.1", headers)
    if case[0] in REFUSED_BY_GUNICORN:
        assert answer.status == 400 and b"Invalid HTTP Header: &#x27;HOST&#x27;" in answer.body
        return
    assert answer.status == 401, answer.body[:300]
    assert answer.location == "/login?next=https%3A%2F%2Fapp.example.org%2Freports"


@pytest.mark.parametrize("peer", ["trusted", "untrusted"])
def test_forward_auth_refuses_an_original_url_on_a_host_no_resource_names(servers, peer):
    headers = [("Host", "sso.example.org"), ("X-Original-URL", "https://evil.example/reports")]
    answer = send(servers[peer], "GET /forward-auth HTTP/1.1", headers)
    assert answer.status == 403 and answer.location is None


def test_a_refused_host_gets_a_page_for_people_and_json_for_programs(servers):
    page = send(servers["untrusted"], "GET /demo/ HTTP/1.1", [("Host", "evil.example"), ("Accept", "text/html")])
    assert page.status == 400 and b"does not answer for that host name" in page.body
    program = send(
        servers["untrusted"], "GET /demo/ HTTP/1.1", [("Host", "evil.example"), ("Accept", "application/json")]
    )
    assert program.status == 400
    assert json.loads(program.body)["error"] == "request.bad_host"
    log = servers["untrusted"].log.read_text()
    assert "refused GET /demo/ for host 'evil.example' from 127.0.0.1" in log


def test_resource_hosts_may_serve_stepgate_pages(servers):
    """docs/forward-auth.md's nginx serves /login on the protected application's host: that host is allowed."""
    answer = send(servers["untrusted"], "GET /login HTTP/1.1", [("Host", APP_HOST)])
    assert answer.status != 400


@pytest.mark.parametrize(("peer", "status"), [("trusted", 200), ("untrusted", 403)])
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(servers, peer, status):
    """/metrics is open to 10.9.9.9 only: only a trusted proxy can say the client is there."""
    headers = [("Host", "sso.example.org"), ("X-Forwarded-For", "10.9.9.9")]
    assert send(servers[peer], "GET /metrics HTTP/1.1", headers).status == status


# --- the proxy chain, without a server -------------------------------------------------------------------------


def remote_addr_behind(forwarded_for: str, peer: str, trusted: list[str]) -> str:
    seen = {}

    def echo(environ, start_response):
        seen["addr"] = environ["REMOTE_ADDR"]
        start_response("200 OK", [])
        return [b""]

    proxies = TrustedProxies(echo, Networks(tuple(ipaddress.ip_network(n) for n in trusted)))
    proxies({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded_for, "wsgi.url_scheme": "http"}, lambda *a: None)
    return seen["addr"]


@pytest.mark.parametrize(
    ("forwarded_for", "peer", "client"),
    [
        ("203.0.113.7", "10.0.0.1", "203.0.113.7"),  # one proxy
        ("203.0.113.7, 10.0.0.2", "10.0.0.1", "203.0.113.7"),  # two proxies, both trusted
        ("10.9.9.9, 203.0.113.7", "10.0.0.1", "203.0.113.7"),  # the client made up an address before its own
        ("203.0.113.7", "198.51.100.1", "198.51.100.1"),  # not from a proxy: the header is ignored
        ("10.0.0.3, 10.0.0.2", "10.0.0.1", "10.0.0.3"),  # every hop trusted: the first one is as far as it goes
    ],
)
def test_the_client_address_is_the_first_one_no_trusted_proxy_wrote(forwarded_for, peer, client):
    assert remote_addr_behind(forwarded_for, peer, ["10.0.0.0/8"]) == client


# --- gunicorn's own trust ------------------------------------------------------------------------------------------


def scheme_echo(environ, start_response):
    """What gunicorn made of X-Forwarded-Proto: its ``wsgi.url_scheme``."""
    body = environ["wsgi.url_scheme"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize(("trusted_proxies", "scheme"), [(None, "http"), (0, "http"), (["127.0.0.1"], "https")])
def test_gunicorn_believes_x_forwarded_proto_only_from_trusted_proxies(tmp_path, trusted_proxies, scheme):
    (tmp_path / "config").mkdir()
    doc = {"secret_key": "test-secret-key-0123456789", "external_url": EXTERNAL}
    if trusted_proxies is not None:
        doc["trusted_proxies"] = trusted_proxies
    settings = tmp_path / "config" / "settings.yaml"
    settings.write_text(yaml.safe_dump(doc))
    with Gunicorn(settings, app="tests.test_host_header:scheme_echo") as server:
        answer = send(server, "GET / HTTP/1.1", [("Host", "sso.example.org"), ("X-Forwarded-Proto", "https")])
    assert answer.body == scheme.encode()


# --- settings --------------------------------------------------------------------------------------------------------


def problems_of(tmp_path, text: str) -> list[str]:
    path = tmp_path / "config" / "settings.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("secret_key: test-secret-key-0123456789\n" + text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return [str(p).split("settings.yaml", 1)[1] for p in caught.value.problems]


SHAPE = "'external_url' must be http(s)://host[:port][/path], e.g. https://sso.example.org"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://sso.example.org", SHAPE),
        ("sso.example.org", SHAPE),
        ("https://", SHAPE),
        ("https://sso.example.org:99999", SHAPE),
        (
            "https://sso.example.org/?next=/",
            "'external_url' must not have a ?query ('https://sso.example.org/?next=/')",
        ),
        ("https://sso.example.org/#top", "'external_url' must not have a #fragment ('https://sso.example.org/#top')"),
        (
            "https://admin:pw@sso.example.org",
            "'external_url' must not hold a user name or password ('https://admin:pw@sso.example.org')",
        ),
        (
            "https://sso.exämple.org",
            "'external_url' must name a plain host (ASCII, punycode for IDNs) ('https://sso.exämple.org')",
        ),
        (
            "https://sso.example.org./",
            "'external_url' must name a plain host (ASCII, punycode for IDNs) ('https://sso.example.org./')",
        ),
        (
            "https://sso.example.org/a b",
            "'external_url' has a path that is not a plain /prefix ('https://sso.example.org/a b')",
        ),
        (42, SHAPE),
    ],
)
def test_a_bad_external_url_is_reported_at_its_line(tmp_path, value, message):
    assert problems_of(tmp_path, "log_format: text\n" + yaml.safe_dump({"external_url": value})) == [f":3: {message}"]


def test_external_url_is_required(tmp_path):
    assert problems_of(tmp_path, "log_format: text\n") == [
        ":1: 'external_url' is required: how browsers reach this server, e.g. https://sso.example.org "
        "(use ${STEPGATE_EXTERNAL_URL})"
    ]


def test_trusted_proxies_and_allowed_hosts_are_checked_at_their_line(tmp_path):
    text = "external_url: https://sso.example.org\ntrusted_proxies: 2\nallowed_hosts: [ok.example.org, 'bad host:80']\n"
    assert problems_of(tmp_path, text) == [
        ":4: 'bad host:80' in 'allowed_hosts' is not a host name (no port, ASCII)",
        ":3: 'trusted_proxies' now lists the proxies' addresses or networks, not a count "
        "(e.g. trusted_proxies: [127.0.0.1, 10.0.0.0/8])",
    ]
    assert problems_of(tmp_path, "external_url: https://sso.example.org\ntrusted_proxies: [10.0.0.0/8, proxy]\n") == [
        ":3: 'proxy' in 'trusted_proxies' is not an IP address or network"
    ]


def test_external_url_is_normalised(tmp_path):
    path = tmp_path / "config" / "settings.yaml"
    path.parent.mkdir()
    path.write_text("secret_key: test-secret-key-0123456789\nexternal_url: HTTPS://SSO.Example.org:443/Sso/\n")
    external = load_settings(path).external
    assert (external.origin, external.prefix, external.secure) == ("https://sso.example.org", "/Sso", True)
    assert external.absolute("/scim/v2") == "https://sso.example.org/Sso/scim/v2"


def test_production_refuses_the_shipped_default_external_url(monkeypatch):
    monkeypatch.setenv("STEPGATE_ENV", "production")
    monkeypatch.delenv("STEPGATE_EXTERNAL_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(ROOT / "config" / "settings.yaml")
    assert any(
        "STEPGATE_ENV=production refuses the shipped default external_url 'http://127.0.0.1:5000'" in str(p)
        for p in caught.value.problems
    )


# --- a path prefix -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("forwarded_path", ["/sso/scim/v2/Users", "/scim/v2/Users"])
def test_external_urls_path_prefix_is_kept_whether_the_proxy_strips_it_or_not(make_settings, forwarded_path):
    extra = {"external_url": "https://sso.example.org/sso", "allowed_hosts": ["localhost"], "scim": {"tokens": [TOKEN]}}
    settings = make_settings(extra=extra)
    application = create_app(settings, testing=True)
    with application.app_context():
        db.create_all()
    try:
        created = application.test_client().post(
            forwarded_path,
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "prefixed"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == f"https://sso.example.org/sso/scim/v2/Users/{created.json['id']}"
    finally:
        with application.app_context():
            db.engine.dispose()
