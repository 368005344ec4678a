"""The authorization response (the browser's return to the callback), checked before its code is used.

Each check is a plain function over the callback's parameters that raises
``OIDCError`` with its reason code, in the order the plugin runs them:

1. ``binding``: no parameter more than once (RFC 6749 section 3.1: another
   parser could read the other copy), and ``state`` equal, in constant time,
   to the one this flow sent (RFC 6749 section 10.12, CSRF);
2. ``issuer``: RFC 9207 section 2.4. When the provider's discovery document
   advertises ``authorization_response_iss_parameter_supported: true`` the
   response must carry ``iss``; whenever ``iss`` is there it must equal the
   discovery issuer by simple string comparison (no trailing-slash leniency).
   This holds for error responses too, so it runs before ``code``;
3. ``code``: an error response (RFC 6749 section 4.1.2.1) is the provider's
   "no", whatever else it carries; otherwise a code must be there.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from app.oidc.errors import OIDCError

REPEATED = "repeated"
"""The key under which the web layer lists parameters the browser sent more than once."""


def binding(args: Mapping[str, str], expected_state: str) -> None:
    """The response belongs to this flow: one value per parameter, and this flow's ``state``."""
    if args.get(REPEATED):
        raise OIDCError("authorization_response.repeated_parameter", f"repeated: {str(args[REPEATED])[:80]}")
    received = str(args.get("state") or "").encode()
    if not received or not hmac.compare_digest(received, expected_state.encode()):
        raise OIDCError("oidc.state_mismatch", "state differs from the one this flow sent")


def issuer(args: Mapping[str, str], metadata: Mapping) -> None:
    """RFC 9207 section 2.4: ``iss`` required when advertised, and equal to the discovery issuer when present."""
    if "iss" not in args:
        if metadata.get("authorization_response_iss_parameter_supported") is True:
            raise OIDCError("authorization_response.iss_missing", "the provider advertises iss; it is missing")
        return
    if args["iss"] != metadata.get("issuer"):
        raise OIDCError("authorization_response.iss_mismatch", f"iss {str(args['iss'])[:120]!r}")


def code(args: Mapping[str, str]) -> str:
    """The authorization code; the provider's error answer (``access_denied``: the person cancelled) otherwise."""
    if "error" in args:
        error = str(args["error"])[:64]
        raise OIDCError("idp.access_denied" if error == "access_denied" else "idp.error", error)
    if not args.get("code"):
        raise OIDCError("oidc.no_code", "neither a code nor an error")
    return str(args["code"])
