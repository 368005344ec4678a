"""The admin console over real HTTP: who may open it, what each page shows, what its actions do."""

from __future__ import annotations

import pytest

from app import audit, sessions
from app.extensions import db
from app.stores import sql as identity
from tests.conftest import DEMO_DOMAIN, UNUSED_PROVIDERS

PASSWORD = "correct horse battery staple"
SCRIPT = "<script>alert(1)</script>"
ADMIN_DOMAIN = {
    "Administration": {
        "authentication_policies": {"Admin Console Policy": {"scheme": "AdminScheme"}},
        "resources": [{"url": "/admin/**", "policy": "Admin Console Policy"}],
    }
}


@pytest.fixture
def make_settings(make_settings):
    def make(extra=None, **kwargs):
        return make_settings({"application_domains": {**DEMO_DOMAIN, **ADMIN_DOMAIN}, **(extra or {})}, **kwargs)

    return make


@pytest.fixture
def people(add_user):
    return {
        "admin": add_user("admin", password=PASSWORD, groups="staff, admins"),
        "bob": add_user("bob", password=PASSWORD, mail="bob@example.org", groups="staff"),
        "mallory": add_user("mallory", password=PASSWORD, mail="mallory@example.org", display_name=SCRIPT),
    }


def sign_in(browser, user="admin", path="/admin/"):
    page = browser.get(path)
    assert browser.form()["id"] == "loginData", page.text[:300]
    return browser.submit({"USERNAME": user, "PASSWORD": PASSWORD})


def test_an_admin_signs_in_through_the_admin_scheme_and_lands_on_the_schemes_page(browser, people):
    page = sign_in(browser)
    assert page.status_code == 200 and page.url == browser.url("/admin/schemes")
    assert "AdminScheme" in page.text and "PasswordScheme" in page.text
    assert "<code>/admin/**</code>" in page.text and "<code>/demo/**</code>" in page.text


def test_a_signed_in_non_admin_gets_403_and_the_refusal_is_audited(app, browser, people):
    page = sign_in(browser, user="bob", path="/admin/users")
    assert page.status_code == 403
    assert "Your account is not an administrator of this server." in page.text
    with app.app_context():
        (event,) = audit.query(event="admin.forbidden")
        assert event.user_id == people["bob"] and event.detail == {"path": "/admin/users"}


def test_without_a_session_the_console_asks_for_the_admin_scheme(browser, people):
    page = browser.get("/admin/users?name=mail&value=x")
    assert page.status_code == 200 and browser.form()["id"] == "loginData"


def test_a_demo_session_is_stepped_up_before_the_console_opens(browser, people):
    done = sign_in(browser, path="/demo/")
    assert '<strong id="user-name">admin</strong>' in done.text
    page = browser.get("/admin/schemes")
    assert browser.form()["id"] == "loginData"  # level 1 < AdminScheme's level 2
    assert browser.submit({"USERNAME": "admin", "PASSWORD": PASSWORD}).url == browser.url("/admin/schemes")
    assert page.status_code == 200


def test_scheme_page_shows_the_orchestration_table_graph_and_resources(browser, people):
    sign_in(browser)
    page = browser.get("/admin/schemes/PasswordScheme")
    assert page.status_code == 200
    assert "<td>Credential_Collector</td><td>CredentialCollectorPlugin</td><td>User_Identification</td>" in page.text
    assert '<pre class="mermaid" id="graph">flowchart TD' in page.text
    assert "step0 --&gt;|success| step1" in page.text  # escaped in HTML, read back as text by Mermaid
    assert "/admin/assets/mermaid.min.js" in page.text
    script = browser.get("/admin/assets/mermaid.min.js")
    assert script.status_code == 200 and "mermaid" in script.text[:5000]
    assert browser.get("/admin/schemes/NoSuchScheme").status_code == 404


