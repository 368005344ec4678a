"""A scheme's challenge page: OAM's Challenge URL, Context Type and Context Value.

OAM lets an administrator bring their own prompt page (OAM 42.2, "Create a
custom HTML page and set the context type and context value"):

```yaml
challenge_url: /CustomReadServlet          # served by stepgate: shows the flow's current prompt
context_type: customHTML                   # or default (stepgate's own page)
context_value: custom/autoprovisioning.html   # beside the scheme file, or an absolute path
```

The page is the administrator's HTML, read once when the scheme loads (its
text is part of the scheme's version, so a flow never sees a page change
half-way). It is never run through a template engine: stepgate only inserts
its own, escaped markup at two places OAM defines: the credential fields into
the element with ``id="oam_credentials"`` and the form's CSRF token after the
``<form>`` that posts to ``/oam/server/auth_cred_submit``. Labels come from the
``.properties`` file of the same name beside it (OAM's globalization note).
Rendering lives with the prompt (``app/custom_page.py``); this module only
validates and loads, with the file and line of every problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.yamlsource import Checker, Located, unknown_message

CONTEXT_TYPES = {"default", "customHTML"}
SUBMIT_PATH = "/oam/server/auth_cred_submit"
MAX_PAGE_BYTES = 256 * 1024
RESERVED_PATHS = (
    "/oam/",
    "/oamfed/",
    "/admin",
    "/scim",
    "/forward-auth",
    "/static",
    "/login",
    "/logout",
    "/metrics",
    "/healthz",
    "/readyz",
    "/.well-known",
)
"""stepgate's own endpoints: a challenge URL there would shadow them."""

_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*")
CREDENTIALS_SLOT = re.compile(r"<[A-Za-z][A-Za-z0-9]*\b[^>]*\bid\s*=\s*[\"']oam_credentials[\"'][^>]*>", re.I)
ERRORS_SLOT = re.compile(r"<[A-Za-z][A-Za-z0-9]*\b[^>]*\bid\s*=\s*[\"']ignore_oam_error_codes[\"'][^>]*>", re.I)
SUBMIT_FORM = re.compile(
    r"<form\b[^>]*\baction\s*=\s*[\"']" + re.escape(SUBMIT_PATH) + r"[\"'][^>]*>",
    re.I,
)


@dataclass(frozen=True)
class ChallengePage:
    challenge_url: str = ""
    context_type: str = "default"
    context_value: str = ""
    """The custom page's resolved path (customHTML only)."""
    html: str = ""

    @property
    def custom(self) -> bool:
        return self.context_type == "customHTML"

    @property
    def labels_path(self) -> Path | None:
        """``page.properties`` beside ``page.html``, when there is one."""
        if not self.custom:
            return None
        path = Path(self.context_value).with_suffix(".properties")
        return path if path.is_file() else None


def parse_challenge_page(doc: Located, check: Checker) -> ChallengePage:
    """The scheme's ``challenge_url``, ``context_type`` and ``context_value``, validated."""
    url = doc.get("challenge_url", "")
    if url != "" and not valid_challenge_url(url):
        check.add(
            doc.problem(
                "challenge_url",
                f"challenge_url {url!r} must be a path on this server such as /CustomReadServlet "
                f"(no scheme, host, query, '//' or dot segments, and not under {', '.join(RESERVED_PATHS)})",
            )
        )
        url = ""
    context_type = doc.get("context_type", "default")
    if context_type not in CONTEXT_TYPES:
        check.add(doc.problem("context_type", unknown_message("context_type", context_type, CONTEXT_TYPES, "scheme")))
        return ChallengePage(url)
    value = doc.get("context_value", "")
    if context_type == "default":
        if value:
            check.add(doc.problem("context_value", "context_value is only read with context_type: customHTML"))
        return ChallengePage(url)
    if not isinstance(value, str) or not value.strip():
        check.add(doc.problem("context_value" if "context_value" in doc else None, _NEEDS_VALUE))
        return ChallengePage(url, context_type)
    path = (Path(doc.file).parent / value).resolve()
    html = _read_page(path, doc, check)
    return ChallengePage(url, context_type, str(path), html)


_NEEDS_VALUE = "context_type customHTML needs context_value: the path of the custom HTML page"


def valid_challenge_url(url) -> bool:
    if not isinstance(url, str) or not _PATH.fullmatch(url) or "//" in url:
        return False
    if any(segment in (".", "..") for segment in url.split("/")):
        return False
    return not any(url == p.rstrip("/") or url.startswith(p.rstrip("/") + "/") for p in RESERVED_PATHS)


def _read_page(path: Path, doc: Located, check: Checker) -> str:
    where = "context_value"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        check.add(doc.problem(where, f"context_value: cannot read the custom page {path}: {exc.strerror or exc}"))
        return ""
    if len(raw) > MAX_PAGE_BYTES:
        check.add(doc.problem(where, f"context_value: {path} is larger than {MAX_PAGE_BYTES // 1024} KiB"))
        return ""
    try:
        html = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        check.add(doc.problem(where, f"context_value: {path} is not UTF-8 (byte {exc.start})"))
        return ""
    if not SUBMIT_FORM.search(html):
        check.add(doc.problem(where, f'context_value: {path} has no <form> with action="{SUBMIT_PATH}"'))
    if not CREDENTIALS_SLOT.search(html):
        check.add(doc.problem(where, f'context_value: {path} has no element with id="oam_credentials" for the fields'))
    return html
