"""OAuthUserSelfRegistrationPlugin: create the federated person's account (OAM's JIT).

With ``autoprovisioning: true`` the account is created from the ID token's
claims (OAM modes 2 and 3). When a CredentialCollectorPlugin step collected a
password and its confirmation before this step (mode 2), the password must
match ``autoprovision_password_policy_regex``; a mismatch is a FAILURE, so the
prompt is shown again with the reason. The policy is stated on the prompt
before the person types (``value_rules``) and a refusal names the rule that
failed (app/password_policy.py): ``autoprovision_password_min_length`` and
``autoprovision_password_required_classes`` say it in words;
the regex stays for what they can't say. Without a password step (mode 3) the
account has no password and can only sign in through its provider.

Refusals that typing again cannot fix (the linked account is locked, the user
name belongs to someone else) are ERRORs: the flow ends at once on a clear page
instead of re-showing the password prompt.

With ``autoprovisioning: false`` (OAM mode 1) the person is sent to the
organisation's own registration page with a ``registrationid`` and comes back
to ``/oam/server/auth_cred_submit``; ``app.selfregistration`` owns that contract.

After a ConsentPlugin step, attributes the person withheld are not stored, and
the answer becomes a consent receipt in the same transaction as the account.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field

from app import consent, provisioning, selfregistration, stores
from app.consent import receipts
from app.engine import FlowContext, Plugin, StepResult
from app.password_policy import PasswordPolicy, unknown_classes
from app.stores import sql as identity

UNFIXABLE = ("user.locked", "user.disabled", "registration.user_name_taken", "registration.bad_user_name")


@dataclass(frozen=True)
class Params:
    autoprovision_key_user_record_attribute_list: list[str] = field(
        default_factory=list, metadata={"help": "the ID token claims that become attributes; only these"}
    )
    autoprovision_idtoken_to_user_attribute_mapping: dict[str, str] = field(
        default_factory=dict, metadata={"help": "claim:attribute pairs, e.g. email:mail, given_name:first-name"}
    )
    autoprovisioning: bool = field(default=False, metadata={"help": "true: create the account from the ID token"})
    registration_url: str = field(default="", metadata={"help": "self-registration page (autoprovisioning: false)"})
    secret_key: str = field(
        default="", metadata={"help": "HMAC key of the regdata payload (autoprovisioning: false)", "secret": True}
    )
    autoprovision_useridentitystore: str = field(default="default", metadata={"help": "the identity store"})
    autoprovision_password_policy_regex: str = field(default="", metadata={"help": "a password must match this"})
    autoprovision_password_policy_text: str = field(
        default="", metadata={"help": "the regex's rule in words, as the prompt lists it"}
    )
    autoprovision_password_min_length: int = field(default=0, metadata={"help": "a password has at least this many"})
    autoprovision_password_required_classes: list[str] = field(
        default_factory=list, metadata={"help": "classes a password must contain: letter, lower, upper, digit, symbol"}
    )
    autoprovision_attribute_sync: dict[str, str] = field(
        default_factory=dict, metadata={"help": "attribute:force|import|never; default force"}
    )
    autoprovision_password_param: str = field(default="PASSWORD", metadata={"help": "credential ID of the password"})
    autoprovision_password_confirm_param: str = field(
        default="CONFIRM_PASSWORD", metadata={"help": "credential ID of the confirmation"}
    )


class OAuthUserSelfRegistrationPlugin(Plugin):
    name = "OAuthUserSelfRegistrationPlugin"
    description = "Creates the account of a person signed in at an OpenID provider (JIT auto-provisioning)."
    Params = Params
    needs_local_account = True  # it writes one: never after JIT off (FederatedSessionPlugin)

    def __init__(self, params: Params, settings=None):
        super().__init__(params, settings)
        regex = params.autoprovision_password_policy_regex
        self.provisioning_policy = provisioning.ProvisioningPolicy(
            store=params.autoprovision_useridentitystore,
            key_claims=tuple(params.autoprovision_key_user_record_attribute_list),
            mapping=dict(params.autoprovision_idtoken_to_user_attribute_mapping),
            sync=dict(params.autoprovision_attribute_sync),
            password_regex=re.compile(regex) if regex else None,
        )
        self.password_policy = PasswordPolicy(
            min_length=params.autoprovision_password_min_length,
            classes=tuple(params.autoprovision_password_required_classes),
            regex=re.compile(regex) if regex else None,
            **(
                {"regex_text": params.autoprovision_password_policy_text}
                if params.autoprovision_password_policy_text
                else {}
            ),
        )

    def value_rules(self) -> dict[str, PasswordPolicy]:
        """The password being chosen and its confirmation: a new password, and the policy it must meet."""
        if not self.params.autoprovisioning:
            return {}
        return {
            self.params.autoprovision_password_param: self.password_policy,
            self.params.autoprovision_password_confirm_param: PasswordPolicy(),
        }

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if not params.autoprovisioning:
            return _self_registration_problems(params)
        if not params.autoprovision_key_user_record_attribute_list:
            problems.append(("autoprovision_key_user_record_attribute_list", "name at least one claim"))
        listed = set(params.autoprovision_key_user_record_attribute_list)
        for claim in params.autoprovision_idtoken_to_user_attribute_mapping:
            if claim not in listed:
                problems.append(
                    (
                        "autoprovision_idtoken_to_user_attribute_mapping",
                        f"claim '{claim}' is mapped but not in autoprovision_key_user_record_attribute_list",
                    )
                )
        mapped = {params.autoprovision_idtoken_to_user_attribute_mapping.get(c, c) for c in listed}
        for attribute, mode in params.autoprovision_attribute_sync.items():
            if mode not in provisioning.SYNC_POLICIES:
                problems.append(
                    ("autoprovision_attribute_sync", f"sync policy of '{attribute}' must be force, import or never")
                )
            elif attribute not in mapped:
                problems.append(("autoprovision_attribute_sync", f"'{attribute}' is not a provisioned attribute"))
        if unknown := unknown_classes(params.autoprovision_password_required_classes):
            problems.append(
                (
                    "autoprovision_password_required_classes",
                    f"unknown class(es) {', '.join(unknown)} (classes: letter, lower, upper, digit, symbol)",
                )
            )
        if params.autoprovision_password_min_length < 0:
            problems.append(("autoprovision_password_min_length", "must be 0 or more"))
        try:
            re.compile(params.autoprovision_password_policy_regex)
        except re.error as exc:
            problems.append(("autoprovision_password_policy_regex", f"not a valid regular expression: {exc}"))
        if problem := identity.store_problem(settings, params.autoprovision_useridentitystore):
            problems.append(("autoprovision_useridentitystore", problem))
        return problems + _store_problems(params, settings, mapped)

    def process(self, ctx: FlowContext) -> StepResult:
        if not self.params.autoprovisioning:
            return selfregistration.register(ctx, self.params.registration_url, self.params.secret_key)
        federated = ctx.data.get("federated")
        user_name = ctx.values.get("USERNAME")
        if not federated or not user_name:
            return StepResult.error("registration.no_federated_identity")
        provider = (getattr(self.settings, "identity_providers", None) or {}).get(federated["provider"])
        if provider is not None and not provider.jit_provisioning:  # Asgardeo's JIT off: nothing is written
            return StepResult.error("provisioning.jit_off", {"provider": provider.name})
        password = ctx.secrets.get(self.params.autoprovision_password_param)
        if password is not None:
            problem = self._check_password(password, ctx.secrets.get(self.params.autoprovision_password_confirm_param))
            if problem:
                return StepResult.failure(problem)
        answer = ctx.data.get(consent.KEY)
        policy = consent.narrowed(self.provisioning_policy, answer)
        try:
            user, created = provisioning.provision(federated, str(user_name), policy, password)
        except provisioning.Refused as exc:
            result = StepResult.error if exc.reason in UNFIXABLE else StepResult.failure
            return result(exc.reason, exc.detail)
        if created and answer is not None:
            receipts.record(user, answer, ctx.scheme_name, federated)
        ctx.user_id = user.id
        if created:
            ctx.data["provisioned"] = True  # the ``provisioned`` orchestration condition
        return StepResult.success(
            "registration.created" if created else "registration.already_linked",
            {"user_name": user.user_name, "provider": federated["provider"]},
        )

    def _check_password(self, password: str, confirmation: str | None) -> str | None:
        if confirmation is None or not hmac.compare_digest(password.encode(), confirmation.encode()):
            return "registration.password_mismatch"
        failed = self.password_policy.first_failed(password)
        return failed.reason if failed is not None else None


def _self_registration_problems(params: Params) -> list[tuple[str | None, str]]:
    """Mode 1 needs the page's address and the shared HMAC key (OAM marks both mandatory)."""
    problems: list[tuple[str | None, str]] = []
    if not params.registration_url:
        problems.append(("registration_url", "registration_url is required when autoprovisioning is false"))
    elif problem := selfregistration.check_registration_url(params.registration_url):
        problems.append(("registration_url", problem))
    if not params.secret_key:
        problems.append(("secret_key", "secret_key is required when autoprovisioning is false"))
    return problems


def _store_problems(params: Params, settings, attributes: set[str]) -> list[tuple[str | None, str]]:
    """JIT needs a store it may write, holding every provisioned attribute."""
    store = stores.configured(settings, params.autoprovision_useridentitystore)
    if store is None:
        return []
    if store.read_only:
        return [
            (
                "autoprovision_useridentitystore",
                f"identity store '{store.name}' is read-only: JIT provisioning cannot create accounts in it",
            )
        ]
    return [
        ("autoprovision_idtoken_to_user_attribute_mapping", problem)
        for attribute in sorted(attributes)
        if (problem := store.attribute_problem(attribute))
    ]
