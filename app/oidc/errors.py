"""What can go wrong talking to an OpenID Provider, as stable reason codes.

``OIDCError.malfunction`` says which outcome a plugin returns: a provider that
is down, slow or answers nonsense is a malfunction (ERROR, ``on_error``); a token
that fails validation or a person who cancels is an expected "no" (FAILURE,
``on_failure``). The mapping from transport failures, token error responses
and joserfc exceptions lives here, in one place.
"""

from __future__ import annotations

from typing import Any

from joserfc import errors as jose

from app.oidc import transport


class OIDCError(Exception):
    def __init__(self, reason: str, detail: str = "", malfunction: bool = False):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.malfunction = malfunction


def from_transport(exc: transport.TransportError, what: str) -> OIDCError:
    """A failed call for ``what`` (discovery, jwks, token, userinfo): "HTTP 500", "read timed out" in the detail."""
    if isinstance(exc, transport.Timeout):
        return OIDCError("idp.timeout", f"{what}: {exc}", malfunction=True)
    if isinstance(exc, transport.Unreachable):
        return OIDCError("idp.unreachable", f"{what}: {exc}", malfunction=True)
    return OIDCError("idp.bad_response", f"{what}: {exc}", malfunction=True)


def from_token_error(body: dict[str, Any]) -> OIDCError:
    """The token endpoint's error response (RFC 6749 5.2): ``invalid_grant`` is a used, expired or stolen code."""
    error = str(body.get("error") or "error")[:64]
    description = body.get("error_description")
    detail = f"{error}: {str(description)[:120]}" if isinstance(description, str) and description else error
    return OIDCError("idp.token_refused", detail)


_CLAIM_REASONS = {
    "iss": "id_token.bad_issuer",
    "aud": "id_token.bad_audience",
    "azp": "id_token.bad_azp",
    "nonce": "id_token.bad_nonce",
    "exp": "id_token.expired",
    "iat": "id_token.bad_iat",
    "nbf": "id_token.not_yet_valid",
    "at_hash": "id_token.bad_at_hash",
    "auth_time": "id_token.bad_auth_time",
    "acr": "id_token.bad_acr",
}
_MISSING_REASONS = {
    "iss": "id_token.bad_issuer",
    "aud": "id_token.bad_audience",
    "azp": "id_token.bad_azp",
    "nonce": "id_token.no_nonce",
    "auth_time": "id_token.bad_auth_time",
    "acr": "id_token.bad_acr",
}

_HEADER_ERRORS = (
    jose.UnsupportedHeaderError,
    jose.MissingCritHeaderError,
    jose.InvalidHeaderValueError,
    jose.MissingHeaderError,
)


def from_jose(exc: jose.JoseError) -> OIDCError:
    """An ID token that does not validate; never a malfunction."""
    if isinstance(exc, jose.ExpiredTokenError):
        return OIDCError("id_token.expired", exc.description)
    if isinstance(exc, jose.MissingClaimError):
        return OIDCError(_MISSING_REASONS.get(exc.claim, "id_token.bad_claims"), exc.description)
    if isinstance(exc, jose.ClaimError):
        return OIDCError(_CLAIM_REASONS.get(exc.claim, "id_token.bad_claims"), exc.description)
    if isinstance(exc, (jose.UnsupportedAlgorithmError, jose.MissingAlgorithmError)):
        return OIDCError("id_token.bad_algorithm", exc.description)
    if isinstance(exc, (jose.BadSignatureError, jose.InvalidKeyIdError, jose.MissingKeyError)):
        return OIDCError("id_token.bad_signature", exc.description)
    if isinstance(exc, (jose.KeyParameterError, jose.InvalidKeyCurveError, jose.InvalidKeyLengthError)):
        return OIDCError("id_token.bad_signature", f"{exc.__class__.__name__}: {exc.description}")
    if isinstance(exc, _HEADER_ERRORS):
        return OIDCError("id_token.bad_header", f"{exc.__class__.__name__}: {exc.description}")
    return OIDCError("id_token.malformed", f"{exc.__class__.__name__}: {exc.description}")
