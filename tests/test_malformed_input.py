"""Nothing answers 500 to bad input: every route, every kind of malformed request, every kind of caller.

The routes come from ``app.url_map``, so a route added tomorrow is thrown the
same input without anyone remembering to. Each route is called as nobody, as
a signed-in administrator, with the SCIM bearer token and with both, once
with CSRF checks on (what a browser meets) and once with them off (so the
malformed values reach the code behind the check). Malformed means paging
numbers out of range or not numbers at all (20+ digits, negative, floats,
other scripts' digits), NUL and invalid UTF-8 in paths, queries, forms and
JSON, JSON nested a thousand deep, bodies that are not objects, wrong content
types, bodies over the size limit, and garbage cookies. Only 2xx, 3xx and 4xx
are accepted. Under tests an exception propagates instead of becoming a 500,
so a failure shows its traceback's message here.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app, sessions
from app.extensions import db
from app.stores import sql as identity
from app.web import params
from app.web.request_limits import json_depth
from tests.conftest import DEMO_DOMAIN, LiveServer

TOKEN = "scim-token-0123456789abcdef"
ADMIN_DOMAIN = {
    "Administration": {
        "authentication_policies": {"Admin Console Policy": {"scheme": "AdminScheme"}},
        "resources": [{"url": "/admin/**", "policy": "Admin Console Policy"}],
    }
}
NUMBERS = ["-1", "0", "9" * 20, "-" + "9" * 25, "9" * 5000, "1.5", "1e309", "NaN", "١٢", "𝟙𝟚", "0x10", "1_000", " 7 "]
TEXT = ["", "%00", "%ff%fe", "%C0%AF", "x" * 10_000, "[]", "{}", "'; drop table users; --", "%E2%80%AE", "\\", "/../.."]
PAGING = ("startIndex", "count", "after", "before")
NAMES = (*PAGING, "next", "filter", "name", "value", "store", "user", "event", "reason", "flow", "scheme", "provider")
NAMES += ("registrationid", "state", "code", "error", "iss", "USERNAME", "PASSWORD", "attributes", "excludedAttributes")
PATH_VALUES = ["1", "0", "-1", "9" * 20, "9" * 19, "1.5", "%D9%A1%D9%A2", "%00", "%ff", "..%2F..", "x" * 3000, "User"]
DEEP = b"[" * 100_000
BODIES = [
    ("application/json", b""),
    ("application/json", b"[]"),
    ("application/json", b"null"),
    ("application/json", b'"text"'),
    ("application/json", b"1e999999"),
    ("application/scim+json", DEEP),
    ("application/scim+json", b'{"a":' * 1000 + b"1" + b"}" * 1000),
    ("application/scim+json", b'{"userName": "a\\u0000b", "schemas": []}'),
    ("application/scim+json", b'{"userName": "\xff\xfe"}'),
    ("application/scim+json", b'{"Operations": [{"op": "add", "path": "' + b"a." * 5000 + b'", "value": 1}]}'),
    ("application/scim+json", b'{"userName": ' + b"9" * 5000 + b"}"),
    ("application/x-www-form-urlencoded", b"USERNAME=%00&PASSWORD=%ff&csrf_token=%00"),
    ("application/x-www-form-urlencoded", b"a=" + b"%" * 5000),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\x00\r\n--'),
    ("multipart/form-data", b"no boundary"),
    ("text/plain", b"\x00\xff" * 100),
    ("application/json; charset=utf-16", b"\xff\xfe{\x00}\x00"),
]
COOKIES = [
    ("stepgate_session", "%ff" * 50),
    ("stepgate_flow", "\\x00" + "a" * 4000),
    ("stepgate_csrf", "not.a.signed.cookie"),
    ("stepgate_csrf", "e30.AAAA.BBBB"),
]


@pytest.fixture
def site(make_settings):
    """A stepgate with every area on: demo, console, SCIM; an administrator with a session cookie."""
    path = make_settings({"application_domains": {**DEMO_DOMAIN, **ADMIN_DOMAIN}, "scim": {"tokens": [TOKEN]}})
    application = create_app(path, testing=True)
    with application.app_context():
        db.create_all()
        admin = identity.create_user("default", "admin", {"groups": "admins"}, "a password", identity.UserStatus.ACTIVE)
        other = identity.create_user("default", "bob", {}, "a password", identity.UserStatus.ACTIVE)
        db.session.flush()
        cookie = sessions.create(admin.id, 2, "AdminScheme", 3600)
        db.session.commit()
        application.config["test.admin_cookie"], application.config["test.other_id"] = cookie, other.id
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


CALLERS = ("nobody", "admin", "scim", "admin+scim")


def _client(site, caller: str):
    client = site.test_client()
    if "admin" in caller:
        client.set_cookie("stepgate_session", site.config["test.admin_cookie"], domain="localhost")
    headers = {"Authorization": f"Bearer {TOKEN}"} if "scim" in caller else {}
    return client, headers


def _paths(rule, real_id: int) -> list[str]:
    """The rule with each variable replaced by every malformed path value, and last by a real user's id."""
    if not rule.arguments:
        return [rule.rule]
    return [re.sub(r"<[^>]+>", value, rule.rule) for value in (*PATH_VALUES, str(real_id))]


