"""Bounds on what a request may carry: body size (413) and JSON nesting depth (400).

``request_limits`` in the settings (both optional)::

    request_limits:
      max_body_bytes: 1048576   # larger bodies get 413 before anything reads them
      max_json_depth: 32        # deeper JSON is refused before it is parsed

The depth is measured on the raw text, without recursion, before ``json``
parses it: a body of a million ``[`` would otherwise exhaust the parser's
stack. ``json_body`` is what every JSON-reading endpoint calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from flask import current_app, request
from werkzeug.datastructures import CombinedMultiDict

from app.web.params import BadParameter
from app.yamlsource import Checker, Located

KEY = "request_limits"
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)  # JSON strings, whose brackets don't nest anything
_OPEN, _CLOSE = b"[{", b"]}"
_NESTING = bytes(range(256)).translate(None, _OPEN + _CLOSE)  # the bytes that are neither


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32


class MalformedJSON(ValueError):
    """A body that is not JSON this server reads: not UTF-8, not JSON, or nested deeper than allowed."""


def parse_request_limits(doc: Located, check: Checker) -> RequestLimits:
    raw = doc.get(KEY)
    if raw is None:
        return RequestLimits()
    body = check.require_mapping(raw, doc, KEY, KEY)
    if body is None:
        return RequestLimits()
    check.unknown_keys(body, {"max_body_bytes", "max_json_depth"}, KEY)
    values = {}
    for key, default, minimum in (("max_body_bytes", 1024 * 1024, 1024), ("max_json_depth", 32, 2)):
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            check.add(body.problem(key, f"'{KEY}.{key}' must be a whole number >= {minimum}"))
            value = default
        values[key] = value
    return RequestLimits(**values)


def json_depth(data: bytes) -> int:
    """How deep arrays and objects nest in ``data`` (assumed JSON), counted without recursion."""
    brackets = _STRINGS.sub(b'""', data).translate(None, _NESTING)
    return max(accumulate(1 if b in _OPEN else -1 for b in brackets), default=0)


def json_body() -> Any:
    """The request body parsed as JSON, whatever its content type; MalformedJSON if it can't or mustn't be."""
    data = request.get_data(cache=True)
    depth = current_app.config.get("STEPGATE_MAX_JSON_DEPTH", RequestLimits.max_json_depth)
    if json_depth(data) > depth:
        raise MalformedJSON(f"the JSON body nests deeper than {depth} levels")
    try:
        body = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedJSON("the body is not UTF-8") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise MalformedJSON(f"the body is not JSON: {exc}") from None
    if _holds_nul(body):
        raise MalformedJSON("the body holds a NUL character (\\u0000)")
    return body


def _holds_nul(value: Any) -> bool:
    """Whether any string (key or value) in a parsed JSON document contains NUL; no recursion."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def configure(app, settings: RequestLimits) -> None:
    """Flask refuses bodies over ``MAX_CONTENT_LENGTH`` with 413 when anything reads them."""
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, STEPGATE_MAX_JSON_DEPTH=settings.max_json_depth)
    app.before_request(refuse_nul)


def refuse_nul() -> None:
    """No query or form value here may hold NUL: PostgreSQL refuses it in text, so it would be a 500.

    Paths are the gate's to judge (``app/urlpath.py`` refuses control characters with its own reason).

    Raised as ``BadParameter``: the HTML pages answer 400, SCIM its invalidSyntax error.
    """
    fields = request.args if request.method in ("GET", "HEAD") else CombinedMultiDict([request.args, request.form])
    for name, value in fields.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise BadParameter(name.replace("\x00", "\\0"), "must not contain NUL characters", "param.nul")
