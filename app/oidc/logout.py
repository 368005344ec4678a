"""OpenID Connect RP-Initiated Logout 1.0: signing out at the provider too, for providers that ask for it.

A provider with ``rp_initiated_logout: true`` gets its ID token kept with the
session (the OpenIDConnectPlugin leaves it in the flow's data under
``HINT_KEY``; the gate moves it to the session row at sign-in). When that
session signs out, the browser goes on to the provider's
``end_session_endpoint`` with ``id_token_hint``, ``client_id``, ``state`` and
the configured ``post_logout_redirect_uri``: the target is fixed in settings,
never taken from the request, so this is no open redirect.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode, urlsplit

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
    return {"provider": provider.name, "id_token": id_token}


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
    query = urlencode(
        {
            "id_token_hint": hint.id_token,
            "post_logout_redirect_uri": provider.post_logout_redirect_uri,
            "client_id": provider.client_id,
            "state": secrets.token_urlsafe(16),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
