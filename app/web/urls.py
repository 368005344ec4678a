"""Absolute URLs of this server: always from ``external_url``, never from the request's ``Host``.

Use these wherever a URL leaves the server whole (an OpenID ``redirect_uri``,
a SCIM ``Location``); relative URLs (``url_for`` without ``_external``) stay
relative.
"""

from __future__ import annotations

from flask import request, url_for

from app.runtime import current


def absolute(path: str) -> str:
    """``external_url`` + ``path`` (an absolute path inside the application, without external_url's prefix)."""
    return current().settings.external.absolute(path)


def absolute_for(endpoint: str, **values) -> str:
    """The absolute URL of a Flask endpoint, on ``external_url``."""
    path = url_for(endpoint, **values)
    return absolute(path.removeprefix(request.script_root))
