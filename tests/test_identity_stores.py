"""The same sign-in scenarios on every kind of identity store: the embedded SQL store and an OpenLDAP directory.

Each test runs once per store (``store_kind``); the LDAP leg talks to a real
slapd (tests/ldap_server.py) and skips, saying why, where none can be had.
People are added through the store interface, as provisioning and the console do.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import audit, stores
from app.extensions import db
from app.stores import federation
from app.stores.base import UserStatus
from tests.jit_steps import attributes_shown, provider_sign_in
from tests.ldap_server import ldap_store_settings

PASSWORD = "correct horse battery staple"
STRONG = "sunny-meadow-42"


@pytest.fixture(params=["sql", "ldap"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def default_store(store_kind, request) -> dict:
    """``identity_stores`` whose ``default`` is of this test's kind."""
    if store_kind == "sql":
        return {"default": {"description": "SQL"}}
    server, base = request.getfixturevalue("slapd_server"), request.getfixturevalue("ldap_base")
    return {"default": ldap_store_settings(server, base)}


@pytest.fixture
def make_site(make_jit_site, default_store):
    """Sites whose default store is of this test's kind; their directory connections closed at the end."""
    made = []

    def make(with_devop: bool = False, **extra):
        made.append(make_jit_site(with_devop=with_devop, extra={"identity_stores": default_store, **extra}))
        return made[-1]

    yield make
    for each in made:
        stores.close_all(each.app)


@pytest.fixture
def site(make_site):
    """stepgate on a real port with the default store of this test's kind (no provider needed)."""
    return make_site()


@pytest.fixture
def jit(make_site):
    """stepgate with the shipped JIT schemes, the real development provider and this test's kind of store."""
    return make_site(with_devop=True)


def add_person(site, user_name: str, password: str | None = PASSWORD, **attributes) -> int:
    with site.app.app_context():
        user = stores.get("default").create(user_name, attributes, password=password)
        db.session.commit()
        return user.id


def sign_in(browser, user: str, password: str = PASSWORD, path: str = "/demo/reports"):
    page = browser.get(path)
    assert page.status_code == 200 and browser.form()["id"] == "loginData", page.text[:300]
    return browser.submit({"USERNAME": user, "PASSWORD": password})


def signed_in_as(page, user: str) -> bool:
    return f'<strong id="user-name">{user}</strong>' in page.text


INCORRECT = "The user name or password is incorrect."


def test_a_person_found_by_the_filter_signs_in_with_their_password(site):
    add_person(site, "alice", mail="alice@example.org", **{"first-name": "Alice"})
    with site.browser() as browser:
        page = sign_in(browser, "alice")
        assert signed_in_as(page, "alice"), page.text[:500]
        assert attributes_shown(page)["mail"] == "alice@example.org"


def test_a_wrong_password_and_an_unknown_name_read_the_same(site):
    add_person(site, "alice")
    with site.browser() as browser:
        assert INCORRECT in sign_in(browser, "alice", "not-the-password").text
    with site.browser() as browser:
        assert INCORRECT in sign_in(browser, "nobody-here").text
    with site.app.app_context():
        reasons = [e.reason for e in audit.query(event="signin.failed")] or [
            e.reason for e in audit.query() if e.reason
        ]
        assert "credentials.invalid" in reasons and "user.not_found" in reasons


@pytest.mark.parametrize(
    "typed",
    ["*", "*)(uid=*", "alice)(|(uid=*", "al*", "alice\\", "(alice)", "alice\x00", "*)(objectClass=*"],
)
def test_a_typed_name_is_one_value_never_filter_syntax(site, typed):
    add_person(site, "alice")
    with site.browser() as browser:
        page = sign_in(browser, typed)
        refused_at_the_edge = page.status_code == 400 and "request.bad_parameter" in page.text  # NUL
        assert (INCORRECT in page.text or refused_at_the_edge) and not signed_in_as(page, "alice")


def test_a_name_in_another_script_signs_in(site):
    add_person(site, "zoë-李", mail="zoe@example.org")
    with site.browser() as browser:
        assert signed_in_as(sign_in(browser, "zoë-李"), "zoë-李")


def test_a_locked_account_is_refused_even_with_its_password_and_unlocking_lets_it_in(site, store_kind):
    user_id = add_person(site, "bob")
    with site.app.app_context():
        store = stores.get("default")
        store.set_status(store.get(user_id), UserStatus.LOCKED)
        db.session.commit()
        assert store.get(user_id).status == "locked"  # read back from where the store keeps it
    with site.browser() as browser:
        assert not signed_in_as(sign_in(browser, "bob"), "bob")
    with site.app.app_context():
        store = stores.get("default")
        store.set_status(store.get(user_id), UserStatus.ACTIVE)
        db.session.commit()
    with site.browser() as browser:
        assert signed_in_as(sign_in(browser, "bob"), "bob")


