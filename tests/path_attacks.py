"""Encodings of a protected path, the settings that protect it, and an upstream that reads paths as loosely as any.

Shared by tests/test_forward_auth_paths.py (asking /forward-auth directly) and
tests/test_nginx_forward_auth.py (through real nginx to real upstreams). The
site: anything is public, ``/app/**`` needs level 1, ``/app/level2/**`` level 2.
Each case is a raw request target and what stepgate must make of it: refused
(403 ``path.*``), or judged as the path the loosest upstream serves.
"""

from __future__ import annotations

import json
import posixpath
import re
import socket
import unicodedata
from urllib.parse import unquote_to_bytes

REFUSED = "refused"
SECRET = "/app/level2/secret"

CASES: list[tuple[str, str]] = [
    # the plain path, case variants and percent-encoded letters
    (SECRET, SECRET),
    ("/app/Level2/secret", "/app/Level2/secret"),
    ("/APP/LEVEL2/SECRET", "/APP/LEVEL2/SECRET"),
    ("/app/%6cevel2/secret", SECRET),
    ("/app/%4Cevel2/secret", "/app/Level2/secret"),
    ("/%61pp/level2/secret", SECRET),
    ("/%61%70%70/%6C%65%76%65%6C%32/%73%65%63%72%65%74", SECRET),
    # dot segments, plain and encoded: refused when the path with its '..' kept is another resource
    ("/public/../app/level2/secret", REFUSED),
    ("/public/%2e%2e/app/level2/secret", REFUSED),
    ("/public/%2E%2E/app/level2/secret", REFUSED),
    ("/public/.%2e/app/level2/secret", REFUSED),
    ("/public/%2e./app/level2/secret", REFUSED),
    ("/public/./../app/level2/secret", REFUSED),
    ("/app/./level2/%2e/secret", SECRET),
    ("/app/other/../level2/secret", REFUSED),
    ("/app/level2/secret/..", "/app/level2/"),
    ("/app/level2/%2e%2e/", REFUSED),  # '/app/' resolved, but '/app/level2/<path>' to a router that keeps '..'
    ("/app/level2/x/../secret", SECRET),  # '..' that stays inside one resource is fine
    ("/app/level2/x/%2e%2e/secret", SECRET),
    ("/%2e%2e/app/level2/secret", REFUSED),
    ("/public/../../app/level2/secret", REFUSED),
    # doubled slashes, and '..' after an empty segment (RFC 3986 and nginx disagree)
    ("/app//level2/secret", SECRET),
    ("//app/level2/secret", SECRET),
    ("/app/level2//secret", SECRET),
    ("/public//../app/level2/secret", REFUSED),
    # encoded '/', backslashes, double encoding
    ("/app/level2%2Fsecret", REFUSED),
    ("/app%2flevel2%2fsecret", REFUSED),
    ("/public/..%2Fapp/level2/secret", REFUSED),
    ("/public/%2e%2e%2fapp/level2/secret", REFUSED),
    ("/public/..%5Capp/level2/secret", REFUSED),
    ("/public/..\\app/level2/secret", REFUSED),
    ("/app/level2%2F..%2F..%2Fpublic/", REFUSED),  # '/public/' once decoded, '/app/level2/...' to a literal router
    ("/app/level2/..%2f..%2fpublic/", REFUSED),
    ("/public/%252e%252e/app/level2/secret", REFUSED),
    ("/public/%252e%252e%252fapp/level2/secret", REFUSED),
    ("/app%252flevel2%252fsecret", REFUSED),
    # ';' parameters (Tomcat strips them; no resource here opts in)
    ("/app;x/level2/secret", REFUSED),
    ("/app/level2;jsessionid=1/secret", REFUSED),
    ("/public/..;/app/level2/secret", REFUSED),
    ("/app/level2/secret;x", REFUSED),
    # encoded delimiters a decoding server cuts at
    ("/app/level2%3bx/secret", REFUSED),
    ("/app/level2%3F/secret", REFUSED),
    ("/app/level2%23/secret", REFUSED),
    # Windows: trailing dots and spaces, NTFS streams
    ("/app/level2./secret", REFUSED),
    ("/app/level2%2e/secret", REFUSED),
    ("/app/level2%20/secret", REFUSED),
    ("/app/level2::$INDEX_ALLOCATION/secret", REFUSED),
    # broken, overlong and look-alike encodings
    ("/public/%c0%ae%c0%ae/app/level2/secret", REFUSED),
    ("/public/%u002e%u002e/app/level2/secret", REFUSED),
    ("/public/%ef%bc%8e%ef%bc%8e/app/level2/secret", REFUSED),
    ("/app/%ef%bd%8cevel2/secret", REFUSED),
    ("/app/level2/secret%", REFUSED),
    ("/app/level2%00/secret", REFUSED),
    ("/app/level2/secret%0d%0a", REFUSED),
    # the query and the fragment are not the path
    ("/app/level2/secret?next=/public/", SECRET),
    ("/public/?/../app/level2/secret", "/public/"),
    ("/public/%3f/../app/level2/secret", REFUSED),
    ("/public/#/../app/level2/secret", REFUSED),
]