def test_users_are_found_by_attribute_and_by_user_name_prefix(browser, people):
    sign_in(browser)
    page = browser.get("/admin/users", params={"name": "mail", "value": "bob@example.org"})
    assert ">bob</a>" in page.text and ">mallory</a>" not in page.text
    page = browser.get("/admin/users", params={"name": "uid", "value": "mal"})
    assert ">mallory</a>" in page.text and ">bob</a>" not in page.text
    page = browser.get("/admin/users", params={"name": "mail", "value": "nobody@example.org"})
    assert "No user matches." in page.text


def test_users_are_paged_by_key(app, browser, people):
    with app.app_context():
        for i in range(60):
            identity.create_user("default", f"user{i:03}", {"team": "blue"})
        db.session.commit()
    sign_in(browser)
    first = browser.get("/admin/users", params={"name": "team", "value": "blue"})
    assert first.text.count('href="/admin/users/') == 50
    assert ">user000</a>" in first.text and ">user050</a>" not in first.text
    second = browser.get(_next_href(first.text))
    assert second.text.count('href="/admin/users/') == 10 and ">user059</a>" in second.text
    assert 'id="next-page"' not in second.text
    by_name = browser.get("/admin/users", params={"name": "uid", "value": "user0"})
    assert by_name.text.count('href="/admin/users/') == 50 and ">user049</a>" in by_name.text
    rest = browser.get(_next_href(by_name.text))
    assert (
        rest.text.count('href="/admin/users/') == 10 and ">user050</a>" in rest.text and ">user049</a>" not in rest.text
    )


