"""Console pages for users: search by attribute, a user's attributes, IdP links and history; lock, unlock, delete.

A lockout after failed sign-ins (app/lockout.py) has its own line and button, apart from the status.
"""

from __future__ import annotations

import logging

from flask import abort, flash, g, redirect, render_template, request, url_for

from app import accounts, audit, lockout
from app.extensions import db
from app.i18n import say
from app.mfa import attempts as mfa_attempts
from app.mfa import factors as mfa_factors
from app.runtime import current
from app.stores import federation
from app.stores import sql as identity
from app.stores.base import StoreError
from app.stores.sql import UserStatus
from app.web import params
from app.web.admin import bp, queries
from app.web.gate import error_page

log = logging.getLogger(__name__)


@bp.route("/users")
def users():
    args = request.args
    name, value = (args.get("name") or "").strip(), (args.get("value") or "").strip()
    store = args.get("store") or "default"
    if name in ("", "uid", "user_name") and value:
        page = queries.users_by_name_prefix(store, value, after=args.get("after") or "")
        mode = "prefix"
    elif name and value:
        page = queries.users_by_attribute(name, value, after=params.integer("after", args.get("after"), 0, 0))
        mode = "attribute"
    else:
        page = queries.users_by_id(after=params.integer("after", args.get("after"), 0, 0))
        mode = "all"
    return render_template(
        "admin/users.html",
        page=page,
        mode=mode,
        name=name,
        value=value,
        store=store,
        stores=current().settings.identity_stores,
    )


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    found = identity.get_user(user_id) or abort(404)
    links = federation.links_of(found.id)
    return render_template(
        "admin/user.html",
        user=found,
        links=links,
        sync_rows=sync_policy_rows(found.store) if links else [],
        history=audit.query(user_id=found.id, limit=queries.PAGE),
        is_self=found.id == g.admin.id,
        lockout=lockout.state_of(found.id),
        mfa=mfa_factors.summary(found.id),
        mfa_failures=mfa_attempts.failures_of(found.id),
    )


def sync_policy_rows(store: str) -> list[tuple[str, str, str, str, str]]:
    """(scheme, step, claim, attribute, sync mode) for every provisioning step writing to ``store``.

    A step provisions when its plugin carries a ``provisioning_policy`` (JIT's
    OAuthUserSelfRegistrationPlugin); the console names no plugin.
    """
    rows = []
    for scheme in sorted(current().schemes.values(), key=lambda s: s.name):
        for step in scheme.steps.values():
            policy = getattr(step.plugin, "provisioning_policy", None)
            if policy is None or getattr(policy, "store", store) != store:
                continue
            for claim in policy.key_claims:
                attribute = policy.attribute_of(claim)
                rows.append((scheme.name, step.name, claim, attribute, policy.sync_of(attribute)))
    return rows


@bp.route("/users/<int:user_id>/lock", methods=["POST"])
def lock(user_id: int):
    return _set_status(user_id, UserStatus.LOCKED)


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
def unlock(user_id: int):
    return _set_status(user_id, UserStatus.ACTIVE)


@bp.route("/users/<int:user_id>/end-lockout", methods=["POST"])
def end_lockout(user_id: int):
    """End a lockout after failed sign-ins now (the administrators' lock is the other button)."""
    found = identity.get_user(user_id) or abort(404)
    ended = accounts.end_lockout(found, by=g.admin.user_name)
    db.session.commit()
    flash(say("console.flash.lockout_ended" if ended else "console.flash.failures_reset", user=found.user_name), "ok")
    return redirect(url_for("admin.user", user_id=found.id))


@bp.route("/users/<int:user_id>/delete", methods=["POST"])
def delete(user_id: int):
    found = _other_user(user_id)
    try:
        accounts.delete_user(found, by=g.admin.user_name)
    except StoreError as exc:  # a read-only or unreachable directory: said, nothing deleted
        db.session.rollback()
        log.warning("console: user %s not deleted: %s", user_id, exc)
        flash(say("console.flash.not_deleted", store=found.store, user=found.user_name, reason=str(exc)), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    db.session.commit()
    flash(say("console.flash.deleted", store=found.store, user=found.user_name), "ok")
    return redirect(url_for("admin.users"))


def _set_status(user_id: int, status: UserStatus):
    found = _other_user(user_id)
    try:
        old = accounts.set_status(found, status, by=g.admin.user_name)
    except StoreError as exc:  # a read-only or unreachable directory: said, nothing changed
        db.session.rollback()
        log.warning("console: status of user %s not changed: %s", user_id, exc)
        flash(say("console.flash.not_changed", user=found.user_name, why=exc), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    db.session.commit()
    flash(say("console.flash.status", user=found.user_name, old=old, new=status.value), "ok")
    return redirect(url_for("admin.user", user_id=found.id))


def _other_user(user_id: int) -> identity.User:
    """The user to act on; an administrator can't lock or delete themselves out of the console."""
    found = identity.get_user(user_id) or abort(404)
    if found.id == g.admin.id:
        raise SelfAction()
    return found


class SelfAction(Exception):
    """An administrator tried to lock or delete their own account."""


@bp.errorhandler(SelfAction)
def refuse_self_action(exc: SelfAction):
    return error_page("admin.self", 409)
