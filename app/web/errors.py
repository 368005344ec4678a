"""Pages for the HTTP errors nothing else answers: 404, 405, 500 and the rest, in stepgate's look.

A browser gets error.html (the shared stylesheet, a heading saying what
happened, the reason code, a link back to the start page); an API client (one
that prefers JSON, or a path under ``/oamfed/``) gets ``{"error", "message"}``.
A 500 says nothing of the exception: Flask has logged it with its traceback
before this handler runs; under tests the exception propagates instead.

Other areas answer first. An area's own handlers (a blueprint's, or a handler
for a more specific exception such as CSRFError) win by Flask's rules; a
handler another area registered for every HTTPException on the application
(SCIM answers unmatched ``/scim/v2`` paths in SCIM's error JSON) is asked
first here, and only an exception it hands back unchanged gets a page.
``init_app`` must therefore run after every blueprint is registered.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app.i18n import say
from app.web.messages import message_for, page_message_for

REASONS = {404: "page.not_found", 405: "request.method_not_allowed", 500: "server.error"}
TITLES = {404: "error.title.not_found", 405: "error.title.method_not_allowed", 500: "error.title.server"}


def reason_for(code: int) -> str:
    return REASONS.get(code) or ("server.error" if code >= 500 else "request.refused")


def answer(exc: HTTPException) -> Response:
    code = exc.code or 500
    reason = reason_for(code)
    if _wants_json():
        response = jsonify(error=reason, message=message_for(reason))
        response.status_code = code
    else:
        title = say(TITLES.get(code) or ("error.title.server" if code >= 500 else "error.title.refused"))
        page = render_template(
            "error.html",
            title=title,
            reason=reason,
            message=page_message_for(reason),
            detail=None,
            home_url=request.script_root + "/",
            status=code,
        )
        response = make_response(page, code)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if code >= 500:
        response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    if request.path.startswith(("/oamfed/", "/scim/")):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def init_app(app: Flask) -> None:
    earlier = app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if earlier is not None:
            handled = earlier(exc)
            if handled is not exc:
                return handled
        if exc.code is None or exc.code < 400:
            return exc
        return answer(exc)
