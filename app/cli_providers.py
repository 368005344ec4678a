"""``flask providers ...``: WSO2's enhanced JIT from the command line.

- ``retire NAME --lock|--delete``: lock or delete every account linked to the provider, end their sessions
  (app/retirement.py);
- ``lock-link ISSUER SUBJECT`` / ``unlock-link``: lock one federated link, not the account (app/link_locks.py).
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app import link_locks, retirement
from app.extensions import db
from app.runtime import current


@click.group("providers", cls=AppGroup)
def providers_group() -> None:
    """Identity providers: retiring one, locking a federated link."""


@providers_group.command("retire")
@click.argument("name")
@click.option("--lock", "mode", flag_value="lock", help="lock every account linked to the provider")
@click.option("--delete", "mode", flag_value="delete", help="delete every account linked to the provider")
def retire(name: str, mode: str | None) -> None:
    """Lock or delete every account provisioned from provider NAME and end their sessions; each is audited."""
    if mode is None:
        raise click.UsageError("say what happens to the provider's accounts: --lock or --delete")
    done = retirement.retire(name, mode, by="cli")
    db.session.commit()
    verb = "locked" if mode == "lock" else "deleted"
    click.echo(f"provider {name}: {verb} {done.users} account(s), ended {done.jit_off_sessions} JIT-off session(s)")
    provider = (current().settings.identity_providers or {}).get(name)
    if provider is not None and provider.enabled:
        click.echo(
            f"warning: provider {name} is still enabled in the settings: its people can still sign in, and a JIT "
            "scheme provisions them again; remove it from identity_providers",
            err=True,
        )


@providers_group.command("lock-link")
@click.argument("issuer")
@click.argument("subject")
@click.option("--reason", default="", help="kept in the audit log and shown in the console")
def lock_link(issuer: str, subject: str, reason: str) -> None:
    """Refuse sign-ins through the federated identity (ISSUER, SUBJECT); the account's other ways in stay open."""
    try:
        link = link_locks.lock(issuer, subject, by="cli", reason=reason)
    except link_locks.NoSuchLink as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"locked the link {issuer} {subject} of user id {link.user_id}; their sessions ended")


@providers_group.command("unlock-link")
@click.argument("issuer")
@click.argument("subject")
def unlock_link(issuer: str, subject: str) -> None:
    """Allow sign-ins through the federated identity (ISSUER, SUBJECT) again."""
    try:
        link = link_locks.unlock(issuer, subject, by="cli")
    except link_locks.NoSuchLink as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"unlocked the link {issuer} {subject} of user id {link.user_id}")
