"""Forward-auth: protecting applications on other servers through their reverse proxy.

The proxy (nginx ``auth_request``, Traefik or Caddy ``forward_auth``) asks
``/forward-auth`` about every request it is about to pass on, with the original
URL in ``X-Original-URL`` (nginx) or ``X-Forwarded-Proto/Host/Uri`` (Traefik,
Caddy) and the method in ``X-Original-Method`` / ``X-Forwarded-Method``. The
answer, in those proxies' convention:

- 200 with the user in configurable headers: the session may reach the resource;
- 401 with ``Location``: nobody is signed in; send the browser there (nginx
  turns it into a redirect; ``forward_auth.signin_status: 302`` answers with the
  redirect itself, for Traefik and Caddy, which pass the answer on as it is);
- 403: signed in, but the resource needs a higher authentication level, no
  resource is configured for the URL, the asker is not a configured proxy, or
  the path cannot be judged safely (a ``path.*`` reason; 403 and not 400
  because nginx's ``auth_request`` turns any other refusal into a 500).

Forwarded headers are believed only from ``forward_auth.proxies``: anyone else
could claim any URL. A URL that no configured resource covers is refused. The
path is judged as the application behind the proxy will serve it
(``app/urlpath.py``): a path whose meaning depends on who decodes it is refused
with its ``path.*`` reason, never matched as it was sent.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote, urlencode

from flask import Flask
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import parse_cookie

from app import outage, session_cache
from app.runtime import current
from app.scim import membership
from app.web.gate import resource_for_target
from app.web.messages import message_for

log = logging.getLogger("stepgate.forward_auth")
PATH = "/forward-auth"
_HEADER_SAFE = " !#$&'()*+,-./:;<=>?@[]^_`{|}~"
_PLAIN = re.compile(r"[ !#-$&-~]*")  # printable ASCII without '%' and '"': passes through as it is
_UNSAFE_URL = re.compile(r"[\x00-\x1f\x7f\\]")
# scheme, authority, raw path (judged by app/urlpath.py, so '#', '\\' and control bytes stay in it), query
_ORIGINAL_URL = re.compile(r"(https?)://([^/?#\\\x00-\x20\x7f]+)([^?]*)(\?.*)?", re.IGNORECASE | re.DOTALL)
_STATUS = {200: "200 OK", 302: "302 Found", 400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden"}
_STATUS[503] = "503 Service Unavailable"  # the database is unavailable and the session is not cached: fail closed
Answer = tuple[int, list[tuple[str, str]], bytes]
_NOSNIFF = ("X-Content-Type-Options", "nosniff")  # what app/web/headers.py adds to every other answer


class ForwardAuthMiddleware:
    """Answers ``/forward-auth`` in front of Flask's request machinery, for every other path passes on.

    The check runs on every request of every protected application, so it skips
    what it does not need (routing, the cookie session, CSRF hooks, response
    objects): only an application context, for the database and the session cache.
    It sits outside ProxyFix: the peer it sees is the proxy itself.
    """

    def __init__(self, wsgi_app, flask_app: Flask):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH:
            return self.wsgi_app(environ, start_response)
        with self.flask_app.app_context():
            status, headers, body = decide(
                environ.get("REMOTE_ADDR"), EnvironHeaders(environ), _cookie(environ, "stepgate_session")
            )
        start_response(_STATUS[status], [*headers, _NOSNIFF, ("Content-Length", str(len(body)))])
        return [body]


def decide(peer: str | None, headers, session_cookie: str | None) -> Answer:
    """The forward-auth answer for a proxy at ``peer`` asking with ``headers``."""
    runtime = current()  # once: each lookup goes through Flask's context-local proxy
    settings = runtime.settings
    config = settings.deployment.forward_auth
    if not config.trusts(peer):
        log.warning("forward-auth refused: %s is not a configured proxy", peer)
        return _refuse("forward_auth.untrusted_proxy", 403)
    original = original_request(headers)
    if original is None:
        log.warning("forward-auth refused: the proxy sent no usable original URL")
        return _refuse("forward_auth.no_original_url", 400)
    url, host, path, method = original
    judgement = settings.application_domains.judge(host, path, method)
    if judgement.reason:
        log.warning("forward-auth refused %s %r: %s", method, url, judgement.reason)
        return _refuse(judgement.reason, 403)
    resource = judgement.resource
    if resource is None:
        log.info("forward-auth refused %s %s: no configured resource", method, url)
        return _refuse("forward_auth.no_resource", 403)
    try:
        checked = session_cache.check_uncached_in_request(session_cookie)  # one check per request here: no memo
    except Exception as exc:
        return _unavailable(exc)
    if resource.policy.public:
        return _allow(checked, config)
    scheme = runtime.schemes[resource.policy.scheme]
    if checked is None:
        return _refuse("authn.required", config.signin_status, location=_signin_location(url, path))
    if not resource.policy.satisfied_by(checked.session, scheme.level):  # a level, or methods such as mfa
        return _refuse("authn.level_too_low", 403, location=_signin_location(url, path))
    try:  # a group requirement reads the database too: an outage there is a 503, not a traceback
        member = membership.allowed(resource.policy.groups, checked.session.user_id)
    except Exception as exc:
        return _unavailable(exc)
    if not member:
        return _refuse("authz.not_in_group", 403)
    return _allow(checked, config)


def original_request(headers) -> tuple[str, str, str, str] | None:
    """(absolute URL, host, path, method) of the request the proxy is asking about, or None."""
    url = headers.get("X-Original-URL")
    if not url:
        proto, host = headers.get("X-Forwarded-Proto", "http"), headers.get("X-Forwarded-Host")
        uri = headers.get("X-Forwarded-Uri", "/")
        if not host:
            return None
        url = f"{proto}://{host}{uri}"
    parts = _ORIGINAL_URL.fullmatch(url)
    if parts is None or "@" in parts[2] or (parts[4] and _UNSAFE_URL.search(parts[4])):
        return None
    method = (headers.get("X-Original-Method") or headers.get("X-Forwarded-Method") or "GET").upper()
    return url, parts[2].lower(), parts[3] or "/", method


def _signin_location(url: str, path: str) -> str:
    """Where the browser signs in; it comes back to ``url`` only if that is a configured resource's host."""
    target = url if resource_for_target(url) is not None else path
    signin = current().settings.deployment.forward_auth.signin_url
    return f"{signin}{'&' if '?' in signin else '?'}{urlencode({'next': target})}"


