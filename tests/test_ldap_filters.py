"""KEY_LDAP_FILTER as a real LDAP filter: escaping (RFC 4515), templates, and what a directory's answers mean.

Framework-free: no server. The same values are signed in with over HTTP on
both stores in tests/test_identity_stores.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.stores import ldap_status, ldapfilter
from app.stores.base import PasswordAnswer, UserStatus

HOSTILE = ["*)(uid=*", "*", "a)(|(uid=*", "\\", "\x00", "(", ")", "\\2a", "zoë", "李", "a*b", ")(objectClass=*"]


@pytest.mark.parametrize("value", HOSTILE)
def test_an_escaped_value_is_one_equality_whatever_it_holds(value):
    filled = ldapfilter.fill("(&(objectClass=person)(uid={USERNAME}))", {"USERNAME": value}.get)
    tree = ldapfilter.parse(filled)
    assert tree == ldapfilter.And((ldapfilter.Equal("objectClass", "person"), ldapfilter.Equal("uid", value)))


@given(st.text(max_size=40))
def test_every_text_round_trips_through_escaping(value):
    assert ldapfilter.parse(f"(mail={ldapfilter.escape(value)})") == ldapfilter.Equal("mail", value)


def test_the_five_special_characters_are_hex_escaped_and_other_text_is_left_as_is():
    assert ldapfilter.escape("*()\\\x00") == "\\2a\\28\\29\\5c\\00"
    assert ldapfilter.escape("zoë 李") == "zoë 李"


def test_a_missing_or_empty_flow_value_fills_nothing():
    assert ldapfilter.fill("(uid={USERNAME})", {}.get) is None
    assert ldapfilter.fill("(uid={USERNAME})", {"USERNAME": ""}.get) is None


def test_placeholders_may_sit_inside_a_value_and_repeat():
    filled = ldapfilter.fill("(|(uid={USERNAME})(mail={USERNAME}@corp.example))", {"USERNAME": "a*"}.get)
    assert filled == "(|(uid=a\\2a)(mail=a\\2a@corp.example))"


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("(uid=alice)", "no placeholder"),
        ("uid={USERNAME}", "expected '('"),
        ("(uid={USERNAME}", "unclosed"),
        ("(&(uid={USERNAME})(|))", "at least one filter"),
        ("(uid={USERNAME}))", "unexpected text"),
        ("(=x{USERNAME})", "attribute=value"),
    ],
)
def test_a_template_that_is_not_a_filter_is_refused_with_the_reason(template, why):
    assert why in ldapfilter.check_template(template)


def test_a_bad_escape_in_a_written_filter_is_refused():
    with pytest.raises(ldapfilter.FilterError, match="bad escape"):
        ldapfilter.parse("(uid=\\zz)")


# -- what a directory's answers mean ----------------------------------------------------------


def ppolicy_response(error: int | None, warning: bytes = b"") -> bytes:
    body = warning + (bytes([0x81, 1, error]) if error is not None else b"")
    return bytes([0x30, len(body)]) + body


@pytest.mark.parametrize(
    ("code", "error", "answer"),
    [
        (0, None, PasswordAnswer.PROVEN),
        (0, 2, PasswordAnswer.MUST_CHANGE),
        (49, 0, PasswordAnswer.EXPIRED),
        (49, 1, PasswordAnswer.LOCKED),
        (49, None, PasswordAnswer.WRONG),
    ],
)
def test_a_bind_with_the_password_policy_control_is_read(code, error, answer):
    controls = {ldap_status.PPOLICY_OID: {"value": ppolicy_response(error)}} if error is not None else {}
    assert ldap_status.bind_answer({"result": code, "controls": controls}) is answer


def test_a_warning_before_the_error_is_skipped():
    grace = bytes([0xA0, 3, 0x81, 1, 2])  # graceAuthNsRemaining: 2
    assert ldap_status.ppolicy_error(ppolicy_response(0, grace)) is PasswordAnswer.EXPIRED
    assert ldap_status.ppolicy_error(ppolicy_response(None, grace)) is None


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        ("775", PasswordAnswer.LOCKED),
        ("532", PasswordAnswer.EXPIRED),
        ("773", PasswordAnswer.MUST_CHANGE),
        ("533", PasswordAnswer.DISABLED),
        ("52e", PasswordAnswer.WRONG),
    ],
)
def test_active_directory_data_codes_are_read(data, answer):
    message = f"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {data}, v4563"
    assert ldap_status.bind_answer({"result": 49, "message": message}) is answer


def test_a_bind_answer_that_is_not_about_the_password_is_an_outage():
    assert ldap_status.bind_answer({"result": 51}) is None  # busy


@pytest.mark.parametrize(
    ("convention", "attributes", "status"),
    [
        ("ppolicy", {}, UserStatus.ACTIVE),
        ("ppolicy", {"pwdAccountLockedTime": ["000001010000Z"]}, UserStatus.LOCKED),
        ("active_directory", {"userAccountControl": ["512"]}, UserStatus.ACTIVE),
        ("active_directory", {"userAccountControl": ["514"]}, UserStatus.DISABLED),
        ("active_directory", {"userAccountControl": ["512"], "lockoutTime": ["133000000000000000"]}, UserStatus.LOCKED),
        ("active_directory", {"userAccountControl": ["512"], "lockoutTime": ["0"]}, UserStatus.ACTIVE),
        ("ns_account_lock", {"nsAccountLock": ["TRUE"]}, UserStatus.DISABLED),
        ("ns_account_lock", {"nsAccountLock": ["false"]}, UserStatus.ACTIVE),
        ("none", {"pwdAccountLockedTime": ["000001010000Z"]}, UserStatus.ACTIVE),
    ],
)
def test_each_status_convention_is_read(convention, attributes, status):
    assert ldap_status.status_of(convention, attributes) is status


def test_locking_and_unlocking_write_each_convention():
    lock, unlock = UserStatus.LOCKED, UserStatus.ACTIVE
    assert ldap_status.status_changes("ppolicy", lock, {})["pwdAccountLockedTime"][0][1] == ["000001010000Z"]
    assert ldap_status.status_changes("ppolicy", unlock, {}) == {}  # nothing to delete
    disabled = ldap_status.status_changes("active_directory", lock, {"userAccountControl": ["512"]})
    assert disabled["userAccountControl"][0][1] == ["514"]
    enabled = ldap_status.status_changes("active_directory", unlock, {"userAccountControl": ["514"]})
    assert enabled["userAccountControl"][0][1] == ["512"] and enabled["lockoutTime"][0][1] == ["0"]
    assert ldap_status.status_changes("ns_account_lock", lock, {})["nsAccountLock"][0][1] == ["TRUE"]
    with pytest.raises(ValueError, match="keeps no status"):
        ldap_status.status_changes("none", lock, {})


# -- at load: the scheme's filter and the store's settings, with file and line -----------------

SCHEME = """\
name: FilterScheme
level: 1
module:
  name: M
  steps:
    Collect:
      plugin: CredentialCollectorPlugin
      params:
        CRED_PARAM_1: "{ID=USERNAME},{DISPLAY_NAME=USERNAME},{TYPE=text}"
    Identify:
      plugin: UserIdentificationPlugin
      params:
        KEY_LDAP_FILTER: "TEMPLATE"
  orchestration:
    initial_step: Collect
    Collect: {on_success: Identify}
    Identify: {on_success: success}
