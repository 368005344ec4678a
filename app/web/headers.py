"""Browser hardening headers on every answer: a Content Security Policy on HTML, nosniff, no referrer, no store.

Registered once as an ``after_request`` hook, so a new page gets them without
asking. The policy allows scripts and styles from this server only (the
templates carry no inline script, no ``on…`` handler and no ``style``
attribute: ``tests/test_browser_hardening.py`` scans them), no framing, no
``<base>``. ``form-action`` lists where a form may end up: Chrome applies it
to the redirects that follow a submission too, so a sign-in form that returns
to an application on another host (forward-auth) or a sign-out that continues
at the provider's ``end_session_endpoint`` needs those origins
(``extra_form_targets`` for one answer, resource hosts for all).

Codes, states and registration ids travel in URLs, so no page sends a
``Referer``; nothing a person reads here is cached (``no-store``) except the
static files and the console's Mermaid.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from app.runtime import current

CACHEABLE_ENDPOINTS = {"static", "admin.mermaid"}
_HOST_SOURCE = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")  # what may go into the policy as a host
BASE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
)
STRICT_STYLES = "style-src 'self'"
# Mermaid draws the console's scheme graphs as SVG carrying a <style> element and style attributes that it
# computes in the browser; no hash or nonce can name them. Styles cannot run script, and the console's
# scripts stay 'self' only, so the console (and only the console) allows inline styles.
CONSOLE_STYLES = "style-src 'self' 'unsafe-inline'"


def init_app(app: Flask) -> None:
    app.after_request(harden)


def harden(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    static = request.endpoint in CACHEABLE_ENDPOINTS and response.status_code in (200, 304)
    if not static or response.mimetype == "text/html":  # a sign-in page answered at a static URL is no file
        headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", content_security_policy())
        headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers that predate it
    return response


def content_security_policy() -> str:
    styles = CONSOLE_STYLES if g.get("admin") is not None else STRICT_STYLES  # a console page an admin sees
    targets = ["'self'", *sorted(_form_targets() | set(g.get("extra_form_targets", ())))]
    return "; ".join((*BASE_POLICY, styles, "form-action " + " ".join(targets)))


def allow_form_target(url: str) -> None:
    """Let this answer's forms lead (through redirects) to ``url``'s origin too."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        g.extra_form_targets = (*g.get("extra_form_targets", ()), f"{parts.scheme}://{parts.netloc}")


def _form_targets() -> set[str]:
    """Where a form's redirects may lead on every page.

    Hosts of resources protected through their reverse proxy (a sign-in
    form's success returns there) and the issuers of enabled providers (a
    sign-out form continues at one with RP-initiated logout; a scheme may
    send a submitted password form on to a provider's sign-in). The
    self-registration hand-off needs nothing: it follows the provider's
    callback, a plain navigation.
    """
    settings = current().settings
    hosts = {r.host for r in settings.application_domains.resources if r.host and _HOST_SOURCE.fullmatch(r.host)}
    for provider in (settings.identity_providers or {}).values():
        if provider.enabled:
            parts = urlsplit(provider.issuer)
            hosts.add(f"{parts.scheme}://{parts.netloc}")
    return hosts