def test_lockout_stands_in_front_of_the_store(make_site):
    site = make_site(password_signin={"lockout": {"max_failures": 3}})
    add_person(site, "carl")
    with site.browser() as browser:
        browser.get("/demo/")
        for _ in range(3):
            browser.submit({"USERNAME": "carl", "PASSWORD": "wrong-password"})
    with site.browser() as browser:
        page = sign_in(browser, "carl")
        assert not signed_in_as(page, "carl")
    with site.app.app_context():
        assert [e.event for e in audit.query(event="account.locked")] == ["account.locked"]


def test_jit_without_a_password_creates_the_account_and_recognises_the_returning_person(jit, store_kind):
    with jit.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "dora", given_name="Dora", family_name="Ng")
        assert signed_in_as(page, "dora"), page.text[:500]
    with jit.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "dora", given_name="Dora", family_name="Lee")
        assert signed_in_as(page, "dora") and attributes_shown(page)["last-name"] == "Lee"
    with jit.app.app_context():
        store = stores.get("default")
        [dora] = store.find("(uid=dora)")
        assert dora.attributes["last-name"] == "Lee", "the sync wrote the changed claim to the store"
        assert len(federation.links_of(dora.id)) == 1
        assert len(audit.query(event="user.created")) == 1
    with jit.browser() as browser:
        assert INCORRECT in sign_in(browser, "dora", "any-password-at-all").text  # no password was given


def test_jit_with_a_password_lets_the_person_sign_in_locally_with_it(jit):
    with jit.browser() as browser:
        provider_sign_in(browser, "/demo/jit/", "emil", given_name="Emil")
        done = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})
        assert signed_in_as(done, "emil"), done.text[:500]
    with jit.browser() as browser:
        assert signed_in_as(sign_in(browser, "emil", STRONG), "emil")


def test_two_first_sign_ins_of_one_person_end_with_one_account(jit):
    start = threading.Barrier(2)

    def first_sign_in(_):
        with jit.browser() as browser:
            start.wait(10)
            return provider_sign_in(browser, "/demo/jit-nopassword/", "fay", given_name="Fay")

    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(first_sign_in, range(2)))
    assert all(signed_in_as(page, "fay") for page in pages), [p.text[:300] for p in pages]
    with jit.app.app_context():
        assert len(stores.get("default").find("(uid=fay)", limit=5)) == 1
        assert len(audit.query(event="user.created")) == 1


def test_people_are_listed_page_by_page_and_links_can_be_removed(site):
    for name in ("pia", "quin", "rosa", "sven", "tara"):
        add_person(site, name)
    with site.app.app_context():
        store = stores.get("default")
        pages = [store.search(offset=offset, limit=2) for offset in (0, 2, 4)]
        assert [len(page) for page in pages] == [2, 2, 1]
        assert sorted(u.user_name for page in pages for u in page) == ["pia", "quin", "rosa", "sven", "tara"]
        assert [u.user_name for u in store.search("(uid=rosa)")] == ["rosa"]
        [rosa] = store.find("(uid=rosa)")
        store.link(rosa, "https://op.example", "sub-1", "op")
        store.link(rosa, "https://other.example", "sub-2", "other")
        assert store.unlink(rosa, "https://op.example") == 1
        assert [link.issuer for link in federation.links_of(rosa.id)] == ["https://other.example"]


def test_an_administrator_adds_locks_and_unlocks_a_person_from_the_command_line(site):
    runner = site.app.test_cli_runner()
    added = runner.invoke(args=["users", "add", "uma", "--password", PASSWORD, "--attr", "mail=uma@example.org"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(args=["users", "add", "uma", "--password", PASSWORD])
    assert again.exit_code == 1
    with site.browser() as browser:
        assert signed_in_as(sign_in(browser, "uma"), "uma")
    assert runner.invoke(args=["users", "lock", "uma"]).exit_code == 0
    with site.app.app_context():
        [uma] = stores.get("default").find("(uid=uma)")
        assert uma.status == "locked"  # as the store keeps it: for LDAP, read back from the directory
    with site.browser() as browser:
        assert not signed_in_as(sign_in(browser, "uma"), "uma")
    assert runner.invoke(args=["users", "unlock", "uma"]).exit_code == 0
    with site.browser() as browser:
        assert signed_in_as(sign_in(browser, "uma"), "uma")
