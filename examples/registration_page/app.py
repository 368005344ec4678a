"""An organisation's own registration page, outside stepgate (OAM 42.1 "mode 1").

What it does, in the order of OAM's sample page:

1. reads ``registrationid`` from its query string and fetches
   ``/oamfed/user/regdata`` from stepgate, server to server;
2. verifies the HMAC of ``idtoken`` with the shared ``secret_key`` in constant
   time, and refuses the registration on any mismatch;
3. shows a form prefilled from the claims (every value escaped by Jinja: the
   claims come from an IdP account anyone can open) with this organisation's
   own questions (a department and its terms), then creates the account through
   stepgate's SCIM API, carrying the registration id so stepgate links the new
   account to the IdP identity;
4. sends the browser back to ``/oam/server/auth_cred_submit?registrationid=...``.

It looks like stepgate's own pages: the same stylesheet (stepgate's
``app/static/base.css``, served here at ``/static/base.css``, same origin), one
field per row, each error beside its field, and "Start again" as a link to
stepgate's start page when a registration can't go on.

Configuration (environment, or the ``config`` mapping in tests):
``STEPGATE_URL`` (how this server reaches stepgate), ``STEPGATE_PUBLIC_URL``
(how browsers reach it; default ``STEPGATE_URL``), ``REGISTRATION_SECRET_KEY``
(the plugin's ``secret_key``), ``SCIM_TOKEN`` and ``PAGE_SECRET_KEY`` (signs
this page's CSRF cookie).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, current_app, make_response, redirect, render_template, request, send_file
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError

log = logging.getLogger("registration_page")

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
REGISTRATION = "urn:stepgate:params:scim:schemas:extension:registration:2.0:User"
USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
TIMEOUT = 5
STEPGATE_CSS = Path(__file__).resolve().parents[2] / "app" / "static" / "base.css"  # stepgate's own stylesheet


class Refused(Exception):
    """This registration cannot go on; ``status`` and a message for the person."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(config: dict[str, str] | None = None) -> Flask:
    app = Flask(__name__)
    settings = {**os.environ, **(config or {})}
    stepgate_url = settings.get("STEPGATE_URL") or "http://127.0.0.1:5000"
    app.config.update(
        STEPGATE_URL=stepgate_url.rstrip("/"),
        STEPGATE_PUBLIC_URL=(settings.get("STEPGATE_PUBLIC_URL") or stepgate_url).rstrip("/"),
        REGISTRATION_SECRET_KEY=settings.get("REGISTRATION_SECRET_KEY", ""),
        SCIM_TOKEN=settings.get("SCIM_TOKEN", ""),
        SECRET_KEY=settings.get("PAGE_SECRET_KEY") or secrets.token_urlsafe(32),
        SESSION_COOKIE_NAME="registration_csrf",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    CSRFProtect(app)
    app.add_url_rule("/register", view_func=register, methods=["GET", "POST"])
    app.add_url_rule("/static/base.css", "stylesheet", lambda: send_file(STEPGATE_CSS, mimetype="text/css"))
    app.register_error_handler(Refused, refused)
    app.register_error_handler(CSRFError, lambda exc: refused(Refused(400, "The form expired.")))
    app.after_request(_private)
    return app


def hmac_matches(secret_key: str, idtoken: str, received: str) -> bool:
    """OAM's check: base64url(HMAC-SHA256(secret_key, idtoken)), compared in constant time."""
    mac = hmac.new(secret_key.encode("utf-8"), idtoken.encode("utf-8"), hashlib.sha256).digest()
    return hmac.compare_digest(base64.urlsafe_b64encode(mac), received.encode("utf-8"))


def fetch_claims(registration_id: str) -> dict[str, Any]:
    """Step 1 and 2: the claims stepgate holds for this registration, verified, or Refused."""
    if not registration_id:
        raise Refused(400, "This page must be opened from a sign-in.")
    config = current_app.config
    try:
        answer = requests.get(
            f"{config['STEPGATE_URL']}/oamfed/user/regdata",
            params={"registrationid": registration_id},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        log.error("regdata unreachable: %s", exc)
        raise Refused(502, "The sign-in service cannot be reached. Try again later.") from None
    if answer.status_code != 200:
        log.warning("regdata answered %s", answer.status_code)
        raise Refused(404, "This registration link is unknown, already used or expired.")
    body = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else None
    if not isinstance(body, dict) or not isinstance(body.get("idtoken"), str) or not isinstance(body.get("hmac"), str):
        raise Refused(502, "The sign-in service sent data this page does not understand.")
    if not hmac_matches(config["REGISTRATION_SECRET_KEY"], body["idtoken"], body["hmac"]):
        log.warning("regdata HMAC mismatch: refusing the registration")
        raise Refused(400, "The registration data could not be verified.")
    claims = json.loads(body["idtoken"])
    if not isinstance(claims, dict):
        raise Refused(502, "The sign-in service sent data this page does not understand.")
    return claims


def register() -> Response:
    registration_id = request.values.get("registrationid", "")
    claims = fetch_claims(registration_id)
    if request.method == "GET":
        return _form(registration_id, claims, _prefill(claims))
    answers = {key: request.form.get(key, "").strip() for key in ("userName", "givenName", "familyName", "department")}
    problems = _problems(answers, request.form.get("accept_terms") == "yes")
    if problems:
        return _form(registration_id, claims, answers, problems, 400)
    created = _create_user(registration_id, claims, answers)
    if created.status_code == 409:
        return _form(registration_id, claims, answers, {"userName": "That user name is taken; choose another."}, 409)
    if created.status_code != 201:
        log.error("SCIM create refused: %s %s", created.status_code, created.text[:300])
        raise Refused(400, "The account could not be created.")
    back = f"{current_app.config['STEPGATE_PUBLIC_URL']}/oam/server/auth_cred_submit"
    return redirect(f"{back}?{urlencode({'registrationid': registration_id})}", 303)


def _verified_email(claims: dict[str, Any]) -> str | None:
    """Only an address the IdP says it verified is used; anyone can type someone else's."""
    email = claims.get("email")
    return email if isinstance(email, str) and claims.get("email_verified") is True else None


def _prefill(claims: dict[str, Any]) -> dict[str, str]:
    email = _verified_email(claims) or ""
    name = claims.get("preferred_username") or email.partition("@")[0]
    return {
        "userName": str(name or ""),
        "givenName": str(claims.get("given_name") or ""),
        "familyName": str(claims.get("family_name") or ""),
        "department": "",
    }


def _problems(answers: dict[str, str], accepted: bool) -> dict[str, str]:
    """Every field's problem at once, by field name, so each is shown beside its field."""
    problems = {}
    if not USER_NAME.fullmatch(answers["userName"]):
        problems["userName"] = "Choose a user name of 1 to 64 letters, digits or . _ @ -."
    if not answers["department"] or len(answers["department"]) > 100:
        problems["department"] = "Enter your department (up to 100 characters)."
    if not accepted:
        problems["accept_terms"] = "Accept the terms of use to create your account."
    return problems


def _create_user(registration_id: str, claims: dict[str, Any], answers: dict[str, str]) -> requests.Response:
    user: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE, REGISTRATION],
        "userName": answers["userName"],
        "name": {"givenName": answers["givenName"], "familyName": answers["familyName"]},
        "displayName": f"{answers['givenName']} {answers['familyName']}".strip() or answers["userName"],
        ENTERPRISE: {"department": answers["department"]},
        REGISTRATION: {"registrationId": registration_id},
    }
    email = _verified_email(claims)
    if email:
        user["emails"] = [{"value": email, "type": "work", "primary": True}]
    try:
        return requests.post(
            f"{current_app.config['STEPGATE_URL']}/scim/v2/Users",
            json=user,
            headers={
                "Authorization": f"Bearer {current_app.config['SCIM_TOKEN']}",
                "Content-Type": "application/scim+json",
            },
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        log.error("SCIM unreachable: %s", exc)
        raise Refused(502, "The sign-in service cannot be reached. Try again later.") from None


def _form(registration_id: str, claims: dict, answers: dict, problems: dict | None = None, status: int = 200):
    page = render_template(
        "register.html",
        registration_id=registration_id,
        claims=claims,
        email=_verified_email(claims),
        answers=answers,
        problems=problems or {},
    )
    return make_response(page, status)


def refused(exc: Refused) -> Response:
    start = current_app.config["STEPGATE_PUBLIC_URL"] + "/"
    return make_response(render_template("refused.html", message=exc.message, start_url=start), exc.status)


def _private(response: Response) -> Response:
    """The registration id is in this page's address: never cache it or send it on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
