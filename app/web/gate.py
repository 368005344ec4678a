"""The gate: protects configured resources and runs sign-in flows.

Every request is matched against the application domains. A protected resource
without a good enough session starts a flow of the policy's scheme; the flow
then advances at ``/oam/server/auth_cred_submit`` (OAM's endpoint for
credential forms and for coming back from an external page) until it succeeds,
which creates a server-side session and returns to the resource first asked for.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, current_app, g, make_response, redirect, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from app import audit, federated_sessions, flows, metrics, outage, routing, session_cache, sessions
from app.engine import external_post
from app.engine.context import Submission
from app.engine.outcome import StepResult
from app.engine.runner import FEDERATED_SESSION, Failed, FlowState, Respond, Succeeded, advance
from app.engine.scheme import Scheme
from app.extensions import csrf, db
from app.i18n import say
from app.oidc import logout as rp_logout
from app.password_signin import RETRY_AFTER
from app.runtime import current
from app.scim import membership
from app.stores import federation
from app.stores import sql as identity
from app.urlpath import path_of_request_target
from app.web import headers
from app.web.messages import page_message_for, public_reason, retry_after_for, status_for

log = logging.getLogger("stepgate.gate")
bp = Blueprint("gate", __name__)

FLOW_COOKIE = "stepgate_flow"
SESSION_COOKIE = "stepgate_session"
_UNSAFE_TARGET = re.compile(r"[\x00-\x1f\\]")  # control characters, and backslashes (browsers read them as /)

MAX_TARGET = flows.Flow.target_url.type.length
_exempt_blueprints: set[str] = {"gate"}


def exempt(blueprint: Blueprint) -> Blueprint:
    """Mark a blueprint as the server's own endpoints, never matched against resources."""
    _exempt_blueprints.add(blueprint.name)
    return blueprint


@bp.before_app_request
def protect() -> Response | None:
    g.stepgate_generation = session_cache.generation()  # before this request reads anything: see _signed_in
    checked = session_cache.check(request.cookies.get(SESSION_COOKIE))
    g.session = checked.session if checked is not None else None
    g.user = checked.user if checked is not None else None  # an identity.UserView, for pages to show
    if request.blueprint in _exempt_blueprints or request.endpoint == "static":
        return None
    if request.path in current().challenge_urls:
        return challenge_url()
    judgement = current().settings.application_domains.judge(request.host, _raw_path(), request.method)
    reason = judgement.reason
    if reason is None and judgement.path.path != request.path:
        reason = "path.not_normal"  # Flask routes the path as sent: it must be the one judged
    if reason:
        log.warning("refused %s %r: %s", request.method, request.environ.get("RAW_URI") or request.path, reason)
        return error_page(reason, 400)
    resource = judgement.resource
    g.resource = resource
    if resource is None or resource.policy.public:
        return None
    scheme = current().schemes[resource.policy.scheme]
    if g.session is not None and resource.policy.satisfied_by(g.session, scheme.level):
        if not membership.allowed(resource.policy.groups, g.session.user_id):
            return error_page("authz.not_in_group", 403)
        return None
    if request.method not in ("GET", "HEAD"):
        return error_page("authn.required", 401, say("error.detail.sign_in_then_submit"))
    return begin(scheme, _relative_target(), resource.policy)


@bp.route("/login")
def login() -> Response:
    """Sign in for a given resource: ``/login?next=/demo/``. Only configured resources are accepted."""
    target = request.args.get("next", "/")
    resource = resource_for_target(target)
    if resource is None:
        log.warning("refused sign-in return address %r", target)
        return error_page("redirect.not_allowed", 400)
    if resource.policy.public:
        return redirect(target)
    return begin(current().schemes[resource.policy.scheme], target, resource.policy)


