"""The OIDC client's calls to the provider: kept connections, dead ones, threads, failures, proxies and TLS.

Real HTTP on loopback throughout: the misbehaving test provider (tests/rogue_op.py)
counts the connections it accepts and logs the requests it reads; the proxy and
the private CA are in tests/network.py. Nothing of the transport is mocked.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from urllib.parse import unquote

import pytest

from app.oidc.client import OIDCClient
from app.oidc.errors import OIDCError
from app.oidc.providers import IdentityProvider
from app.oidc.transport import POST_REUSE_SECONDS
from tests.network import LoopbackProxy, PrivateCA
from tests.oidc_fixtures import free_port
from tests.rogue_op import SUBJECT, RogueProvider

REDIRECT_URI = "http://127.0.0.1:5000/oam/server/oidc/callback"
ENVIRONMENT = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class MemoryDocuments:
    """Discovery and keys kept in memory, always fresh: each test's client fetches them once."""

    def __init__(self):
        self.documents = {}

    def get(self, issuer, kind, *, reread=False):
        return self.documents.get((issuer, kind))

    def put(self, issuer, kind, body):
        self.documents[(issuer, kind)] = (body, time.time())

    def fresh(self, fetched_at, ttl):
        return True


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """No proxy and no CA bundle from the machine running the tests; a test sets its own."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy():
    proxy = LoopbackProxy().start()
    yield proxy
    proxy.stop()


@pytest.fixture
def private_ca(tmp_path):
    return PrivateCA(tmp_path)


@pytest.fixture
def tls_op(private_ca):
    """The test provider over https at https://localhost:PORT, its certificate issued by the private CA."""
    provider = RogueProvider(tls=private_ca.server_context("localhost"), host="localhost").start()
    yield provider
    provider.stop()


def client_for(op: RogueProvider, **settings) -> OIDCClient:
    """A client built as stepgate builds one: the environment (proxies, CA bundle) is read now."""
    settings = {"client_secret": op.client_secret, "read_timeout": 1, **settings}
    provider = IdentityProvider("rogue", op.issuer, op.client_id, **settings)
    return OIDCClient(provider, MemoryDocuments())


def sign_in(client: OIDCClient, op: RogueProvider):
    """A whole federated sign-in from the client's side: the provider issued a code for this request's nonce."""
    pending = client.authorization_request(REDIRECT_URI)
    code = secrets.token_urlsafe(16)
    op.codes[code] = {"nonce": pending.nonce}
    return client.sign_in(code, REDIRECT_URI, pending, use_userinfo=True)


def refused(call) -> OIDCError:
    with pytest.raises(OIDCError) as caught:
        call()
    return caught.value


# -- kept connections -------------------------------------------------------------


def test_sign_ins_reuse_one_kept_alive_connection_to_the_provider(rogue_op):
    client = client_for(rogue_op)
    for _ in range(3):
        assert sign_in(client, rogue_op).subject == SUBJECT
    assert rogue_op.connections == 1
    assert [line.split()[1] for line in rogue_op.requests] == [
        "/.well-known/openid-configuration",
        "/token",
        "/jwks",
        "/userinfo",
        *["/token", "/userinfo"] * 2,
    ]


def test_a_provider_that_closed_an_idle_connection_gets_a_new_one_and_the_code_is_sent_once(rogue_op):
    client = client_for(rogue_op)
    rogue_op.idle_timeout = 0.2
    sign_in(client, rogue_op)
    time.sleep(0.5)  # the provider closes the idle connection meanwhile
    assert sign_in(client, rogue_op).subject == SUBJECT  # its first call is the token POST
    assert rogue_op.connections == 2
    assert rogue_op.token_requests == 2


def test_a_token_request_never_meets_the_providers_keep_alive_close_and_a_get_that_does_is_retried(rogue_op):
    # A provider closes an idle connection after its keep-alive timeout, and a request sent as it does is lost
    # unanswered: a GET may be sent again, a token POST (its code is single use) may not.
    client = client_for(rogue_op)
    sign_in(client, rogue_op)
    rogue_op.closing_after = POST_REUSE_SECONDS
    time.sleep(POST_REUSE_SECONDS + 0.2)
    assert sign_in(client, rogue_op).subject == SUBJECT  # the token POST went on a new connection
    assert rogue_op.token_requests == 2, "one per sign-in: the code was sent once"

    time.sleep(POST_REUSE_SECONDS + 0.2)
    connections = rogue_op.connections
    assert client.userinfo("access-token", SUBJECT)["sub"] == SUBJECT
    assert rogue_op.requests[-2:] == ["GET /userinfo HTTP/1.1"] * 2, "met the close, then sent again"
    assert rogue_op.connections == connections + 1


