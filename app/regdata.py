"""The regdata contract of OAM's self-registration (section 42.1.2), framework-free.

The registration page reads ``{"idtoken": <claims as a JSON string>, "hmac": <mac>}``
and proves the data came from this server by recomputing the MAC:

    mac = base64url(HMAC-SHA256(key=secret_key as UTF-8, msg=idtoken as UTF-8))

with ``=`` padding kept, as Java's ``Base64.getUrlEncoder()`` in OAM's sample
page produces it. The claims are serialised with ASCII-only JSON, so the bytes
signed are the same whatever charset the page's platform defaults to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def idtoken_of(claims: Mapping[str, Any]) -> str:
    """The ``idtoken`` string handed to the page: the claims as compact, ASCII-only JSON."""
    return json.dumps(dict(claims), separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def sign(secret_key: str, idtoken: str) -> str:
    """base64url (padded) of HMAC-SHA256(secret_key, idtoken)."""
    mac = hmac.new(secret_key.encode("utf-8"), idtoken.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")


def verify(secret_key: str, idtoken: str, mac: str) -> bool:
    """Whether ``mac`` is the MAC of ``idtoken`` under ``secret_key``, compared in constant time."""
    return hmac.compare_digest(sign(secret_key, idtoken).encode("ascii"), mac.encode("utf-8", "replace"))
