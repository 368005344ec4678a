"""Console pages for activity: flows in progress, recent flows with their step-by-step trace, the audit log."""

from __future__ import annotations

import re

from flask import render_template, request, url_for

from app.stores import sql as identity
from app.web import params
from app.web.admin import bp, queries

_REF = re.compile(r"[0-9a-f]{16}")


@bp.route("/flows")
def flows():
    recent = queries.audit_events(queries.AuditFilter(event="flow.start"), limit=queries.PAGE)
    return render_template("admin/flows.html", active=queries.flows_in_progress(), recent=recent.rows)


@bp.route("/flows/<ref>")
def flow(ref: str):
    events = queries.flow_trace(ref) if _REF.fullmatch(ref) else []
    return render_template("admin/flow.html", ref=ref, events=events)


@bp.route("/audit")
def audit_log():
    args = request.args
    user_name = (args.get("user") or "").strip()
    user = identity.find_by_user_name(args.get("store") or "default", user_name) if user_name else None
    filters = queries.AuditFilter(
        event=(args.get("event") or "").strip() or None,
        user_id=(user.id if user else -1) if user_name else None,
        reason=(args.get("reason") or "").strip() or None,
        flow=(args.get("flow") or "").strip() or None,
        scheme=(args.get("scheme") or "").strip() or None,
    )
    page = queries.audit_events(filters, before=params.integer("before", args.get("before"), 0, 0) or None)
    kept = {k: v for k, v in args.items() if k != "before" and v}
    next_url = url_for("admin.audit_log", before=page.next_key, **kept) if page.next_key is not None else None
    return render_template("admin/audit.html", page=page, args=args, next_url=next_url)
