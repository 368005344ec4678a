"""The console's activity views read as a person needs them: names, not ids; branches, not failures."""

from __future__ import annotations

from app import audit
from app.extensions import db
from app.stores import sql as identity
from tests.conftest import UNUSED_PROVIDERS
from tests.test_admin_console import make_settings, people, sign_in  # noqa: F401 - fixtures shared with the console's tests


def test_audit_rows_name_the_user_and_keep_a_deleted_users_id(app, browser, people, add_user):  # noqa: F811
    gone = add_user("temporary")
    with app.app_context():
        audit.record("user.status", user_id=people["bob"], detail={"before": {"status": "active"}, "after": {}})
        audit.record("user.deleted", user_id=gone)
        db.session.commit()
        db.session.delete(db.session.get(identity.User, gone))
        db.session.commit()
    sign_in(browser)
    page = browser.get("/admin/audit")
    assert f'<a href="/admin/users/{people["bob"]}" class="user-ref">bob</a>' in page.text
    assert f'<a href="/admin/users/{gone}" class="user-ref">#{gone}</a>' in page.text


def test_before_and_after_are_on_lines_of_their_own(app, browser, people):  # noqa: F811
    with app.app_context():
        audit.record(
            "user.status",
            user_id=people["bob"],
            detail={"before": {"status": "active"}, "after": {"status": "locked"}, "by": "admin"},
        )
        db.session.commit()
    sign_in(browser)
    page = browser.get("/admin/audit")
    assert '<div class="before"><code>{&#34;status&#34;: &#34;active&#34;}</code></div>' in page.text
    assert '<div class="after">→ <code>{&#34;status&#34;: &#34;locked&#34;}</code></div>' in page.text
    assert '<div class="muted">by admin</div>' in page.text


def test_an_attribute_change_reads_as_before_and_after_with_its_attribute_and_source(app, browser, people):  # noqa: F811
    with app.app_context():
        audit.record(
            "user.attribute_changed",
            user_id=people["bob"],
            detail={"attribute": "mail", "old": "bob@old.example", "new": "bob@new.example", "provider": "corp"},
        )
        db.session.commit()
    sign_in(browser)
    page = browser.get("/admin/audit")
    assert '<div class="muted"><code>mail</code></div>' in page.text
    assert '<div class="before"><code>&#34;bob@old.example&#34;</code></div>' in page.text
    assert '<div class="after">→ <code>&#34;bob@new.example&#34;</code></div>' in page.text
    assert '<div class="muted"><code>{&#34;provider&#34;: &#34;corp&#34;}</code></div>' in page.text, "the rest is kept"


def test_an_expected_no_that_the_scheme_branches_on_is_not_shown_as_a_failure(app, browser, people):  # noqa: F811
    with app.app_context():
        common = {"flow_id": "0123456789abcdef", "scheme": "AutoProvisioningScheme", "outcome": "failure"}
        audit.record("step", step="User_Identification1", reason="user.not_linked", **common)
        audit.record("step", step="User_Identification2", reason="user.not_found", **common)
        db.session.commit()
    sign_in(browser)
    page = browser.get("/admin/audit")
    assert '<td class="outcome-branch" title="an expected answer: the scheme goes on to Credential_Collector">' in (
        page.text
    ), "User_Identification1's On Failure is Credential_Collector"
    assert "failure → Credential_Collector</td>" in page.text
    assert '<td class="outcome-failure">failure</td>' in page.text, "User_Identification2's On Failure ends the flow"


def test_the_providers_last_error_is_a_failure_never_the_routine_redirect(make_settings):  # noqa: F811
    from app import create_app
    from tests.browser import Browser
    from tests.conftest import LiveServer

    providers = {"corp": {"issuer": "https://idp.example.org", "client_id": "stepgate", "client_secret": "s3cr3t-1"}}
    providers |= UNUSED_PROVIDERS  # the shipped routing schemes name devop
    application = create_app(make_settings({"identity_providers": providers}), testing=True)
    with application.app_context():
        db.create_all()
        identity.create_user("default", "admin", {"groups": "admins"}, "correct horse battery staple")
        audit.record("step", outcome="error", reason="idp.unreachable", detail={"provider": "corp"})
        audit.record("step", outcome="challenge", reason="oidc.redirect", detail={"provider": "corp"})
        db.session.commit()
    server = LiveServer(application).start()
    try:
        with Browser(server.url) as b:
            sign_in(b)
            page = b.get("/admin/providers")
        assert "<code>idp.unreachable</code>" in page.text and "<code>oidc.redirect</code>" not in page.text
    finally:
        server.stop()
        with application.app_context():
            db.engine.dispose()
