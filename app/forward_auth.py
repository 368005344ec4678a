"""Forward-auth: protecting applications on other servers through their reverse proxy.

The proxy (nginx ``auth_request``, Traefik or Caddy ``forward_auth``) asks
``/forward-auth`` about every request it is about to pass on, with the original
URL in ``X-Original-URL`` (nginx) or ``X-Forwarded-Proto/Host/Uri`` (Traefik,
Caddy) and the method in ``X-Original-Method`` / ``X-Forwarded-Method``. The
answer, in those proxies' convention:

- 200 with the user in configurable headers: the session may reach the resource;
- 401 with ``Location``: nobody (good enough) is signed in; send the browser there;
- 403: signed in, but the resource needs a higher authentication level, no
  resource is configured for the URL, or the asker is not a configured proxy.

Forwarded headers are believed only from ``forward_auth.proxies``: anyone else
could claim any URL. A URL that no configured resource covers is refused.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode, urlsplit

from flask import Blueprint, Response, jsonify, request

from app import session_cache
from app.runtime import current
from app.web.gate import exempt, resource_for_target
from app.web.messages import message_for

log = logging.getLogger("stepgate.forward_auth")
bp = exempt(Blueprint("forward_auth", __name__))
_HEADER_SAFE = " !#$&'()*+,-./:;<=>?@[]^_`{|}~"


@bp.route("/forward-auth", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def forward_auth() -> Response:
    settings = current().settings
    config = settings.deployment.forward_auth
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR") or request.remote_addr
    if not config.trusts(peer):
        log.warning("forward-auth refused: %s is not a configured proxy", peer)
        return _refuse("forward_auth.untrusted_proxy", 403)
    original = original_request(request.headers)
    if original is None:
        log.warning("forward-auth refused: the proxy sent no usable original URL")
        return _refuse("forward_auth.no_original_url", 400)
    url, host, path, method = original
    resource = settings.application_domains.match(host, path, method)
    if resource is None:
        log.info("forward-auth refused %s %s: no configured resource", method, url)
        return _refuse("forward_auth.no_resource", 403)
    checked = session_cache.check(request.cookies.get("stepgate_session"))
    if resource.policy.public:
        return _allow(checked)
    scheme = current().schemes[resource.policy.scheme]
    if checked is None:
        return _refuse("authn.required", 401, location=_signin_location(url, path))
    if checked.session.level < scheme.level:
        return _refuse("authn.level_too_low", 403, location=_signin_location(url, path))
    return _allow(checked)


def original_request(headers) -> tuple[str, str, str, str] | None:
    """(absolute URL, host, path, method) of the request the proxy is asking about, or None."""
    url = headers.get("X-Original-URL")
    if not url:
        proto, host = headers.get("X-Forwarded-Proto", "http"), headers.get("X-Forwarded-Host")
        uri = headers.get("X-Forwarded-Uri", "/")
        if not host:
            return None
        url = f"{proto}://{host}{uri}"
    if any(ord(c) < 0x20 or c == "\\" for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    method = (headers.get("X-Original-Method") or headers.get("X-Forwarded-Method") or "GET").upper()
    return url, parts.netloc.lower(), parts.path or "/", method


def _signin_location(url: str, path: str) -> str:
    """Where the browser signs in; it comes back to ``url`` only if that is a configured resource's host."""
    target = url if resource_for_target(url) is not None else path
    signin = current().settings.deployment.forward_auth.signin_url
    return f"{signin}{'&' if '?' in signin else '?'}{urlencode({'next': target})}"


def _allow(checked: session_cache.CheckedSession | None) -> Response:
    response = Response(status=200)
    response.headers["Cache-Control"] = "no-store"
    if checked is not None:
        config = current().settings.deployment.forward_auth
        response.headers[config.user_header] = header_value(checked.session.user_name)
        for attribute, header in config.attribute_headers.items():
            value = checked.attributes.get(attribute)
            if value is not None:
                response.headers[header] = header_value(value)
    return response


def header_value(value: str) -> str:
    """Printable ASCII as it is; anything else (non-ASCII, control characters) percent-encoded as UTF-8."""
    return quote(value, safe=_HEADER_SAFE)


def _refuse(reason: str, status: int, location: str | None = None) -> Response:
    response = jsonify(error=reason, message=message_for(reason))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if location:
        response.headers["Location"] = location
    return response
