"""Request paths as the upstream application will serve them, or why they cannot be judged.

A resource is judged by its path, but the application behind the proxy serves
the path *it* understands: Werkzeug, Express, Tomcat and IIS decode
percent-encodings, resolve ``..``, merge ``//``, strip ``;parameters`` and fold
case each in their own way. ``judge_path`` brings a raw path (as the browser
sent it, before any decoding) to one normal form, RFC 3986 section 6 (decode,
remove dot segments, merge ``//``), and refuses every path whose meaning
depends on who reads it: an encoded ``/``, a backslash, a control character, an
encoded ``%`` (double encoding), a broken or overlong escape, bytes that are not
UTF-8, a ``..`` that climbs above the root or pops an empty segment, Windows'
trailing dots and spaces and ``::$`` streams, and compatibility characters such
as a fullwidth dot. What is left decodes to exactly one path, which every
reasonable server serves the same way: that decoded path is what resources are
matched against (``app/policy.py``). Case folding is the resource's business
(``case_sensitive``), and so are ``;`` parameters (``path_parameters``): this
module reports the path with them and without them.

Framework-free: plain strings in, a small frozen result out. Reason codes are
stable (``path.encoded_slash``...) and documented in docs/path-normalisation.md.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple
from urllib.parse import quote

MAX_LENGTH = 8192
# Already normal plain ASCII: no '%', ';', ':', space or non-ASCII, no empty segment, no segment ending in '.'
# (which excludes '.' and '..'). Such a path is its own decoded form; most requests take this way.
_NORMAL = re.compile(r"(?:/[\w\-.~!$&'()*+,=@]*[\w\-~!$&'()*+,=@])*/?", re.ASCII)
_RAW_REFUSED = re.compile(rb"[\x00-\x1f\x7f\\#]")
_HEX = b"0123456789abcdefABCDEF"
_PARAMETERS = re.compile(r";[^/]*")
_C1_CONTROL = re.compile("[\x80-\x9f]")
_ORIGIN_FORM = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?]*)")
# Escapes of characters that mean something in a path: decoded, they would change the path's structure.
_DECODED_REFUSALS = {
    ord("/"): "path.encoded_slash",
    ord("\\"): "path.backslash",
    ord("%"): "path.double_encoding",
    ord(";"): "path.encoded_delimiter",
    ord("?"): "path.encoded_delimiter",
    ord("#"): "path.encoded_delimiter",
}


class JudgedPath(NamedTuple):
    """A decoded, normal path (``path``), or the reason it was refused (``reason``).

    ``without_parameters`` is set only when the path has ``;`` parameters: the
    same path with every segment's parameters removed, as Tomcat and other
    Servlet containers serve it (also normal, or the path is refused).
    ``unresolved`` is set only when a ``..`` was removed: the paths (with and
    without parameters) with their ``..`` segments kept, as an application that
    routes ``/vault/<path>`` reads ``/vault/..``. A resource must be the same
    for every reading (``app/policy.py``). A named tuple, not a frozen
    dataclass: it is made on every request, and a tuple is made four times faster.
    """

    path: str | None = None
    reason: str | None = None
    without_parameters: str | None = None
    unresolved: tuple[str, ...] = ()

    @property
    def uri(self) -> str | None:
        """The path in RFC 3986's normal form: unreserved characters plain, the rest escaped in upper case."""
        return None if self.path is None else quote(self.path, safe="/:@!$&'()*+,;=~")


def judge_path(raw: str) -> JudgedPath:
    """The path an upstream serves for the raw (still percent-encoded) ``raw``, or a refusal reason."""
    if len(raw) > MAX_LENGTH:
        return JudgedPath(reason="path.too_long")
    if raw and _NORMAL.fullmatch(raw):
        return JudgedPath(raw)
    if not raw.startswith("/"):
        return JudgedPath(reason="path.not_absolute")
    decoded, reason = _decode(raw)
    if reason:
        return JudgedPath(reason=reason)
    path, unresolved, reason = _normal_segments(decoded)
    if reason:
        return JudgedPath(reason=reason)
    if ";" not in decoded:  # not 'in path': '/a/;x/../b' loses its ';' here, but not where it is stripped first
        return JudgedPath(path, unresolved=unresolved)
    without, unresolved_without, reason = _normal_segments(_PARAMETERS.sub("", decoded))
    if reason:
        return JudgedPath(reason=reason)
    if without == path:
        return JudgedPath(path, unresolved=unresolved)
    return JudgedPath(path, without_parameters=without, unresolved=unresolved + unresolved_without)