def _allow(checked: session_cache.CheckedSession | None, config) -> Answer:
    """200 with every configured identity header, each present even when empty.

    A header the answer leaves out is one the proxy may let the client's own
    copy through for (Traefik's ``authResponseHeaders`` only replaces what it
    gets): so every configured name is always answered, empty for nobody.
    """
    user = checked.user if checked is not None else None
    headers = [("Cache-Control", "no-store")]
    headers.append((config.user_header, header_value(checked.session.user_name) if checked is not None else ""))
    headers.append((config.subject_header, header_value(getattr(user, "subject", ""))))
    headers.append((config.provider_header, header_value(getattr(user, "provider", ""))))
    for attribute, header in config.attribute_headers.items():
        value = user.attributes.get(attribute) if user is not None else None
        headers.append((header, header_value(value) if value is not None else ""))
    if config.amr_header:
        headers.append((config.amr_header, " ".join(checked.session.amr) if checked is not None else ""))
    return 200, headers, b""


def header_value(value: str) -> str:
    """Printable ASCII as it is; anything else (non-ASCII, control characters) percent-encoded as UTF-8."""
    return value if _PLAIN.fullmatch(value) else quote(value, safe=_HEADER_SAFE)


def _refuse(reason: str, status: int, location: str | None = None) -> Answer:
    body = json.dumps({"error": reason, "message": message_for(reason)}).encode()
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    if location:
        headers.append(("Location", location))
    return status, headers, body


def _unavailable(exc: Exception) -> Answer:
    """Fail closed: a session the cache cannot vouch for is refused while the database cannot be asked."""
    fault = outage.fault_of(exc)
    if fault is None:
        raise exc
    reason, seconds = outage.refuse(*fault)
    status, headers, body = _refuse(reason, 503)
    return status, [*headers, ("Retry-After", str(seconds))], body


def _cookie(environ, name: str) -> str | None:
    """The first cookie called ``name``, as werkzeug's ``parse_cookie(raw).get(name)`` reads it.

    A header of plain ASCII pairs (every browser's, for stepgate's URL-safe
    tokens) is cut at ``;`` directly, a tenth of the cost of parsing every cookie
    the browser holds for the application's domain; one with quotes, escapes or
    non-ASCII bytes is left to werkzeug, which unquotes and decodes them.
    """
    raw = environ.get("HTTP_COOKIE")
    if not raw or name not in raw:
        return None
    if '"' in raw or "\\" in raw or not (raw.isascii() and raw.isprintable()):
        return parse_cookie(raw).get(name)
    for pair in raw.split(";"):
        key, _, value = pair.partition("=")
        if key.strip() == name:
            value = value.strip()
            return value if " " not in value else parse_cookie(raw).get(name)  # werkzeug skips such a pair
    return None
