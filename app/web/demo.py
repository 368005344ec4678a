"""The demo application: a few pages protected by the shipped configuration.

It shows who is signed in and their attributes, which is what a newcomer wants
to see after their first sign-in.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template

from app.runtime import current

bp = Blueprint("demo", __name__)


@bp.route("/")
def index():
    resources = current().settings.application_domains.resources
    return render_template("index.html", resources=resources, user=g.get("user"))


@bp.route("/demo/", defaults={"area": ""})
@bp.route("/demo/<path:area>")
def protected(area: str):
    return render_template("demo.html", user=g.get("user"), area=area, session=g.session, resource=g.get("resource"))