def path_of_request_target(target: str) -> str:
    """The raw path of an HTTP request target (origin form ``/p?q`` or absolute form ``http://h/p?q``)."""
    match = _ORIGIN_FORM.match(target)
    return match[1] if match else target


def _decode(raw: str) -> tuple[str, str | None]:
    """Every escape decoded, as UTF-8; or a ``path.*`` reason when an escape or a raw byte is refused."""
    try:
        data = raw.encode("latin-1")  # WSGI carries the request's bytes as latin-1 text
    except UnicodeEncodeError:
        data = raw.encode("utf-8")
    refused = _RAW_REFUSED.search(data)
    if refused:
        return "", _raw_refusal(refused[0])
    pieces = data.split(b"%")
    out = bytearray(pieces[0])
    for piece in pieces[1:]:
        if len(piece) < 2 or piece[0] not in _HEX or piece[1] not in _HEX:
            return "", "path.bad_percent_encoding"
        byte = int(piece[:2], 16)
        if byte < 0x20 or byte == 0x7F:
            return "", "path.control_character"
        if byte in _DECODED_REFUSALS:
            return "", _DECODED_REFUSALS[byte]
        out.append(byte)
        out += piece[2:]
    try:
        text = out.decode("utf-8")  # strict: overlong forms and surrogates are refused
    except UnicodeDecodeError:
        return "", "path.bad_utf8"
    if not text.isascii():
        if _C1_CONTROL.search(text):
            return "", "path.control_character"
        if not unicodedata.is_normalized("NFKC", text):
            return "", "path.unicode_compatibility"  # a fullwidth dot or slash, a ligature: some servers fold them
    return text, None


def _raw_refusal(byte: bytes) -> str:
    if byte == b"\\":
        return "path.backslash"
    if byte == b"#":
        return "path.fragment"
    return "path.control_character"


def _normal_segments(path: str) -> tuple[str, tuple[str, ...], str | None]:
    """RFC 3986 5.2.4 dot-segment removal with ``//`` merged; refuses where servers would disagree.

    Two readers are followed: RFC 3986's, for which an empty segment is one
    that ``..`` pops, and nginx's, which merges ``//`` first. Where they end on
    different paths (``/a//../b``: ``/a/b`` or ``/b``) the path is refused.
    Returns the normal path, the path with its ``..`` kept (only if it had one)
    and a refusal reason.
    """
    segments = path.split("/")[1:]
    rfc: list[str] = []  # empty segments included
    merged: list[str] = []
    kept: list[str] = []  # the segments of a reader that merges '//' and drops '.' but leaves '..' alone
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == "..":
                if not merged or not rfc:
                    return "", (), "path.above_root"
                rfc.pop()
                merged.pop()
                kept.append("..")
            if i == last:
                rfc.append("")
                merged.append("")
                if segment == ".":
                    kept.append("")
            continue
        if segment.endswith((".", " ")):
            return "", (), "path.trailing_dot_or_space"  # Windows drops them: 'admin.' is 'admin'
        if "::$" in segment:
            return "", (), "path.alternate_data_stream"  # NTFS: 'admin::$INDEX_ALLOCATION' is 'admin'
        rfc.append(segment)
        if segment or i == last:
            merged.append(segment)
            kept.append(segment)
    if [s for s in rfc[:-1] if s] + rfc[-1:] != merged:
        return "", (), "path.ambiguous_dot_segment"
    unresolved = ("/" + "/".join(kept),) if ".." in kept else ()
    return "/" + "/".join(merged), unresolved, None
