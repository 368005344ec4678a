"""Choosing the provider: home realm discovery by e-mail domain, and the provider hint on a URL.

Both only ever *choose among* what a scheme already offers: a domain table maps
to configured provider names, and a hint names one; the OpenID Connect step
starts a routed or hinted provider only when it is one of its own enabled
providers, and otherwise carries on as if nothing had been said.

Domains are compared in one canonical form: ASCII lower case, IDNA 2008
A-labels for internationalised names (``idna``, strict: no mapping), no
trailing dot. A typed domain that is not a valid host name in that form (a
fullwidth or zero-width character, a mixed-case non-ASCII letter, two ``@``)
routes nowhere: the person goes to the local password step, never to a
provider chosen for a name that merely looks alike. Matching is exact, so
``corp.example.com.evil.test`` and ``evilcorp.example.com`` are not
``corp.example.com``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import idna

HINT_PARAM = "idp_hint"
"""The query parameter naming a provider on a protected URL or /login (Keycloak's ``kc_idp_hint``)."""
HINT_KEY = "idp_hint"
ROUTED_KEY = "routed_provider"
LOGIN_HINT_KEY = "login_hint"

_HINT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_IDENTIFIER = 254


def canonical_domain(domain: str) -> str | None:
    """The domain's comparable form, or None when it is not a valid host name."""
    if not domain or len(domain) > 253 or domain != domain.strip():
        return None
    domain = domain[:-1] if domain.endswith(".") else domain
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=False, std3_rules=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    domain = domain.lower()
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if any(label.startswith("xn--") and not _valid_a_label(label) for label in labels):
        return None
    return domain


def _valid_a_label(label: str) -> bool:
    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        return False
    return True


def domain_of(identifier: str) -> str | None:
    """The canonical domain of an e-mail address typed at an identifier-first step; None for a user name."""
    if not identifier or len(identifier) > MAX_IDENTIFIER or identifier.count("@") != 1:
        return None
    local, domain = identifier.split("@")
    if not local or any(c.isspace() or not c.isprintable() for c in local):
        return None
    return canonical_domain(domain)


def provider_for(identifier: str, table: Mapping[str, str]) -> str | None:
    """The provider name the (canonical) domain table gives this identifier, or None (the local step)."""
    domain = domain_of(identifier)
    return table.get(domain) if domain is not None else None


def hint_of(args: Mapping[str, str]) -> str | None:
    """The provider hint of a request, if it has the shape of a provider name; anything else is ignored."""
    value = args.get(HINT_PARAM)
    return value if isinstance(value, str) and _HINT.fullmatch(value) else None


def start_data(data: dict[str, Any], policy: Any, session: Any, args: Mapping[str, str], target: str = "") -> None:
    """What a new flow knows from the start: the policy's required methods, the session it may step up, a hint.

    The hint is read from the request, else from the address the flow returns to (forward-auth sends
    the browser to ``/login?next=<the application's URL>``, whose own query may carry it).
    """
    required = getattr(policy, "amr", ()) if policy is not None else ()
    if required:
        data["required_amr"] = list(required)
    if session is not None:
        data["session"] = {"user_id": session.user_id, "level": session.level, "amr": list(session.amr)}
        if session.expires_at is not None:
            data["session"]["expires_at"] = session.expires_at.isoformat()
    hint = hint_of(args)
    if hint is None and "?" in target:
        hint = hint_of({k: v[0] for k, v in parse_qs(urlsplit(target).query).items()})
    if hint is not None:
        data[HINT_KEY] = hint


def began_from_a_live_session(data: Mapping[str, Any], session: Any) -> bool:
    """Whether a flow that began from a session may still finish: that person's session must be valid now.

    A step-up flow takes credit from the session it began from: the person it identifies, its level and its
    methods. If that session was revoked meanwhile (a logout in another tab, a lock, a SCIM deactivation, a
    provider retired), finishing would mint a new session out of a revoked one, so the flow fails instead.
    ``session`` is this request's own check of the browser's cookie, as fresh as any other request's.
    A flow that began without a session is not concerned.
    """
    began = data.get("session")
    if not began:
        return True
    return session is not None and session.user_id == began.get("user_id")


def level_after(data: Mapping[str, Any], user_id: int, level: int) -> int:
    """The new session's level: a step-up by the same person keeps a higher level their session already had."""
    session = data.get("session") or {}
    if session.get("user_id") == user_id:
        return max(level, int(session.get("level") or 0))
    return level
