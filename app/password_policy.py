"""A password policy people can read: its rules are stated before anyone types, and a refusal names the rule.

A rule is a reason code (``registration.password_too_short``...), the text a
prompt lists ("At least 10 characters": ``password.rule.*`` in the catalogue,
app/i18n/, in the request's language) and a check. The policy is the
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

from app.i18n import say

CLASSES: dict[str, Callable[[str], bool]] = {
    "letter": lambda c: c.isalpha(),
    "lower": lambda c: c.islower(),
    "upper": lambda c: c.isupper(),
    "digit": lambda c: c.isdigit(),
    "symbol": lambda c: unicodedata.category(c)[0] in "PS",
}
TOO_SHORT = "registration.password_too_short"
PATTERN = "registration.password_policy"  # the regex: the reason code it has always had


@dataclass(frozen=True)
class Rule:
    reason: str
    key: str  # the catalogue key of the text a prompt lists
    check: Callable[[str], bool]
    params: tuple[tuple[str, object], ...] = ()
    own_text: str = ""  # the scheme's own wording (autoprovision_password_policy_text), shown as written

    @property
    def text(self) -> str:
        return self.own_text or say(self.key, **dict(self.params))


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 0
    classes: tuple[str, ...] = ()
    regex: re.Pattern | None = None
    regex_text: str = ""  # empty: the catalogue's password.rule.pattern

    def rules(self) -> list[Rule]:
        rules = []
        if self.min_length:
            n = self.min_length
            rules.append(Rule(TOO_SHORT, "password.rule.min_length", lambda p: len(p) >= n, (("n", n),)))
        for name in self.classes:
            reason, key, is_of_class = f"registration.password_no_{name}", f"password.rule.{name}", CLASSES[name]
            rules.append(Rule(reason, key, lambda p, f=is_of_class: any(map(f, p))))
        if self.regex is not None:
            pattern = self.regex
            matches = lambda p: pattern.fullmatch(p) is not None  # noqa: E731 - named to fit the line
            rules.append(Rule(PATTERN, "password.rule.pattern", matches, own_text=self.regex_text))
        return rules

    def first_failed(self, password: str) -> Rule | None:
        return next((rule for rule in self.rules() if not rule.check(password)), None)


def unknown_classes(names: list[str]) -> list[str]:
    return [name for name in names if name not in CLASSES]
