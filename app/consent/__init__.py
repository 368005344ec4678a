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
    """``policy`` (a ProvisioningPolicy) without the claims whose attributes the answer withholds."""
    withheld = set((answer or {}).get("withheld") or ())
    if policy is None or not withheld:
        return policy
    kept = tuple(c for c in policy.key_claims if policy.attribute_of(c) not in withheld)
    return dataclasses.replace(policy, key_claims=kept)