def test_a_token_request_whose_connection_dies_is_not_sent_again(rogue_op):
    client = client_for(rogue_op)
    sign_in(client, rogue_op)
    rogue_op.hang_up = 1  # the provider reads the next request, then closes without answering
    failure = refused(lambda: sign_in(client, rogue_op))
    assert failure.reason == "idp.unreachable" and failure.malfunction
    assert rogue_op.token_requests == 2, "one per sign-in: the code was not resent"
    assert sign_in(client, rogue_op).subject == SUBJECT


def test_a_get_whose_reused_connection_dies_is_retried_once_on_a_new_one(rogue_op):
    client = client_for(rogue_op)
    sign_in(client, rogue_op)
    rogue_op.hang_up = 1
    assert client.userinfo("access-token", SUBJECT)["sub"] == SUBJECT
    assert rogue_op.requests[-2:] == ["GET /userinfo HTTP/1.1"] * 2
    assert rogue_op.connections == 2

    rogue_op.hang_up = 2
    failure = refused(lambda: client.userinfo("access-token", SUBJECT))
    assert failure.reason == "idp.unreachable"
    assert rogue_op.requests[-3:] == ["GET /userinfo HTTP/1.1"] * 3, "the first of the two, then one retry"


def test_each_request_thread_has_its_own_connection(rogue_op):
    client = client_for(rogue_op)
    client.metadata()
    start, errors = threading.Barrier(4), []

    def request_thread():
        start.wait()
        try:
            for _ in range(20):
                assert client.userinfo("access-token", SUBJECT)["sub"] == SUBJECT
        except Exception as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=request_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert rogue_op.connections == 1 + 4, "the main thread's, then one per request thread, each kept for 20 calls"
    assert rogue_op.requests.count("GET /userinfo HTTP/1.1") == 80


def test_chunked_answers_are_read_whole_and_the_connection_kept(rogue_op):
    rogue_op.chunked = True
    client = client_for(rogue_op)
    assert sign_in(client, rogue_op).claims["email"] == "rogue@example.org"
    assert sign_in(client, rogue_op).subject == SUBJECT
    assert rogue_op.connections == 1


# -- failures and their reason codes -------------------------------------------------


def test_a_token_endpoint_slower_than_the_read_timeout_is_idp_timeout(rogue_op):
    client = client_for(rogue_op, read_timeout=0.2)
    client.metadata()
    rogue_op.mode, rogue_op.slow_seconds = "slow_token", 1.0
    started = time.monotonic()
    failure = refused(lambda: sign_in(client, rogue_op))
    assert failure.reason == "idp.timeout" and failure.detail == "token: read timed out"
    assert time.monotonic() - started < 0.9
    rogue_op.mode = "good"
    assert sign_in(client, rogue_op).subject == SUBJECT


def test_a_closed_port_is_idp_unreachable():
    provider = IdentityProvider("gone", f"http://127.0.0.1:{free_port()}", "stepgate", "secret")
    failure = refused(OIDCClient(provider, MemoryDocuments()).metadata)
    assert failure.reason == "idp.unreachable" and failure.malfunction
    assert failure.detail.startswith("discovery: connect failed")


def test_an_http_500_from_the_token_endpoint_is_idp_bad_response_naming_the_status(rogue_op):
    client = client_for(rogue_op)
    rogue_op.mode = "token_500"
    failure = refused(lambda: sign_in(client, rogue_op))
    assert (failure.reason, failure.detail) == ("idp.bad_response", "token: HTTP 500")


def test_a_used_code_is_idp_token_refused_with_the_providers_error(rogue_op):
    client = client_for(rogue_op)
    pending = client.authorization_request(REDIRECT_URI)
    failure = refused(lambda: client.sign_in("never-issued", REDIRECT_URI, pending, use_userinfo=False))
    assert (failure.reason, failure.detail, failure.malfunction) == ("idp.token_refused", "invalid_grant", False)


def test_a_redirect_is_not_followed_but_refused(rogue_op):
    rogue_op.mode = "discovery_redirect"
    failure = refused(client_for(rogue_op).metadata)
    assert (failure.reason, failure.detail) == ("idp.bad_response", "discovery: HTTP 302")
    assert not any("/elsewhere" in line for line in rogue_op.requests)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_over_one_mebibyte_is_refused(rogue_op, chunked):
    client = client_for(rogue_op)
    client.metadata()
    rogue_op.mode, rogue_op.chunked = "huge_userinfo", chunked
    failure = refused(lambda: client.userinfo("access-token", SUBJECT))
    assert failure.reason == "idp.bad_response" and "more than 1048576" in failure.detail
    rogue_op.mode = "good"
    assert client.userinfo("access-token", SUBJECT)["sub"] == SUBJECT, "the half-read connection was dropped"