def test_paging_through_a_shared_attribute_value_reads_the_index_in_order_without_sorting(app, people):
    """A value held by a million users (a department) costs a page what a value held by two does."""
    from sqlalchemy import event

    from app.web.admin import queries

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the query plan text checked here is SQLite's")
        executed = []

        def record(conn, cursor, statement, parameters, *rest):
            executed.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            queries.users_by_attribute("team", "blue", after=10)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        [(statement, parameters)] = executed
        explained = db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        plan = " | ".join(row[-1] for row in explained)
        assert "INDEX ix_user_attributes_name_value (name=? AND value=? AND user_id>?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def _next_href(html: str) -> str:
    import re

    return re.search(r'id="next-page" href="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_attribute_values_are_escaped(browser, people):
    sign_in(browser)
    page = browser.get(f"/admin/users/{people['mallory']}")
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_locking_a_user_ends_their_sessions_refuses_their_next_sign_in_and_records_before_and_after(
    app, browser, browser_for, live_server, people
):
    victim = browser_for(live_server)
    assert '<strong id="user-name">bob</strong>' in sign_in(victim, user="bob", path="/demo/").text
    sign_in(browser)
    page = browser.get(f"/admin/users/{people['bob']}")
    lock_form = next(f for f in _forms(page.text) if f["action"].endswith("/lock"))
    done = browser.post(lock_form["action"], data=lock_form["fields"])
    assert done.url == browser.url(f"/admin/users/{people['bob']}")
    assert 'id="user-status" class="status-locked">locked' in done.text
    before_after = (
        '<div class="before"><code>{&#34;status&#34;: &#34;active&#34;}</code></div>\n'
        '      <div class="after">→ <code>{&#34;status&#34;: &#34;locked&#34;}</code></div>'
    )
    assert before_after in done.text and '<div class="muted">by admin</div>' in done.text

    assert victim.get("/demo/").status_code == 200 and victim.form()["id"] == "loginData"  # session ended
    refused = victim.submit({"USERNAME": "bob", "PASSWORD": PASSWORD})
    assert "This account is locked" in refused.text
    with app.app_context():
        (event,) = audit.query(event="user.status")
        assert event.detail == {
            "user_name": "bob",
            "before": {"status": "active"},
            "after": {"status": "locked"},
            "by": "admin",
        }


def test_a_form_without_the_csrf_token_is_refused(app, browser, people):
    sign_in(browser)
    refused = browser.post(f"/admin/users/{people['bob']}/lock", data={})
    assert refused.status_code == 400
    assert "The form expired or did not come from this site." in refused.text
    with app.app_context():
        assert identity.get_user(people["bob"]).status == "active"


def test_delete_removes_the_user_and_keeps_what_was_deleted_in_the_audit_log(app, browser, people):
    with app.app_context():
        token = sessions.create(people["mallory"], 1, "PasswordScheme", 600)
        db.session.commit()
    sign_in(browser)
    page = browser.get(f"/admin/users/{people['mallory']}")
    form = next(f for f in _forms(page.text) if f["action"].endswith("/delete"))
    assert browser.post(form["action"], data=form["fields"]).url == browser.url("/admin/users")
    with app.app_context():
        assert identity.get_user(people["mallory"]) is None
        assert sessions.check(token) is None
        (event,) = audit.query(event="user.deleted")
        assert event.detail["before"]["attributes"] == {"display-name": SCRIPT, "mail": "mallory@example.org"}
    log = browser.get("/admin/audit", params={"event": "user.deleted"})
    assert "&lt;script&gt;" in log.text and SCRIPT not in log.text


def test_an_admin_cannot_lock_themselves_out(browser, people):
    page = sign_in(browser)
    token = _forms(browser.get("/admin/schemes").text)[0]["fields"]["csrf_token"]
    refused = browser.post(f"/admin/users/{people['admin']}/lock", data={"csrf_token": token})
    assert refused.status_code == 409 and "your own account" in refused.text
    assert page.status_code == 200


def test_flows_page_lists_flows_in_progress_and_each_flow_has_its_step_trace(browser, browser_for, live_server, people):
    waiting = browser_for(live_server)
    waiting.get("/demo/")
    sign_in(browser)
    page = browser.get("/admin/flows")
    assert "<td>PasswordScheme</td>" in page.text and "<td>Credential_Collector</td>" in page.text
    ref = _first_flow_ref(page.text)
    trace = browser.get(f"/admin/flows/{ref}")
    assert "<td>flow.start</td>" in trace.text and "<td>step</td>" in trace.text
    assert "CredentialCollectorPlugin" in trace.text and "challenge" in trace.text


def _first_flow_ref(html: str) -> str:
    import re

    return re.search(r'href="/admin/flows/([0-9a-f]{16})"', html).group(1)


def test_audit_log_filters_by_event_and_user_and_pages_backwards(app, browser, people):
    with app.app_context():
        for i in range(55):
            audit.record("test.event", user_id=people["bob"], reason=f"r{i}")
        db.session.commit()
    sign_in(browser)
    page = browser.get("/admin/audit", params={"event": "test.event", "user": "bob"})
    assert page.text.count("<td>test.event</td>") == 50 and "<code>r54</code>" in page.text
    older = browser.get(_next_href(page.text))
    assert older.text.count("<td>test.event</td>") == 5 and "<code>r0</code>" in older.text
    nobody = browser.get("/admin/audit", params={"user": "nobody"})
    assert "No events." in nobody.text


def test_providers_page_shows_discovery_key_ids_and_last_error_but_never_a_client_secret(make_settings):
    from app import create_app
    from app.oidc.documents import DatabaseDocuments
    from tests.browser import Browser
    from tests.conftest import LiveServer

    issuer = "https://idp.example.org"
    providers = {"corp": {"issuer": issuer, "client_id": "stepgate-client", "client_secret": "s3cr3t-value-1234"}}
    providers |= UNUSED_PROVIDERS  # the shipped routing schemes name devop
    application = create_app(make_settings({"identity_providers": providers}), testing=True)
    with application.app_context():
        db.create_all()
        identity.create_user("default", "admin", {"groups": "admins"}, PASSWORD)
        DatabaseDocuments().put(issuer, "discovery", {"issuer": issuer, "token_endpoint": issuer + "/token"})
        DatabaseDocuments().put(issuer, "jwks", {"keys": [{"kty": "RSA", "kid": "key-2026-11"}]})
        detail = {"provider": "corp", "detail": "connect <refused>"}
        audit.record("step", outcome="error", reason="idp.unreachable", detail=detail)
        db.session.commit()
    server = LiveServer(application).start()
    try:
        with Browser(server.url) as b:
            sign_in(b)
            page = b.get("/admin/providers")
        assert issuer in page.text and "stepgate-client" in page.text and "openid profile email" in page.text
        assert "s3cr3t-value-1234" not in page.text and ">client_secret<" not in page.text
        assert "<code>key-2026-11</code>" in page.text and f"<code>{issuer}/token</code>" in page.text
        assert "<code>idp.unreachable</code>" in page.text and "connect &lt;refused&gt;" in page.text
    finally:
        server.stop()
        with application.app_context():
            db.engine.dispose()


def test_registration_records_page_shows_each_hand_off_with_its_claims_as_text(app, browser, people):
    from app import registrations

    with app.app_context():
        registrations.create_record(
            "flow-id-1", "corp", "https://idp.example.org", "sub-9", '{"name": "' + SCRIPT + '"}', "mac", 600
        )
        db.session.commit()
    sign_in(browser)
    page = browser.get("/admin/registrations")
    assert page.status_code == 200
    assert "<td>pending</td>" in page.text and "<code>sub-9</code>" in page.text
    assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'href="/admin/flows/' in page.text


def test_reload_button_reports_a_refused_change_with_file_and_line(app, browser, people, make_settings):
    scheme_file = make_settings().parent.parent / "schemes" / "PasswordScheme.yaml"
    sign_in(browser)
    scheme_file.write_text(scheme_file.read_text().replace("plugin: UserAuthenticationPlugin", "plugin: NoSuchPlugin"))
    page = browser.get("/admin/schemes")
    form = next(f for f in _forms(page.text) if f["action"].endswith("/schemes/reload"))
    done = browser.post(form["action"], data=form["fields"])
    assert "Reload refused" in done.text
    assert f"{scheme_file}:" in done.text and "unknown plugin &#39;NoSuchPlugin&#39;" in done.text


def _forms(html: str) -> list[dict]:
    from tests.browser import parse_forms

    return parse_forms(html)


def test_demo_seed_creates_an_administrator_and_prints_how_to_sign_in(app, runner):
    result = runner.invoke(
        args=["demo", "seed", "--password", "demo-password-1", "--admin-password", "seeded-password-1"]
    )
    assert result.exit_code == 0, result.output
    assert "Admin user: admin (group 'admins')" in result.output
    assert "Console at: http://127.0.0.1:5000/admin/" in result.output
    with app.app_context():
        admin = identity.find_by_user_name("default", "admin")
        assert admin.attributes["groups"] == "admins" and admin.check_password("seeded-password-1")
        assert not admin.check_password("demo-password-1"), "the demo user's password must not open the console"


def test_a_linked_users_page_shows_the_sync_policy_of_each_provisioning_step(app, browser, people):
    from app.stores import federation

    with app.app_context():
        federation.link_user(people["bob"], "http://127.0.0.1:9", "op-bob", "devop")
        db.session.commit()
    sign_in(browser)
    linked = browser.get(f"/admin/users/{people['bob']}")
    assert "<code>http://127.0.0.1:9</code>" in linked.text and "<code>op-bob</code>" in linked.text
    assert (
        "<tr><td>AutoProvisioningScheme</td><td>OAuth_Self_Registration</td><td><code>locale</code></td>"
        "<td><code>locale</code></td><td>import</td></tr>"
    ) in linked.text
    assert "<td><code>email</code></td><td><code>mail</code></td><td>force</td>" in linked.text
    unlinked = browser.get(f"/admin/users/{people['mallory']}")
    assert 'id="sync-policy"' not in unlinked.text
