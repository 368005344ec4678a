"""The SCIM 2.0 endpoints under ``/scim/v2``: bearer-token protected, ``application/scim+json``.

The blueprint is the server's own (never matched against protected
resources) and exempt from CSRF: it is called by other servers with a bearer
token, never by a browser with cookies.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
from types import SimpleNamespace

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from app import stores
from app.extensions import csrf, db
from app.runtime import current
from app.scim import discovery, etag, groups, query, selection, store_users, synced, users
from app.scim import filter as filter_language
from app.scim.attributes import user_schemas as user_schemas_for
from app.scim.config import ScimSettings
from app.scim.errors import ScimError, invalid_syntax
from app.scim.patch import Patcher
from app.scim.schema import parse_user, registration_id_of, render_user
from app.web import params, request_limits
from app.web.gate import exempt
from app.web.urls import absolute

log = logging.getLogger("stepgate.scim")
bp = exempt(Blueprint("scim", __name__, url_prefix="/scim/v2"))
csrf.exempt(bp)

MEDIA_TYPE = "application/scim+json"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
NO_STATE = SimpleNamespace(document="{}", external_id=None)
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
    if request.endpoint == "scim.unrouted":
        return  # a refusal (404/405) needs no token, as when routing itself refused: it reads nothing
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


def _int_arg(name: str, raw, default: int, minimum: int, maximum: int) -> int:
    """RFC 7644 3.4.2.4: a startIndex below 1 means 1 and a negative count means 0; past the end is an empty page."""
    try:
        return params.integer(name, None if raw is None else str(raw), default, minimum, maximum)
    except params.BadParameter as exc:
        raise invalid_syntax(str(exc)) from None


@bp.errorhandler(params.BadParameter)
def bad_parameter(exc: params.BadParameter) -> Response:
    return scim_error(invalid_syntax(str(exc)))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """Whatever Flask or Werkzeug refuses inside the SCIM endpoints answers in SCIM's error JSON too."""
    response = scim_error(ScimError(exc.code or 500, exc.description or exc.name))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/", defaults={"rest": ""}, methods=ALL_METHODS)
@bp.route("/<path:rest>", methods=ALL_METHODS)
def unrouted(rest: str) -> Response:
    """Every path under /scim/v2 no endpoint serves, or serves with other methods: 404 or 405, as SCIM errors.

    Routed here, inside the blueprint, rather than left to routing (which fails before any blueprint
    is chosen), so no application-wide error page can answer a SCIM client in HTML.
    """
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = {
        m for m in adapter.allowed_methods(request.path) if adapter.match(request.path, method=m)[0] != request.endpoint
    }
    if allowed:
        raise MethodNotAllowed(valid_methods=sorted(allowed))
    raise ScimError(404, f"no SCIM endpoint at {request.path}")


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> Response:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return scim_error(ScimError(413, f"the request body is larger than {limit} bytes"))


def user_schemas() -> dict:
    """The User schema and extensions this server declares (``app.scim.attributes``)."""
    settings = _settings()
    return user_schemas_for(settings.attribute_mapping, settings.registration_extension)


def _render(user, state=None, member_of: list | None = None) -> dict:
    mapping = _settings().attribute_mapping
    state = users.state_of(user) if state is None else state
    member_of = groups.memberships([user.id]).get(user.id, []) if member_of is None else member_of
    resource = render_user(user, mapping, _location(user.id), state)
    if member_of:  # read-only (RFC 7643 4.1.2): the groups /Groups says the user is in
        meta = resource.pop("meta")
        resource["groups"] = [{"value": str(gid), "display": name} for gid, name in member_of]
        resource["meta"] = meta
    return etag.stamp(resource)


def _one(resource: dict, status: int = 200, headers: dict | None = None) -> Response:
    """A single resource, with its version as ``ETag`` and the requested attributes only."""
    shown = selection.select(resource, *_selection(request.args))
    return scim_response(shown, status, {"ETag": resource["meta"]["version"], **(headers or {})})


def _selection(source) -> tuple[list[str], list[str]]:
    return selection.names(source.get("attributes")), selection.names(source.get("excludedAttributes"))


def list_response(resources: list[dict], total: int, start: int, chosen: tuple[list[str], list[str]]) -> Response:
    return scim_response(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(resources),
            "Resources": [selection.select(r, *chosen) for r in resources],
        }
    )


def paging(source) -> tuple[int, int]:
    """(startIndex, count) from query arguments or a ``/.search`` body."""
    return (
        _int_arg("startIndex", source.get("startIndex"), 1, 1, MAX_START_INDEX),
        _int_arg("count", source.get("count"), discovery.MAX_RESULTS, 0, discovery.MAX_RESULTS),
    )


def filter_of(source) -> filter_language.Node | None:
    text = source.get("filter")
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise filter_language.invalid_filter("'filter' must be a string")
    return filter_language.parse(text)


def in_sql() -> bool:
    """Whether SCIM's store is the SQL kind (indexed SQL, app/scim/users.py) or another (app/scim/store_users.py)."""
    return stores.get(_settings().identity_store).kind == "sql"