def _queries() -> list[str]:
    """Every malformed value in every parameter name at once, then the paging names one at a time."""
    everything = [value if "%" in value else quote(value) for value in NUMBERS + TEXT]
    queries = ["&".join(f"{name}={value}" for name in NAMES) for value in everything]
    queries += [f"{name}={quote(value)}" for name in PAGING for value in ("9" * 20, "-1", "١٢", "1.5")]
    return queries


def _routes(site):
    rules = [r for r in site.url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) > 20, [r.rule for r in rules]
    return rules


def _call(client, method: str, url: str, failures: list, **kwargs) -> None:
    try:
        with client.open(url, method=method, **kwargs) as response:
            status = response.status_code
    except Exception as exc:  # noqa: BLE001 - under tests a 500's exception propagates: record it, go on
        failures.append(f"{method} {url[:120]} {kwargs.get('content_type', '')}: {type(exc).__name__}: {exc}"[:400])
        db.session.rollback()
        return
    if not 200 <= status < 500:
        failures.append(f"{method} {url[:120]}: {status}")


def _methods(rule, csrf: bool = True) -> list[str]:
    """The rule's methods; with CSRF off, only those CSRF guards (GETs were already called with it on)."""
    skipped = {"HEAD", "OPTIONS"} if csrf else {"HEAD", "OPTIONS", "GET"}
    return sorted(m for m in rule.methods if m not in skipped)


# One test per caller and CSRF setting (each is a few thousand requests): the parallel pass spreads them.
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("csrf", [True, False], ids=["csrf-on", "csrf-off"])
def test_every_route_answers_malformed_queries_and_paths_without_a_500(site, csrf, caller):
    """Queries as nobody and as everybody at once; path values as each caller. CSRF-off: only what it guards."""
    site.config["WTF_CSRF_ENABLED"] = csrf
    failures: list[str] = []
    with site.app_context():
        client, headers = _client(site, caller)
        for rule in _routes(site):
            for method in _methods(rule, csrf):
                paths = _paths(rule, site.config["test.other_id"])
                for path in paths:
                    queries = _queries() if path == paths[0] and caller in ("nobody", "admin+scim") else [""]
                    for query in queries:
                        _call(client, method, f"{path}?{query}", failures, headers=headers)
    assert not failures, "\n".join(failures[:40])


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("csrf", [True, False], ids=["csrf-on", "csrf-off"])
def test_every_route_answers_malformed_bodies_headers_and_cookies_without_a_500(site, csrf, caller):
    site.config["WTF_CSRF_ENABLED"] = csrf
    failures: list[str] = []
    with site.app_context():
        client, headers = _client(site, caller)
        for rule in _routes(site):
            path = _paths(rule, site.config["test.other_id"])[-1]  # a real user id where the route takes one
            for method in _methods(rule, csrf):
                for content_type, body in BODIES:
                    _call(client, method, path, failures, headers=headers, data=body, content_type=content_type)
                for name, value in COOKIES:
                    client.set_cookie(name, value, domain="localhost")
                    _call(client, method, path, failures, headers={**headers, "Accept": "*/*;q=x"})
                    client.delete_cookie(name, domain="localhost")
                if "admin" in caller:
                    client.set_cookie("stepgate_session", site.config["test.admin_cookie"], domain="localhost")
    assert not failures, "\n".join(failures[:40])


def test_a_body_over_the_limit_is_413_on_forms_and_scim_json(site):
    big = b"a=" + b"x" * (1024 * 1024 + 1)
    with site.app_context():
        client, headers = _client(site, "admin+scim")
        form = client.post("/oam/server/auth_cred_submit", data=big, content_type="application/x-www-form-urlencoded")
        assert form.status_code == 413 and "larger than this server accepts" in form.text
        scim = client.post("/scim/v2/Users", data=big, content_type="application/scim+json", headers=headers)
        assert scim.status_code == 413
        assert scim.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and scim.json["status"] == "413"


