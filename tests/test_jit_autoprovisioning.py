"""Just-in-time auto-provisioning through the real development OpenID Provider (OAM 42.2, 42.3)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

from app import audit
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.jit_steps import at_provider, attributes_shown, provider_sign_in

STRONG = "sunny-meadow-42"


def test_first_sign_in_without_password_creates_the_user_with_exactly_the_mapped_attributes(jit_site):
    with jit_site.browser() as browser:
        page = provider_sign_in(
            browser, "/demo/jit-nopassword/welcome", "carol", given_name="Carol", family_name="Jones", locale="fr"
        )
        assert page.status_code == 200, page.text
        assert page.url == browser.url("/demo/jit-nopassword/welcome")
        assert '<strong id="user-name">carol</strong>' in page.text
        assert attributes_shown(page) == {
            "display-name": "Carol Jones",
            "first-name": "Carol",
            "last-name": "Jones",
            "locale": "fr",
            "mail": "carol@example.org",
        }
    with jit_site.app.app_context():
        user = identity.find_by_user_name("default", "carol")
        assert user.password_hash is None
        [link] = federation.links_of(user.id)
        assert link.provider == "devop" and link.subject != "carol"
        assert [e.event for e in audit.query(user_id=user.id, event="user.created")] == ["user.created"]


def test_an_email_the_provider_has_not_verified_is_not_stored(jit_site):
    with jit_site.browser() as browser:
        page = provider_sign_in(
            browser, "/demo/jit-nopassword/", "quinn", email="boss@corp.example", email_verified=False
        )
        assert page.status_code == 200
        assert "mail" not in attributes_shown(page)
        assert "boss@corp.example" not in page.text


def test_the_password_prompt_shows_the_user_name_read_only_and_enforces_the_policy(jit_site):
    with jit_site.browser() as browser:
        prompt = provider_sign_in(browser, "/demo/jit/reports", "frank", given_name="Frank")
        assert prompt.status_code == 200 and "Creating your account" in prompt.text
        assert browser.form(prompt)["fields"]["USERNAME"] == "frank"
        assert "readonly" in prompt.text
        weak = browser.submit({"USERNAME": "mallory", "PASSWORD": "short", "CONFIRM_PASSWORD": "short"})
        assert "does not meet the password policy" in weak.text
        differ = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG + "x"})
        assert "The two passwords differ" in differ.text
        done = browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG})
        assert done.url == browser.url("/demo/jit/reports")
        assert '<strong id="user-name">frank</strong>' in done.text  # never the name the browser sent back
    with jit_site.app.app_context():
        user = identity.find_by_user_name("default", "frank")
        assert user.check_password(STRONG) and user.password_hash != STRONG
        assert identity.find_by_user_name("default", "mallory") is None
    with jit_site.browser() as browser:
        browser.get("/demo/")
        local = browser.submit({"USERNAME": "frank", "PASSWORD": STRONG})
        assert '<strong id="user-name">frank</strong>' in local.text, "the chosen password signs in locally"


def test_an_account_created_without_a_password_cannot_sign_in_with_one(jit_site):
    with jit_site.browser() as browser:
        provider_sign_in(browser, "/demo/jit-nopassword/", "gina")
    with jit_site.browser() as browser:
        browser.get("/demo/")
        page = browser.submit({"USERNAME": "gina", "PASSWORD": "anything-at-all-1"})
        assert "The user name or password is incorrect." in page.text  # user.no_password, told to no one
        assert browser.cookie("stepgate_session") is None


def test_a_user_name_held_by_a_local_account_is_refused_never_merged(jit_site):
    with jit_site.app.app_context():
        identity.create_user("default", "henry", {"mail": "henry@corp.example"}, "local-password-1")
        db.session.commit()
    with jit_site.browser() as browser:
        page = provider_sign_in(browser, "/demo/jit-nopassword/", "henry")
        assert page.status_code == 401
        assert "already exists" in page.text and "<code>registration.user_name_taken</code>" in page.text
    with jit_site.app.app_context():
        henry = identity.find_by_user_name("default", "henry")
        assert federation.links_of(henry.id) == []
        assert henry.attributes == {"mail": "henry@corp.example"}
        assert len(list(identity.list_users())) == 1


def test_simultaneous_first_sign_ins_of_one_person_create_one_user(jit_site):
    """Both browsers reach the callback; the two callbacks race; the database decides."""
    race_two_first_sign_ins(jit_site)


def test_simultaneous_first_sign_ins_on_postgresql_create_one_user(make_jit_site, postgres_url):
    """The same over HTTP with PostgreSQL behind it (test_jit_provisioning forces the insert race itself)."""
    race_two_first_sign_ins(make_jit_site(database_url=postgres_url))


def race_two_first_sign_ins(jit_site):
    browsers = [jit_site.browser() for _ in range(2)]
    try:
        callbacks = []
        for browser in browsers:
            page = browser.get("/demo/jit-nopassword/")
            assert at_provider(page)
            form = browser.form(page)
            answer = browser.session.post(
                urljoin(page.url, form["action"]),
                data={**form["fields"], "login": "ivan", "email_unverified": ""},
                allow_redirects=False,
                timeout=10,
            )
            while "/oam/server/oidc/callback" not in answer.headers["Location"]:
                answer = browser.session.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False)
            callbacks.append(urljoin(answer.url, answer.headers["Location"]))
        barrier = threading.Barrier(2)

        def finish(browser, url):
            barrier.wait()
            return browser.session.get(url, timeout=30)

        with ThreadPoolExecutor(2) as pool:
            pages = list(pool.map(finish, browsers, callbacks))
    finally:
        for browser in browsers:
            browser.session.close()
    assert all(p.status_code == 200 and '<strong id="user-name">ivan</strong>' in p.text for p in pages)
    with jit_site.app.app_context():
        assert [u.user_name for u in identity.list_users()] == ["ivan"]
        assert len(audit.query(event="user.created")) == 1
