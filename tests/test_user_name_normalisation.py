"""User names are unique in normalised form, and look-alike names are refused, at every door.

A table of look-alikes of existing accounts goes through JIT provisioning, SCIM
and the CLI: each is either "taken" (its normalised key is an existing
account's: case, width, composed or decomposed accents) or "refused" with a
reason (invisible, control, bidi, compatibility or mixed-script characters),
never a second account. Local sign-in and SCIM ``userName eq`` then find the
account whatever the case or width typed.
"""

from __future__ import annotations

import flask_migrate
import pytest
import requests
from sqlalchemy import event, text

from app import create_app, provisioning, usernames
from app.extensions import db
from app.stores import sql as identity
from tests.jit_steps import provider_sign_in

TOKEN = "scim-token-normalisation-0123456789"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PASSWORD = "correct horse battery staple"
EXISTING = ("admin", "josé", "fiona", "σοφία", "zoë")

TAKEN, REFUSED = "taken", "refused"
LOOKALIKES = [
    # (candidate, outcome, words the reason holds)
    ("Admin", TAKEN, None),
    ("ADMIN", TAKEN, None),
    ("Ａｄｍｉｎ", TAKEN, None),  # full-width
    ("ａｄｍｉｎ", TAKEN, None),
    ("jose\u0301", TAKEN, None),  # e + combining acute: NFC/NFKC-equal to é
    ("JOSÉ", TAKEN, None),
    ("zoe\u0308", TAKEN, None),  # e + combining diaeresis
    ("ΣΟΦΊΑ", TAKEN, None),  # Greek upper case
    ("ad\u200dmin", REFUSED, "invisible joiner"),  # zero-width joiner
    ("ad\u200cmin", REFUSED, "invisible joiner"),  # zero-width non-joiner
    ("ad\u200bmin", REFUSED, "invisible"),  # zero-width space
    ("\ufeffadmin", REFUSED, "invisible"),  # zero-width no-break space (BOM)
    ("ad\u00admin", REFUSED, "invisible"),  # soft hyphen
    ("admi\u034fn", REFUSED, "invisible"),  # combining grapheme joiner
    ("ﬁona", REFUSED, "compatibility"),  # the fi ligature: NFKC makes it "fiona"
    ("ⓐdmin", REFUSED, "compatibility"),  # circled letter
    ("\U0001d41admin", REFUSED, "compatibility"),  # mathematical bold a
    ("\u0430dmin", REFUSED, "Cyrillic and Latin"),  # Cyrillic а
    ("\u0430dm\u0456n", REFUSED, "Cyrillic and Latin"),  # Cyrillic а and і
    ("\u03b1dmin", REFUSED, "Greek and Latin"),  # Greek alpha
    ("σοφia", REFUSED, "Greek and Latin"),
    ("admin\u202e", REFUSED, "invisible or formatting"),  # right-to-left override
    ("\u202dadmin", REFUSED, "invisible or formatting"),  # left-to-right override
    ("admin\u2066", REFUSED, "invisible or formatting"),  # left-to-right isolate
    ("ad\x07min", REFUSED, "control"),
    ("ad\tmin", REFUSED, "control"),
    ("admin\x7f", REFUSED, "control"),
    ("ad\x85min", REFUSED, "control"),  # C1 next line
    ("admin ", REFUSED, "space"),  # trailing space (SCIM trims it: then "taken")
    (" admin", REFUSED, "space"),
    ("ad  min", REFUSED, "space"),
]


