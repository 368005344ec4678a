"""The SCIM 2.0 endpoints under ``/scim/v2``: bearer-token protected, ``application/scim+json``.

The blueprint is the server's own (never matched against protected
resources) and exempt from CSRF: it is called by other servers with a bearer
token, never by a browser with cookies.
"""

from __future__ import annotations

import hmac
import json
import logging

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from app.extensions import csrf, db
from app.runtime import current
from app.scim import discovery, synced, users
from app.scim.config import ScimSettings
from app.scim.errors import ScimError, invalid_syntax
from app.scim.filter import parse_filter
from app.scim.patch import apply_patch
from app.scim.schema import parse_user, registration_id_of, render_user
from app.web import params, request_limits
from app.web.gate import exempt
from app.web.urls import absolute

log = logging.getLogger("stepgate.scim")
bp = exempt(Blueprint("scim", __name__, url_prefix="/scim/v2"))
csrf.exempt(bp)

MEDIA_TYPE = "application/scim+json"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MAX_START_INDEX = 2**31  # further than any store reaches; keeps OFFSET within every database's integer


def scim_response(body: dict | None, status: int = 200, headers: dict | None = None) -> Response:
    text = "" if body is None else json.dumps(body)
    return Response(text, status=status, mimetype=None if body is None else MEDIA_TYPE, headers=headers)


@bp.errorhandler(ScimError)
def scim_error(exc: ScimError) -> Response:
    if exc.status >= 400:
        log.info("scim %s %s refused: %s %s", request.method, request.path, exc.status, exc.detail)
    headers = {"WWW-Authenticate": 'Bearer realm="stepgate SCIM"'} if exc.status == 401 else None
    return scim_response(exc.body(), exc.status, headers)


@bp.before_request
def authenticate() -> None:
    settings = _settings()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if settings is None or scheme.lower() != "bearer" or not token.strip():
        raise ScimError(401, "a bearer token is required" if settings else "SCIM is not enabled on this server")
    given = token.strip().encode()
    matched = False
    for known in settings.tokens:  # no early exit: the time taken says nothing about which token matched
        matched |= hmac.compare_digest(given, known.encode())
    if not matched:
        log.warning("scim request with a wrong bearer token from %s", request.remote_addr)
        raise ScimError(401, "the bearer token is not valid")


def _settings() -> ScimSettings | None:
    """The ``scim`` settings; None when SCIM is not configured (every request is then refused)."""
    return current().settings.scim


def _base() -> str:
    return absolute(bp.url_prefix)


def _location(user_id: int) -> str:
    return f"{_base()}/Users/{user_id}"


def _body() -> dict:
    """The JSON object sent, whatever the content type says; bounded in size and depth (app/web/request_limits.py)."""
    try:
        body = request_limits.json_body()
    except request_limits.MalformedJSON as exc:
        raise invalid_syntax(str(exc)) from None
    if not isinstance(body, dict):
        raise invalid_syntax("the request body must be a JSON object")
    return body


def _int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    """RFC 7644 3.4.2.4: a startIndex below 1 means 1 and a negative count means 0; past the end is an empty page."""
    try:
        return params.integer(name, request.args.get(name), default, minimum, maximum)
    except params.BadParameter as exc:
        raise invalid_syntax(str(exc)) from None


@bp.errorhandler(params.BadParameter)
def bad_parameter(exc: params.BadParameter) -> Response:
    return scim_error(invalid_syntax(str(exc)))


@bp.app_errorhandler(HTTPException)
def routing_error(exc: HTTPException):
    """What routing refuses under /scim/v2 (unknown endpoint, wrong method) answers in SCIM's error JSON too.

    Routing fails before any blueprint is chosen, so this handler is the app's; elsewhere it hands the
    exception back unchanged, for Flask to answer as it would have.
    """
    if not request.path.startswith(bp.url_prefix + "/") or exc.code is None:
        return exc
    response = scim_error(ScimError(exc.code, exc.description or exc.name))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> Response:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return scim_error(ScimError(413, f"the request body is larger than {limit} bytes"))


@bp.get("/Users")
def list_users() -> Response:
    settings = _settings()
    start = _int_arg("startIndex", 1, 1, MAX_START_INDEX)
    count = _int_arg("count", discovery.MAX_RESULTS, 0, discovery.MAX_RESULTS)
    attribute = value = None
    if request.args.get("filter"):
        attribute, value = parse_filter(request.args["filter"], settings.attribute_mapping)
    total, page = users.search(settings.identity_store, attribute, value, start, count)
    return scim_response(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": [render_user(u, settings.attribute_mapping, _location(u.id)) for u in page],
        }
    )


@bp.post("/Users")
def create_user() -> Response:
    settings = _settings()
    user = users.create(settings.identity_store, parse_user(_body(), settings.attribute_mapping))
    db.session.commit()
    location = _location(user.id)
    return scim_response(render_user(user, settings.attribute_mapping, location), 201, {"Location": location})


@bp.get("/Users/<user_id>")
def get_user(user_id: str) -> Response:
    settings = _settings()
    user = users.get(settings.identity_store, user_id)
    return scim_response(render_user(user, settings.attribute_mapping, _location(user.id)))


@bp.put("/Users/<user_id>")
def replace_user(user_id: str) -> Response:
    settings = _settings()
    user = users.get(settings.identity_store, user_id)
    body = _body()
    _refuse_registration(body)
    users.replace(user, parse_user(body, settings.attribute_mapping))
    db.session.commit()
    return scim_response(render_user(user, settings.attribute_mapping, _location(user.id)))


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str) -> Response:
    settings = _settings()
    user = users.get(settings.identity_store, user_id)
    resource = render_user(user, settings.attribute_mapping, _location(user.id))
    patched = apply_patch(resource, _body())
    _refuse_registration(patched)
    users.replace(user, parse_user(patched, settings.attribute_mapping))
    db.session.commit()
    return scim_response(render_user(user, settings.attribute_mapping, _location(user.id)))


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str) -> Response:
    users.remove(users.get(_settings().identity_store, user_id))
    db.session.commit()
    return scim_response(None, 204)


def _refuse_registration(body: dict) -> None:
    """A registration id links an account only when the account is created."""
    if registration_id_of(body) is not None:
        raise ScimError(400, "registrationId can only be given when a user is created", "mutability")


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return scim_response(discovery.service_provider_config(_base()))


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    types = [discovery.user_resource_type(_base())]
    return scim_response(
        {"schemas": [LIST_SCHEMA], "totalResults": 1, "startIndex": 1, "itemsPerPage": 1, "Resources": types}
    )


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    if name != "User":
        raise ScimError(404, f"no resource type '{name}'")
    return scim_response(discovery.user_resource_type(_base()))


@bp.get("/Schemas")
def schemas() -> Response:
    settings = _settings()
    found = [_schema(urn, settings) for urn in discovery.SCHEMAS]
    return scim_response(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(found),
            "startIndex": 1,
            "itemsPerPage": len(found),
            "Resources": found,
        }
    )


@bp.get("/Schemas/<path:urn>")
def schema(urn: str) -> Response:
    if urn not in discovery.SCHEMAS:
        raise ScimError(404, f"no schema '{urn}'")
    return scim_response(_schema(urn, _settings()))


def _schema(urn: str, settings: ScimSettings) -> dict:
    """One schema, with the attributes an identity provider forces marked readOnly (app/scim/synced.py)."""
    return synced.annotate(discovery.schema(urn, _base()), settings.attribute_mapping, settings.identity_store)
