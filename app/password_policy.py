"""A password policy people can read: its rules are stated before anyone types, and a refusal names the rule.

A rule is a reason code (``registration.password_too_short``...), the text a
prompt lists ("At least 10 characters") and a check. The policy is the
minimum length, the character classes required, and OAM's
``autoprovision_password_policy_regex`` as a last rule for what the other two
can't say (its text is the scheme's, or a generic one). ``first_failed`` is
what a registration step refuses with; prompts list ``rules()``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

CLASSES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "letter": ("A letter", lambda c: c.isalpha()),
    "lower": ("A lower-case letter", lambda c: c.islower()),
    "upper": ("An upper-case letter", lambda c: c.isupper()),
    "digit": ("A digit (0-9)", lambda c: c.isdigit()),
    "symbol": ("A symbol or punctuation mark", lambda c: unicodedata.category(c)[0] in "PS"),
}
TOO_SHORT = "registration.password_too_short"
PATTERN = "registration.password_policy"  # the regex: the reason code it has always had


@dataclass(frozen=True)
class Rule:
    reason: str
    text: str
    check: Callable[[str], bool]


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 0
    classes: tuple[str, ...] = ()
    regex: re.Pattern | None = None
    regex_text: str = "In the form this organisation requires"

    def rules(self) -> list[Rule]:
        rules = []
        if self.min_length:
            n = self.min_length
            rules.append(Rule(TOO_SHORT, f"At least {n} characters", lambda p: len(p) >= n))
        for name in self.classes:
            text, is_of_class = CLASSES[name]
            rules.append(Rule(f"registration.password_no_{name}", text, lambda p, f=is_of_class: any(map(f, p))))
        if self.regex is not None:
            pattern = self.regex
            rules.append(Rule(PATTERN, self.regex_text, lambda p: pattern.fullmatch(p) is not None))
        return rules

    def first_failed(self, password: str) -> Rule | None:
        return next((rule for rule in self.rules() if not rule.check(password)), None)


def unknown_classes(names: list[str]) -> list[str]:
    return [name for name in names if name not in CLASSES]
