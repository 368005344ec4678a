"""Console page for registration records: hand-offs to the external self-registration page."""

from __future__ import annotations

from datetime import datetime

from flask import render_template, request, url_for

from app.timeutil import utcnow
from app.web.admin import bp, queries


@bp.route("/registrations")
def registrations():
    page = queries.registration_records(before=_instant(request.args.get("before")))
    next_url = url_for("admin.registrations", before=page.next_key) if page.next_key is not None else None
    return render_template("admin/registrations.html", page=page, next_url=next_url, now=utcnow())


def _instant(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