@bp.route("/oam/server/auth_cred_submit", methods=["GET", "POST"])
@csrf.exempt
def auth_cred_submit() -> Response:
    """Every post needs the CSRF token of stepgate's form, or the one-time ``loginid`` an external page was sent."""
    flow = flows.load_flow(request.cookies.get(FLOW_COOKIE))
    external = False
    if request.method == "POST":
        sent = request.form.get(external_post.PARAM)
        external = flow is not None and external_post.take(flow.state.data, sent)
        if not external:
            if sent is not None:
                log.warning("a post to %s with a %s this flow did not issue", request.path, external_post.PARAM)
            csrf.protect()
    return resume(Submission(request.method, _plain(request.args), _plain(request.form), external), flow)


def challenge_url() -> Response:
    """A scheme's ``challenge_url`` (OAM's Challenge URL): the current prompt of this browser's flow.

    Only shown, never submitted to: the prompt's form posts to auth_cred_submit, as OAM's pages do.
    """
    if request.method not in ("GET", "HEAD"):
        return error_page("request.method_not_allowed", 405)
    return resume(Submission("GET", _plain(request.args), {}))


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    """GET asks; the POST (CSRF-checked like every form) signs out, so a link or image elsewhere can't.

    A session from a provider with RP-initiated logout goes on to that
    provider's ``end_session_endpoint``; the session here is revoked first.
    """
    target = request.values.get("next")
    target = target if target and resource_for_target(target) is not None else None
    if request.method != "POST":
        for origin in _provider_logout_origins():
            headers.allow_form_target(origin)
        return make_response(render_template("logout.html", user=g.get("user"), next=target))
    token = request.cookies.get(SESSION_COOKIE)
    hint = sessions.logout_hint(token) if g.session is not None else None
    if g.session is not None:
        audit.record(
            "signout",
            user_id=g.session.user_id,
            scheme=g.session.scheme,
            detail={"provider": hint.provider} if hint else None,
        )
    sessions.revoke(token)
    db.session.commit()
    at_provider = rp_logout.end_session_url(current().settings.identity_providers or {}, hint)
    if at_provider is not None:
        response = redirect(at_provider, 303)
    elif target is not None:
        response = redirect(target, 303)
    else:
        response = make_response(render_template("signed_out.html"))
    response.delete_cookie(SESSION_COOKIE, path="/", domain=current().settings.deployment.session_cookie_domain)
    return response


def _provider_logout_origins() -> list[str]:
    """The end_session_endpoint this browser's session will go on to, for the confirmation form's CSP."""
    hint = sessions.logout_hint(request.cookies.get(SESSION_COOKIE)) if g.session is not None else None
    provider = (current().settings.identity_providers or {}).get(hint.provider) if hint else None
    endpoint = rp_logout.end_session_endpoint(provider) if provider and provider.rp_initiated_logout else None
    return [endpoint] if endpoint else []


def begin(scheme: Scheme, target: str, policy=None) -> Response:
    """Start a flow of ``scheme`` that returns to ``target`` and run it as far as it goes.

    The flow starts knowing what the policy requires (``required_amr``), the session
    it may step up (``session``) and the provider hint of the request (app/routing.py).
    """
    settings = current().settings
    if len(target) > MAX_TARGET:  # the flow row could not hold the way back; no browser needs such an address
        log.warning("refused to start a flow for an address of %d characters", len(target))
        return error_page("request.target_too_long", 414)
    flow = flows.start_flow(scheme.name, scheme.version, target, settings.flow_lifetime_seconds)
    routing.start_data(flow.state.data, policy, g.get("session"), request.args, target)
    audit.record("flow.start", flow_id=flow.state.id, scheme=scheme.name, detail={"target": target})
    return run(flow, None)


def resume(submission: Submission | None, flow: flows.FlowRecord | None = None) -> Response:
    """Advance the flow in this browser's cookie (or ``flow``, already loaded) with what the browser sent."""
    flow = flow or flows.load_flow(request.cookies.get(FLOW_COOKIE))
    if flow is None:
        log.warning("no active flow for this browser at %s", request.path)
        return error_page("flow.expired", 400)
    return run(flow, submission)


