"""Console pages for schemes: validation status, orchestration table, drawn graph, resources using each."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, url_for

from app import audit
from app.extensions import db
from app.graph import mermaid, unreachable_steps
from app.i18n import say
from app.reload import reloader_of
from app.runtime import current
from app.web.admin import bp


@bp.route("/schemes")
def schemes():
    runtime = current()
    used = runtime.settings.application_domains.schemes_used()
    return render_template(
        "admin/schemes.html",
        schemes=sorted(runtime.schemes.values(), key=lambda s: s.name),
        used=used,
        reloader=reloader_of(current_app),
    )


@bp.route("/schemes/<name>")
def scheme(name: str):
    runtime = current()
    found = runtime.schemes.get(name)
    if found is None:
        abort(404)
    versions = sorted(v for (n, v) in runtime.versions if n == name and v != found.version)
    return render_template(
        "admin/scheme.html",
        scheme=found,
        graph=mermaid(found),
        unreachable=unreachable_steps(found),
        resources=runtime.settings.application_domains.schemes_used().get(name, []),
        older_versions=versions,
    )


@bp.route("/schemes/reload", methods=["POST"])
def reload_schemes():
    result = reloader_of(current_app).reload()
    audit.record(
        "schemes.reload",
        outcome="success" if result.ok else "failure",
        user_id=g.admin.id,
        detail={"problems": [str(p) for p in result.problems], "loaded": result.loaded},
    )
    db.session.commit()
    if result.ok:
        flash(say("console.flash.reloaded", count=len(result.loaded)), "ok")
    else:
        flash(say("console.flash.reload_refused", count=len(result.problems)), "error")
    return redirect(url_for("admin.schemes"))
