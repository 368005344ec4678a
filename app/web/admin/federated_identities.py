"""Console pages for federated identities: JIT-off sessions, locking a link, editing an attribute.

- ``/admin/sessions``: live sessions without a local account (Asgardeo's JIT
  off): provider, subject, the claims passed on; each can be ended.
- locking a link (WSO2's lock by social identity) from the user's page;
- setting an attribute from the user's page, refused for what a provider
  forces (WSO2's enhanced JIT, app/synced_attributes.py).
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, g, redirect, render_template, request, url_for

from app import audit, federated_sessions, link_locks, synced_attributes
from app.extensions import db
from app.i18n import say
from app.runtime import current
from app.stores import sql as identity
from app.stores.federation import FederatedLink
from app.web.admin import bp
from app.web.gate import error_page


@bp.route("/sessions")
def sessions():
    before = _instant(request.args.get("before"))
    rows = federated_sessions.active(limit=100, before=before)
    next_url = url_for("admin.sessions", before=rows[-1].created_at.isoformat()) if len(rows) == 100 else None
    return render_template("admin/sessions.html", rows=rows, next_url=next_url)


@bp.route("/sessions/<id_digest>/end", methods=["POST"])
def end_session(id_digest: str):
    if not federated_sessions.revoke_by_digest(id_digest[:64]):
        abort(404)
    audit.record("session.ended", detail={"session": id_digest[:8], "by": g.admin.user_name, "local_account": False})
    db.session.commit()
    flash(say("console.flash.session_ended", session=id_digest[:8]), "ok")
    return redirect(url_for("admin.sessions"))


@bp.route("/users/<int:user_id>/links/<int:link_id>/lock", methods=["POST"])
def lock_link(user_id: int, link_id: int):
    link = _link(user_id, link_id)
    link_locks.lock(link.issuer, link.subject, by=g.admin.user_name, reason=(request.form.get("reason") or "").strip())
    db.session.commit()
    flash(say("console.flash.link_locked", provider=link.provider, subject=link.subject), "ok")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/links/<int:link_id>/unlock", methods=["POST"])
def unlock_link(user_id: int, link_id: int):
    link = _link(user_id, link_id)
    link_locks.unlock(link.issuer, link.subject, by=g.admin.user_name)
    db.session.commit()
    flash(say("console.flash.link_unlocked", provider=link.provider, subject=link.subject), "ok")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/attributes", methods=["POST"])
def set_attribute(user_id: int):
    user = identity.get_user(user_id) or abort(404)
    name = (request.form.get("name") or "").strip()
    value = request.form.get("value") or None
    if not name or len(name) > 128 or not name.replace("-", "").replace("_", "").isalnum():
        return error_page("admin.bad_attribute", 400, say("error.detail.attribute_name"))
    runtime = current()
    try:
        synced_attributes.refuse_changes(
            user, {name: value}, runtime.settings.identity_providers or {}, runtime.schemes.values()
        )
    except synced_attributes.ReadOnlyAttribute as exc:
        return error_page("attribute.read_only", 409, str(exc))
    old = user.attributes.get(name)
    if user.set_attribute(name, value, identity.ADMIN):
        audit.record(
            "user.attribute_changed",
            user_id=user.id,
            detail={"attribute": name, "old": old, "new": value, "by": g.admin.user_name, "source": "admin"},
        )
    db.session.commit()
    key = "console.flash.attribute_set" if value is not None else "console.flash.attribute_removed"
    flash(say(key, user=user.user_name, name=name), "ok")
    return redirect(url_for("admin.user", user_id=user.id))


def _link(user_id: int, link_id: int) -> FederatedLink:
    link = db.session.get(FederatedLink, link_id)
    if link is None or link.user_id != user_id:
        abort(404)
    return link


def _instant(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
