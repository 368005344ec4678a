"""JIT off through real nginx: the application behind forward-auth sees the provider's subject and claims.

The development provider signs the person in, the shipped ``JITOffScheme``
stores nothing, and nginx (``auth_request``, configured as docs/forward-auth.md shows,
plus the subject, provider and claim headers) passes stepgate's headers on to
an upstream that echoes them. Headers the browser sends itself never arrive.
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager

import pytest
import requests

from app import federated_sessions
from tests.jit_steps import provider_sign_in
from tests.servers import free_port, wait_for
from tests.test_nginx_forward_auth import NGINX_CONF, find_or_install_nginx, serving

pytestmark = pytest.mark.slow
IDENTITY = {
    "user": "X-Stepgate-User",
    "subject": "X-Stepgate-Subject",
    "provider": "X-Stepgate-Provider",
    "mail": "X-Stepgate-Mail",
    "name": "X-Stepgate-Name",
}
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
            auth_request_set $stepgate_signin $upstream_http_location;
            error_page 401 = @signin;
{headers}
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
"""


def header_lines() -> str:
    """Each identity header copied from stepgate's answer and always set: empty removes a browser's copy."""
    lines = []
    for header in IDENTITY.values():
        variable = header.lower().replace("-", "_")
        lines.append(f"            auth_request_set ${variable} $upstream_http_{variable};")
        lines.append(f"            proxy_set_header {header} ${variable};")
    return "\n".join(lines)


def echo_identity(environ, start_response):
    seen = {name: environ.get("HTTP_" + header.upper().replace("-", "_")) for name, header in IDENTITY.items()}
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@contextmanager
def nginx_in_front(conf_dir, stepgate_port: int, port: int, upstream: int):
    nginx = find_or_install_nginx()
    conf_dir.mkdir()
    server = SERVER.format(port=port, stepgate=stepgate_port, upstream=upstream, headers=header_lines())
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = conf_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=conf_dir, servers=server, user=user))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(conf_dir)], stderr=subprocess.PIPE)
    try:
        wait_for(f"http://127.0.0.1:{port}/public/", process, timeout=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


@pytest.fixture
def proxy(make_jit_site, tmp_path):
    find_or_install_nginx()
    port = free_port()
    host = f"127.0.0.1:{port}"
    site = make_jit_site(
        policies={"JIT off": {"scheme": "JITOffScheme"}},
        resources=[
            {"url": "/**", "host": host, "policy": "JIT off"},
            {"url": "/public/**", "host": host, "policy": "Public"},
        ],
        extra={
            "forward_auth": {
                "proxies": ["127.0.0.1"],
                "attribute_headers": {"mail": "X-Stepgate-Mail", "display-name": "X-Stepgate-Name"},
            }
        },
    )
    with serving(echo_identity) as upstream:
        with nginx_in_front(tmp_path / "nginx", site.server.port, port, upstream) as url:
            yield site, url


def test_the_application_behind_nginx_sees_the_subject_and_claims_of_a_jit_off_sign_in(proxy):
    site, url = proxy
    with site.browser() as browser:
        forged = {header: "forged" for header in IDENTITY.values()}
        browser.session.headers.update(forged)  # every request of this browser tries to pass its own identity
        page = provider_sign_in(
            browser, f"{url}/app/reports", "ulla", given_name="Ulla\r\nX-Stepgate-User: admin", family_name="Öst"
        )
        assert page.status_code == 200 and page.url == f"{url}/app/reports", page.text[:300]
        with site.app.app_context():
            [row] = federated_sessions.active()
        assert page.json() == {
            "user": "ulla",
            "subject": row.subject,
            "provider": "devop",
            "mail": "ulla@example.org",
            "name": "Ulla%0D%0AX-Stepgate-User: admin %C3%96st",
        }
        cookie = browser.cookie("stepgate_session")
        browser.sign_out(url)
    anonymous = requests.get(f"{url}/public/page", headers=forged, timeout=10)
    assert anonymous.status_code == 200 and set(anonymous.json().values()) == {None}
    again = requests.get(f"{url}/app/", cookies={"stepgate_session": cookie}, allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["Location"].startswith("/login?next=")
