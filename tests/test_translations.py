"""Every page speaks the language the browser asks for: one catalogue, English by default, French complete.

The catalogue (app/i18n/messages.properties and messages_fr.properties) is
checked for gaps and mismatched placeholders; every key the code and the
templates name exists; the templates carry no English of their own. Over real
HTTP, a browser asking for French gets ``<html lang="fr">`` and French text on
the sign-in page, an error page, the JIT password prompt with its failed rule
and a console page, with ``Vary: Accept-Language``; an API client keeps its
English JSON. Accept-Language that can't be read falls back to English.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from markupsafe import Markup

from app.i18n.catalogue import BASE, LOCALES, catalogue, placeholders
from app.i18n.negotiation import MAX_HEADER, best_locale, explicit_locale
from app.i18n.properties import parse_properties
from app.web import messages
from tests.browser import parse_forms
from tests.conftest import DEMO_DOMAIN
from tests.jit_steps import provider_sign_in

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "app" / "templates"
ENGLISH = catalogue().by_locale["en"]
FRENCH = catalogue().by_locale["fr"]
PASSWORD = "correct horse battery staple"
FR = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}


# -- the catalogue --------------------------------------------------------------------------------


def test_french_is_a_locale_and_english_the_default():
    assert LOCALES == ("en", "fr")
    assert BASE.name == "messages.properties"


def test_every_english_text_has_a_french_one_and_no_french_text_is_orphaned():
    assert sorted(set(ENGLISH) - set(FRENCH)) == [], "English keys without French"
    assert sorted(set(FRENCH) - set(ENGLISH)) == [], "French keys English does not have"


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_no_text_is_empty(locale):
    assert [key for key, text in catalogue().by_locale[locale].items() if not text.strip()] == []


def test_placeholders_are_the_same_in_both_languages():
    differing = {key: (placeholders(text), placeholders(FRENCH[key])) for key, text in ENGLISH.items()}
    assert {key: pair for key, pair in differing.items() if pair[0] != pair[1]} == {}


def test_french_texts_are_translated_not_copied():
    # short labels that read the same in both languages: a technical word, a brand, a placeholder only
    same_in_both = {
        "page.brand_home",
        "error.http_status",
        "mfa.code",
        "console.title",
        "console.nav.sessions",
        "console.sessions.session",
        "consent.version",
        "mail.code.minute",
        "mail.code.minutes",
        "console.flows.version",
        "console.schemes.version",
        "console.scheme.plugin",
        "console.users.id",
        "console.utc_time",
        "console.flash.status",
        "console.users.attribute_placeholder",
    }
    copied = sorted(key for key, text in ENGLISH.items() if FRENCH[key] == text and key not in same_in_both)
    assert copied == []


def test_every_key_the_code_and_the_templates_name_is_in_the_catalogue():
    sources = [*TEMPLATES.rglob("*.html"), *(ROOT / "app").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    named = set()
    for path in sources:
        source = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"""\b(?:_|say)\(\s*["']([a-z_]+(?:\.[a-z0-9_]+)+)["']""", source))
    assert len(named) > 250, "the scan finds the lookups"
    assert sorted(named - set(ENGLISH)) == []


WRITTEN_FLASH = re.compile(r"""\bflash\(\s*f?["'][^"']*""")
WRITTEN_DETAIL = re.compile(r"""\berror_page\([^()]*,\s*\d+,\s*f?["'][^"']*""")


def test_no_flash_message_or_error_detail_is_written_in_the_code():
    sample = 'flash(f"Deleted {user}", "ok")\nerror_page("authn.required", 401, "Sign in first")'
    assert len(WRITTEN_FLASH.findall(sample)) == 1 and len(WRITTEN_DETAIL.findall(sample)) == 1
    written = []
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        written += [f"{path.name}: {found}" for found in WRITTEN_FLASH.findall(source) + WRITTEN_DETAIL.findall(source)]
    assert written == []


def test_english_reason_texts_are_the_ones_pages_and_apis_always_showed():
    assert messages.message_for("credentials.invalid") == "The user name or password is incorrect."
    assert messages.message_for("no.such.reason") == "Sign-in could not be completed."
    assert messages.message_for("page.not_found", "fr").startswith("Il n'y a aucune page à cette adresse.")
    assert messages.MESSAGES["idp.busy"].startswith("Many sign-ins are waiting")


def test_properties_are_read_as_oam_resource_bundles_write_them():
    source = (
        "# a comment\n! another\n"
        "TITLE = Cr\\u00e9ation de votre compte\n"
        "LONG=first part \\\n    second part\n"
        "COLON: value: with a colon\n"
        "SPACED value after a space\n"
        "EMPTY=\n"
        "key\\=with\\=equals=x\n"
        "TAB=a\\tb\n"
    )
    assert parse_properties(source) == {
        "TITLE": "Création de votre compte",
        "LONG": "first part second part",
        "COLON": "value: with a colon",
        "SPACED": "value after a space",
        "EMPTY": "",
        "key=with=equals": "x",
        "TAB": "a\tb",
    }


# -- which language a request gets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR-ca", "fr"),
        ("fr-Latn-CH;q=0.8", "fr"),
        ("en-US,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE, fr;q=0.5, en;q=0.3", "fr"),
        ("en;q=0.4, fr;q=0.6", "fr"),
        ("fr;q=0.6, en;q=0.6", "fr"),  # equal quality: the first listed
        ("de, it, es", "en"),  # nothing available: the default
        ("*", "en"),
        ("fr;q=0", "en"),  # q=0 means "not this one"
        ("fr;q=0, *;q=0.1", "en"),
        ("fr;q=1.5", "en"),  # a quality out of range is not believed
        ("fr;q=abc", "en"),
        ("fr;level=1", "en"),  # a parameter other than q: the range is unreadable, skipped
        ("", "en"),
        (None, "en"),
        (";;;,,,==", "en"),
        ("f\u00e9", "en"),
        ("fr\r\nSet-Cookie: x=1", "en"),
        ("<script>alert(1)</script>, fr", "fr"),
        ("x" * 100_000 + ",fr", "en"),  # a huge header is cut, not parsed in full
        (",".join(["de"] * 1000 + ["fr"]), "en"),  # only the first ranges count
    ],
)
def test_accept_language_picks_an_available_locale_or_falls_back_to_english(header, chosen):
    assert best_locale(header, LOCALES, "en") == chosen