def domains_settings(proxies: list[str] | None = None) -> dict:
    """Public everywhere, /app/** for level 1 (PasswordScheme), /app/level2/** for level 2 (StrongPasswordScheme)."""
    return {
        "forward_auth": {"proxies": proxies or ["127.0.0.1"]},
        "application_domains": {
            "Site": {
                "authentication_policies": {
                    "Anyone": {"public": True},
                    "Staff": {"scheme": "PasswordScheme"},
                    "Vault": {"scheme": "StrongPasswordScheme"},
                },
                "resources": [
                    {"url": "/**", "policy": "Anyone"},
                    {"url": "/app/**", "policy": "Staff"},
                    {"url": "/app/level2/**", "policy": "Vault"},
                ],
            }
        },
    }


def level_of(path: str) -> int:
    """The level the content at ``path`` needs, for an upstream that routes case-insensitively."""
    folded = path.lower()
    if folded == "/app/level2" or folded.startswith("/app/level2/"):
        return 2
    return 1 if folded == "/app" or folded.startswith("/app/") else 0


def loosest_reading(target: str) -> str:
    """The path the loosest upstream serves: every normalisation some real server does, all at once.

    Decodes twice (IIS), %uXXXX and overlong UTF-8 too, then cuts at a decoded
    '?' or '#', turns '\\' into '/', folds compatibility characters (NFKC),
    strips ';' parameters (Servlet containers), merges '//', resolves '..'
    (stopping at the root), drops Windows' trailing dots and spaces and '::$'
    streams. Case is folded by ``level_of``.
    """
    raw = target.split("?", 1)[0]
    raw = re.sub(r"%u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), raw)
    data = unquote_to_bytes(unquote_to_bytes(raw))
    data = data.replace(b"\xc0\xae", b".").replace(b"\xc0\xaf", b"/")
    path = unicodedata.normalize("NFKC", data.decode("utf-8", errors="replace"))
    path = re.split(r"[?#]", path, maxsplit=1)[0].replace("\\", "/")
    path = re.sub(r";[^/]*", "", path)
    path = re.sub(r"::\$[^/]*", "", path)
    path = "/".join(segment.rstrip(". ") if segment not in (".", "..") else segment for segment in path.split("/"))
    merged = re.sub("/+", "/", "/" + path)
    resolved = posixpath.normpath(merged).replace("//", "/")
    return resolved + "/" if merged.endswith(("/", "/.", "/..")) and resolved != "/" else resolved


def loose_upstream(environ, start_response):
    """An application that serves what ``loosest_reading`` makes of the raw request, and says what it served."""
    served = loosest_reading(environ.get("RAW_URI") or environ["PATH_INFO"])
    return _answer(start_response, served, level_of(served))


def literal_upstream(environ, start_response):
    """An application that routes Werkzeug's decoded PATH_INFO exactly as it is, case-sensitively."""
    served = environ["PATH_INFO"].encode("latin-1").decode("utf-8", errors="replace")
    level = 2 if served.startswith("/app/level2") else 1 if served.startswith("/app") else 0
    return _answer(start_response, served, level)


def _answer(start_response, served: str, level: int):
    body = json.dumps({"upstream": True, "served": served, "level": level}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def raw_get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` exactly as written (no client-side cleaning), over HTTP/1.0; (status, headers, body)."""
    lines = [f"GET {target} HTTP/1.0", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), answer_headers, body
