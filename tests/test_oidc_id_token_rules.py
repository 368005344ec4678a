"""Every rule of OpenID Connect Core 1.0 section 3.1.3.7 (ID token validation), one forged token each.

Over real HTTP: a browser opens ``/demo/rogue/``, the misbehaving provider
(tests/rogue_op.py) forges the one thing a case names, and the sign-in must end
on a clear 401 page with the rule's reason code, an audit event, a log line, no
session and no account. Each rule also has the honest token it must still
accept, so no check refuses more than its rule. Test ids name the rule
("r2" is rule 2 of 3.1.3.7); docs/oidc-validation.md maps them back.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest
from authlib.oidc.core.util import create_half_hash
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import JWSRegistry
from markupsafe import escape

from app import audit
from app.oidc import id_token
from app.oidc.errors import OIDCError
from app.oidc.id_token import Expected
from app.settings import load_settings
from app.stores import sql as identity
from app.web.messages import MESSAGES
from app.yamlsource import ConfigError
from tests.oidc_fixtures import rogue_site
from tests.rogue_op import DROP, SUBJECT, RogueProvider


def signed_in(site) -> bool:
    with site.browser() as browser:
        page = browser.get("/demo/rogue/")
        cookie = browser.cookie("stepgate_session")
    if page.status_code == 200:
        assert '<strong id="user-name">rogue-user</strong>' in page.text and cookie
        return True
    return False


def assert_refused(site, reason: str, caplog) -> None:
    """The sign-in ends on the reason's page, audited and logged, with no session and no account."""
    with site.browser() as browser:
        page = browser.get("/demo/rogue/")
        assert browser.cookie("stepgate_session") is None
    assert page.status_code == 401, page.text[:300]
    assert f"<code>{reason}</code>" in page.text
    assert str(escape(MESSAGES[reason])) in page.text
    assert SUBJECT not in page.text
    with site.app.app_context():
        assert identity.find_by_user_name("default", "rogue-user") is None
        [event] = audit.query(event="signin.failure")
        assert event.reason == reason and event.step == "OpenID_Connect"
    assert any(reason in r.getMessage() and r.name == "stepgate.oidc" for r in caplog.records)


@pytest.fixture
def site(make_jit_site, rogue_op):
    return rogue_site(make_jit_site, rogue_op)


def ago(seconds: int):
    return lambda grant: grant["now"] - seconds


def half_hash(name: str):
    """The grant value's left-half SHA-256 hash, base64url: what ``at_hash``/``c_hash`` hold for RS256."""
    return lambda grant: create_half_hash(grant[name], "RS256").decode()


def tampered(token: str) -> str:
    """The signed token with another subject put in its payload; the signature is the original's."""
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


