"""Console actions on a user's second factors: reset TOTP and recovery codes (audited, CSRF-checked like every form).

After a reset the person enrols again at their next sign-in through a scheme
whose TOTP step allows enrolment; their open sessions are left alone (the
factor was proven when they began).
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, url_for

from app.extensions import db
from app.i18n import say
from app.mfa import attempts, factors
from app.stores import sql as identity
from app.web.admin import bp


@bp.route("/users/<int:user_id>/reset-mfa", methods=["POST"])
def reset_mfa(user_id: int):
    found = identity.get_user(user_id) or abort(404)
    removed = factors.reset(found.id, found.user_name, by=g.admin.user_name)
    attempts.forget(found.id)
    db.session.commit()
    flash(say("console.flash.mfa_reset" if removed else "console.flash.mfa_nothing", user=found.user_name), "ok")
    return redirect(url_for("admin.user", user_id=found.id))
