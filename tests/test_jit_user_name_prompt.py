"""WSO2's JIT "prompt for username": the person chooses the account's name, never a taken one.

Over real HTTP against the real development provider, through the shipped
JitUserNamePromptScheme (/demo/jit-username/, the person always chooses) and
JitPasswordConsentScheme (/demo/jit-password-consent/, only when the
provider's name is taken). CVE-2023-6837 was a WSO2 prompt that let a person
claim an existing account by typing its name: here a taken name, in any
look-alike form, is refused on the form and the existing account is untouched.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

from app import audit
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity
from tests.jit_steps import provider_sign_in
from tests.wso2_jit_steps import (
    STRONG,
    answer_consent,
    choose_user_name,
    make_wso2_site,
    on_user_name_page,
    suggestion_on,
)

PROMPT = "/demo/jit-username/"
WHEN_TAKEN = "/demo/jit-password-consent/"


def to_user_name_form(browser, path: str, login: str):
    return answer_consent(browser, provider_sign_in(browser, path, login, given_name=login.title()))


def set_password(browser, page):
    assert "PASSWORD" in browser.form(page)["fields"], page.text[:400]
    return browser.submit({"PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG}, response=page)


def local_account(site, name: str, **attributes) -> int:
    with site.app.app_context():
        user = identity.create_user("default", name, attributes, "local-password-1")
        db.session.commit()
        return user.id


def test_a_newcomer_chooses_a_user_name_then_a_password_and_returns_without_prompts(wso2_site):
    with wso2_site.browser() as browser:
        form = to_user_name_form(browser, PROMPT + "start", "wren")
        assert on_user_name_page(form) and browser.form(form)["fields"]["user_name"] == "wren"
        password = choose_user_name(browser, form, "Wren.K")
        assert browser.form(password)["fields"]["USERNAME"] == "Wren.K" and "readonly" in password.text
        done = set_password(browser, password)
        assert done.url == browser.url(PROMPT + "start")
        assert '<strong id="user-name">Wren.K</strong>' in done.text
    with wso2_site.browser() as browser:
        again = provider_sign_in(browser, PROMPT, "wren")
        assert '<strong id="user-name">Wren.K</strong>' in again.text, "returning: no consent, no name, no password"
    with wso2_site.browser() as browser:
        browser.get("/demo/")
        assert (
            '<strong id="user-name">Wren.K</strong>' in browser.submit({"USERNAME": "wren.k", "PASSWORD": STRONG}).text
        )
    with wso2_site.app.app_context():
        user = identity.find_by_user_name("default", "Wren.K")
        assert [link.provider for link in federation.links_of(user.id)] == ["devop"]
        assert identity.find_by_user_name("default", "wren") is None


def test_a_taken_name_in_any_look_alike_form_is_refused_with_a_free_suggestion_and_never_merged(wso2_site):
    henry = local_account(wso2_site, "henry", mail="henry@corp.example")
    local_account(wso2_site, "henry2")
    with wso2_site.browser() as browser:
        form = to_user_name_form(browser, PROMPT, "mallory")
        for look_alike in ("henry", "HENRY", "Ｈｅｎｒｙ", "hen\u200bry", "henry\u00ad"):
            form = choose_user_name(browser, form, look_alike)
            assert on_user_name_page(form), f"{look_alike!r} was accepted"
            assert "already taken" in form.text or "can&#39;t be used" in form.text, look_alike
            assert suggestion_on(form).casefold() == "henry3", look_alike  # in the case typed
        mixed = choose_user_name(browser, form, "h\u0435nry")  # Cyrillic е
        assert on_user_name_page(mixed) and "Cyrillic and Latin" in mixed.text
        assert suggestion_on(mixed) == "user2", "a mixed-script name suggests nothing like it"
        done = set_password(browser, choose_user_name(browser, mixed, suggestion_on(form)))
        assert '<strong id="user-name">henry3</strong>' in done.text
    with wso2_site.app.app_context():
        account = identity.get_user(henry)
        assert federation.links_of(henry) == [] and account.attributes == {"mail": "henry@corp.example"}
        assert account.check_password("local-password-1")
        assert sorted(u.user_name for u in identity.list_users()) == ["henry", "henry2", "henry3"]


def test_the_provider_name_is_kept_when_free_and_a_taken_one_gets_the_form_instead_of_a_dead_end(wso2_site):
    with wso2_site.browser() as browser:
        page = to_user_name_form(browser, WHEN_TAKEN, "jonas")
        assert not on_user_name_page(page) and browser.form(page)["fields"]["USERNAME"] == "jonas"
        assert '<strong id="user-name">jonas</strong>' in set_password(browser, page).text
    ida = local_account(wso2_site, "ida")
    with wso2_site.browser() as browser:
        form = to_user_name_form(browser, WHEN_TAKEN, "ida")
        assert (
            on_user_name_page(form) and "already taken" in form.text and "Contact your administrator" not in form.text
        )
        assert suggestion_on(form) == "ida2"
        done = set_password(browser, choose_user_name(browser, form, "ida.berg"))
        assert '<strong id="user-name">ida.berg</strong>' in done.text
    with wso2_site.app.app_context():
        assert federation.links_of(ida) == []


def test_two_people_choosing_the_same_name_at_once_get_one_account_and_the_other_a_new_form(wso2_site):
    race_for_one_name(wso2_site)


def test_the_same_name_raced_on_postgresql_gives_one_account_and_a_new_form(make_jit_site, postgres_url):
    race_for_one_name(make_wso2_site(make_jit_site, database_url=postgres_url))


def race_for_one_name(wso2_site):
    """Both choose ``zed`` (free for both at the form); both set a password at once; the unique index decides."""
    browsers = [wso2_site.browser() for _ in range(2)]
    try:
        prompts = []
        for browser, login in zip(browsers, ("kim", "lee"), strict=True):
            prompts.append(choose_user_name(browser, to_user_name_form(browser, PROMPT, login), "zed"))
        assert all("PASSWORD" in browser.form(p)["fields"] for browser, p in zip(browsers, prompts, strict=True))

        def submit(pair):
            browser, page = pair
            form = browser.form(page)
            fields = {**form["fields"], "PASSWORD": STRONG, "CONFIRM_PASSWORD": STRONG}
            return browser.session.post(urljoin(page.url, form["action"]), data=fields, timeout=10)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(submit, zip(browsers, prompts, strict=True)))
        won = [a for a in answers if '<strong id="user-name">zed</strong>' in a.text]
        lost = [a for a in answers if on_user_name_page(a)]
        assert len(won) == 1 and len(lost) == 1, [a.text[:300] for a in answers]
        assert "took this user name a moment ago" in lost[0].text and suggestion_on(lost[0]) == "zed2"
        loser = browsers[answers.index(lost[0])]
        done = set_password(loser, choose_user_name(loser, lost[0], "zed2"))
        assert '<strong id="user-name">zed2</strong>' in done.text
    finally:
        for browser in browsers:
            browser.session.close()
    with wso2_site.app.app_context():
        users = {u.user_name: u for u in identity.list_users()}
        assert sorted(users) == ["zed", "zed2"], "no half-created account"
        assert [len(federation.links_of(u.id)) for u in users.values()] == [1, 1]
        assert len(audit.query(event="user.created")) == 2


def test_a_user_name_form_replayed_later_or_forged_changes_nothing(wso2_site):
    with wso2_site.browser() as browser:
        form = to_user_name_form(browser, PROMPT, "maja")
        sent = browser.form(form)
        password = choose_user_name(browser, form, "maja")
        replay = browser.post(sent["action"], data={**sent["fields"], "user_name": "mallory"})
        assert "PASSWORD" in browser.form(replay)["fields"], "the flow is past the name: the replay is ignored"
        assert browser.form(replay)["fields"]["USERNAME"] == "maja"
        forged = browser.post(sent["action"], data={"user_name": "mallory"})
        assert forged.status_code == 400 and "did not come from this site" in forged.text
        done = set_password(browser, password)
        assert '<strong id="user-name">maja</strong>' in done.text
        after = browser.post(sent["action"], data={**sent["fields"], "user_name": "mallory"})
        assert after.status_code == 400 and "<code>flow.expired</code>" in after.text
    with wso2_site.app.app_context():
        assert [u.user_name for u in identity.list_users()] == ["maja"]


def test_a_flow_may_try_only_a_few_names(wso2_site):
    local_account(wso2_site, "nils")
    with wso2_site.browser() as browser:
        page = to_user_name_form(browser, PROMPT, "otto")
        for _ in range(9):
            page = choose_user_name(browser, page, "nils")
        last = choose_user_name(browser, page, "NILS")
        assert last.status_code == 401 and "<code>user_name.too_many_attempts</code>" in last.text
    with wso2_site.app.app_context():
        assert [u.user_name for u in identity.list_users()] == ["nils"]


def test_a_provider_name_this_server_cannot_use_gets_the_form_with_the_reason(wso2_site):
    with wso2_site.browser() as browser:
        form = to_user_name_form(browser, WHEN_TAKEN, "ad\u200bmin")  # an invisible space inside
        assert on_user_name_page(form) and "can&#39;t be used" in form.text and "U+200B" in form.text
        assert suggestion_on(form) == "admin2"
        done = set_password(browser, choose_user_name(browser, form, "admin.ext"))
        assert '<strong id="user-name">admin.ext</strong>' in done.text
