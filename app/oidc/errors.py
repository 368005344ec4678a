"""What can go wrong talking to an OpenID Provider, as stable reason codes.

``OIDCError.malfunction`` says which outcome a plugin returns: a provider that
is down, slow or answers nonsense is a malfunction (ERROR, ``on_error``); a token
that fails validation or a person who cancels is an expected "no" (FAILURE,
``on_failure``). The mapping from Authlib, joserfc and requests exceptions lives
here, in one place.
"""

from __future__ import annotations

import requests
from authlib.integrations.base_client.errors import OAuthError
from joserfc import errors as jose


class OIDCError(Exception):
    def __init__(self, reason: str, detail: str = "", malfunction: bool = False):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.malfunction = malfunction


def from_http(exc: requests.RequestException, what: str) -> OIDCError:
    """A transport failure while fetching ``what`` (discovery, jwks, token, userinfo)."""
    if isinstance(exc, requests.Timeout):
        return OIDCError("idp.timeout", f"{what}: {exc.__class__.__name__}", malfunction=True)
    if isinstance(exc, requests.ConnectionError):
        return OIDCError("idp.unreachable", f"{what}: connection failed", malfunction=True)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return OIDCError("idp.bad_response", f"{what}: HTTP {exc.response.status_code}", malfunction=True)
    return OIDCError("idp.bad_response", f"{what}: {exc.__class__.__name__}", malfunction=True)


def from_oauth(exc: OAuthError) -> OIDCError:
    """The token endpoint refused the code (``invalid_grant``: used, expired or stolen)."""
    return OIDCError("idp.token_refused", str(exc.error or "error"))


_CLAIM_REASONS = {
    "iss": "id_token.bad_issuer",
    "aud": "id_token.bad_audience",
    "azp": "id_token.bad_audience",
    "nonce": "id_token.bad_nonce",
    "exp": "id_token.expired",
    "iat": "id_token.bad_iat",
    "nbf": "id_token.not_yet_valid",
    "at_hash": "id_token.bad_at_hash",
}


def from_jose(exc: jose.JoseError) -> OIDCError:
    """An ID token that does not validate; never a malfunction."""
    if isinstance(exc, jose.ExpiredTokenError):
        return OIDCError("id_token.expired", exc.description)
    if isinstance(exc, jose.ClaimError):
        return OIDCError(_CLAIM_REASONS.get(exc.claim, "id_token.bad_claims"), exc.description)
    if isinstance(exc, (jose.UnsupportedAlgorithmError, jose.MissingAlgorithmError)):
        return OIDCError("id_token.bad_algorithm", exc.description)
    if isinstance(exc, (jose.BadSignatureError, jose.InvalidKeyIdError, jose.MissingKeyError)):
        return OIDCError("id_token.bad_signature", exc.description)
    return OIDCError("id_token.malformed", f"{exc.__class__.__name__}: {exc.description}")
