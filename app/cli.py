"""Command-line administration: ``flask --app app schemes|users|audit|demo ...``."""

from __future__ import annotations

import secrets as pysecrets
import sys

import click
import flask_migrate
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from app import audit, identity, sessions
from app.extensions import db
from app.runtime import current


def register(app: Flask) -> None:
    app.cli.add_command(schemes_group)
    app.cli.add_command(users_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(init_db)
    app.cli.add_command(demo_group)
    app.cli.add_command(secrets_group)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema through the migrations (same as ``db upgrade``)."""
    flask_migrate.upgrade()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.group("schemes", cls=AppGroup)
def schemes_group() -> None:
    """Authentication schemes."""


@schemes_group.command("check")
def schemes_check() -> None:
    """Validate the settings and every scheme (problems stop the app from loading, as file:line: message)."""
    runtime = current()
    used = runtime.settings.application_domains.schemes_used()
    for name, scheme in sorted(runtime.schemes.items()):
        click.echo(
            f"ok  {name:32} {len(scheme.steps)} steps  used by {len(used.get(name, []))} resource(s)  {scheme.file}"
        )
    click.echo(f"settings ok: {runtime.settings.file}")


@schemes_group.command("show")
@click.argument("name")
def schemes_show(name: str) -> None:
    """Print a scheme's orchestration as OAM's step orchestration table."""
    scheme = current().schemes.get(name)
    if scheme is None:
        click.echo(f"no scheme named '{name}' (schemes: {', '.join(sorted(current().schemes))})", err=True)
        sys.exit(2)
    click.echo(f"{scheme.name}: {scheme.description}")
    click.echo(
        f"level {scheme.level}; module {scheme.module_name}; initial step {scheme.initial_step}; "
        f"challenge parameters: initial_command={scheme.challenge_parameters.initial_command}, "
        f"OverrideRetryLimit={scheme.challenge_parameters.OverrideRetryLimit}"
    )
    rows = [("Name", "Plugin", "On Success", "On Failure", "On Error"), *scheme.table()]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for i, row in enumerate(rows):
        click.echo("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Users of the identity stores."""


@users_group.command("add")
@click.argument("user_name")
@click.option("--store", default="default", show_default=True)
@click.option("--password", help="omit for an account that cannot sign in with a password")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="an attribute; repeatable")
def users_add(user_name: str, store: str, password: str | None, attrs: tuple[str, ...]) -> None:
    """Create a user."""
    if store not in current().settings.identity_stores:
        raise click.BadParameter(f"unknown identity store '{store}'", param_hint="--store")
    attributes = dict(_pair(a) for a in attrs)
    identity.create_user(store, user_name, attributes, password)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        click.echo(f"user '{user_name}' already exists in store '{store}'", err=True)
        sys.exit(1)
    audit.record("user.created", detail={"user_name": user_name, "store": store, "by": "cli"})
    db.session.commit()
    click.echo(f"created {store}/{user_name}")


@users_group.command("list")
@click.option("--store")
@click.option("--limit", default=50, show_default=True)
def users_list(store: str | None, limit: int) -> None:
    """List users."""
    for user in identity.list_users(store, limit):
        click.echo(f"{user.id:6}  {user.store}/{user.user_name}  {user.status}")


@users_group.command("show")
@click.argument("user_name")
@click.option("--store", default="default", show_default=True)
def users_show(user_name: str, store: str) -> None:
    """Show a user and their attributes."""
    user = _user(store, user_name)
    click.echo(
        f"{user.store}/{user.user_name}  status={user.status}  password={'set' if user.password_hash else 'none'}"
    )
    for name, value in user.attributes.items():
        click.echo(f"  {name}: {value}")


@users_group.command("lock")
@click.argument("user_name")
@click.option("--store", default="default", show_default=True)
def users_lock(user_name: str, store: str) -> None:
    """Lock a user and end their sessions."""
    _set_status(store, user_name, identity.UserStatus.LOCKED)


