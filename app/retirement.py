"""Retiring an identity provider (WSO2's enhanced JIT: "when an IdP is deleted, its provisioned users are deleted").

``retire(provider, mode)`` locks or deletes every account linked to the
provider, ends their sessions and the provider's JIT-off sessions, and records
one audit event per account. ``flask providers retire NAME --lock|--delete``
runs it by hand; at start-up, ``provider_retirement`` in settings runs it for
every provider that accounts are linked to but that the settings no longer
name, only when ``confirm: true`` says the administrator meant it:

```yaml
provider_retirement:
  removed_providers: lock     # lock | delete | keep (default keep: nothing happens)
  confirm: true               # required with lock or delete
```

Framework-free except ``retire_removed_at_start``; the caller of ``retire`` commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, select

from app import accounts, audit, federated_sessions, sessions
from app.extensions import db
from app.stores.base import StoreError
from app.stores.federation import FederatedLink
from app.stores.sql import User, UserStatus
from app.yamlsource import Checker, Located, load_block

log = logging.getLogger("stepgate.retirement")
KEY = "provider_retirement"
MODES = ("lock", "delete")


@dataclass(frozen=True)
class RetirementSettings:
    removed_providers: str = "keep"
    confirm: bool = False


@dataclass(frozen=True)
class Retired:
    provider: str
    mode: str
    users: int
    jit_off_sessions: int


def retire(provider: str, mode: str, by: str, *, always_audit: bool = True) -> Retired:
    """Lock or delete every account linked to ``provider``; end their sessions; audit each.

    An account already locked is left as it is (so a start-up retirement run by
    every worker, or on every start, audits each account once).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    user_ids = db.session.scalars(select(FederatedLink.user_id).where(FederatedLink.provider == provider).distinct())
    changed = 0
    for user_id in list(user_ids):
        user = db.session.get(User, user_id)
        if user is None:
            continue
        if mode == "delete":
            changed += _delete(user, provider, by)
        elif user.status != UserStatus.LOCKED.value:
            changed += _lock(user, provider, by)
    ended = federated_sessions.revoke_for_provider(provider)
    if always_audit or changed or ended:
        audit.record(
            "provider.retired",
            detail={"provider": provider, "mode": mode, "users": changed, "by": by, "jit_off_sessions_ended": ended},
        )
    return Retired(provider, mode, changed, ended)


def _lock(user: User, provider: str, by: str) -> bool:
    return _through_store(user, lambda cause: accounts.set_status(user, UserStatus.LOCKED, by, cause), provider)


def _delete(user: User, provider: str, by: str) -> bool:
    return _through_store(user, lambda cause: accounts.delete_user(user, by, cause), provider)


def _through_store(user: User, change, provider: str) -> bool:
    """Lock or delete through the account's store (a directory account changes in the directory too).

    A store that refuses (read-only, or not answering) leaves that account as it
    is, said in the log; its sessions end all the same, since their provider is gone.
    """
    try:
        with db.session.begin_nested():
            change(f"provider {provider} retired")
    except StoreError as exc:
        log.warning("retiring %s: account %s/%s left as it is: %s", provider, user.store, user.user_name, exc)
        sessions.revoke_all_for(user.id)
        return False
    return True


def removed_providers(configured: set[str]) -> list[str]:
    """Providers that accounts are linked to, or JIT-off sessions live on, but the settings no longer name."""
    linked = set(db.session.scalars(select(FederatedLink.provider).distinct()))
    live = federated_sessions.FederatedSession
    linked |= set(db.session.scalars(select(live.provider).where(live.revoked.is_(False)).distinct()))
    return sorted(linked - configured)


# -- settings and start-up ----------------------------------------------------------------------


def load(settings_file: str | Path) -> RetirementSettings:
    return load_block(settings_file, KEY, parse)


def parse(raw: object, doc: Located, check: Checker) -> RetirementSettings:
    if raw is None:
        return RetirementSettings()
    raw = check.require_mapping(raw, doc, KEY, KEY)
    if raw is None:
        return RetirementSettings()
    check.unknown_keys(raw, {"removed_providers", "confirm"}, KEY)
    mode = raw.get("removed_providers", "keep")
    if mode not in (*MODES, "keep"):
        check.add(raw.problem("removed_providers", "'removed_providers' must be lock, delete or keep"))
        mode = "keep"
    confirm = raw.get("confirm", False)
    if not isinstance(confirm, bool):
        check.add(raw.problem("confirm", "'confirm' must be true or false"))
        confirm = False
    if mode != "keep" and not confirm:
        check.add(
            raw.problem(
                "removed_providers",
                f"'removed_providers: {mode}' {'deletes' if mode == 'delete' else 'locks'} accounts at start-up: "
                "add 'confirm: true' to mean it",
            )
        )
    return RetirementSettings(mode, confirm)


def retire_removed_at_start(settings: RetirementSettings, configured: set[str]) -> list[Retired]:
    """At start-up (inside an application context): retire every removed provider, if confirmed."""
    if settings.removed_providers == "keep" or not settings.confirm:
        return []
    if not inspect(db.engine).has_table(FederatedLink.__tablename__):
        return []  # a database not migrated yet has nobody to retire
    done = []
    for provider in removed_providers(configured):
        retired = retire(provider, settings.removed_providers, by="start-up", always_audit=False)
        if not retired.users and not retired.jit_off_sessions:
            continue
        log.warning(
            "identity provider %s is no longer in the settings: %s %d account(s) linked to it, ended %d JIT-off "
            "session(s) (provider_retirement)",
            provider,
            "locked" if retired.mode == "lock" else "deleted",
            retired.users,
            retired.jit_off_sessions,
        )
        done.append(retired)
    db.session.commit()
    return done
