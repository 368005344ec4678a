"""OpenID Connect RP-Initiated Logout 1.0: signing out at the provider too, for providers that ask for it.

A provider with ``rp_initiated_logout: true`` gets its ID token kept with the
session (the OpenIDConnectPlugin leaves it in the flow's data under
``HINT_KEY``; the gate moves it to the session row at sign-in). When that
session signs out, the browser goes on to the provider's
``end_session_endpoint`` with ``id_token_hint``, ``client_id``, ``state`` and
the configured ``post_logout_redirect_uri``: the target is fixed in settings,
never taken from the request, so this is no open redirect.

The ID token is kept sealed (an ``{AES}`` value of ``app/secretbox.py``, under a key derived from ``secret_key``)
wherever it rests, in the flow row and then the session row: it carries the
person's claims, and whoever reads a backup or the database must not get them
or a hint that signs people out at their provider. It is opened only to build
the ``end_session_endpoint`` address. A row from before sealing holds the token
as received and is used as it is; one sealed under another ``secret_key`` (a
rotated key) cannot be opened, and that logout goes without ``id_token_hint``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from app import secretbox
from app.oidc.client import client_for
from app.oidc.documents import DatabaseDocuments
from app.oidc.errors import OIDCError
from app.oidc.providers import IdentityProvider
from app.sessions import LogoutHint

log = logging.getLogger("stepgate.oidc")
HINT_KEY = "oidc_logout"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def hint_for(provider: IdentityProvider, id_token: str) -> dict[str, str] | None:
    """The flow data to keep for ``provider``'s logout, or None when the provider does not want it."""
    if not provider.rp_initiated_logout or not id_token:
        return None
    return {"provider": provider.name, "id_token": seal(id_token)}


@lru_cache(maxsize=4)
def _key(secret_key: str) -> bytes:
    info = b"stepgate/oidc-logout/id-token-at-rest"
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode("utf-8"))


def seal(id_token: str) -> str:
    """The ID token as an ``{AES}`` value (``app/secretbox.py``) under a key derived from this app's ``secret_key``."""
    return secretbox.encrypt(id_token, _key(current_app.secret_key))


def unseal(value: str) -> str | None:
    """The ID token a hint holds, or None when it cannot be opened (another ``secret_key``, or altered)."""
    if not value.startswith(secretbox.PREFIX):
        return value  # kept before ID tokens were sealed: a session row as old as its lifetime at most
    try:
        return secretbox.decrypt(value, _key(current_app.secret_key))
    except secretbox.SecretError:
        fingerprint = hashlib.sha256(value.encode()).hexdigest()[:12]
        log.warning(
            "a kept ID token (%s) does not open with this secret_key: logout without id_token_hint", fingerprint
        )
        return None


def take_hint(flow_data: dict) -> LogoutHint | None:
    """Remove the hint from a finished flow's data (the flow row keeps no ID token) and return it."""
    raw = flow_data.pop(HINT_KEY, None)
    if not isinstance(raw, dict) or not raw.get("provider") or not raw.get("id_token"):
        return None
    return LogoutHint(str(raw["provider"]), str(raw["id_token"]))


def end_session_endpoint(provider: IdentityProvider) -> str | None:
    """The provider's ``end_session_endpoint`` from its discovery document, if it has a usable one."""
    try:
        endpoint = client_for(provider, DatabaseDocuments()).metadata().get("end_session_endpoint")
    except OIDCError as exc:
        log.warning("no RP-initiated logout at provider %s: %s", provider.name, exc)
        return None
    parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
    if parts is None or not parts.netloc or parts.fragment:
        return None
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        log.warning("provider %s: end_session_endpoint %r is not https; not used", provider.name, endpoint)
        return None
    return endpoint


def end_session_url(providers: dict[str, IdentityProvider], hint: LogoutHint | None) -> str | None:
    """Where the browser signs out at the provider, or None (no hint, provider gone or without logout)."""
    provider = providers.get(hint.provider) if hint is not None else None
    if provider is None or not provider.enabled or not provider.rp_initiated_logout:
        return None
    endpoint = end_session_endpoint(provider)
    if endpoint is None:
        return None
    id_token = unseal(hint.id_token)
    query = urlencode(
        {
            **({"id_token_hint": id_token} if id_token else {}),
            "post_logout_redirect_uri": provider.post_logout_redirect_uri,
            "client_id": provider.client_id,
            "state": secrets.token_urlsafe(16),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
