"""The ``/scim/v2/Groups`` endpoints (on the SCIM blueprint of ``app.scim.views``).

``excludedAttributes=members`` (as Microsoft Entra asks) skips reading the
members at all. A PATCH is applied to the group's representation like a
user's, then stored as a replace: add/remove of ``members`` and
``members[value eq "..."]`` paths, and Okta's pathless rename.

Groups are stepgate's own, in SQL, whatever the user store is: on an LDAP
store too, members are named by stepgate user id (the row each directory
entry has in ``users``), and the directory's own groups are never written.
On a store declared read-only every write here is refused (403), as for users.
"""

from __future__ import annotations

import copy

from flask import Response, request

from app.extensions import db
from app.scim import etag, groups, query, selection
from app.scim.patch import Patcher
from app.scim.views import (
    _base,
    _body,
    _one,
    _selection,
    _settings,
    bp,
    filter_of,
    list_response,
    paging,
    require_writable,
    scim_response,
    search_body,
)


def _render(group, members: bool = True) -> dict:
    return etag.stamp(groups.render_group(group, _base(), members))


def _wants_members(source) -> bool:
    attributes, excluded = _selection(source)
    return "members" not in excluded and (not attributes or any(a.startswith("members") for a in attributes))


def _search(source) -> Response:
    store = _settings().identity_store
    start, count = paging(source)
    node = filter_of(source)
    total, page = groups.search(store, None if node is None else query.group_condition(node, store), start, count)
    members = _wants_members(source)
    return list_response([_render(g, members) for g in page], total, start, _selection(source))


@bp.get("/Groups")
def list_groups() -> Response:
    return _search(request.args)


@bp.post("/Groups/.search")
def search_groups() -> Response:
    return _search(search_body())


@bp.post("/Groups")
def create_group() -> Response:
    require_writable("creating a group")
    name, external_id, members = groups.parse_group(_body())
    group = groups.create(_settings().identity_store, name, external_id, members)
    db.session.commit()
    resource = _render(group)
    return _one(resource, 201, {"Location": resource["meta"]["location"]})


@bp.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    group = groups.get(_settings().identity_store, group_id)
    resource = _render(group, _wants_members(request.args))
    if not _wants_members(request.args):
        return scim_response(selection.select(resource, *_selection(request.args)))  # no version without members
    return _one(resource)


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    require_writable("changing a group")
    group = groups.get(_settings().identity_store, group_id)
    etag.require_match(request.headers.get("If-Match"), _render(group))
    groups.replace(group, *groups.parse_group(_body()))
    db.session.commit()
    return _one(_render(group))


@bp.patch("/Groups/<group_id>")
def patch_group(group_id: str) -> Response:
    require_writable("changing a group")
    group = groups.get(_settings().identity_store, group_id)
    resource = _render(group)
    etag.require_match(request.headers.get("If-Match"), resource)
    patched = Patcher(groups.SCHEMAS).apply(copy.deepcopy(resource), _body())
    groups.replace(group, *groups.parse_group(patched))
    db.session.commit()
    return _one(_render(group))


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    require_writable("deleting a group")
    group = groups.get(_settings().identity_store, group_id)
    etag.require_match(request.headers.get("If-Match"), _render(group))
    groups.remove(group)
    db.session.commit()
    return scim_response(None, 204)
