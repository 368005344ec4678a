"""Choosing the provider: identifier-first home realm discovery among two providers, and the idp_hint parameter.

Two providers, ``corp`` and ``partner``, are two clients of the real development
provider, each registered for this site's callback; which one a browser is sent
to shows in the authorization request's ``client_id``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.jit_steps import at_provider
from tests.oidc_fixtures import CALLBACK

ROOT = Path(__file__).resolve().parent.parent
ROUTING_SCHEME = (
    (ROOT / "schemes" / "IdentifierFirstScheme.yaml")
    .read_text()
    .replace("name: IdentifierFirstScheme", "name: RoutingScheme")
    .replace(
        "example.org: devop            # the development provider's people (login@example.org)",
        "corp.example.com: corp\n          partner.example.org: partner",
    )
    .replace('provider: "*"', "provider: [corp, partner]")
)


@pytest.fixture
def routing_site(make_jit_site, devop):
    clients = {}

    def providers(url: str) -> dict:
        out = {}
        for name in ("corp", "partner"):
            client = devop.register_client(f"{url}{CALLBACK}")
            clients[name] = client["client_id"]
            out[name] = {
                "issuer": devop.issuer,
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "read_timeout": 5,
            }
        return out

    site = make_jit_site(
        providers=providers,
        schemes={"RoutingScheme.yaml": ROUTING_SCHEME},
        policies={"Routing": {"scheme": "RoutingScheme"}},
        resources=[{"url": "/demo/routing/**", "policy": "Routing"}],
    )
    site.clients = clients
    return site


def type_identifier(browser, path: str, identifier: str):
    """Open ``path`` and type ``identifier`` at the identifier-first step; the answer is not followed."""
    page = browser.get(path)
    assert 'name="USERNAME"' in page.text and "PASSWORD" not in page.text, page.text[:300]
    return browser.submit({"USERNAME": identifier}, allow_redirects=False)


def sent_to(answer) -> dict[str, str]:
    assert answer.status_code == 302, answer.text[:300]
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return {key: values[0] for key, values in query.items()}


@pytest.mark.parametrize(
    ("identifier", "provider"),
    [
        ("alice@corp.example.com", "corp"),
        ("bob@partner.example.org", "partner"),
        ("Carol@CORP.Example.COM", "corp"),
        ("dave@partner.example.org.", "partner"),
    ],
)
def test_the_domain_picks_its_provider_among_two_and_passes_the_login_hint(routing_site, identifier, provider):
    with routing_site.browser() as browser:
        request = sent_to(type_identifier(browser, "/demo/routing/", identifier))
        assert request["client_id"] == routing_site.clients[provider]
        assert request["login_hint"] == identifier


def test_a_routed_person_signs_in_at_their_provider_and_reaches_the_page(routing_site):
    with routing_site.browser() as browser:
        answer = type_identifier(browser, "/demo/routing/", "erin@partner.example.org")
        page = browser.get(answer.headers["Location"])
        assert at_provider(page)
        page = browser.submit({"login": "erin", "email": "erin@partner.example.org"})
        assert page.status_code == 200 and page.url.endswith("/demo/routing/")


@pytest.mark.parametrize(
    "identifier",
    [
        "mallory@corp.example.com.evil.test",  # the real name as a prefix
        "mallory@evilcorp.example.com",  # the real name as a suffix
        "mallory@xn--crp-8cd.example.com",  # punycode of a look-alike
        "mallory@сorp.example.com",  # Cyrillic 'с'
        "mallory@ｃｏｒｐ.example.com",  # fullwidth letters
        "mallory@corp\u200b.example.com",  # a zero-width space
        "mallory@partner@corp.example.com",  # two '@'
        "mallory",  # a user name
    ],
)
def test_a_look_alike_or_no_domain_goes_to_the_local_password_never_to_a_provider(routing_site, identifier):
    with routing_site.browser() as browser:
        answer = type_identifier(browser, "/demo/routing/", identifier)
        assert answer.status_code == 200, answer.headers.get("Location")
        assert 'name="PASSWORD"' in answer.text
        assert routing_site.clients["corp"] not in answer.text and routing_site.clients["partner"] not in answer.text


def test_a_local_user_types_their_name_then_only_the_password(routing_site):
    with routing_site.app.app_context():
        from app.extensions import db
        from app.stores import sql as identity

        identity.create_user("default", "frank", {}, "correct horse battery staple")
        db.session.commit()
    with routing_site.browser() as browser:
        answer = type_identifier(browser, "/demo/routing/", "frank")
        assert 'value="frank"' in answer.text and "readonly" in answer.text
        page = browser.submit({"PASSWORD": "correct horse battery staple"})
        assert page.status_code == 200 and page.url.endswith("/demo/routing/")


@pytest.mark.parametrize(
    "entry",
    [
        "/demo/jit/?idp_hint=partner",
        "/login?next=/demo/jit/&idp_hint=partner",
        "/login?next=/demo/jit/%3Fidp_hint%3Dpartner",  # forward-auth's way: the hint is on the application's URL
    ],
)
def test_a_provider_hint_skips_the_chooser_when_the_scheme_offers_that_provider(routing_site, entry):
    with routing_site.browser() as browser:
        answer = browser.get(entry, allow_redirects=False)
        while answer.status_code == 302 and answer.headers["Location"].startswith(("/", routing_site.url)):
            answer = browser.get(answer.headers["Location"], allow_redirects=False)
        request = sent_to(answer)
        assert request["client_id"] == routing_site.clients["partner"]
        assert "login_hint" not in request  # only a provider the person's own domain routed to is told the address


@pytest.mark.parametrize("hint", ["google", "nobody", "PARTNER", "corp partner", "partner.", "x" * 65])
def test_a_hint_the_scheme_does_not_offer_is_ignored(routing_site, hint):
    with routing_site.browser() as browser:
        page = browser.get(f"/demo/jit/?idp_hint={hint}")
        assert page.status_code == 200 and 'id="identity-providers"' in page.text


def test_a_hint_for_a_provider_outside_the_steps_list_is_ignored(routing_site):
    with routing_site.browser() as browser:
        page = browser.get("/demo/routing/?idp_hint=devop")
        assert 'name="USERNAME"' in page.text  # the identifier step still comes first
        request = sent_to(browser.submit({"USERNAME": "gina@corp.example.com"}, allow_redirects=False))
        assert request["client_id"] == routing_site.clients["corp"]


def test_a_domain_table_naming_an_unknown_provider_is_refused_with_its_line(make_settings):
    from app import create_app
    from app.yamlsource import ConfigError

    broken = ROUTING_SCHEME.replace("partner.example.org: partner", "partner.example.org: partnr")
    path = make_settings(schemes={"RoutingScheme.yaml": broken})
    with pytest.raises(ConfigError) as caught:
        create_app(path, testing=True)
    assert "RoutingScheme.yaml:" in str(caught.value)
    assert "identity provider 'partnr' is not defined" in str(caught.value)
