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

from app import audit, lockout, password_signin, sessions, stores, throttling, usernames
from app.extensions import db
from app.runtime import current
from app.stores import sql as identity
from app.stores.base import StoreError


def register(app: Flask) -> None:
    app.cli.add_command(schemes_group)
    app.cli.add_command(users_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(init_db)
    app.cli.add_command(purge)
    app.cli.add_command(demo_group)
    app.cli.add_command(secrets_group)
    from app.cli_providers import providers_group

    app.cli.add_command(providers_group)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database schema through the migrations (same as ``db upgrade``)."""
    flask_migrate.upgrade()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Delete expired flows, registration records and sessions (run it from cron or a timer)."""
    from app import flows, registrations

    counts = (flows.purge_expired(), registrations.purge_expired(), sessions.purge_expired())
    windows = throttling.purge_expired(password_signin.current_settings().throttling)
    from app.mfa import email_codes

    codes = email_codes.purge_expired()
    db.session.commit()
    click.echo("purged {} expired flows, {} expired registration records, {} expired sessions".format(*counts))
    click.echo(f"purged {windows} ended sign-in throttling windows")
    click.echo(f"purged {codes} expired e-mail codes")


@click.group("schemes", cls=AppGroup)
def schemes_group() -> None:
    """Authentication schemes."""


@schemes_group.command("check")
def schemes_check() -> None:
    """Validate the settings and every scheme (problems stop the app from loading, as file:line: message)."""
    runtime = current()
    used = runtime.settings.application_domains.schemes_used()
    from app.engine import lint

    for name, scheme in sorted(runtime.schemes.items()):
        conditions = sum(len(t.conditional) for t in scheme.orchestration.values())
        branching = f"  {conditions} conditional transition(s)" if conditions else ""
        click.echo(
            f"ok  {name:32} {len(scheme.steps)} steps  used by {len(used.get(name, []))} resource(s)  "
            f"{scheme.file}{branching}"
        )
        for problem in lint.warnings(scheme):
            click.echo(f"warning: {problem}")
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
    page = scheme.challenge_page
    if page.challenge_url or page.custom:
        click.echo(
            f"challenge URL {page.challenge_url or '(none)'}; context type {page.context_type}"
            + (f"; context value {page.context_value}" if page.custom else "")
        )
    rows = [("Name", "Plugin", "On Success", "On Failure", "On Error"), *scheme.table()]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for i, row in enumerate(rows):
        click.echo("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))


@schemes_group.command("graph")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["svg", "mermaid"]), default="svg", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="write here (default: stdout)")
def schemes_graph(name: str, fmt: str, output: str | None) -> None:
    """Draw a scheme's step graph: SVG through the bundled Mermaid in headless Chromium, or Mermaid text."""
    from app.graph import GraphError, mermaid, render_svg

    text = mermaid(_scheme(name))
    if fmt == "svg":
        try:
            text = render_svg(text)
        except GraphError as exc:
            click.echo(f"stepgate: {exc}", err=True)
            sys.exit(1)
    if output:
        with open(output, "w", encoding="utf-8") as out:
            out.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@schemes_group.command("trace")
@click.argument("name")
@click.option(
    "--claims", "claims_file", type=click.File("r"), help="ID token claims (JSON or YAML) standing in for the IdP"
)
@click.option("--value", "values", multiple=True, metavar="NAME=VALUE", help="what a prompt would be given; repeatable")
@click.option("--store-state", "state_file", type=click.File("r"), help="users (JSON or YAML) for a throwaway store")
def schemes_trace(name: str, claims_file, values: tuple[str, ...], state_file) -> None:
    """Run a scheme without side effects: each step, its outcome, its reason and the transition taken."""
    from app.engine.context import Scenario

    scheme = _scheme(name)
    claims = _mapping_file(claims_file, "--claims") if claims_file else {}
    scenario = Scenario(claims=claims, values=dict(_pair(v) for v in values))
    if state_file is None:
        _print_trace(scheme, scenario, "the configured store; nothing is written")
        return
    state = _mapping_file(state_file, "--store-state")
    with _throwaway_app().app_context():
        from app import trace

        db.create_all()
        try:
            count = trace.load_store_state(state)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--store-state") from exc
        _print_trace(scheme, scenario, f"a throwaway store with {count} user(s) from {state_file.name}")


def _print_trace(scheme, scenario, store: str) -> None:
    from app.trace import run_trace

    result = run_trace(scheme, scenario)
    click.echo(f"trace of {scheme.name} (version {scheme.version}) against {store}")
    width = max((len(s.step) for s in result.steps), default=4)
    plugin_width = max((len(s.plugin) for s in result.steps), default=6)
    for i, step in enumerate(result.steps, 1):
        how = " (simulated)" if step.simulated else ""
        why = f" [{step.condition}]" if step.condition else ""
        click.echo(
            f"{i:2}. {step.step.ljust(width)}  {step.plugin.ljust(plugin_width)}  {step.outcome:9} "
            f"{(step.reason or '-'):28} -> {step.transition}{why}{how}"
        )
    click.echo(f"result: {result.result}" + (f" ({result.reason})" if result.reason else ""))
    if result.amr:
        click.echo(f"amr: {' '.join(result.amr)}")
    if result.reason == "trace.needs_simulation":
        last = result.steps[-1]
        click.echo(f"  {last.step} would wait for the browser, and {last.plugin} has no simulation for a dry run")
    if result.federated_session is not None:  # JIT off: nothing would be written
        principal = result.federated_session
        click.echo(f"no local account (JIT off): {principal['provider']} subject {principal['subject']}")
        for key, value in sorted(principal["claims"].items()):
            click.echo(f"  {key}: {value}")
    user = result.user
    if user is not None:
        click.echo(
            f"user: {user.store}/{user.user_name} ({'would be created' if user.created else 'existing'}; "
            f"status {user.status}; password {'set' if user.has_password else 'none'})"
        )
        for key, value in user.attributes.items():
            click.echo(f"  {key}: {value}")
        for issuer, subject in user.links:
            click.echo(f"  linked: {issuer} {subject}")


