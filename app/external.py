"""The server's own address and who may speak for the network: ``external_url``, ``allowed_hosts``, ``trusted_proxies``.

``external_url`` (scheme, host, optional path prefix) is the only source of
absolute URLs: the OpenID ``redirect_uri``, SCIM ``Location``. A ``Host`` or
``X-Forwarded-Host`` header is something a client wrote; building URLs from it
lets anyone who can reach the server make it advertise their host (a
``redirect_uri`` on evil.example, a poisoned cache). Requests whose host is
neither external_url's, one of ``allowed_hosts`` nor a configured resource's
``host`` are refused (app/web/edge.py).

``trusted_proxies`` lists the addresses or networks of the reverse proxies
whose ``X-Forwarded-*`` headers are believed; nothing else's are. gunicorn's
``forwarded_allow_ips`` is set from the same list (config/gunicorn.conf.py).

Parsed once at load with file and line; later code sees the frozen ``External``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.deployment import Network, Networks, _networks
from app.yamlsource import Checker, Located

log = logging.getLogger("stepgate")
SHIPPED_DEFAULT = "http://127.0.0.1:5000"  # config/settings.yaml's fallback for ${STEPGATE_EXTERNAL_URL}
EXTERNAL_KEYS = {"external_url", "allowed_hosts", "trusted_proxies"}
HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\]")
HOST_HEADER = re.compile(rf"(?P<name>{HOSTNAME.pattern})(?::(?P<port>[0-9]{{1,5}}))?")


@dataclass(frozen=True)
class External:
    """``origin`` is ``scheme://host[:port]``; ``prefix`` is ``""`` or ``/path`` (no trailing slash)."""

    origin: str = SHIPPED_DEFAULT
    prefix: str = ""
    hostname: str = "127.0.0.1"
    allowed_hosts: frozenset[str] = frozenset()
    trusted_proxies: Networks = field(default_factory=Networks)

    @property
    def secure(self) -> bool:
        """Cookies carry ``Secure`` when the server is reached over https."""
        return self.origin.startswith("https://")

    def absolute(self, path: str) -> str:
        """The absolute URL of ``path`` (an absolute path within the application, without the prefix)."""
        return self.origin + self.prefix + path

    def allows_host(self, host: str | None, resource_hosts: frozenset[str] = frozenset()) -> bool:
        """Whether a request's host names this server: external_url's, ``allowed_hosts`` or a resource's.

        Compared case-insensitively and without the port: the port tells which
        listener took the connection, and no URL is built from it. Anything that
        is not a plain host name (user info, spaces, a trailing dot, non-ASCII)
        never matches.
        """
        name = host_name(host)
        return name is not None and (name == self.hostname or name in self.allowed_hosts or name in resource_hosts)


def host_name(host: str | None) -> str | None:
    """The lower-cased host name of a ``Host`` value (``name[:port]``), or None when it is not one."""
    matched = HOST_HEADER.fullmatch((host or "").lower())
    return matched["name"] if matched and int(matched["port"] or 1) <= 65535 else None


def parse_external(doc: Located, check: Checker) -> External:
    origin, prefix, hostname = _external_url(doc, check)
    return External(
        origin=origin,
        prefix=prefix,
        hostname=hostname,
        allowed_hosts=_allowed_hosts(doc, check),
        trusted_proxies=Networks(_trusted_proxies(doc, check)),
    )


def _external_url(doc: Located, check: Checker) -> tuple[str, str, str]:
    default = (SHIPPED_DEFAULT, "", "127.0.0.1")
    raw = doc.get("external_url")
    if raw is None:
        check.add(
            doc.problem(
                None,
                "'external_url' is required: how browsers reach this server, e.g. https://sso.example.org "
                "(use ${STEPGATE_EXTERNAL_URL})",
            )
        )
        return default
    problem = external_url_problem(raw)
    if problem:
        check.add(doc.problem("external_url", problem))
        return default
    parts = urlsplit(raw)
    hostname = host_name(parts.netloc) or ""
    if os.environ.get("STEPGATE_ENV") == "production":
        if raw.rstrip("/") == SHIPPED_DEFAULT:
            check.add(
                doc.problem(
                    "external_url",
                    f"STEPGATE_ENV=production refuses the shipped default external_url '{raw}' "
                    "(set STEPGATE_EXTERNAL_URL to the https URL browsers reach)",
                )
            )
        elif parts.scheme != "https" or _is_loopback(hostname):
            log.warning("external_url %s is not an https URL browsers reach: cookies travel without Secure", raw)
    port = f":{parts.port}" if parts.port and parts.port != {"http": 80, "https": 443}[parts.scheme] else ""
    return f"{parts.scheme}://{hostname}{port}", parts.path.rstrip("/"), hostname


def external_url_problem(raw: object) -> str | None:
    """Why ``raw`` is not a usable external_url, or None."""
    shape = "'external_url' must be http(s)://host[:port][/path], e.g. https://sso.example.org"
    if not isinstance(raw, str):
        return shape
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return shape
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return shape
    if "@" in parts.netloc:
        return f"'external_url' must not hold a user name or password ('{raw}')"
    if parts.query or raw.endswith("?"):
        return f"'external_url' must not have a ?query ('{raw}')"
    if parts.fragment or "#" in raw:
        return f"'external_url' must not have a #fragment ('{raw}')"
    if host_name(parts.netloc) is None or port == 0:
        return f"'external_url' must name a plain host (ASCII, punycode for IDNs) ('{raw}')"
    if not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?", parts.path):
        return f"'external_url' has a path that is not a plain /prefix ('{raw}')"
    return None


def _allowed_hosts(doc: Located, check: Checker) -> frozenset[str]:
    raw = doc.get("allowed_hosts") or []
    if not isinstance(raw, list):
        check.add(doc.problem("allowed_hosts", "'allowed_hosts' must be a list of host names"))
        return frozenset()
    hosts = set()
    for item in raw:
        name = item.lower() if isinstance(item, str) else ""
        if not HOSTNAME.fullmatch(name):
            check.add(doc.problem("allowed_hosts", f"'{item}' in 'allowed_hosts' is not a host name (no port, ASCII)"))
            continue
        hosts.add(name)
    return frozenset(hosts)


def _trusted_proxies(doc: Located, check: Checker) -> tuple[Network, ...]:
    """Addresses or networks; ``0`` (the old default) still means none, a count of hops is refused.

    A count trusted that many ``X-Forwarded-*`` hops from *any* peer: anyone who
    reached the server directly could claim any client address, scheme or host.
    """
    raw = doc.get("trusted_proxies")
    if raw is None or (raw == 0 and not isinstance(raw, bool)):
        return ()
    if isinstance(raw, int) and not isinstance(raw, bool):
        check.add(
            doc.problem(
                "trusted_proxies",
                "'trusted_proxies' now lists the proxies' addresses or networks, not a count "
                "(e.g. trusted_proxies: [127.0.0.1, 10.0.0.0/8])",
            )
        )
        return ()
    return _networks(doc, "trusted_proxies", check).networks


def _is_loopback(hostname: str) -> bool:
    """The shipped default (127.0.0.1) or any other name only this machine reaches."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False
