"""Consent to store a federated person's attributes (WSO2's JIT "prompt for consent").

``purposes`` owns what a scheme asks consent for (``PURPOSE_n`` parameters of
the ConsentPlugin); ``receipts`` owns what each person answered, kept as
consent receipts in the database. The flow carries the answer between the
consent step and provisioning under ``ctx.data["consent"]`` (``decision``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

KEY = "consent"
"""Where the flow keeps the person's answer: ``{"purposes": [...], "withheld": [...]}``."""


def narrowed(policy: Any, answer: dict | None) -> Any:
    """``policy`` (a ProvisioningPolicy) keeping only the claims whose attributes an accepted purpose names.

    Without an answer (no consent step in the scheme) the policy is unchanged.
    With one, consent decides what is stored: an attribute no accepted purpose
    names (declined, or named by no purpose at all) is left out.
    """
    if policy is None or answer is None:
        return policy
    consented = {a for p in answer.get("purposes") or () if p.get("accepted") for a in p.get("attributes") or ()}
    kept = tuple(c for c in policy.key_claims if policy.attribute_of(c) in consented)
    return policy if kept == policy.key_claims else dataclasses.replace(policy, key_claims=kept)
