"""Unguessable identifiers and the digests under which they are stored.

A flow, session or registration id is handed to the browser; the database only
keeps its SHA-256, so a leaked table does not hand out live sessions.
"""

import hashlib
import secrets


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
