"""FederatedSessionPlugin: Asgardeo's "JIT user provisioning" switched off.

After an ``OpenIDConnectPlugin`` step, this step signs the person in on their
federated identity alone: no user row, no link, no attribute is written. The
claims named in ``claim_mapping`` (and only those) are passed on under their
mapped names to the demo page, the console and forward-auth's headers; the
session row keeps them (app/federated_sessions.py). An ``email`` the provider
did not verify is not passed on, as it is never stored.

``applies_to: providers_with_jit_off`` makes the switch per provider instead
of per step: the step succeeds only for a provider whose settings say
``jit_provisioning: false`` and answers FAILURE (``jit.on``) for the others, so
the orchestration sends those on to identification and provisioning.

A federated link an administrator locked (lock by social identity) is refused
here too: a JIT-off scheme is no way around the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.engine import FlowContext, Plugin, StepResult
from app.provisioning import claim_text
from app.stores import federation

APPLIES_TO = ("all", "providers_with_jit_off")
FEDERATED_SESSION = "federated_session"  # app/engine/runner.py FEDERATED_SESSION: documented in app/engine/context.py


@dataclass(frozen=True)
class Params:
    claim_mapping: dict[str, str] = field(
        default_factory=dict,
        metadata={"help": "claim:name pairs passed on to the application; other claims are dropped"},
    )
    applies_to: str = field(
        default="all", metadata={"help": "all (JIT off for this step) or providers_with_jit_off (per provider)"}
    )


class FederatedSessionPlugin(Plugin):
    name = "FederatedSessionPlugin"
    description = "Signs the person in on their federated identity without a local account (JIT provisioning off)."
    Params = Params
    opens_federated_session = True

    @classmethod
    def check(cls, params: Params, settings) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        if params.applies_to not in APPLIES_TO:
            problems.append(("applies_to", f"'applies_to' must be one of {', '.join(APPLIES_TO)}"))
        for claim, name in params.claim_mapping.items():
            if not name.replace("-", "").replace("_", "").isalnum():
                problems.append(("claim_mapping", f"'{claim}' maps to '{name}', which is not a plain name"))
        return problems

    def process(self, ctx: FlowContext) -> StepResult:
        federated = ctx.data.get("federated")
        if not federated:
            return StepResult.error("federated_session.no_identity")
        provider = (getattr(self.settings, "identity_providers", None) or {}).get(federated["provider"])
        if self.params.applies_to == "providers_with_jit_off" and (provider is None or provider.jit_provisioning):
            return StepResult.failure("jit.on", {"provider": federated["provider"]})
        if federation.locked_link(federated["issuer"], federated["subject"]) is not None:
            return StepResult.error("federation.link_locked", {"provider": federated["provider"]})
        ctx.user_id = None
        ctx.data[FEDERATED_SESSION] = {
            "provider": federated["provider"],
            "issuer": federated["issuer"],
            "subject": federated["subject"],
            "user_name": str(ctx.values.get("USERNAME") or federated["subject"]),
            "claims": passed_on(federated.get("claims") or {}, self.params.claim_mapping),
        }
        return StepResult.success("jit.off", {"provider": federated["provider"], "subject": federated["subject"]})


def passed_on(claims: dict, mapping: dict[str, str]) -> dict[str, str]:
    """The mapped claims as text: scalars only, an unverified ``email`` left out."""
    out = {}
    for claim, name in mapping.items():
        if claim == "email" and claims.get("email_verified") not in (True, "true"):
            continue
        value = claim_text(claims.get(claim))
        if value is not None:
            out[name] = value
    return out
