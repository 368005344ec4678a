"""UserIdentificationPlugin: find exactly one active user in an identity store.

After an OpenID Connect step (``federated`` in the flow) the person is found by
the (issuer, subject) link recorded at provisioning, never by ``USERNAME``: a
provider's user name must not open a local account of the same name. Matching
an unlinked account by email (``KEY_FEDERATED_MATCH: (mail={email})``) happens
only when configured, for a provider with ``trust_email: true``, and only when
the token says ``email_verified``; the match is then linked. A returning
person's changed claims are synced by the scheme's provisioning policy.

Typed with a password (a credential prompt collected one in this request), a
name that finds no active user is refused as UserAuthenticationPlugin would
refuse a wrong password (app/password_signin.py): throttled, after one hash,
with a reason the page shows as "user name or password is incorrect" (the
audit keeps the precise one). A locked or disabled account is named as such
only to someone who typed its password.

A linked account that is locked or disabled is an ERROR, not a FAILURE: in the
JIT schemes On Failure leads to provisioning, and such a person must end on a
clear page, never be asked for a new password or provisioned again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from app import audit, consent, password_signin, provisioning, stores
from app.engine import FlowContext, Plugin, StepResult
from app.extensions import db
from app.stores import federation, ldapfilter
from app.stores import sql as identity
from app.stores.base import StoreError

_FILTER = re.compile(r"\(\s*([A-Za-z][\w-]*)\s*=\s*\{([A-Za-z][\w]*)\}\s*\)")


@dataclass(frozen=True)
class Params:
    KEY_IDENTITY_STORE_REF: str = "default"
    KEY_LDAP_FILTER: str = "(uid={USERNAME})"
    """An LDAP filter (RFC 4515); each {NAME} is a flow value, escaped. On the SQL store uid is the user name."""
    KEY_FEDERATED_MATCH: str = ""


def parse_filter(text: str) -> tuple[str, str]:
    """``(mail={USERNAME})`` → ("mail", "USERNAME"): one attribute equal to one flow value."""
    match = _FILTER.fullmatch(text.strip())
    if not match:
        raise ValueError(f"KEY_LDAP_FILTER {text!r} must look like (attribute={{VALUE_NAME}}), e.g. (uid={{USERNAME}})")
    return match.group(1), match.group(2)


class UserIdentificationPlugin(Plugin):
    name = "UserIdentificationPlugin"
    description = "Finds the user in an identity store by one attribute and a value from the flow."
    Params = Params
    needs_local_account = True  # after JIT off (FederatedSessionPlugin) the flow ends: flow.needs_local_account

    def __init__(self, params: Params, settings=None):
        super().__init__(params, settings)
        self.value_names = ldapfilter.placeholders(params.KEY_LDAP_FILTER)

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if problem := ldapfilter.check_template(params.KEY_LDAP_FILTER):
            problems.append(("KEY_LDAP_FILTER", problem))
        elif (store := stores.configured(settings, params.KEY_IDENTITY_STORE_REF)) is not None:
            if problem := store.filter_problem(ldapfilter.fill(params.KEY_LDAP_FILTER, lambda _: "x")):
                problems.append(("KEY_LDAP_FILTER", problem))
        if params.KEY_FEDERATED_MATCH:
            try:
                _, claim = parse_filter(params.KEY_FEDERATED_MATCH)
            except ValueError as exc:
                problems.append(("KEY_FEDERATED_MATCH", str(exc).replace("KEY_LDAP_FILTER", "KEY_FEDERATED_MATCH")))
            else:
                if claim != "email":
                    problems.append(("KEY_FEDERATED_MATCH", "only the verified 'email' claim may match an account"))
        if problem := identity.store_problem(settings, params.KEY_IDENTITY_STORE_REF):
            problems.append(("KEY_IDENTITY_STORE_REF", problem))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        ctx.user_id = None
        if ctx.data.get("federated"):
            return self._federated(ctx, ctx.data["federated"])
        search = ldapfilter.fill(self.params.KEY_LDAP_FILTER, ctx.lookup)  # every value escaped (RFC 4515)
        if search is None:
            return StepResult.failure("user.not_found", {"why": f"no {', '.join(self.value_names)} in the flow"})
        store = stores.get(self.params.KEY_IDENTITY_STORE_REF)
        try:
            users = store.find(search, limit=2)
        except StoreError as exc:
            return StepResult.error(exc.reason, {"store": store.name, "why": str(exc)})
        if len(users) == 1 and users[0].active:
            ctx.user_id = identity.remember(users[0]).id
            return StepResult.success(detail={"user_name": users[0].user_name})
        cause = "user.ambiguous" if len(users) > 1 else "user.not_found"
        password = password_signin.collected_password(ctx)
        if password is not None:  # refused as a password check would refuse it: same cost, same page
            typed = str(ctx.lookup(self.value_names[0]) or "") if self.value_names else ""
            user = users[0] if len(users) == 1 else None
            try:
                return password_signin.attempt(ctx, user, typed, password, cause, store=store)
            except StoreError as exc:
                return StepResult.error(exc.reason, {"store": store.name, "why": str(exc)})
        if len(users) == 1:
            return StepResult.failure(f"account.{users[0].status}", {"user_name": users[0].user_name})
        return StepResult.failure(cause)

    def _federated(self, ctx: FlowContext, federated: dict) -> StepResult:
        if federation.locked_link(federated["issuer"], federated["subject"]) is not None:
            # WSO2's lock by social identity: this way in is closed, the account's others are not. An ERROR,
            # so a JIT scheme's On Failure never provisions the person again.
            return StepResult.error("federation.link_locked", {"provider": federated["provider"]})
        user = federation.find_linked_user(federated["issuer"], federated["subject"])
        if user is not None:
            try:
                user = stores.of(user).fresh(user)
            except StoreError as exc:
                return StepResult.error(exc.reason, {"why": str(exc)})
            if user is None:  # linked, but the store no longer holds the person
                return StepResult.error("user.gone_from_store", {"provider": federated["provider"]})
        matched_by = "link"
        if user is None:
            user = self._match_by_email(federated)
            if user is None:
                return StepResult.failure("user.not_linked", {"provider": federated["provider"]})
            matched_by = "email"
        if not user.active:
            return StepResult.error(f"user.{user.status}", {"user_name": user.user_name})
        if matched_by == "email":
            _link(user, federated)
        from app.runtime import current

        policy = provisioning.policy_of_scheme(current().schemes.get(ctx.scheme_name))
        policy = consent.narrowed(policy, ctx.data.get(consent.KEY))  # never sync what the person withheld
        if policy is not None:
            provisioning.sync(user, federated, policy)
        ctx.user_id = user.id
        return StepResult.success(detail={"user_name": user.user_name, "matched_by": matched_by})

    def _match_by_email(self, federated: dict) -> identity.UserView | None:
        """The one account whose proven e-mail is this sign-in's proven e-mail, or None.

        Both sides must be proven (app/stores/federation.py ``email_proven``; app/stores/sql.py
        ``Provenance``): an address that reached an account from a lax provider, or
        unverified, is never a link target, so whoever signed up first with someone
        else's address does not receive that person's sign-in (account pre-hijacking).
        """
        if not self.params.KEY_FEDERATED_MATCH or not federation.email_proven(federated, self.settings):
            return None
        attribute, _ = parse_filter(self.params.KEY_FEDERATED_MATCH)
        users = stores.get(self.params.KEY_IDENTITY_STORE_REF).find_by_proven_attribute(
            attribute, email_variants(federated["claims"]["email"])
        )
        return users[0] if len(users) == 1 else None


def email_variants(email: str) -> set[str]:
    """The stored forms an address matches: as sent, all in lower case, and with its domain in lower case.

    Domains are case-insensitive (RFC 5321 section 2.4); the local part is left
    to the provider, except that an address stored in lower case matches.
    """
    local, at, domain = email.rpartition("@")
    return {email, email.lower(), f"{local}{at}{domain.lower()}" if at else email}


def _link(user: identity.UserView, federated: dict) -> None:
    """Record the link so the next sign-in finds the account by (issuer, subject)."""
    try:
        with db.session.begin_nested():
            stores.of(user).link(user, federated["issuer"], federated["subject"], federated["provider"])
    except IntegrityError:
        return  # a concurrent sign-in linked it first
    audit.record(
        "federation.linked",
        user_id=user.id,
        detail={"provider": federated["provider"], "subject": federated["subject"], "matched_by": "email"},
    )