@users_group.command("unlock")
@click.argument("user_name")
@click.option("--store", default="default", show_default=True)
def users_unlock(user_name: str, store: str) -> None:
    """Unlock a user."""
    _set_status(store, user_name, identity.UserStatus.ACTIVE)


def _set_status(store: str, user_name: str, status: identity.UserStatus) -> None:
    user = _user(store, user_name)
    old, user.status = user.status, status.value
    if status is not identity.UserStatus.ACTIVE:
        sessions.revoke_all_for(user.id)
    audit.record("user.status", user_id=user.id, detail={"old": old, "new": status.value, "by": "cli"})
    db.session.commit()
    click.echo(f"{store}/{user_name}: {old} -> {status.value}")


def _user(store: str, user_name: str) -> identity.User:
    user = identity.find_by_user_name(store, user_name)
    if user is None:
        click.echo(f"no user '{user_name}' in store '{store}'", err=True)
        sys.exit(1)
    return user


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"'{text}' is not NAME=VALUE", param_hint="--attr")
    return name, value


@click.group("audit", cls=AppGroup)
def audit_group() -> None:
    """The audit log."""


@audit_group.command("list")
@click.option("--user", "user_name")
@click.option("--event")
@click.option("--reason")
@click.option("--limit", default=50, show_default=True)
def audit_list(user_name: str | None, event: str | None, reason: str | None, limit: int) -> None:
    """Show recent audit events, newest first."""
    user_id = _user("default", user_name).id if user_name else None
    for ev in audit.query(user_id=user_id, event=event, reason=reason, limit=limit):
        click.echo(
            f"{ev.time:%Y-%m-%d %H:%M:%S}  {ev.event:16} flow={ev.flow or '-'} scheme={ev.scheme or '-'} "
            f"step={ev.step or '-'} outcome={ev.outcome or '-'} reason={ev.reason or '-'} user={ev.user_id or '-'}"
            + (f" {ev.detail}" if ev.detail else "")
        )


@click.group("demo", cls=AppGroup)
def demo_group() -> None:
    """The demo data a newcomer signs in with."""


@demo_group.command("seed")
@click.option("--password", help="the demo user's password (default: a new random one)")
def demo_seed(password: str | None) -> None:
    """Create the demo user 'demo' (and the schema, on an empty database); print how to sign in."""
    if not sa_inspect(db.engine).has_table("users"):
        flask_migrate.upgrade()
    password = password or pysecrets.token_urlsafe(9)
    user = identity.find_by_user_name("default", "demo")
    if user is None:
        user = identity.create_user(
            "default", "demo", {"mail": "demo@example.org", "first-name": "Demo", "last-name": "User"}
        )
    user.set_password(password)
    user.status = identity.UserStatus.ACTIVE.value
    db.session.commit()
    click.echo("")
    click.echo("  Demo user:  demo")
    click.echo(f"  Password:   {password}")
    click.echo("  Sign in at: http://127.0.0.1:5000/demo/")
    click.echo("")


@click.group("secrets", cls=AppGroup)
def secrets_group() -> None:
    """{AES} values for secrets in configuration files (master key in STEPGATE_MASTER_KEY)."""


@secrets_group.command("master-key")
def secrets_master_key() -> None:
    """Print a new random master key for STEPGATE_MASTER_KEY."""
    from app.secretbox import new_master_key

    click.echo(new_master_key())


@secrets_group.command("encrypt")
@click.option(
    "--value", prompt=True, hide_input=True, confirmation_prompt=True, help="the secret (prompted if omitted)"
)
def secrets_encrypt(value: str) -> None:
    """Encrypt a secret with STEPGATE_MASTER_KEY; print the {AES} value to put in a scheme or settings."""
    from app.secretbox import SecretError, encrypt, master_key

    try:
        click.echo(encrypt(value, master_key()))
    except SecretError as exc:
        click.echo(f"stepgate: {exc}", err=True)
        sys.exit(1)