# Each case: (id, what the provider forges, the reason code). The id starts with the rule it proves.
REFUSED = [
    # rule 1: this client registers no encryption, so an encrypted (five-part) token is not read
    ("r1-encrypted-token", {"id_token_text": "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"}, "id_token.malformed"),
    # rule 2: iss equals the discovery issuer exactly
    ("r2-another-issuer", {"claims": {"iss": "http://127.0.0.1:1"}}, "id_token.bad_issuer"),
    ("r2-issuer-with-trailing-slash", {"claims": {"iss": lambda g: g["issuer"] + "/"}}, "id_token.bad_issuer"),
    ("r2-issuer-in-capitals", {"claims": {"iss": lambda g: g["issuer"].upper()}}, "id_token.bad_issuer"),
    ("r2-no-issuer", {"claims": {"iss": DROP}}, "id_token.bad_issuer"),
    # rule 3: the client is an audience, and every other audience is trusted
    ("r3-another-audience", {"claims": {"aud": "another-client"}}, "id_token.bad_audience"),
    ("r3-no-audience", {"claims": {"aud": DROP}}, "id_token.bad_audience"),
    ("r3-empty-audience-list", {"claims": {"aud": []}}, "id_token.bad_audience"),
    ("r3-audience-not-a-string", {"claims": {"aud": 42}}, "id_token.bad_audience"),
    (
        "r3-untrusted-second-audience",
        {"claims": {"aud": ["stepgate-rogue", "evil-client"], "azp": "stepgate-rogue"}},
        "id_token.untrusted_audience",
    ),
    # rule 4: several audiences need an azp
    ("r4-several-audiences-no-azp", {"claims": {"aud": ["stepgate-rogue", "evil-client"]}}, "id_token.bad_azp"),
    # rule 5: azp, when present, is this client
    ("r5-azp-another-client", {"claims": {"azp": "another-client"}}, "id_token.bad_azp"),
    ("r5-azp-empty", {"claims": {"azp": ""}}, "id_token.bad_azp"),
    (
        "r5-several-audiences-azp-the-other",
        {"claims": {"aud": ["stepgate-rogue", "evil-client"], "azp": "evil-client"}},
        "id_token.bad_azp",
    ),
    # rule 6: the signature, by a key of the provider's JWKS
    ("r6-signed-by-a-key-not-in-the-jwks", {"signing": "unpublished"}, "id_token.bad_signature"),
    ("r6-key-embedded-in-the-header", {"signing": "embedded_jwk"}, "id_token.bad_signature"),
    (
        "r6-key-set-url-in-the-header",
        {"signing": "unpublished", "header": {"jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/x5"}},
        "id_token.bad_signature",
    ),
    ("r6-another-key-under-a-published-kid", {"mode": "wrong_key"}, "id_token.bad_signature"),
    ("r6-payload-changed-after-signing", {"id_token_text": tampered}, "id_token.bad_signature"),
    ("r6-garbled", {"id_token_text": "not-a-jwt"}, "id_token.malformed"),
    ("r6-header-not-json", {"id_token_text": "bm90IGpzb24.e30.c2ln"}, "id_token.malformed"),
    ("r6-not-base64", {"id_token_text": "@@@.@@@.@@@"}, "id_token.malformed"),
    ("r6-unknown-critical-header", {"header": {"crit": ["exp-policy"], "exp-policy": 1}}, "id_token.bad_header"),
    # rule 7: alg is the registered one (RS256 by default); rule 8: never a MAC, so no public key as a secret
    ("r7-alg-none", {"mode": "alg_none"}, "id_token.bad_algorithm"),
    ("r7-es256-not-registered", {"signing": "ES256"}, "id_token.bad_algorithm"),
    ("r8-hs256-keyed-with-the-public-key", {"signing": "HS256_public_key"}, "id_token.bad_algorithm"),
    ("r7-alg-missing", {"header": {"alg": DROP}}, "id_token.bad_algorithm"),
    ("r7-alg-in-lower-case", {"header": {"alg": "rs256"}}, "id_token.bad_algorithm"),
    # RFC 8725 3.11: explicit typing keeps other JWTs (logout tokens, access tokens) out
    ("typ-logout-token", {"header": {"typ": "logout+jwt"}}, "id_token.bad_type"),
    ("typ-access-token", {"header": {"typ": "at+jwt"}}, "id_token.bad_type"),
    ("typ-not-a-string", {"header": {"typ": ["JWT"]}}, "id_token.bad_type"),
    # RFC 7519 section 4: duplicate member names are refused, not read one way or the other
    ("duplicate-sub-claim", {"repeat": {"sub": "admin"}}, "id_token.duplicate_claims"),
    ("duplicate-header-alg", {"repeat_header": {"alg": "RS256"}}, "id_token.duplicate_claims"),
    # rule 9: exp is a number in the future
    ("r9-expired", {"mode": "expired"}, "id_token.expired"),
    ("r9-no-exp", {"claims": {"exp": DROP}}, "id_token.bad_claims"),
    ("r9-exp-a-string", {"claims": {"exp": lambda g: str(g["now"] + 300)}}, "id_token.bad_time_claim"),
    ("r9-exp-a-boolean", {"claims": {"exp": True}}, "id_token.bad_time_claim"),
    ("r9-exp-not-a-json-number", {"claims": {"exp": float("inf")}}, "id_token.malformed"),
    # rule 10: iat is a number, not in the future, not older than max_id_token_age_seconds (600)
    ("r10-issued-an-hour-ago", {"claims": {"iat": ago(3600)}}, "id_token.too_old"),
    ("r10-issued-in-the-far-future", {"claims": {"iat": 10**12}}, "id_token.bad_iat"),
    ("r10-issued-an-hour-ahead", {"claims": {"iat": ago(-3600)}}, "id_token.bad_iat"),
    ("r10-no-iat", {"claims": {"iat": DROP}}, "id_token.bad_claims"),
    ("r10-iat-a-string", {"claims": {"iat": "yesterday"}}, "id_token.bad_time_claim"),
    # nbf (RFC 7519 4.1.5), when present
    ("nbf-in-the-future", {"claims": {"nbf": ago(-3600)}}, "id_token.not_yet_valid"),
    ("nbf-a-string", {"claims": {"nbf": "now"}}, "id_token.bad_time_claim"),
    # rule 11: the nonce this sign-in sent comes back
    ("r11-no-nonce", {"claims": {"nonce": DROP}}, "id_token.no_nonce"),
    ("r11-another-nonce", {"mode": "wrong_nonce"}, "id_token.bad_nonce"),
    ("r11-empty-nonce", {"claims": {"nonce": ""}}, "id_token.bad_nonce"),
    ("r11-nonce-not-a-string", {"claims": {"nonce": ["x"]}}, "id_token.bad_claims"),
    # sub (Core 2): present, a string, at most 255 characters
    ("sub-missing", {"claims": {"sub": DROP}}, "id_token.bad_claims"),
    ("sub-too-long", {"claims": {"sub": "s" * 256}}, "id_token.bad_claims"),
    ("sub-not-a-string", {"claims": {"sub": 1001}}, "id_token.bad_claims"),
    # 3.1.3.8: at_hash, whenever present, matches the access token the response carried
    ("at-hash-wrong", {"claims": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}}, "id_token.bad_at_hash"),
    (
        "at-hash-without-an-access-token",
        {"claims": {"at_hash": half_hash("access_token")}, "token_fields": {"access_token": DROP}},
        "id_token.bad_at_hash",
    ),
    ("at-hash-not-a-string", {"claims": {"at_hash": 12}}, "id_token.bad_claims"),
    # 3.3.2.11: c_hash, whenever present, matches the code that was exchanged
    ("c-hash-wrong", {"claims": {"c_hash": "AAAAAAAAAAAAAAAAAAAAAA"}}, "id_token.bad_c_hash"),
    # Core 3.1.3.3: the token response carries an ID token
    ("token-response-without-an-id-token", {"token_fields": {"id_token": DROP}}, "id_token.missing"),
    ("token-response-id-token-not-a-string", {"token_fields": {"id_token": {"sub": "admin"}}}, "id_token.missing"),
    # RFC 6749 7.1: a token type this client does not understand is not used
    ("token-type-mac", {"token_fields": {"token_type": "mac"}}, "idp.bad_token_type"),
    ("token-type-dpop", {"token_fields": {"token_type": "DPoP"}}, "idp.bad_token_type"),
    ("token-type-missing", {"token_fields": {"token_type": DROP}}, "idp.bad_token_type"),
    # Core 5.3.2: userinfo describes the ID token's subject
    ("userinfo-of-another-subject", {"mode": "userinfo_other_sub"}, "userinfo.sub_mismatch"),
]