@pytest.fixture
def make_settings(make_settings):
    def make(extra=None, **kwargs):
        return make_settings({"scim": {"tokens": [TOKEN]}, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def existing(add_user):
    """The accounts the look-alikes imitate; only ``admin`` has a password (hashing is slow on purpose)."""
    return {name: add_user(name, password=PASSWORD if name == "admin" else None) for name in EXISTING}


def user_names(app) -> list[str]:
    with app.app_context():
        return sorted(u.user_name for u in identity.list_users(limit=100))


def test_jit_provisioning_never_makes_a_second_account_for_a_lookalike(app, existing):
    policy = provisioning.ProvisioningPolicy(store="default", key_claims=())
    wrong = []
    with app.app_context():
        for candidate, outcome, why in LOOKALIKES:
            federated = {"issuer": "https://idp.example", "subject": repr(candidate), "provider": "devop", "claims": {}}
            try:
                provisioning.provision(federated, candidate, policy)
            except provisioning.Refused as refused:
                got = (refused.reason, refused.detail.get("why", ""))
            else:
                got = ("created", "")
            expected = "registration.user_name_taken" if outcome == TAKEN else "registration.bad_user_name"
            if got[0] != expected or (why and why not in got[1]):
                wrong.append((candidate, got))
        db.session.commit()
    assert wrong == []
    assert user_names(app) == sorted(EXISTING)


def test_scim_answers_409_for_a_taken_lookalike_and_400_invalid_value_with_the_reason(app, live_server, existing):
    wrong = []
    for candidate, outcome, why in LOOKALIKES:
        response = requests.post(
            f"{live_server.url}/scim/v2/Users",
            json={"schemas": [USER], "userName": candidate},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        body = response.json()
        got = (response.status_code, body.get("scimType"), body.get("detail", ""))
        if outcome == TAKEN or candidate.strip(" ") == "admin":  # SCIM trims the name first
            ok = got[:2] == (409, "uniqueness")
        else:
            ok = got[:2] == (400, "invalidValue") and got[2].startswith("'userName' refused: ") and why in got[2]
        if not ok:
            wrong.append((candidate, got))
    assert wrong == []
    assert user_names(app) == sorted(EXISTING)


def test_the_cli_refuses_a_lookalike_with_the_reason_or_names_the_account_it_collides_with(app, runner, existing):
    wrong = []
    for candidate, outcome, why in LOOKALIKES:
        result = runner.invoke(args=["users", "add", candidate, "--attr", "mail=x@example.org"])
        if outcome == TAKEN:
            ok = result.exit_code == 1 and "already exists in store 'default' as '" in result.output
        else:
            ok = result.exit_code == 2 and why in result.output
        if not ok:
            wrong.append((candidate, result.exit_code, result.output))
    assert wrong == []
    assert user_names(app) == sorted(EXISTING)


def test_a_names_key_is_nfkc_case_folded_and_drops_invisible_characters():
    assert {usernames.key(n) for n in ("Admin", "ADMIN", "Ａｄｍｉｎ", "ad\u200bmin", "ad\u00admin")} == {"admin"}
    assert usernames.key("Straße") == usernames.key("STRASSE") == "strasse"
    assert usernames.key("ﬁona") == "fiona"
    for fine in ("alice", "Jane Smith", "j.smith@example.org", "josé", "Σίσυφος", "山田taro", "テスト太郎", "한국abc"):
        assert usernames.require(fine) == fine


@pytest.mark.parametrize("typed", ["ADMIN", "Admin", "Ａｄｍｉｎ"])
def test_local_sign_in_finds_the_account_whatever_the_case_or_width_typed(browser, existing, typed):
    browser.get("/demo/")
    page = browser.submit({"USERNAME": typed, "PASSWORD": PASSWORD})
    assert page.status_code == 200 and '<strong id="user-name">admin</strong>' in page.text, page.text[:400]


def test_an_exact_name_wins_over_a_lookalike_kept_from_before_normalisation(app, existing):
    with app.app_context():
        # a pre-migration duplicate, keyed by the migration so that it cannot collide
        db.session.execute(
            text(
                "INSERT INTO users (store, user_name, user_name_key, status, created_at, updated_at) "
                "VALUES ('default', 'ADMIN', 'admin\u20609', 'active', '2026-01-01', '2026-01-01')"
            )
        )
        db.session.commit()
        assert identity.find_by_user_name("default", "ADMIN").user_name == "ADMIN"
        assert identity.find_by_user_name("default", "Admin").user_name == "admin"


def test_scim_username_eq_is_case_insensitive_and_answered_from_the_key_index(app, live_server, existing):
    def search(value: str) -> list[str]:
        response = requests.get(
            f"{live_server.url}/scim/v2/Users",
            params={"filter": f'userName eq "{value}"'},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return [r["userName"] for r in response.json()["Resources"]]

    for typed in ("admin", "ADMIN", "Admin", "Ａｄｍｉｎ"):
        assert search(typed) == ["admin"]
    schema = requests.get(
        f"{live_server.url}/scim/v2/Schemas/{USER}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).json()
    [user_name] = [a for a in schema["attributes"] if a["name"] == "userName"]
    assert user_name["caseExact"] is False and user_name["uniqueness"] == "server", "as RFC 7643 section 4.1.1 says"
    assert search("JOSE\u0301") == ["josé"]
    assert search("nobody") == []

    with app.app_context():
        statements = []
        listener = lambda conn, cursor, sql, params, context, many: statements.append((sql, params))  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            with app.test_client() as client:
                client.get(
                    "/scim/v2/Users",
                    query_string={"filter": 'userName eq "ADMIN"'},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        sql, params = next((s, p) for s, p in statements if "user_name_key" in s and "count" not in s.lower())
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "sqlite":
                plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
            else:  # a table this small is cheaper to scan: ask whether the index can answer at all
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = " ".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
                conn.rollback()
        assert "uq_users_store_user_name_key" in plan, plan


def test_jit_over_real_http_refuses_a_cyrillic_lookalike_and_a_case_variant(jit_site):
    with jit_site.app.app_context():
        identity.create_user("default", "admin", {}, PASSWORD)
        db.session.commit()
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "ADMIN")
    assert "<code>registration.user_name_taken</code>" in page.text
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "\u0430dmin")
    assert "<code>registration.bad_user_name</code>" in page.text
    assert user_names(jit_site.app) == ["admin"]


def test_the_migration_keys_existing_names_and_keeps_colliding_ones_apart(make_settings, empty_database_url):
    site = create_app(make_settings(extra={"database_url": empty_database_url}), testing=True)
    with site.app_context():
        flask_migrate.upgrade(revision="3ae2cb7ae297")
        with db.engine.begin() as conn:
            for user_id, name in ((1, "Admin"), (2, "admin"), (3, "Ｂｏｂ"), (4, "carol")):
                conn.execute(
                    text(
                        "INSERT INTO users (id, store, user_name, status, created_at, updated_at) "
                        "VALUES (:id, 'default', :name, 'active', '2026-01-01', '2026-01-01')"
                    ),
                    {"id": user_id, "name": name},
                )
                conn.execute(
                    text("INSERT INTO user_attributes (user_id, name, value) VALUES (:id, 'mail', :mail)"),
                    {"id": user_id, "mail": f"u{user_id}@example.org"},
                )
            conn.execute(
                text(
                    "INSERT INTO federated_links (issuer, subject, user_id, provider, created_at) "
                    "VALUES ('https://idp.example', 's4', 4, 'corp', '2026-01-01')"
                )
            )
        flask_migrate.upgrade()
        keys = dict(db.session.execute(text("SELECT user_name, user_name_key FROM users")).all())
        assert keys["Admin"] == "admin" and keys["admin"] != "admin" and keys["Ｂｏｂ"] == "bob"
        assert identity.find_by_user_name("default", "admin").user_name == "admin"
        assert identity.find_by_user_name("default", "BOB").user_name == "Ｂｏｂ"
        rows = {
            u: (s, bool(v))
            for u, s, v in db.session.execute(
                text("SELECT u.user_name, a.source, a.verified FROM user_attributes a JOIN users u ON u.id = a.user_id")
            )
        }
        assert rows["carol"] == ("provider:corp", False) and rows["Admin"] == ("admin", True)
        db.session.remove()
        db.engine.dispose()
