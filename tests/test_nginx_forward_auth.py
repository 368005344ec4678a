"""Real nginx protects an application on another server through stepgate's forward-auth endpoint.

nginx (Debian's package: found, or installed here when running as root; the
test is skipped with a message where neither works) listens on a free loopback
port with ``auth_request``, configured as docs/forward-auth.md shows; the upstream
application echoes what it receives. For paths (tests/path_attacks.py), nginx
passes every encoding of a protected path on to two real upstreams: one that
reads paths as loosely as any server does (decodes %2F, twice even, strips
``;parameters``, folds case) and one that routes Werkzeug's decoded path as it is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from tests.browser import Browser
from tests.conftest import LiveServer
from tests.debian import require
from tests.path_attacks import (
    CASES,
    REFUSED,
    domains_settings,
    level_of,
    literal_upstream,
    loose_upstream,
    raw_get,
)
from tests.proxied import STRONG_SCHEME, apps_settings
from tests.servers import free_port, wait_for

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
{user}
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    absolute_redirect off;
{servers}
}}
"""
# As in docs/forward-auth.md (tests/test_readme.py keeps the two in step): X-Original-URL carries
# $request_uri as the browser sent it (never nginx's decoded $uri), and proxy_pass names no URI, so the
# upstream receives that same raw request target.
SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location = /forward-auth {{
            internal;
            proxy_pass http://127.0.0.1:{stepgate}/forward-auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
        location ~ ^/(login|logout|oam/|static/) {{
            proxy_pass http://127.0.0.1:{stepgate};
            proxy_set_header Host $http_host;
        }}
        location @signin {{
            return 302 $stepgate_signin;
        }}
        location / {{
            auth_request /forward-auth;
            auth_request_set $stepgate_user $upstream_http_x_stepgate_user;
            auth_request_set $stepgate_mail $upstream_http_x_stepgate_mail;
            auth_request_set $stepgate_signin $upstream_http_location;
            error_page 401 = @signin;
            proxy_set_header X-Stepgate-User $stepgate_user;
            proxy_set_header X-Stepgate-Mail $stepgate_mail;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
"""


def find_or_install_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    # RUNLEVEL=1: install the package, don't start its service
    require(["nginx-light"], Path("/usr/sbin/nginx").exists, env={"RUNLEVEL": "1"})
    return "/usr/sbin/nginx"


def echo_app(environ, start_response):
    """The protected application: tells what it was sent."""
    body = json.dumps(
        {
            "path": environ["PATH_INFO"],
            "user": environ.get("HTTP_X_STEPGATE_USER"),
            "mail": environ.get("HTTP_X_STEPGATE_MAIL"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@contextmanager
def serving(app):
    """A WSGI application on a free loopback port, in a thread; yields the port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def upstream():
    with serving(echo_app) as port:
        yield port


@contextmanager
def running_nginx(conf_dir: Path, stepgate_port: int, upstreams: dict[int, int]):
    """nginx with one server per ``{listen port: upstream port}``, all asking stepgate; stopped afterwards."""
    nginx = find_or_install_nginx()
    conf_dir.mkdir()
    servers = "".join(
        SERVER.format(port=port, stepgate=stepgate_port, upstream=upstream) for port, upstream in upstreams.items()
    )
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = conf_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=conf_dir, servers=servers, user=user))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(conf_dir)], stderr=subprocess.PIPE)
    try:
        for port in upstreams:
            wait_for(f"http://127.0.0.1:{port}/public/", process, timeout=15)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        process.stderr.close()


@pytest.fixture
def proxy(make_settings, app, add_user, upstream, tmp_path):
    """nginx on a free port in front of the upstream; stepgate protects it. Yields the nginx base URL."""
    find_or_install_nginx()
    add_user("alice", password=PASSWORD, mail="alice@example.org")
    port = free_port()
    settings = make_settings(
        extra=apps_settings(f"127.0.0.1:{port}"), schemes={"StrongPasswordScheme.yaml": STRONG_SCHEME}
    )
    stepgate = LiveServer(create_app(settings, testing=True)).start()
    try:
        with running_nginx(tmp_path / "nginx", stepgate.port, {port: upstream}):
            yield f"http://127.0.0.1:{port}"
    finally:
        stepgate.stop()
        with stepgate.app.app_context():
            db.engine.dispose()