def run(flow: flows.FlowRecord, submission: Submission | None) -> Response:
    state = flow.state
    scheme = current().scheme_for_flow(state.scheme_name, state.scheme_version)
    if scheme is None:
        flows.save(flow, status="failed")
        db.session.commit()
        return error_page("flow.scheme_changed", 409)
    metrics.step_clock_start()
    result = advance(
        state,
        scheme,
        submission,
        record=_record_step,
        propagate_exceptions=current_app.config.get("STEPGATE_PROPAGATE_EXCEPTIONS", False),
        faults=lambda exc: _outage_under_step(state, exc),
        attributes_of=identity.attributes_of,
    )
    if isinstance(result, Respond):
        flows.save(flow)
        db.session.commit()
        response = make_response(result.response)
        _set_cookie(response, FLOW_COOKIE, state.id, current().settings.flow_lifetime_seconds)
        return response
    if isinstance(result, Succeeded):
        if routing.began_from_a_live_session(state.data, g.get("session")):
            return _signed_in(flow, scheme, result)
        log.warning("flow %s of %s refused at its end: the session it began from has ended", state.id, scheme.name)
        result = Failed("session.ended", None)
    rp_logout.take_hint(state.data)  # a failed flow's row keeps no ID token either
    return _failed(flow, scheme, result)


def _signed_in(flow: flows.FlowRecord, scheme: Scheme, result: Succeeded) -> Response:
    state = flow.state
    hint = rp_logout.take_hint(state.data)  # the ID token goes to the session row, not the finished flow's
    flows.save(flow, status="done")
    sessions.revoke(request.cookies.get(SESSION_COOKIE))  # a new id after sign-in: no session fixation
    if result.user_id is None:  # JIT off (Asgardeo): a session on the federated identity, no local account
        principal = state.data[FEDERATED_SESSION]
        token, session, user = federated_sessions.open_session(
            principal, result.level, scheme.name, current().settings.session_lifetime_seconds, logout=hint
        )
        audit.record(
            "signin.success",
            flow_id=state.id,
            scheme=scheme.name,
            outcome="success",
            detail={"provider": principal["provider"], "subject": principal["subject"], "local_account": False},
        )
    else:
        user = identity.recall(result.user_id)  # as the steps read or provisioned it, if nothing changed it since
        token, session = sessions.open_session(
            result.user_id,
            user.user_name if user else "",
            routing.level_after(state.data, result.user_id, result.level),
            scheme.name,
            current().settings.session_lifetime_seconds,
            logout=hint,
            amr=result.amr,
        )
        federation.signed_in_through(state.data.get("federated"), result.user_id)
        audit.record("signin.success", flow_id=state.id, scheme=scheme.name, user_id=result.user_id, outcome="success")
    db.session.commit()
    began = g.get("stepgate_generation")
    if user is not None and user.active and began is not None:
        session_cache.prime(token, session, user, began)  # the page it returns to reads no row
    target = state.target_url if resource_for_target(state.target_url) is not None else "/"
    response = redirect(target)
    _set_cookie(response, SESSION_COOKIE, token, current().settings.session_lifetime_seconds)
    response.delete_cookie(FLOW_COOKIE, path="/")
    return response


def _failed(flow: flows.FlowRecord, scheme: Scheme, result: Failed) -> Response:
    state = flow.state
    try:
        flows.save(flow, status="failed")
        _record_failure(state, scheme, result)
        db.session.commit()
    except SQLAlchemyError:
        # The steps' transaction broke (the database failed under a step): record the failure in a fresh one.
        # If the database cannot take that either, the error reaches app/outage.py and the browser gets a 503.
        db.session.rollback()
        flows.save_after_rollback(flow, status="failed")
        _record_failure(state, scheme, result)
        db.session.commit()
    response = error_page(
        result.reason,
        status_for(result.reason),
        retry_url=state.target_url if resource_for_target(state.target_url) else None,
    )
    if response.status_code in (429, 503) and state.data.get(RETRY_AFTER):
        response.headers["Retry-After"] = str(state.data[RETRY_AFTER])  # password_signin: throttled, or an outage
    response.delete_cookie(FLOW_COOKIE, path="/")
    return response


