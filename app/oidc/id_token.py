"""The ID token rules of OpenID Connect Core 1.0 section 3.1.3.7, each one check with its reason code.

joserfc verifies the signature and Authlib's ``CodeIDToken`` checks the claims
it knows (iss, aud, exp, iat, nbf, nonce, azp, at_hash, auth_time, acr). What
they leave to the caller is added here, each as a named check:

- the JOSE header before any key is used: one expected ``alg`` (RS256 unless
  the client registered another; never ``none``, never an HMAC algorithm, so
  a public key can never become a MAC secret), a ``typ`` that says JWT if it
  is there, no encrypted (five-part) token, no duplicate members;
- the claims' JSON types (``exp: "soon"`` is unreadable, not expired) and no
  duplicate claim names (RFC 7519 section 4: another parser could read the
  other copy);
- ``iss`` equal to the discovery document's issuer, character for character;
- every audience besides the client trusted by configuration (rule 3), an
  ``azp`` when there are several (rule 4) and ``azp`` equal to the client
  when present (rule 5);
- ``iat`` no older than ``max_id_token_age_seconds`` (rule 10; Authlib only
  refuses one in the future);
- ``nonce`` present, compared in constant time (rule 11);
- ``auth_time`` within ``max_age`` when one was requested (rule 13; Authlib
  only asks that it be there);
- ``at_hash`` (section 3.1.3.8) checked whenever it is present: a token that
  binds an access token the response did not carry is refused; ``c_hash``
  likewise against the code that was exchanged (section 3.3.2.11).

The functions take plain values and raise ``OIDCError``; nothing here talks to
the network or knows Flask.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.oidc.core import CodeIDToken
from authlib.oidc.core.util import create_half_hash
from joserfc import jws
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from app.oidc import errors
from app.oidc.errors import OIDCError

MAX_SUBJECT = 255
"""OpenID Connect Core 2: ``sub`` is at most 255 ASCII characters."""
MAX_TOKEN = 64 * 1024
"""A bound on the compact token before anything is decoded."""
JWT_TYPES = ("jwt", "application/jwt")
"""``typ`` values that say "a JWT" (RFC 7519 5.1, compared case-insensitively as media types are)."""
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
STRING_CLAIMS = ("iss", "sub", "nonce", "azp", "at_hash", "c_hash", "acr")


@dataclass(frozen=True)
class Expected:
    """What this client expects of one ID token: from discovery, the provider's settings and the request."""

    issuer: str
    client_id: str
    algorithm: str
    nonce: str
    leeway: int
    max_token_age: int
    trusted_audiences: tuple[str, ...] = ()
    max_auth_age: int | None = None
    acr_values: tuple[str, ...] = ()
    access_token: str | None = None
    code: str | None = None


def validate(id_token: Any, keys: Callable[[bool], KeySet], expected: Expected, now: float | None = None) -> dict:
    """The claims of a valid ID token; ``OIDCError`` naming the first rule it breaks.

    ``keys(refresh)`` gives the provider's key set; it is asked again with
    ``refresh=True`` once when the token names a key id the set lacks (rotation).
    """
    now = time.time() if now is None else now
    header = _header(id_token, expected)
    registry = JWSRegistry(algorithms=[expected.algorithm])
    try:
        try:
            signed = jws.deserialize_compact(id_token, keys(False), registry=registry)
        except InvalidKeyIdError:
            signed = jws.deserialize_compact(id_token, keys(True), registry=registry)
    except JoseError as exc:
        raise errors.from_jose(exc) from exc
    except ValueError as exc:  # joserfc's "Invalid key" when no key fits at all
        raise OIDCError("id_token.bad_signature", str(exc)) from exc
    except (TypeError, KeyError, AttributeError) as exc:  # a header value of a type joserfc does not expect
        raise OIDCError("id_token.bad_header", f"{exc.__class__.__name__}: {str(exc)[:80]}") from exc
    claims = _strict_json(signed.payload, "payload")
    _check_types(claims)
    _authlib_rules(claims, header, expected, now)
    _audiences(claims, expected)
    _age(claims, expected, now)
    _nonce(claims, expected)
    _auth_time(claims, expected, now)
    _hashes(claims, header["alg"], expected)
    return claims


def _header(id_token: Any, expected: Expected) -> dict:
    """The JOSE header, checked before a key is chosen: alg confusion and token confusion stop here."""
    if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN:
        raise OIDCError("id_token.malformed", "not a compact JWT of a sensible size")
    parts = id_token.split(".")
    if len(parts) == 5:
        raise OIDCError("id_token.malformed", "an encrypted ID token (JWE); this client registers none")
    if len(parts) != 3 or not parts[0]:
        raise OIDCError("id_token.malformed", "not three base64url parts (garbled)")
    header = _strict_json(_b64decode(parts[0]), "header")
    alg = header.get("alg")
    if alg != expected.algorithm:
        raise OIDCError("id_token.bad_algorithm", f"alg {str(alg)[:20]!r}, expected {expected.algorithm}")
    if not parts[1] or not parts[2]:
        raise OIDCError("id_token.malformed", "no payload or no signature (unsigned)")
    crit = header.get("crit", [])
    if not isinstance(crit, list) or not all(isinstance(name, str) for name in crit):
        raise OIDCError("id_token.bad_header", "crit is not a list of names")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in JWT_TYPES):
        raise OIDCError("id_token.bad_type", f"typ {str(typ)[:40]!r} is not a JWT (another kind of token)")
    return header


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise OIDCError("id_token.malformed", "a part is not base64url") from exc