def operations():
    """The module serving this server's store: ``users`` (SQL) or ``store_users`` (through the store interface)."""
    return users if in_sql() else store_users


def require_writable(what: str) -> None:
    """403 before anything is read or written when SCIM's store is declared read-only."""
    store = stores.get(_settings().identity_store)
    if store.read_only:
        raise ScimError(403, f"identity store '{store.name}' is read-only: {what} is refused")


def keep_ids() -> None:
    """Commit a read of a directory: the rows of entries read for the first time hold the ids just handed out.

    Uncommitted, they would be rolled back at the end of the request and the
    next read would give the same entry another id (PostgreSQL sequences
    never go back). The SQL store's reads write nothing.
    """
    if not in_sql():
        db.session.commit()


def search_page(node, start: int, count: int) -> tuple[int, list]:
    """(total, one page of users) of SCIM's store, optionally matching a parsed filter."""
    settings = _settings()
    store, mapping = settings.identity_store, settings.attribute_mapping
    if not in_sql():
        return store_users.search(store, node, mapping, start, count)
    condition = None if node is None else query.user_condition(node, store, mapping)
    return users.search(store, condition, start, count)


def _search_users(source) -> Response:
    start, count = paging(source)
    total, page = search_page(filter_of(source), start, count)
    states, member_of = users.states_of(page), groups.memberships([u.id for u in page])
    resources = [_render(u, states.get(u.id, NO_STATE), member_of.get(u.id, [])) for u in page]
    keep_ids()
    return list_response(resources, total, start, _selection(source))


@bp.get("/Users")
def list_users() -> Response:
    return _search_users(request.args)


@bp.post("/Users/.search")
def search_users() -> Response:
    return _search_users(search_body())


def search_body() -> dict:
    """A SearchRequest (RFC 7644 3.4.3): its attributes lists may be JSON lists."""
    body = _body()
    if SEARCH_SCHEMA not in (body.get("schemas") or []):
        raise invalid_syntax(f"a search body must list {SEARCH_SCHEMA} in 'schemas'")
    return body


@bp.post("/Users")
def create_user() -> Response:
    settings = _settings()
    require_writable("creating a user")
    data = parse_user(_body(), settings.attribute_mapping, user_schemas())
    user = operations().create(settings.identity_store, data)
    db.session.commit()
    location = _location(user.id)
    return _one(_render(user), 201, {"Location": location})


@bp.get("/Users/<user_id>")
def get_user(user_id: str) -> Response:
    resource = _render(operations().get(_settings().identity_store, user_id))
    keep_ids()
    return _one(resource)


@bp.put("/Users/<user_id>")
def replace_user(user_id: str) -> Response:
    settings = _settings()
    require_writable("changing a user")
    found = operations()
    user = found.get(settings.identity_store, user_id)
    etag.require_match(request.headers.get("If-Match"), _render(user))
    body = _body()
    _refuse_registration(body)
    found.replace(user, parse_user(body, settings.attribute_mapping, user_schemas()))
    db.session.commit()
    return _one(_render(user))


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str) -> Response:
    settings = _settings()
    require_writable("changing a user")
    found = operations()
    user = found.get(settings.identity_store, user_id)
    resource = _render(user)
    etag.require_match(request.headers.get("If-Match"), resource)
    body = _body()
    patched = Patcher(user_schemas()).apply(copy.deepcopy(resource), body)
    _refuse_registration(patched)
    found.replace(user, parse_user(patched, settings.attribute_mapping, user_schemas()))
    db.session.commit()
    return _one(_render(user))


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str) -> Response:
    require_writable("deleting a user")
    found = operations()
    user = found.get(_settings().identity_store, user_id)
    etag.require_match(request.headers.get("If-Match"), _render(user))
    found.remove(user)
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
    types = discovery.resource_types(_base(), _settings().registration_extension)
    return list_response(types, len(types), 1, ([], []))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    found = [t for t in discovery.resource_types(_base(), _settings().registration_extension) if t["id"] == name]
    if not found:
        raise ScimError(404, f"no resource type '{name}'")
    return scim_response(found[0])


@bp.get("/Schemas")
def schemas() -> Response:
    declared = discovery.all_schemas(user_schemas())
    found = [_annotated(discovery.schema(urn, attributes, _base())) for urn, attributes in declared.items()]
    return list_response(found, len(found), 1, ([], []))


@bp.get("/Schemas/<path:urn>")
def schema(urn: str) -> Response:
    declared = discovery.all_schemas(user_schemas())
    if urn not in declared:
        raise ScimError(404, f"no schema '{urn}'")
    return scim_response(_annotated(discovery.schema(urn, declared[urn], _base())))


def _annotated(document: dict) -> dict:
    """A schema with the attributes an identity provider forces marked readOnly (app/scim/synced.py)."""
    settings = _settings()
    return synced.annotate(document, settings.attribute_mapping, settings.identity_store)


from app.scim import group_views, search_views  # noqa: E402,F401 - register /Groups and /.search on bp