# -- client authentication ------------------------------------------------------------


def test_client_secret_basic_form_encodes_id_and_secret_before_base64(rogue_op):
    secret = "s3cr:t+/%é"
    sign_in(client_for(rogue_op, client_secret=secret), rogue_op)
    authorization, form = rogue_op.token_authorization
    scheme, encoded = authorization.split()
    client_id, _, sent_secret = base64.b64decode(encoded).decode().partition(":")
    assert scheme == "Basic" and unquote(client_id) == rogue_op.client_id and unquote(sent_secret) == secret
    assert sent_secret == "s3cr%3At%2B%2F%25%C3%A9"
    assert "client_secret" not in form and form["code_verifier"]


def test_client_secret_post_sends_the_credentials_in_the_body_only(rogue_op):
    sign_in(client_for(rogue_op, token_endpoint_auth_method="client_secret_post"), rogue_op)
    authorization, form = rogue_op.token_authorization
    assert authorization is None
    assert (form["client_id"], form["client_secret"]) == (rogue_op.client_id, rogue_op.client_secret)


# -- proxies ------------------------------------------------------------------------------


def test_http_calls_go_through_the_environments_http_proxy_in_absolute_form(rogue_op, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://gate:p%40ss@"))
    client = client_for(rogue_op)
    assert sign_in(client, rogue_op).subject == SUBJECT
    assert sign_in(client, rogue_op).subject == SUBJECT
    assert [line.split()[:2] for line in proxy.requests] == [
        ["GET", f"{rogue_op.issuer}/.well-known/openid-configuration"],
        ["POST", f"{rogue_op.issuer}/token"],
        ["GET", f"{rogue_op.issuer}/jwks"],
        ["GET", f"{rogue_op.issuer}/userinfo"],
        ["POST", f"{rogue_op.issuer}/token"],
        ["GET", f"{rogue_op.issuer}/userinfo"],
    ]
    assert set(proxy.authorizations) == {"Basic " + base64.b64encode(b"gate:p@ss").decode()}
    assert proxy.connections == 1, "one kept connection to the proxy"


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "example.org, 127.0.0.0/8", "*"])
def test_hosts_named_in_no_proxy_are_reached_directly(rogue_op, proxy, monkeypatch, no_proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert sign_in(client_for(rogue_op), rogue_op).subject == SUBJECT
    assert proxy.requests == []


def test_the_proxy_settings_are_read_once_when_the_client_is_built(rogue_op, proxy, monkeypatch):
    client = client_for(rogue_op)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert sign_in(client, rogue_op).subject == SUBJECT
    assert proxy.requests == []


def test_https_goes_through_a_connect_tunnel_and_the_certificate_is_verified(tls_op, proxy, private_ca, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(private_ca.bundle))
    client = client_for(tls_op)
    assert sign_in(client, tls_op).subject == SUBJECT
    assert sign_in(client, tls_op).subject == SUBJECT
    port = tls_op.issuer.rpartition(":")[2]
    assert proxy.requests == [f"CONNECT localhost:{port} HTTP/1.0"], "one tunnel, kept for every call"
    assert tls_op.connections == 1 and len(tls_op.requests) == 6


# -- TLS --------------------------------------------------------------------------------------


def test_https_to_a_provider_whose_ca_the_bundle_names_works_over_one_connection(tls_op, private_ca, monkeypatch):
    monkeypatch.setenv("CURL_CA_BUNDLE", str(private_ca.bundle))
    client = client_for(tls_op)
    for _ in range(2):
        assert sign_in(client, tls_op).subject == SUBJECT
    assert tls_op.connections == 1


def test_a_certificate_from_a_ca_outside_the_bundle_is_refused(tls_op):
    failure = refused(client_for(tls_op).metadata)  # no bundle named: certifi's public CAs
    assert failure.reason == "idp.unreachable" and "certificate" in failure.detail
    assert tls_op.requests == []


def test_a_certificate_for_another_host_name_is_refused(private_ca, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(private_ca.bundle))
    op = RogueProvider(tls=private_ca.server_context("localhost"), host="127.0.0.1").start()
    try:
        failure = refused(client_for(op).metadata)  # the certificate names localhost, not 127.0.0.1
    finally:
        op.stop()
    assert failure.reason == "idp.unreachable" and "certificate" in failure.detail
    assert op.requests == []
