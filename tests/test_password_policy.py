"""The password policy in words: each rule checked alone, the first failing one named, bad settings refused at load."""

from __future__ import annotations

import re

import pytest

from app.engine.registry import PluginRegistry
from app.engine.scheme import parse_scheme
from app.password_policy import PasswordPolicy
from app.yamlsource import ConfigError

POLICY = PasswordPolicy(min_length=10, classes=("letter", "digit", "upper", "symbol"))


@pytest.mark.parametrize(
    ("password", "failed"),
    [
        ("Ab1!", "registration.password_too_short"),
        ("1234567890!", "registration.password_no_letter"),
        ("Abcdefghij!", "registration.password_no_digit"),
        ("abcdefghij1!", "registration.password_no_upper"),
        ("Abcdefghij1", "registration.password_no_symbol"),
        ("Ébcdefghij1€", None),  # letters, digits and symbols of any script count
        ("Abcdefghij1 ", "registration.password_no_symbol"),  # a space is no symbol
    ],
)
def test_the_first_rule_a_password_breaks_is_the_one_named(password, failed):
    rule = POLICY.first_failed(password)
    assert (rule.reason if rule else None) == failed


def test_the_rules_read_in_order_and_the_regex_comes_last_in_the_schemes_words():
    policy = PasswordPolicy(min_length=12, classes=("lower",), regex=re.compile(r"[^@]+"), regex_text="No '@' sign")
    assert [r.text for r in policy.rules()] == ["At least 12 characters", "A lower-case letter", "No '@' sign"]
    assert policy.first_failed("abcdefghijkl@").reason == "registration.password_policy"
    assert PasswordPolicy().rules() == [] and PasswordPolicy().first_failed("") is None


SCHEME = """name: Jit
level: 1
module:
  name: M
  steps:
    Register:
      plugin: OAuthUserSelfRegistrationPlugin
      params:
        autoprovisioning: "True"
        autoprovision_key_user_record_attribute_list: email
        autoprovision_password_min_length: 8
        autoprovision_password_required_classes: letter, emoji
  orchestration:
    initial_step: Register
    Register: {on_success: success, on_failure: failure, on_error: failure}
"""


def test_an_unknown_character_class_is_refused_with_the_schemes_file_and_line(app):
    with app.app_context(), pytest.raises(ConfigError) as refused:
        parse_scheme(SCHEME, "Jit.yaml", PluginRegistry.discover(), app.extensions["stepgate"].settings)
    text = str(refused.value)
    assert "Jit.yaml:" in text and "unknown class(es) emoji" in text
