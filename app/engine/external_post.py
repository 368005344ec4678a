"""One-time tokens for a form that an external page posts back to ``/oam/server/auth_cred_submit``.

stepgate's own pages carry a CSRF token; a page served elsewhere (OAM's
``loginPageURL``) can't. A step that sends the browser there issues a token
instead: random, kept in the flow as its SHA-256 only, sent along as
``loginid``. The gate takes it back when the page posts (compared in constant
time, good for one post) and only then lets the post through without the CSRF
token; the step learns it from ``Submission.external``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

PARAM = "loginid"
_KEY = "external_post_sha256"


def issue(data: dict[str, Any]) -> str:
    """A fresh token for this flow (replacing any earlier one)."""
    token = secrets.token_urlsafe(32)
    data[_KEY] = _digest(token)
    return token


def take(data: dict[str, Any], sent: str | None) -> bool:
    """Is ``sent`` this flow's current token? If so it is used up."""
    expected = data.get(_KEY)
    if not expected or not sent or not hmac.compare_digest(_digest(sent), expected):
        return False
    del data[_KEY]
    return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