def _outage_under_step(state: FlowState, exc: Exception) -> StepResult | None:
    """A step stopped by a dependency that cannot serve: ERROR ``database.unavailable`` (or redis), answered
    503 with ``Retry-After`` by ``_failed``, told once per outage by app/outage.py, with no traceback."""
    fault = outage.fault_of(exc)
    if fault is None:
        return None  # a bug: the runner logs it with its traceback
    reason, seconds = outage.refuse(*fault)
    state.data[RETRY_AFTER] = seconds
    return StepResult.error(reason, {"cause": fault[1]})


def _record_failure(state: FlowState, scheme: Scheme, result: Failed) -> None:
    audit.record(
        "signin.failure",
        flow_id=state.id,
        scheme=scheme.name,
        step=result.step,
        outcome="failure",
        reason=result.reason,
        user_id=state.data.get("user_id"),
    )


def _record_step(state: FlowState, step: str, plugin: str, result: StepResult) -> None:
    metrics.step_finished(plugin)
    audit.record(
        "step",
        flow_id=state.id,
        scheme=state.scheme_name,
        step=step,
        plugin=plugin,
        outcome=result.outcome.value,
        reason=result.reason,
        user_id=state.data.get("user_id"),
        detail=result.detail,
    )


def resource_for_target(target: str | None):
    """The configured resource a return address points at, or None (never an open redirect).

    Same-site absolute paths are accepted: no scheme, no host, no ``//`` or
    ``/\\`` (browsers read both as another host), no control characters. An
    absolute http(s) URL is accepted only when a resource names its host
    (applications protected through their reverse proxy, ``app/forward_auth.py``).
    The path is judged as requests are (``app/urlpath.py``): a refused path is no resource.
    """
    if target and target.startswith(("http://", "https://")):
        return _resource_on_named_host(target)
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if _UNSAFE_TARGET.search(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    path = path_of_request_target(target.partition("#")[0])  # the browser keeps the fragment to itself
    return current().settings.application_domains.judge(request.host, path, "GET").resource


def _resource_on_named_host(url: str):
    """The resource for an absolute URL, only if that resource names exactly this host."""
    if _UNSAFE_TARGET.search(url):
        return None
    parts = urlsplit(url)
    host = parts.netloc.lower()
    if not host or "@" in host or parts.scheme not in ("http", "https"):
        return None
    path = path_of_request_target(url.partition("#")[0]) or "/"
    resource = current().settings.application_domains.judge(host, path, "GET").resource
    return resource if resource is not None and resource.host == host else None


def error_page(reason: str | None, status: int, detail: str | None = None, retry_url: str | None = None) -> Response:
    response = make_response(
        render_template(
            "error.html",
            reason=public_reason(reason),
            message=page_message_for(reason),
            detail=detail,
            retry_url=retry_url,
        ),
        status,
    )
    if status == 503 and retry_after_for(reason) is not None:
        response.headers["Retry-After"] = str(retry_after_for(reason))
    return response


def _raw_path() -> str:
    """The path as the browser sent it, still percent-encoded (without the script root the server strips)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:  # a server that keeps no raw URI: only the decoded path is left
        return quote(request.path, safe="/;:@!$&'()*+,=~")
    path = path_of_request_target(raw)
    root = request.script_root
    return path[len(root) :] if root and path.startswith(root) else path


def _relative_target() -> str:
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def _plain(multi: MultiDict) -> dict[str, str]:
    return {key: multi.get(key) for key in multi}


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    domain = current().settings.deployment.session_cookie_domain if name == SESSION_COOKIE else None
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        domain=domain,
        httponly=True,
        samesite="Lax",
        secure=current().settings.external.secure,
    )
