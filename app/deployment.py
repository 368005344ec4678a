"""Settings for running stepgate as a deployment: the session cache, forward-auth, logs, cookie scope.

Parsed from ``config/settings.yaml`` with the other settings and validated
with file and line; later code only sees the frozen ``Deployment``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from app.yamlsource import Checker, Located

HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
DEPLOYMENT_KEYS = {"session_cache", "forward_auth", "log_format", "session_cookie_domain", "metrics_allow"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Networks:
    """Addresses allowed to do something (ask forward-auth, read metrics)."""

    networks: tuple[Network, ...] = ()

    def trusts(self, address: str | None) -> bool:
        return _trusted(self.networks, address or "")


@lru_cache(maxsize=4096)
def _trusted(networks: tuple[Network, ...], address: str) -> bool:
    """Parsing an address costs more than the rest of a forward-auth check; peers are few, so remember."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


LOOPBACK = Networks((ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")))


@dataclass(frozen=True)
class SessionCache:
    """``seconds``: the longest a process trusts a cached session without the database (0: no cache).

    ``generation_file`` is shared by every process on one machine; ``redis_url``
    carries revocations to the other machines.
    """

    seconds: int = 5
    generation_file: Path | None = None
    redis_url: str | None = None


@dataclass(frozen=True)
class ForwardAuth:
    proxies: tuple[Network, ...] = ()
    signin_url: str = "/login"
    user_header: str = "X-Stepgate-User"
    attribute_headers: dict[str, str] = field(default_factory=dict)
    signin_status: int = 401  # 302 for proxies that hand the answer to the browser as it is (Traefik, Caddy)
    amr_header: str = ""  # e.g. X-Stepgate-Amr: the session's methods, space-separated ("" sends none)

    def trusts(self, address: str | None) -> bool:
        return Networks(self.proxies).trusts(address)


@dataclass(frozen=True)
class Deployment:
    session_cache: SessionCache = SessionCache()
    forward_auth: ForwardAuth = ForwardAuth()
    log_format: str = "text"
    session_cookie_domain: str | None = None
    metrics_allow: Networks = LOOPBACK


def parse_deployment(doc: Located, check: Checker, base: Path) -> Deployment:
    log_format = doc.get("log_format", "text")
    if log_format not in ("text", "json"):
        check.add(doc.problem("log_format", "'log_format' must be 'text' or 'json'"))
        log_format = "text"
    domain = doc.get("session_cookie_domain")
    if domain is not None and (not isinstance(domain, str) or not re.fullmatch(r"\.?[A-Za-z0-9.-]+", domain)):
        check.add(doc.problem("session_cookie_domain", "'session_cookie_domain' must be a domain such as .example.org"))
        domain = None
    return Deployment(
        session_cache=_session_cache(doc, check, base),
        forward_auth=_forward_auth(doc, check),
        log_format=log_format,
        session_cookie_domain=domain,
        metrics_allow=_networks(doc, "metrics_allow", check) if "metrics_allow" in doc else LOOPBACK,
    )


def _session_cache(doc: Located, check: Checker, base: Path) -> SessionCache:
    raw = doc.get("session_cache")
    default_file = base / "instance" / "session-generation"
    if raw is None:
        return SessionCache(generation_file=default_file)
    raw = check.require_mapping(raw, doc, "session_cache", "session_cache")
    if raw is None:
        return SessionCache(generation_file=default_file)
    check.unknown_keys(raw, {"seconds", "generation_file", "redis_url"}, "session_cache")
    seconds = raw.get("seconds", 5)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= 300:
        check.add(raw.problem("seconds", "'seconds' must be a whole number from 0 to 300"))
        seconds = 5
    path = raw.get("generation_file")
    if path is not None and not isinstance(path, str):
        check.add(raw.problem("generation_file", "'generation_file' must be a path"))
        path = None
    redis_url = raw.get("redis_url") or None
    if redis_url is not None and (
        not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://"))
    ):
        check.add(raw.problem("redis_url", "'redis_url' must be a redis:// or rediss:// URL"))
        redis_url = None
    return SessionCache(seconds, (base / path) if path else default_file, redis_url)


def _forward_auth(doc: Located, check: Checker) -> ForwardAuth:
    raw = doc.get("forward_auth")
    if raw is None:
        return ForwardAuth()
    raw = check.require_mapping(raw, doc, "forward_auth", "forward_auth")
    if raw is None:
        return ForwardAuth()
    check.unknown_keys(
        raw,
        {"proxies", "signin_url", "user_header", "attribute_headers", "signin_status", "amr_header"},
        "forward_auth",
    )
    signin_status = raw.get("signin_status", 401)
    if signin_status not in (401, 302):
        check.add(raw.problem("signin_status", "'signin_status' must be 401 (nginx) or 302 (Traefik, Caddy)"))
        signin_status = 401
    proxies = _networks(raw, "proxies", check).networks
    signin_url = raw.get("signin_url", "/login")
    if not isinstance(signin_url, str) or not signin_url.startswith(("/", "https://", "http://")):
        check.add(raw.problem("signin_url", "'signin_url' must be a path or an http(s) URL of this server's /login"))
        signin_url = "/login"
    user_header = raw.get("user_header", "X-Stepgate-User")
    if not isinstance(user_header, str) or not HEADER_NAME.match(user_header):
        check.add(raw.problem("user_header", "'user_header' must be an HTTP header name"))
        user_header = "X-Stepgate-User"
    headers = raw.get("attribute_headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and HEADER_NAME.match(v) for k, v in headers.items()
    ):
        check.add(raw.problem("attribute_headers", "'attribute_headers' must map attribute names to header names"))
        headers = {}
    amr_header = raw.get("amr_header", "")
    if not isinstance(amr_header, str) or (amr_header and not HEADER_NAME.match(amr_header)):
        check.add(raw.problem("amr_header", "'amr_header' must be an HTTP header name"))
        amr_header = ""
    return ForwardAuth(proxies, signin_url, user_header, dict(headers), signin_status, amr_header)


def _networks(where: Located, key: str, check: Checker) -> Networks:
    raw = where.get(key) or []
    if not isinstance(raw, list):
        check.add(where.problem(key, f"'{key}' must be a list of IP addresses or networks"))
        return Networks()
    networks = []
    for item in raw:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            check.add(where.problem(key, f"'{item}' in '{key}' is not an IP address or network"))
    return Networks(tuple(networks))
