"""stepgate: an access server. ``create_app`` is the application factory (``flask --app app``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from flask import Flask, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from app import database, home, logging_setup, outage, password_signin, retirement, session_cache, stores
from app.extensions import csrf, db, migrate
from app.forward_auth import ForwardAuthMiddleware
from app.i18n import say
from app.i18n import web as i18n_web
from app.mfa import smtp
from app.runtime import Runtime, dev_only_secrets, dev_only_step_secrets, load_runtime
from app.web import headers, params, request_limits
from app.web.cookie_session import CookieSessionInterface
from app.yamlsource import ConfigError

log = logging.getLogger("stepgate")
MIGRATIONS_DIR = home.shipped_root() / "migrations"


def create_app(
    settings_path: str | Path | None = None, *, testing: bool = False, runtime: Runtime | None = None
) -> Flask:
    """Build the server from validated settings and schemes; refuse to start on any problem."""
    try:
        runtime = runtime or load_runtime(settings_path)
        signin_settings = password_signin.load(runtime.settings.file)
        retirement_settings = retirement.load(runtime.settings.file)
        smtp_settings = smtp.load(runtime.settings.file)
    except ConfigError as exc:
        if click.get_current_context(silent=True) is not None:
            click.echo(str(exc), err=True)
            click.echo(f"stepgate: {len(exc.problems)} configuration problem(s); not starting", err=True)
            sys.exit(1)
        raise
    settings = runtime.settings
    logging_setup.configure(settings.deployment.log_format)
    dev_only = dev_only_secrets(settings) + [
        f"{scheme.name} step {step.name} {name}" for scheme, step, name in dev_only_step_secrets(runtime.schemes)
    ]
    if dev_only:
        log.warning(
            "using the shipped development secrets for %s; STEPGATE_ENV=production refuses them", ", ".join(dev_only)
        )
    app = Flask(__name__, instance_path=str(settings.base_dir / "instance"))
    app.url_map.converters["int"] = params.BoundedInt  # before any route: ids beyond an SQL INTEGER are 404s
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings.database_url, settings.database),
        TESTING=testing,
        STEPGATE_PROPAGATE_EXCEPTIONS=testing,
        SESSION_COOKIE_NAME="stepgate_csrf",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.external.secure,
        WTF_CSRF_TIME_LIMIT=settings.flow_lifetime_seconds,
    )
    app.extensions["stepgate"] = runtime
    request_limits.configure(app, settings.request_limits)
    password_signin.init_app(app, signin_settings)
    smtp.init_app(app, smtp_settings)  # the e-mail one-time codes' mail server (app/mfa/smtp.py)
    stores.init_app(app, settings.identity_stores)  # app/stores/: SQL, LDAP or a third-party kind
    app.session_interface = CookieSessionInterface()
    from app.web import edge, health

    health.init_app(app)  # /healthz, /readyz: inside the path prefix, before the Host check and the session
    edge.init_app(app, settings.external)  # trusted proxies, the path prefix, the Host check
    app.wsgi_app = ForwardAuthMiddleware(app.wsgi_app, app)
    db.init_app(app)
    with app.app_context():
        database.tune(db.engine, settings.database)
        outage.init_app(app, db.engine)  # 503 with Retry-After while the database or Redis cannot serve
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    session_cache.init_app(app)
    csrf.init_app(app)
    _register(app)
    with app.app_context():  # providers gone from the settings, when provider_retirement says so and confirms
        retirement.retire_removed_at_start(retirement_settings, set(settings.identity_providers or {}))
    return app


def _register(app: Flask) -> None:
    """Blueprints, commands and hooks of every area, in one place."""
    from app import cli, reload
    from app.scim import views as scim_views
    from app.web import admin, demo, errors, gate, metrics, oidc, regdata

    for blueprint in (gate.bp, oidc.bp, regdata.bp, scim_views.bp, metrics.bp, admin.bp, demo.bp):
        app.register_blueprint(blueprint)
    cli.register(app)
    reload.init_app(app)
    headers.init_app(app)
    i18n_web.init_app(app)  # the catalogue in templates, the request's locale, Vary: Accept-Language
    errors.init_app(app)  # after the blueprints: an area's own handler for every HTTPException answers first

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError):
        log.warning("refused a form without a valid CSRF token: %s", exc.description)
        return gate.error_page("form.csrf", 400)

    @app.errorhandler(params.BadParameter)
    def bad_parameter(exc: params.BadParameter):
        log.info("refused %s %s: %s", request.method, request.path, exc)
        return gate.error_page("request.bad_parameter", 400, say(exc.key, name=exc.name))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        log.warning("refused a request body over %s bytes at %s", app.config["MAX_CONTENT_LENGTH"], request.path)
        return gate.error_page("request.too_large", 413)
