"""``POST /scim/v2/.search`` (RFC 7644 section 3.4.3): one search over every resource type.

Users come first, then groups, each in id order, and ``startIndex``/``count``
page through the two as one list. A filter on an attribute only one type
has (``userName``, ``members``) finds resources of that type only.
"""

from __future__ import annotations

from flask import Response

from app import stores
from app.scim import directory_query, groups, query, users
from app.scim.errors import ScimError
from app.scim.group_views import _render as render_group
from app.scim.group_views import _wants_members
from app.scim.views import (
    NO_STATE,
    _render,
    _selection,
    _settings,
    bp,
    filter_of,
    in_sql,
    keep_ids,
    list_response,
    paging,
    search_body,
    search_page,
)


def _or_nothing(build) -> tuple[object, ScimError | None]:
    """The condition ``build`` makes, or False when the filter names what this type lacks."""
    try:
        return build(), None
    except ScimError as exc:
        if exc.scim_type != "invalidFilter":
            raise
        return False, exc


def _user_filter(node, store: str, mapping: dict[str, str]):
    """The users' condition (SQL) or filter (a directory), built only to learn whether users have these paths."""
    if in_sql():
        return query.user_condition(node, store, mapping)
    return directory_query.user_filter(node, stores.get(store), mapping)


@bp.post("/.search")
def search_everything() -> Response:
    settings = _settings()
    store, mapping = settings.identity_store, settings.attribute_mapping
    source = search_body()
    start, count = paging(source)
    node = filter_of(source)
    user_condition = group_condition = None
    if node is not None:
        user_condition, user_error = _or_nothing(lambda: _user_filter(node, store, mapping))
        group_condition, group_error = _or_nothing(lambda: query.group_condition(node, store))
        if user_error and group_error:
            raise user_error
    found: list[dict] = []
    user_total = group_total = 0
    if user_condition is not False:
        user_total, page = search_page(node, start, count)
        states, member_of = users.states_of(page), groups.memberships([u.id for u in page])
        found += [_render(u, states.get(u.id, NO_STATE), member_of.get(u.id, [])) for u in page]
    if group_condition is not False:
        group_start = max(1, start - user_total)
        group_total, page = groups.search(store, group_condition, group_start, count - len(found))
        members = _wants_members(source)
        found += [render_group(g, members) for g in page]
    keep_ids()
    return list_response(found, user_total + group_total, start, _selection(source))