def forge(op: RogueProvider, forgery: dict) -> None:
    for name, value in forgery.items():
        if name == "claims":
            value = {k: _with_issuer(v, op) for k, v in value.items()}
        setattr(op, name, value)


def _with_issuer(value, op: RogueProvider):
    """Claim functions see the grant and the provider's issuer."""
    if callable(value):
        return lambda grant: value({**grant, "issuer": op.issuer})
    return value


@pytest.mark.parametrize(("forgery", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_token_breaking_a_rule_is_refused_with_its_reason(site, rogue_op, caplog, forgery, reason):
    forge(rogue_op, forgery)
    assert_refused(site, reason, caplog)


# Each case: (id, provider settings, what the provider sends). An honest variant each rule must still accept.
ACCEPTED = [
    ("r2-exact-issuer", {}, {}),
    (
        "r3-trusted-second-audience",
        {"trusted_audiences": ["partner-api"]},
        {"claims": {"aud": ["stepgate-rogue", "partner-api"], "azp": "stepgate-rogue"}},
    ),
    ("r3-audience-as-a-one-element-list", {}, {"claims": {"aud": ["stepgate-rogue"]}}),
    ("r5-azp-this-client", {}, {"claims": {"azp": "stepgate-rogue"}}),
    ("r7-es256-when-registered", {"id_token_signed_response_alg": "ES256"}, {"signing": "ES256"}),
    ("r6-no-kid-with-one-published-key", {}, {"signing": "no_kid"}),
    ("r10-older-token-when-the-client-allows-it", {"max_id_token_age_seconds": 7200}, {"claims": {"iat": ago(3600)}}),
    ("r10-iat-slightly-ahead-within-leeway", {}, {"claims": {"iat": ago(-30)}}),
    ("nbf-in-the-past", {}, {"claims": {"nbf": ago(10)}}),
    ("typ-absent", {}, {"header": {"typ": DROP}}),
    ("typ-media-type", {}, {"header": {"typ": "application/JWT"}}),
    ("at-hash-right", {}, {"claims": {"at_hash": half_hash("access_token")}}),
    ("c-hash-right", {}, {"claims": {"c_hash": half_hash("code")}}),
    ("token-type-lower-case-bearer", {}, {"token_fields": {"token_type": "bearer"}}),
]


@pytest.mark.parametrize(("settings", "forgery"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_an_honest_token_within_each_rule_still_signs_in(make_jit_site, rogue_op, settings, forgery):
    site = rogue_site(make_jit_site, rogue_op, **settings)
    forge(rogue_op, forgery)
    assert signed_in(site)


def test_r3_a_trusted_audience_is_trusted_only_when_configured(make_jit_site, rogue_op, caplog):
    site = rogue_site(make_jit_site, rogue_op, trusted_audiences=["partner-api"])
    forge(rogue_op, {"claims": {"aud": ["stepgate-rogue", "partner-api", "evil"], "azp": "stepgate-rogue"}})
    assert_refused(site, "id_token.untrusted_audience", caplog)


def test_r6_two_published_keys_and_no_kid_is_refused(site, rogue_op, caplog):
    rogue_op.rotate_keys()
    rogue_op.signing = "no_kid"
    assert_refused(site, "id_token.bad_signature", caplog)


def test_r6_a_rotated_key_is_fetched_and_then_accepted(site, rogue_op):
    assert signed_in(site)
    rogue_op.rotate_keys()
    assert signed_in(site)
    assert rogue_op.jwks_requests == 2


def test_r12_acr_values_are_requested_and_the_answer_must_be_one_of_them(make_jit_site, rogue_op, caplog):
    site = rogue_site(make_jit_site, rogue_op, acr_values=["urn:gold", "urn:platinum"])
    rogue_op.claims = {"acr": "urn:bronze"}
    assert_refused(site, "id_token.bad_acr", caplog)
    authorize = next(line for line in rogue_op.requests if line.startswith("GET /authorize"))
    assert "acr_values=urn%3Agold%20urn%3Aplatinum" in authorize
    rogue_op.claims = {"acr": "urn:gold"}
    assert signed_in(site)


def test_r12_a_missing_acr_is_refused_when_acr_values_were_requested(make_jit_site, rogue_op, caplog):
    site = rogue_site(make_jit_site, rogue_op, acr_values=["urn:gold"])
    assert_refused(site, "id_token.bad_acr", caplog)


@pytest.mark.parametrize(
    ("auth_time", "reason"),
    [
        (DROP, "id_token.bad_auth_time"),
        (ago(3600), "id_token.bad_auth_time"),
        (ago(-3600), "id_token.bad_auth_time"),
        ("recently", "id_token.bad_time_claim"),
    ],
    ids=["missing", "an-hour-ago", "in-the-future", "a-string"],
)
def test_r13_with_max_age_requested_auth_time_must_be_recent(make_jit_site, rogue_op, caplog, auth_time, reason):
    site = rogue_site(make_jit_site, rogue_op, max_age=300)
    rogue_op.claims = {"auth_time": auth_time}
    assert_refused(site, reason, caplog)


def test_r13_max_age_is_requested_and_a_recent_auth_time_signs_in(make_jit_site, rogue_op):
    site = rogue_site(make_jit_site, rogue_op, max_age=300)
    rogue_op.claims = {"auth_time": ago(20)}
    assert signed_in(site)
    authorize = next(line for line in rogue_op.requests if line.startswith("GET /authorize"))
    assert "max_age=300" in authorize


def test_a_forged_rs256_token_is_refused_even_when_discovery_advertises_none_and_hs256(site, rogue_op, caplog):
    """Rule 7: the client's registered alg decides, never the provider's list (which here offers none, HS256)."""
    assert "none" in rogue_op.discovery()["id_token_signing_alg_values_supported"]
    rogue_op.signing = "HS256_public_key"
    assert_refused(site, "id_token.bad_algorithm", caplog)
    assert rogue_op.jwks_requests == 0, "the header is refused before any key is fetched"


# -- the settings a client may choose are validated at load -------------------------------------


def write_provider(tmp_path, lines: str):
    path = tmp_path / "settings.yaml"
    path.write_text(
        "secret_key: test-secret-key-0123456789\nidentity_providers:\n  corp:\n"
        "    issuer: https://idp.example.org\n    client_id: stepgate\n    client_secret: s3cret\n"
        + lines
        + "external_url: http://localhost\n"
    )
    return path


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("    id_token_signed_response_alg: none\n", "7: 'id_token_signed_response_alg' must be one of RS256"),
        ("    id_token_signed_response_alg: HS256\n", "(none and HMAC algorithms are refused)"),
        ("    max_id_token_age_seconds: 0\n", "7: 'max_id_token_age_seconds' must be a number >= 1"),
        ("    trusted_audiences: [ok, 3]\n", "7: 'trusted_audiences' must be a list of non-empty strings"),
        ("    max_age: -1\n", "7: 'max_age' must be a number >= 0"),
        ("    max_age: 1.5\n", "7: 'max_age' must be a whole number of seconds"),
        ("    acr_values: {gold: 1}\n", "7: 'acr_values' must be a list of non-empty strings"),
    ],
)
def test_a_bad_validation_setting_is_reported_with_its_line(tmp_path, lines, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(write_provider(tmp_path, lines))
    assert any(message in str(problem) for problem in caught.value.problems), caught.value.problems


def test_the_validation_settings_have_safe_defaults(tmp_path):
    provider = load_settings(write_provider(tmp_path, "")).identity_providers["corp"]
    assert provider.id_token_signed_response_alg == "RS256"
    assert provider.max_id_token_age_seconds == 600
    assert provider.trusted_audiences == () and provider.acr_values == () and provider.max_age is None


# -- no value of any type gets past as anything but a refusal (never a 500) -----------------------

ODD_VALUES = [None, 5, 1.5, True, [], {}, "", "x" * 5000, ["a"], {"a": 1}, "RS256", -1, 10**40]


def test_no_header_or_claim_value_of_any_type_raises_anything_but_a_refusal():
    """Each odd value in each header member and each checked claim: ``OIDCError`` or a valid token, nothing else."""
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    keys = KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
    rs256 = JWSRegistry(algorithms=["RS256"]).get_alg("RS256")
    now = int(time.time())
    honest = {"iss": "https://op.example", "sub": "s", "aud": "c", "iat": now, "exp": now + 300, "nonce": "n"}
    expected = Expected("https://op.example", "c", "RS256", "n", 60, 600, max_auth_age=0, acr_values=("a",), code="x")
    cases = [
        ({name: value}, {})
        for name in ("alg", "kid", "typ", "crit", "b64", "jku", "jwk", "cty")
        for value in ODD_VALUES
    ]
    cases += [
        ({}, {name: value})
        for name in ("aud", "exp", "iat", "nbf", "sub", "azp", "at_hash", "c_hash", "auth_time", "acr", "nonce")
        for value in ODD_VALUES
    ]
    for header, claims in cases:
        head = b64(json.dumps({"alg": "RS256", "kid": "k1", **header}).encode())
        signing_input = f"{head}.{b64(json.dumps({**honest, **claims}).encode())}"
        token = f"{signing_input}.{b64(rs256.sign(signing_input.encode(), key))}"
        try:
            id_token.validate(token, lambda refresh: keys, expected)
        except OIDCError:
            pass


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_every_reason_code_the_oidc_checks_can_give_has_a_message_a_person_can_read():
    root = Path(__file__).resolve().parent.parent
    sources = [*sorted((root / "app" / "oidc").glob("*.py")), root / "plugins" / "openid_connect.py"]
    pattern = re.compile(r'"((?:id_token|authorization_response|idp|oidc|userinfo)\.[a-z_]+)"')
    codes = {code for path in sources for code in pattern.findall(path.read_text())}
    assert {"id_token.too_old", "authorization_response.iss_missing", "idp.bad_token_type"} <= codes
    not_refusals = {"oidc.callback", "oidc.redirect"}  # the callback's endpoint name; the step's redirect
    assert sorted(code for code in codes - not_refusals if code not in MESSAGES) == []
