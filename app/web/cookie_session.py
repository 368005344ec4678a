"""Flask's signed-cookie session (it holds only the CSRF token), without rebuilding its signer per request.

Flask builds a new itsdangerous serializer on every request before it even
looks for the cookie; on the forward-auth hot path that costs as much as the
session check itself. The serializer is stateless, so one per secret is kept.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            self._serializers = {key: serializer}  # the secret changed (or first use): keep only the current one
        return serializer