def _strict_json(data: bytes, part: str) -> dict:
    """A JSON object whose member names are unique (RFC 7519 section 4, RFC 7515 section 4)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise OIDCError("id_token.duplicate_claims", f"{part} repeats {', '.join(repeated)[:80]}")
        return dict(pairs)

    try:
        value = json.loads(data, object_pairs_hook=unique, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise OIDCError("id_token.malformed", f"the {part} is not JSON") from exc
    if not isinstance(value, dict):
        raise OIDCError("id_token.malformed", f"the {part} is not a JSON object")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _check_types(claims: dict) -> None:
    """The claims' JSON types, before any rule compares them (a string ``exp`` is unreadable, not expired)."""
    for name in TIME_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise OIDCError("id_token.bad_time_claim", f"{name} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise OIDCError("id_token.bad_time_claim", f"{name} is not a finite number")
    for name in STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise OIDCError("id_token.bad_claims", f"{name} is not a string")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT:
        raise OIDCError("id_token.bad_claims", "sub missing or longer than 255 characters")
    aud = claims.get("aud")
    if not (isinstance(aud, str) and aud) and not (
        isinstance(aud, list) and aud and all(isinstance(a, str) and a for a in aud)
    ):
        raise OIDCError("id_token.bad_audience", "aud is not a string or a list of strings")


def _authlib_rules(claims: dict, header: dict, expected: Expected, now: float) -> None:
    """What Authlib's ``CodeIDToken`` checks: iss and aud values, exp, iat, nbf, nonce, azp, at_hash, acr."""
    options: dict[str, dict] = {
        "iss": {"essential": True, "value": expected.issuer},
        "aud": {"essential": True, "value": expected.client_id},
    }
    if expected.acr_values:
        options["acr"] = {"essential": True, "values": list(expected.acr_values)}
    params = {"nonce": expected.nonce, "client_id": expected.client_id, "access_token": expected.access_token}
    if expected.max_auth_age is not None:
        params["max_age"] = expected.max_auth_age
    try:
        CodeIDToken(claims, header, options, params).validate(now=int(now), leeway=expected.leeway)
    except JoseError as exc:
        raise errors.from_jose(exc) from exc


def _audiences(claims: dict, expected: Expected) -> None:
    """Rules 3 to 5: no untrusted audience, an ``azp`` when there are several, and it names this client."""
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    if expected.client_id not in audiences:
        raise OIDCError("id_token.bad_audience", "this client is not an audience")
    others = sorted(set(audiences) - {expected.client_id} - set(expected.trusted_audiences))
    if others:
        raise OIDCError("id_token.untrusted_audience", f"untrusted audiences {', '.join(others)[:120]}")
    if len(set(audiences)) > 1 and "azp" not in claims:
        raise OIDCError("id_token.bad_azp", "several audiences and no azp")
    if "azp" in claims and claims["azp"] != expected.client_id:
        raise OIDCError("id_token.bad_azp", "azp names another client")


def _age(claims: dict, expected: Expected, now: float) -> None:
    """Rule 10: a token issued longer ago than the client accepts is refused (Authlib refuses a future one)."""
    if now - claims["iat"] > expected.max_token_age + expected.leeway:
        raise OIDCError("id_token.too_old", f"issued {int(now - claims['iat'])}s ago")


def _nonce(claims: dict, expected: Expected) -> None:
    """Rule 11: the nonce this sign-in sent must come back, whatever the provider's defaults."""
    if "nonce" not in claims:
        raise OIDCError("id_token.no_nonce", "the token carries no nonce")
    if not hmac.compare_digest(claims["nonce"].encode(), expected.nonce.encode()):
        raise OIDCError("id_token.bad_nonce", "the nonce is another sign-in's")


def _auth_time(claims: dict, expected: Expected, now: float) -> None:
    """Rule 13: with ``max_age`` requested, the person must have authenticated within it."""
    if expected.max_auth_age is None:
        return
    if "auth_time" not in claims:
        raise OIDCError("id_token.bad_auth_time", "max_age was requested and auth_time is missing")
    if claims["auth_time"] > now + expected.leeway:
        raise OIDCError("id_token.bad_auth_time", "auth_time is in the future")
    if now - claims["auth_time"] > expected.max_auth_age + expected.leeway:
        raise OIDCError("id_token.bad_auth_time", "the person authenticated longer ago than max_age")


def _hashes(claims: dict, alg: str, expected: Expected) -> None:
    """Sections 3.1.3.8 and 3.3.2.11: ``at_hash`` and ``c_hash`` are checked whenever present."""
    for claim, value, reason in (
        ("at_hash", expected.access_token, "id_token.bad_at_hash"),
        ("c_hash", expected.code, "id_token.bad_c_hash"),
    ):
        if claim not in claims:
            continue
        if not value:
            raise OIDCError(reason, f"{claim} binds a value this response did not carry")
        digest = create_half_hash(value, alg)
        if digest is None or not hmac.compare_digest(digest, claims[claim].encode()):
            raise OIDCError(reason, f"{claim} does not match")