def _scheme(name: str):
    scheme = current().schemes.get(name)
    if scheme is None:
        click.echo(f"no scheme named '{name}' (schemes: {', '.join(sorted(current().schemes))})", err=True)
        sys.exit(2)
    return scheme


def _mapping_file(stream, hint: str) -> dict:
    import yaml

    try:
        doc = yaml.safe_load(stream.read())
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"{stream.name} is not JSON or YAML: {exc}", param_hint=hint) from exc
    if not isinstance(doc, dict):
        raise click.BadParameter(f"{stream.name} must hold a mapping", param_hint=hint)
    return doc


def _throwaway_app():
    """The same settings and schemes over an empty in-memory database."""
    import dataclasses

    from app import create_app
    from app.runtime import Runtime

    runtime = current()
    settings = dataclasses.replace(runtime.settings, database_url="sqlite://")
    return create_app(runtime=Runtime(settings, runtime.registry, runtime.schemes))


@click.group("users", cls=AppGroup)
def users_group() -> None:
    """Users of the identity stores."""


@users_group.command("add")
@click.argument("user_name")
@click.option("--store", default="default", show_default=True)
@click.option("--password", help="omit for an account that cannot sign in with a password")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="an attribute; repeatable")
def users_add(user_name: str, store: str, password: str | None, attrs: tuple[str, ...]) -> None:
    """Create a user; its attributes are recorded as set (and proven) by an administrator."""
    if store not in current().settings.identity_stores:
        raise click.BadParameter(f"unknown identity store '{store}'", param_hint="--store")
    try:
        usernames.require(user_name)
    except usernames.UserNameRefused as exc:
        raise click.BadParameter(str(exc), param_hint="USER_NAME") from None
    attributes = dict(_pair(a) for a in attrs)
    try:
        stores.get(store).create(user_name, attributes, password=password, provenance=identity.ADMIN)
        db.session.commit()
    except StoreError as exc:  # a directory that holds the name, is read-only or does not answer
        db.session.rollback()
        click.echo(f"user '{user_name}' not created in store '{store}': {exc}", err=True)
        sys.exit(1)
    except IntegrityError:
        db.session.rollback()
        taken = identity.find_by_user_name(store, user_name)
        shown = f" as '{taken.user_name}'" if taken is not None and taken.user_name != user_name else ""
        click.echo(f"user '{user_name}' already exists in store '{store}'{shown}", err=True)
        sys.exit(1)
    audit.record(
        "user.created",
        detail={"user_name": user_name, "store": store, "by": "cli", "source": "admin", "verified": True},
    )
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
    state = lockout.state_of(user.id)
    if state.locked_out:
        click.echo(f"  locked out after failed sign-ins until {state.locked_until:%Y-%m-%d %H:%M:%S} UTC")
    elif state.failures:
        click.echo(f"  {state.failures} failed sign-in(s) in the current window")
    for row in user.sorted_attribute_rows:
        proof = "verified" if row.verified else "unverified"
        click.echo(f"  {row.name}: {row.value}  [{row.source}, {proof}, {row.set_at:%Y-%m-%d %H:%M}]")


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
    """Unlock a user: end a lockout after failed sign-ins, and an administrator's lock."""
    user = _user(store, user_name)
    ended = lockout.unlock(user.id, user.user_name, by="cli")
    if ended:
        click.echo(f"{store}/{user_name}: lockout after failed sign-ins ended")
    if user.status != identity.UserStatus.ACTIVE.value:
        _set_status(store, user_name, identity.UserStatus.ACTIVE)
        return
    db.session.commit()
    if not ended:
        click.echo(f"{store}/{user_name}: not locked")


def _set_status(store: str, user_name: str, status: identity.UserStatus) -> None:
    user = _user(store, user_name)
    old = user.status
    stores.get(store).set_status(user.view(), status)  # where the store keeps it (a directory's convention)
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
@click.option("--admin-password", help="the demo administrator's password (default: another random one)")
def demo_seed(password: str | None, admin_password: str | None) -> None:
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
    _seed_admin(admin_password or pysecrets.token_urlsafe(12))


def _seed_admin(password: str) -> None:
    """The demo administrator 'admin' (in ``admin_group``), with a password of its own."""
    group = current().settings.admin_group
    admin = identity.find_by_user_name("default", "admin")
    if admin is None:
        admin = identity.create_user("default", "admin", {"mail": "admin@example.org", "first-name": "Admin"})
    admin.set_attribute("groups", group)
    admin.set_password(password)
    admin.status = identity.UserStatus.ACTIVE.value
    db.session.commit()
    click.echo(f"  Admin user: admin (group '{group}')")
    click.echo(f"  Password:   {password}")
    click.echo("  Console at: http://127.0.0.1:5000/admin/")
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
