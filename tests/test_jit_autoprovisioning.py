"""Just-in-time auto-provisioning through the real development OpenID Provider (OAM 42.2, 42.3)."""

from __future__ import annotations

from app import audit, federation, identity
from tests.jit_steps import attributes_shown, provider_sign_in

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