def test_the_answer_is_always_one_of_the_available_locales():
    for header in ["xx", "fr-CA", "en-GB", "*", "zz-ZZ;q=1", "-", "fr-", "ﬀ", "\x00fr"]:
        assert best_locale(header, LOCALES, "en") in LOCALES
    assert MAX_HEADER <= 4096


@pytest.mark.parametrize(
    ("cookie", "chosen"),
    [
        ("fr", "fr"),
        ("FR", "fr"),
        ("en", "en"),
        ("de", None),
        ("fr-CA", None),
        ("", None),
        (None, None),
        ("fr;" + "x" * 5000, None),
        ("<b>", None),
    ],
)
def test_an_explicit_choice_counts_only_when_it_names_an_available_locale_exactly(cookie, chosen):
    assert explicit_locale(cookie, LOCALES) == chosen


# -- no English outside the catalogue -------------------------------------------------------------

BRANDS_AND_NAMES = {"stepgate", "mail"}  # the product's name; the ``mail`` attribute's name as the store spells it
SKIPPED = ("script", "style", "code", "pre")  # code and literal identifiers (``identity_providers``) read as written
READABLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "data-confirm", "label"}


class _TextNodes(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self._skip += 1
        self.found += [value for name, value in attrs if name in READABLE_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in SKIPPED:
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def english_words_outside_the_catalogue(source: str) -> list[str]:
    """Words of two letters or more left in a template once its Jinja comments, tags and expressions are gone."""
    stripped = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
    parser = _TextNodes()
    parser.feed(stripped)
    words = re.findall(r"[^\W\d_]{2,}", " ".join(unescape(text) for text in parser.found))
    return [word for word in words if word not in BRANDS_AND_NAMES]


TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_a_template_holds_no_text_of_its_own(template):
    assert english_words_outside_the_catalogue(template.read_text(encoding="utf-8")) == []


def test_the_template_check_catches_text_nodes_and_readable_attributes():
    assert english_words_outside_the_catalogue("<p>Sign in</p>") == ["Sign", "in"]
    assert english_words_outside_the_catalogue('<input placeholder="your name">') == ["your", "name"]
    assert english_words_outside_the_catalogue('<form data-confirm="Delete?"></form>') == ["Delete"]
    assert english_words_outside_the_catalogue('<p>{{ _("a.b") }} · {% if x %}{{ y }}{% endif %} →</p>') == []
    assert english_words_outside_the_catalogue("<a>stepgate</a>{# a comment #}<script>let a;</script>") == []
    assert english_words_outside_the_catalogue("<p><code>config/settings.yaml</code> is read</p>") == ["is", "read"]


# -- pages over real HTTP -------------------------------------------------------------------------


def lang_of(page) -> str:
    return re.search(r'<html lang="([^"]*)"', page.text).group(1)


def test_the_sign_in_page_is_french_for_a_french_browser_and_english_otherwise(browser):
    browser.session.headers.update(FR)
    page = browser.get("/demo/")
    assert page.status_code == 200 and lang_of(page) == "fr"
    assert "<title>Connexion</title>" in page.text and "<h1>Connexion</h1>" in page.text
    assert '<label for="USERNAME">Nom d&#39;utilisateur</label>' in page.text
    assert "Accept-Language" in page.headers["Vary"] and "Cookie" in page.headers["Vary"]
    assert page.headers["Content-Language"] == "fr"
    refused = browser.submit({"USERNAME": "nobody", "PASSWORD": "wrong"})
    assert "Le nom d&#39;utilisateur ou le mot de passe est incorrect." in refused.text

    english = requests.get(browser.url("/demo/"), timeout=10)
    assert lang_of(english) == "en" and "<h1>Sign in</h1>" in english.text


def test_an_error_page_is_french_and_its_json_twin_stays_english(browser):
    page = browser.get("/no/such/page", headers={**FR, "Accept": "text/html"})
    assert page.status_code == 404 and lang_of(page) == "fr"
    assert "<h1>Page introuvable</h1>" in page.text
    assert "Il n&#39;y a aucune page à cette adresse." in page.text
    assert "Code du motif : <code>page.not_found</code> · HTTP 404" in page.text
    assert "Aller à la page d&#39;accueil" in page.text

    api = browser.get("/no/such/page", headers={**FR, "Accept": "application/json"})
    assert "Content-Language" not in api.headers and "Accept-Language" not in api.headers.get("Vary", "")
    assert api.status_code == 404 and api.json() == {
        "error": "page.not_found",
        "message": "There is no page at this address. Check the address, or start again from the start page.",
    }


def test_a_sign_in_error_page_from_a_flow_is_french(browser):
    page = browser.post("/oam/server/auth_cred_submit", {"x": "1"}, headers=FR)
    assert lang_of(page) == "fr" and "Connexion interrompue" in page.text and "Code du motif" in page.text


def test_a_lang_cookie_naming_a_locale_wins_and_any_other_value_is_ignored(browser):
    browser.session.cookies.set("lang", "fr")
    assert lang_of(browser.get("/demo/")) == "fr", "the explicit choice over an English browser"
    for value in ("de", "fr-CA", "fr_injected", "zz" * 100):
        browser.session.cookies.set("lang", value)
        page = browser.get("/demo/", headers={"Accept-Language": "en"})
        assert lang_of(page) == "en" and "injected" not in page.text and "zzzz" not in page.text


def test_the_password_prompt_states_its_rules_in_french_and_names_the_failed_one(jit_site):
    with jit_site.browser() as browser:
        browser.session.headers.update(FR)
        prompt = provider_sign_in(browser, "/demo/jit/reports", "zoe")
        assert lang_of(prompt) == "fr"
        assert 'aria-label="Le mot de passe doit contenir"' in prompt.text
        for rule in ("Au moins 10 caractères", "Une lettre", "Un chiffre (0-9)"):
            assert f">{rule}</li>" in prompt.text
        refused = browser.submit({"PASSWORD": "pas de chiffres ici", "CONFIRM_PASSWORD": "pas de chiffres ici"})
        assert lang_of(refused) == "fr"
        assert (
            "Ce mot de passe ne respecte pas la politique de mots de passe : il ne contient aucun chiffre."
            in unescape(refused.text)
        )
        assert '<li data-rule="registration.password_no_digit" class="failed">Un chiffre (0-9)</li>' in refused.text


ADMIN_DOMAIN = {
    "Administration": {
        "authentication_policies": {"Admin Console Policy": {"scheme": "AdminScheme"}},
        "resources": [{"url": "/admin/**", "policy": "Admin Console Policy"}],
    }
}


@pytest.fixture
def make_settings(make_settings):
    """Every server of this file has the console too, behind the AdminScheme."""

    def make(extra=None, **kwargs):
        return make_settings({"application_domains": {**DEMO_DOMAIN, **ADMIN_DOMAIN}, **(extra or {})}, **kwargs)

    return make


def test_a_console_page_and_its_flash_message_are_french_for_a_french_administrator(browser, add_user):
    add_user("admin", password=PASSWORD, groups="admins")
    console = browser
    console.session.headers.update(FR)
    console.get("/admin/")
    schemes = console.submit({"USERNAME": "admin", "PASSWORD": PASSWORD})
    assert schemes.status_code == 200 and lang_of(schemes) == "fr"
    assert "<h1>Schémas d&#39;authentification</h1>" in schemes.text
    assert ">Utilisateurs</a>" in schemes.text and ">Journal d&#39;audit</a>" in schemes.text
    assert "<title>Schémas · administration stepgate</title>" in schemes.text
    reload_form = next(f for f in parse_forms(schemes.text) if f["action"].endswith("/admin/schemes/reload"))
    after = console.post(reload_form["action"], reload_form["fields"])
    assert lang_of(after) == "fr" and "schéma(s) rechargé(s) depuis le disque." in after.text

    users = console.get("/admin/users")
    assert "Tous les utilisateurs, les plus anciens en premier." in users.text
    assert 'placeholder="valeur exacte (uid : un préfixe)"' in users.text


def test_a_placeholder_may_share_a_name_with_the_lookups_own_arguments(app):
    from app.i18n.catalogue import text
    from app.i18n.web import say, say_html

    with app.test_request_context(headers=FR):
        assert str(say_html("mfa.enrol_key", key="ABCD")) == "Ou saisissez cette clé dans l&#39;application : ABCD"
        assert say("mfa.enrol_key", key="<b>") == "Ou saisissez cette clé dans l'application : <b>"
        assert str(say_html("mfa.enrol_key", key="<b>")).endswith("&lt;b&gt;"), "a value is escaped in a page"
        assert str(say_html("mfa.enrol_key", key=Markup("<code>K</code>"))).endswith("<code>K</code>")
        assert str(say_html("console.flash.status", user="{old}", old="a", new="b")) == "{old} : a → b", "one pass"
    assert text("mfa.enrol_key", "en", key="K") == "Or type this key into the app: K"


def test_a_user_name_refusal_reads_in_french_on_the_prompt(app):
    from plugins.user_name_prompt import _detail

    with app.test_request_context(headers=FR):
        assert _detail("a\u200bb") == (
            "Le nom d'utilisateur contient un caractère invisible ou de mise en forme (U+200B ZERO WIDTH SPACE)."
        )
        assert _detail("p\u0430ypal") == (
            "Le nom d'utilisateur mélange des lettres des écritures Cyrillic et Latin, qui peuvent se ressembler."
        )
    with app.test_request_context():
        assert _detail("") == "The user name is empty."