"""


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("(uid={USERNAME}", "unclosed"),
        ("(uid=*{USERNAME})", "evaluates only (attribute=value) joined by & and |"),
        ("(uid=alice)", "no placeholder"),
    ],
)
def test_a_filter_the_store_cannot_use_is_refused_at_load_with_its_line(make_settings, template, why):
    from app import create_app
    from app.yamlsource import ConfigError

    path = make_settings(schemes={"FilterScheme.yaml": SCHEME.replace("TEMPLATE", template)})
    with pytest.raises(ConfigError) as refused:
        create_app(path, testing=True)
    assert "FilterScheme.yaml:13" in str(refused.value) and why in str(refused.value)


@pytest.mark.parametrize(
    ("ldap", "why"),
    [
        ({"urls": ["http://x"], "user_base": "dc=x"}, "ldap:// or ldaps:// URLs"),
        ({"urls": ["ldap://x"]}, "user_base must be a string"),
        ({"urls": ["ldap://x"], "user_base": "dc=x", "status": "sometimes"}, "status must be one of"),
        ({"urls": ["ldap://x"], "user_base": "dc=x", "pool_size": 0}, "pool_size must be a number"),
        ({"urls": ["ldap://x"], "user_base": "dc=x", "bind_pasword": "x"}, "bind_pasword"),
        ({"urls": ["ldap://x"], "user_base": "dc=x", "bind_password": "{AES}bm90IGEgc2VjcmV0"}, "STEPGATE_MASTER_KEY"),
    ],
)
def test_a_bad_ldap_store_setting_stops_the_server_with_the_file_and_line(make_settings, monkeypatch, ldap, why):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    monkeypatch.delenv("STEPGATE_MASTER_KEY", raising=False)
    path = make_settings(extra={"identity_stores": {"default": {}, "corp": {"kind": "ldap", "ldap": ldap}}})
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert "settings.yaml:" in str(refused.value) and why in str(refused.value)


def test_an_unknown_store_kind_lists_the_known_ones(make_settings):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    with pytest.raises(ConfigError, match="unknown kind 'nis' \\(kinds: .*ldap"):
        load_settings(make_settings(extra={"identity_stores": {"default": {"kind": "nis"}}}))


def test_scim_on_a_directory_store_loads_only_when_the_store_holds_every_mapped_attribute(make_settings):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    corp = {"kind": "ldap", "ldap": {"urls": ["ldap://127.0.0.1:9"], "user_base": "dc=x"}}  # maps mail only

    def settings(mapping: dict | None):
        scim = {"tokens": ["t" * 32], "identity_store": "corp"}
        if mapping is not None:
            scim["attribute_mapping"] = mapping
        return make_settings(extra={"identity_stores": {"default": {}, "corp": corp}, "scim": scim})

    with pytest.raises(ConfigError, match="'title' -> 'title': LDAP store 'corp' maps no directory attribute"):
        load_settings(settings(None))  # the default mapping names title, department...
    assert load_settings(settings({"emails.value": "mail"})).scim.identity_store == "corp"