def test_the_body_limit_is_a_setting(make_settings):
    site = create_app(make_settings({"scim": {"tokens": [TOKEN]}, "request_limits": {"max_body_bytes": 2048}}))
    client = site.test_client()
    body = b'{"userName": "' + b"x" * 3000 + b'"}'
    answer = client.post(
        "/scim/v2/Users", data=body, content_type="application/scim+json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 413
    with site.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "body, detail",
    [
        (b"[" * 33 + b"]" * 33, "nests deeper than 32 levels"),
        (DEEP, "nests deeper than 32 levels"),
        (b'{"userName": "x\\u0000"}', "NUL"),
        (b'{"userName": "\xff"}', "not UTF-8"),
        (b"{", "not JSON"),
        (b"[]", "must be a JSON object"),
    ],
)
def test_scim_refuses_deep_broken_and_non_object_json_as_invalid_syntax(site, body, detail):
    client, headers = _client(site, "scim")
    answer = client.post("/scim/v2/Users", data=body, content_type="application/scim+json", headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json["scimType"] == "invalidSyntax" and detail in answer.json["detail"]


def test_scim_paging_clamps_out_of_range_numbers_and_refuses_what_is_not_a_number(site):
    client, headers = _client(site, "scim")
    far = client.get("/scim/v2/Users?startIndex=" + "9" * 25 + "&count=" + "9" * 25, headers=headers)
    assert far.status_code == 200 and far.json["Resources"] == [] and far.json["totalResults"] == 2
    below = client.get("/scim/v2/Users?startIndex=-5&count=-5", headers=headers)
    assert below.status_code == 200 and below.json["startIndex"] == 1 and below.json["itemsPerPage"] == 0
    for bad in ("1.5", "١٢", "NaN", "1e3", "0x1"):
        answer = client.get(f"/scim/v2/Users?startIndex={quote(bad)}", headers=headers)
        assert answer.status_code == 400 and answer.json["scimType"] == "invalidSyntax", bad


@pytest.mark.parametrize("method, path, status", [("GET", "/scim/v2/Nothing", 404), ("POST", "/scim/v2/Schemas", 405)])
def test_scim_answers_unknown_endpoints_and_methods_in_its_error_json(site, method, path, status):
    client, headers = _client(site, "scim")
    answer = client.open(path, method=method, headers=headers)
    assert answer.status_code == status and answer.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert answer.json["status"] == str(status)
    assert client.get("/no/such/page").mimetype == "text/html"  # elsewhere, Flask's own answer


def test_console_ids_beyond_a_database_integer_are_not_found(site):
    client, _ = _client(site, "admin")
    assert client.get("/admin/users/" + "9" * 20).status_code == 404
    assert client.get("/admin/users/%D9%A1%D9%A2").status_code == 404  # Arabic-Indic digits are not an id
    assert client.get("/admin/users?after=" + "9" * 25).status_code == 200
    refused = client.get("/admin/audit?before=1.5")
    assert refused.status_code == 400 and "&#39;before&#39; must be a whole number" in refused.text


def test_invalid_utf8_and_nul_on_the_wire_are_refused_not_crashed(site):
    """Raw bytes a test client can't send: straight onto a socket to a real server."""
    server = LiveServer(site).start()
    try:
        _send_raw(server)
    finally:
        server.stop()


def _send_raw(server) -> None:
    for target in (b"/admin/users?after=%ff\xff", b"/scim/v2/Users/\xff\xfe", b"/demo/\xc0\xaf", b"/logout?next=/\x00"):
        request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: stepgate_session=\xff\r\n"
        request += b"Authorization: Bearer " + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(request)
            status_line = conn.makefile("rb").readline()
        status = int(status_line.split()[1])
        assert 200 <= status < 500, (target, status_line)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(max_size=40))
def test_an_integer_parameter_is_ascii_digits_within_bounds_or_refused(raw):
    try:
        value = params.integer("n", raw, default=7, minimum=0, maximum=1000)
    except params.BadParameter:
        assert raw != "" and not re.fullmatch(r"[+-]?[0-9]+", raw.strip(" "))
    else:
        assert 0 <= value <= 1000
        assert value == 7 if raw == "" else re.fullmatch(r"[+-]?[0-9]+", raw.strip(" "))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.text(max_size=30), count=st.text(max_size=30))
def test_scim_paging_answers_200_or_invalid_syntax_for_any_text(site, start, count):
    client, headers = _client(site, "scim")
    answer = client.get("/scim/v2/Users", query_string={"startIndex": start, "count": count}, headers=headers)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json["scimType"] == "invalidSyntax"


@given(depth=st.integers(min_value=0, max_value=200), noise=st.text(alphabet='[]{}"\\ab', max_size=30))
def test_json_depth_counts_nesting_but_not_brackets_inside_strings(depth, noise):
    text = "[" * depth + '"' + noise.replace("\\", "\\\\").replace('"', '\\"') + '"' + "]" * depth
    assert json_depth(text.encode()) == depth
