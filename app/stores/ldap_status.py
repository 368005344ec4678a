"""What a directory says about an account: its status by convention, and its answer to a bind.

Status conventions (``status:`` in an LDAP store's settings):

- ``ppolicy`` (OpenLDAP's password policy overlay): ``pwdAccountLockedTime``
  present means locked; the console's lock writes ``000001010000Z``, the
  overlay's "locked until an administrator unlocks"; unlock deletes it.
- ``active_directory``: ``userAccountControl`` bit 2 (ACCOUNTDISABLE) means
  disabled, a non-zero ``lockoutTime`` means locked; lock sets the bit, unlock
  clears it and sets ``lockoutTime`` to 0 (the only value AD accepts there).
- ``ns_account_lock`` (Oracle Unified Directory, ODSEE, 389 DS):
  ``nsAccountLock: TRUE`` means disabled.
- ``none``: the directory keeps no status stepgate reads or writes.

A bind as the user is the password check. Its answer comes with the password
policy response control (OpenLDAP, OUD: draft-behera-ldap-password-policy) or,
from Active Directory, a ``data NNN`` code in the diagnostic message.
"""

from __future__ import annotations

import re

from app.stores.base import PasswordAnswer, UserStatus

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
LOCKED_BY_ADMIN = "000001010000Z"
_AD_DISABLED = 0x2
_AD_CODES = {
    "775": PasswordAnswer.LOCKED,
    "532": PasswordAnswer.EXPIRED,
    "773": PasswordAnswer.MUST_CHANGE,
    "533": PasswordAnswer.DISABLED,
    "701": PasswordAnswer.DISABLED,  # the account (not the password) expired
}
_PPOLICY_ERRORS = {0: PasswordAnswer.EXPIRED, 1: PasswordAnswer.LOCKED, 2: PasswordAnswer.MUST_CHANGE}

STATUS_ATTRIBUTES = {
    "ppolicy": ("pwdAccountLockedTime",),
    "active_directory": ("userAccountControl", "lockoutTime"),
    "ns_account_lock": ("nsAccountLock",),
    "none": (),
}


def status_of(convention: str, attributes: dict[str, list]) -> UserStatus:
    """The status ``attributes`` (directory name -> values) show under ``convention``."""

    def first(name: str) -> str:
        values = attributes.get(name) or []
        return str(values[0]) if values else ""

    if convention == "ppolicy":
        return UserStatus.LOCKED if first("pwdAccountLockedTime") else UserStatus.ACTIVE
    if convention == "active_directory":
        control = int(first("userAccountControl") or 0)
        if control & _AD_DISABLED:
            return UserStatus.DISABLED
        return UserStatus.LOCKED if first("lockoutTime") not in ("", "0") else UserStatus.ACTIVE
    if convention == "ns_account_lock":
        return UserStatus.DISABLED if first("nsAccountLock").lower() == "true" else UserStatus.ACTIVE
    return UserStatus.ACTIVE


_AD_DISABLED_FILTER = "(userAccountControl:1.2.840.113556.1.4.803:=2)"  # LDAP_MATCHING_RULE_BIT_AND
_ACTIVE_FILTERS = {
    "ppolicy": ("(!(pwdAccountLockedTime=*))", "(pwdAccountLockedTime=*)"),
    "active_directory": (
        f"(&(!{_AD_DISABLED_FILTER})(!(lockoutTime>=1)))",
        f"(|{_AD_DISABLED_FILTER}(lockoutTime>=1))",
    ),
    "ns_account_lock": ("(!(nsAccountLock=TRUE))", "(nsAccountLock=TRUE)"),
    "none": ("(objectClass=*)", "(!(objectClass=*))"),
}


def active_filter(convention: str, active: bool) -> str:
    """A filter for the entries ``status_of`` reads as active (or, with ``active=False``, as not active)."""
    when_active, when_not = _ACTIVE_FILTERS[convention]
    return when_active if active else when_not


def status_changes(convention: str, status: UserStatus, attributes: dict[str, list]) -> dict[str, list]:
    """The modification (ldap3 ``modify`` changes) that writes ``status`` under ``convention``."""
    from ldap3 import MODIFY_DELETE, MODIFY_REPLACE

    active = status is UserStatus.ACTIVE
    if convention == "ppolicy":
        if active:
            return {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]} if attributes.get("pwdAccountLockedTime") else {}
        return {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED_BY_ADMIN])]}
    if convention == "active_directory":
        control = int(str((attributes.get("userAccountControl") or [0])[0]) or 0)
        control = control & ~_AD_DISABLED if active else control | _AD_DISABLED
        changes = {"userAccountControl": [(MODIFY_REPLACE, [str(control)])]}
        if active:
            changes["lockoutTime"] = [(MODIFY_REPLACE, ["0"])]
        return changes
    if convention == "ns_account_lock":
        if active:
            return {"nsAccountLock": [(MODIFY_DELETE, [])]} if attributes.get("nsAccountLock") else {}
        return {"nsAccountLock": [(MODIFY_REPLACE, ["TRUE"])]}
    raise ValueError("this directory keeps no status (status: none)")


def bind_answer(result: dict) -> PasswordAnswer | None:
    """A bind's answer as a ``PasswordAnswer``; None when the result is not about the password (an outage)."""
    code = result.get("result")
    ppolicy = ppolicy_error((result.get("controls") or {}).get(PPOLICY_OID, {}).get("value"))
    if code == 0:
        return PasswordAnswer.MUST_CHANGE if ppolicy is PasswordAnswer.MUST_CHANGE else PasswordAnswer.PROVEN
    if code == 49:  # invalidCredentials
        if ppolicy is not None:
            return ppolicy
        found = re.search(r"\bdata ([0-9a-fA-F]{3})\b", result.get("message") or "")
        return _AD_CODES.get(found.group(1).lower(), PasswordAnswer.WRONG) if found else PasswordAnswer.WRONG
    if code in (48, 50, 53):  # inappropriateAuthentication, insufficientAccessRights, unwillingToPerform
        return PasswordAnswer.WRONG
    return None


def ppolicy_error(value: bytes | None) -> PasswordAnswer | None:
    """The ``error`` of a PasswordPolicyResponseValue (BER), or None when there is none.

    ``SEQUENCE { warning [0] CHOICE {...} OPTIONAL, error [1] ENUMERATED OPTIONAL }``:
    only the error matters here, the warning (grace logins, time before
    expiration) is skipped.
    """
    if not value or value[0] != 0x30:
        return None
    at, end = _length(value, 1)
    while at < end:
        tag = value[at]
        start, stop = _length(value, at + 1)
        if tag == 0x81 and stop - start == 1:
            return _PPOLICY_ERRORS.get(value[start])
        at = stop
    return None


def _length(data: bytes, at: int) -> tuple[int, int]:
    """(start, end) of the contents whose BER length starts at ``at``."""
    first = data[at]
    if first < 0x80:
        return at + 1, at + 1 + first
    count = first & 0x7F
    size = int.from_bytes(data[at + 1 : at + 1 + count], "big")
    return at + 1 + count, at + 1 + count + size
