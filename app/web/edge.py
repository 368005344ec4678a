"""The server's edge: which proxies' forwarded headers are believed, and which hosts it answers for.

``init_app`` installs, outermost first:

- ``TrustedProxies``: ``X-Forwarded-For/Proto/Host/Port`` are applied (werkzeug's
  ProxyFix) only when the peer is one of ``trusted_proxies``; from anyone else
  they are ignored. ``Forwarded`` (RFC 7239) and ``X-Forwarded-Prefix`` are never
  read: the path prefix comes from ``external_url``.
- ``PathPrefix``: external_url's path prefix becomes ``SCRIPT_NAME``, whether
  the proxy strips it or passes it on.
- a first ``before_request`` hook refusing with 400 any request whose host is
  not external_url's, one of ``allowed_hosts`` or a configured resource's.

``/forward-auth`` is answered outside all this (app/forward_auth.py): only
``forward_auth.proxies`` may ask, the host a proxy addresses stepgate by is
irrelevant there, and the URL it asks about names the protected application's
host, which is matched against the configured resources.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.deployment import Networks
from app.external import External, host_name
from app.policy import ApplicationDomains
from app.runtime import current
from app.web.gate import error_page
from app.web.messages import message_for

log = logging.getLogger("stepgate.edge")
BAD_HOST = "request.bad_host"


def init_app(app: Flask, external: External) -> None:
    if external.prefix:
        app.wsgi_app = PathPrefix(app.wsgi_app, external.prefix)
    if external.trusted_proxies.networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, external.trusted_proxies)
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_unknown_host)


class TrustedProxies:
    """ProxyFix for requests from a trusted proxy; every other request passes untouched."""

    def __init__(self, wsgi_app, proxies: Networks):
        self.wsgi_app = wsgi_app
        self.proxies = proxies
        self._fixes: dict[int, ProxyFix] = {}

    def __call__(self, environ, start_response):
        if not self.proxies.trusts(environ.get("REMOTE_ADDR")):
            return self.wsgi_app(environ, start_response)
        return self._fix(self.hops(environ.get("HTTP_X_FORWARDED_FOR", "")))(environ, start_response)

    def hops(self, forwarded_for: str) -> int:
        """How many ``X-Forwarded-For`` entries, from the right, trusted proxies wrote.

        The nearest proxy appends the address it saw; when that address is itself
        a trusted proxy (a chain), the entry before it is believed too, and so on.
        The first address that is not a trusted proxy is the client: entries to
        its left are whatever the client sent.
        """
        entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
        hops = 1
        while hops < len(entries) and self.proxies.trusts(entries[-hops]):
            hops += 1
        return hops

    def _fix(self, hops: int) -> ProxyFix:
        fix = self._fixes.get(hops)
        if fix is None:
            # Proto/Host/Port: the last value, as the proxy nearest to stepgate sets it
            # (docs/forward-auth.md's nginx overwrites).
            fix = self._fixes[hops] = ProxyFix(self.wsgi_app, x_for=hops, x_proto=1, x_host=1, x_port=1)
        return fix


class PathPrefix:
    """external_url's path prefix as ``SCRIPT_NAME``, so relative URLs and routing agree with it."""

    def __init__(self, wsgi_app, prefix: str):
        self.wsgi_app = wsgi_app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["PATH_INFO"] = path[len(self.prefix) :] or "/"
        environ["SCRIPT_NAME"] = self.prefix
        return self.wsgi_app(environ, start_response)


def _refuse_unknown_host():
    settings = current().settings
    host = request.environ.get("HTTP_HOST")
    if settings.external.allows_host(host, _resource_hosts(settings.application_domains)):
        return None
    log.warning(
        "refused %s %s for host %r from %s: not external_url's host, one of allowed_hosts or a resource's host",
        request.method,
        request.path,
        host,
        request.remote_addr,
    )
    if request.path.startswith("/scim/") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=BAD_HOST, message=message_for(BAD_HOST)), 400
    return error_page(BAD_HOST, 400)


_resource_hosts_of: tuple[ApplicationDomains | None, frozenset[str]] = (None, frozenset())


def _resource_hosts(domains: ApplicationDomains) -> frozenset[str]:
    """Resources' ``host`` names (stepgate's pages may be served on a protected application's host)."""
    global _resource_hosts_of
    if _resource_hosts_of[0] is not domains:
        names = (host_name(r.host) for r in domains.resources if r.host)
        _resource_hosts_of = (domains, frozenset(n for n in names if n))
    return _resource_hosts_of[1]