def test_anonymous_signs_in_and_the_application_sees_who_it_is(proxy):
    with Browser(proxy) as browser:
        page = browser.get("/app/reports?year=2026")
        assert page.status_code == 200 and browser.form()["id"] == "loginData"
        assert "/login?next=" in page.history[0].headers["Location"]
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
        assert done.status_code == 200
        assert done.url == proxy + "/app/reports?year=2026"
        assert done.json() == {"path": "/app/reports", "user": "alice", "mail": "alice@example.org"}


def test_a_resource_of_another_policy_is_refused(proxy):
    with Browser(proxy) as browser:
        browser.get("/app/")
        browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
        refused = browser.get("/admin/users")
        assert refused.status_code == 403
        assert browser.get("/app/").json()["user"] == "alice"


def test_the_application_never_sees_an_identity_the_browser_made_up(proxy):
    forged = requests.get(proxy + "/public/page", headers={"X-Stepgate-User": "mallory"}, timeout=10)
    assert forged.status_code == 200
    assert forged.json()["user"] is None
    anonymous = requests.get(proxy + "/app/", headers={"X-Stepgate-User": "mallory"}, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302


def test_after_logout_the_proxy_asks_for_credentials_again(proxy):
    with Browser(proxy) as browser:
        browser.get("/app/")
        browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
        cookie = browser.cookie("stepgate_session")
        browser.sign_out()
        again = requests.get(proxy + "/app/", cookies={"stepgate_session": cookie}, allow_redirects=False, timeout=10)
        assert again.status_code == 302 and again.headers["Location"].startswith("/login?next=")


@pytest.fixture
def path_proxies(make_settings, app, add_user, tmp_path):
    """nginx in front of the loose and the literal upstream; yields ({name: nginx port}, {level: session cookie})."""
    find_or_install_nginx()
    add_user("alice", password=PASSWORD)
    settings = make_settings(extra=domains_settings(), schemes={"StrongPasswordScheme.yaml": STRONG_SCHEME})
    stepgate = LiveServer(create_app(settings, testing=True)).start()
    ports = {"loose": free_port(), "literal": free_port()}
    try:
        with serving(loose_upstream) as loose, serving(literal_upstream) as literal:
            with running_nginx(tmp_path / "nginx", stepgate.port, {ports["loose"]: loose, ports["literal"]: literal}):
                sessions = {0: None, 1: sign_in(stepgate.url, "/app/"), 2: sign_in(stepgate.url, "/app/level2/")}
                yield ports, sessions
    finally:
        stepgate.stop()
        with stepgate.app.app_context():
            db.engine.dispose()


def sign_in(base_url: str, target: str) -> str:
    with Browser(base_url) as browser:
        browser.get("/login?" + requests.compat.urlencode({"next": target}))
        done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD}, allow_redirects=False)
        assert done.status_code == 302
        return browser.cookie("stepgate_session")


def test_no_encoding_of_a_protected_path_reaches_an_upstream_without_a_sufficient_session(path_proxies):
    """Every case, every session, both upstreams: the upstream serves content of level L only to a session of L or more;
    the loose upstream serves exactly the path stepgate judged, and nothing stepgate refused reaches it."""
    ports, sessions = path_proxies
    wrong = []
    for target, judged in CASES:
        for level, cookie in sessions.items():
            for name, port in ports.items():
                status, _, body = raw_get(port, target, {"Cookie": f"stepgate_session={cookie}"} if cookie else None)
                served = json.loads(body) if status == 200 and body.startswith(b'{"upstream"') else None
                if served is None:
                    if judged != REFUSED and level >= level_of(judged) and name == "loose":
                        wrong.append(f"{name} {target} at level {level}: {status}, expected the upstream to serve it")
                    continue
                if served["level"] > level:
                    wrong.append(f"{name} {target} at level {level}: BYPASS, the upstream served {served}")
                if name == "loose" and served["served"] != judged:
                    wrong.append(f"{name} {target}: served {served['served']!r}, stepgate judged {judged!r}")
    assert not wrong, "\n".join(wrong)


def test_a_refused_path_is_a_403_through_nginx_never_a_500(path_proxies):
    ports, sessions = path_proxies
    status, _, _ = raw_get(
        ports["loose"], "/public/..%2Fapp/level2/secret", {"Cookie": f"stepgate_session={sessions[2]}"}
    )
    assert status == 403
