"""Provisioning rules without a browser: attribute mapping, sync policies, races and refusals."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import audit, create_app, provisioning
from app.extensions import db
from app.stores import federation
from app.stores import sql as identity

POLICY = provisioning.ProvisioningPolicy(
    store="default",
    key_claims=("email", "given_name", "locale", "picture", "groups"),
    mapping={"email": "mail", "given_name": "first-name"},
    sync={"locale": "import", "picture": "never"},
)
FEDERATED = {
    "provider": "devop",
    "issuer": "http://127.0.0.1:9",
    "subject": "sub-123",
    "claims": {
        "sub": "sub-123",
        "email": "pat@example.org",
        "given_name": "Pat",
        "family_name": "Not Listed",
        "locale": "nl",
        "picture": "https://example.org/p.png",
        "groups": ["admins"],
        "email_verified": True,
    },
}


def test_only_listed_claims_become_attributes_under_their_mapped_names():
    assert provisioning.map_claims(FEDERATED["claims"], POLICY, creating=True) == {
        "mail": "pat@example.org",
        "first-name": "Pat",
        "locale": "nl",
    }


def test_on_return_only_force_attributes_are_taken_from_the_provider():
    assert provisioning.map_claims(FEDERATED["claims"], POLICY, creating=False) == {
        "mail": "pat@example.org",
        "first-name": "Pat",
    }


def test_an_unverified_email_never_becomes_an_attribute():
    unverified = {**FEDERATED["claims"], "email_verified": False}
    assert "mail" not in provisioning.map_claims(unverified, POLICY, creating=True)
    assert "mail" not in provisioning.map_claims({**unverified, "email_verified": "false"}, POLICY, creating=False)


def test_a_user_name_the_store_cannot_hold_is_refused_cleanly(app):
    with app.app_context():
        for bad in ("x" * 256, "tab\tname", ""):
            with pytest.raises(provisioning.Refused) as refused:
                provisioning.provision(FEDERATED, bad, POLICY)
            assert refused.value.reason == "registration.bad_user_name"
        assert list(identity.list_users()) == []


def test_a_lost_race_identifies_the_winner_instead_of_failing(app, monkeypatch):
    with app.app_context():
        winner, created = provisioning.provision(FEDERATED, "pat", POLICY)
        db.session.commit()
        assert created
        # the other sign-in's identification step looked before the winner committed: provisioning
        # inserts without looking again, the unique constraint refuses it, and it finds the winner
        audit.record("flow.start", detail={"marker": "kept"})
        user, created = provisioning.provision(FEDERATED, "pat", POLICY)
        db.session.commit()
        assert (user.id, created) == (winner.id, False)
        assert [u.user_name for u in identity.list_users()] == ["pat"]
        assert audit.query(event="flow.start")[0].detail == {"marker": "kept"}, "the savepoint kept the transaction"


@pytest.mark.parametrize("user_name", ["pat", "pat-renamed-at-the-provider"])
def test_a_locked_linked_account_is_refused_never_re_created(app, user_name):
    with app.app_context():
        user, _ = provisioning.provision(FEDERATED, "pat", POLICY)
        identity.get_user(user.id).status = identity.UserStatus.LOCKED.value
        db.session.commit()
        with pytest.raises(provisioning.Refused) as refused:
            provisioning.provision(FEDERATED, user_name, POLICY)
        db.session.commit()
        assert refused.value.reason == "user.locked"
        assert [u.user_name for u in identity.list_users()] == ["pat"]


def test_a_user_name_taken_by_another_person_is_refused_and_the_transaction_survives(app):
    with app.app_context():
        identity.create_user("default", "pat", {"mail": "other@example.org"})
        db.session.commit()
        audit.record("flow.start", detail={"marker": "kept"})
        with pytest.raises(provisioning.Refused) as refused:
            provisioning.provision(FEDERATED, "pat", POLICY)
        db.session.commit()
        assert refused.value.reason == "registration.user_name_taken"
        assert audit.query(event="flow.start")[0].detail == {"marker": "kept"}
        assert federation.find_linked_user(FEDERATED["issuer"], FEDERATED["subject"]) is None


def test_sync_records_one_audit_event_per_changed_attribute_with_old_and_new_values(app):
    with app.app_context():
        user, _ = provisioning.provision(FEDERATED, "pat", POLICY)
        changed_claims = {**FEDERATED["claims"], "email": "pat@new.example", "locale": "fr", "picture": "x"}
        changed = provisioning.sync(user, {**FEDERATED, "claims": changed_claims}, POLICY)
        db.session.commit()
        assert changed == ["mail"]
        [event] = audit.query(event="user.attribute_changed")
        assert event.detail == {
            "attribute": "mail",
            "old": "pat@example.org",
            "new": "pat@new.example",
            "provider": "devop",
            "source": "provider:devop",
            "verified": False,
        }
        assert identity.get_user(user.id).attributes == {"first-name": "Pat", "locale": "nl", "mail": "pat@new.example"}


def test_on_postgresql_the_loser_of_a_real_race_waits_for_the_winner_and_identifies_it(make_settings, postgres_url):
    site = create_app(make_settings(extra={"database_url": postgres_url}), testing=True)
    with site.app_context():
        db.create_all()
    winner_inserted, winner_may_commit = threading.Event(), threading.Event()

    def winner():
        with site.app_context():
            user, created = provisioning.provision(FEDERATED, "pat", POLICY)
            winner_inserted.set()  # inserted, not committed: invisible to the loser's lookup
            winner_may_commit.wait(10)
            db.session.commit()
            return user.id, created

    def loser():
        winner_inserted.wait(10)
        with site.app_context():
            threading.Timer(0.5, winner_may_commit.set).start()  # commit while the loser waits on the unique index
            user, created = provisioning.provision(FEDERATED, "pat", POLICY)
            db.session.commit()
            return user.id, created

    try:
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.submit(winner), pool.submit(loser)
            (winner_id, winner_created), (loser_id, loser_created) = first.result(20), second.result(20)
        assert winner_created and not loser_created and winner_id == loser_id
        with site.app_context():
            assert [u.user_name for u in identity.list_users()] == ["pat"]
    finally:
        with site.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_account_is_created_in_the_configured_identity_store(app):
    partners = provisioning.ProvisioningPolicy(store="partners", key_claims=("email",), mapping={"email": "mail"})
    with app.app_context():
        user, created = provisioning.provision(FEDERATED, "pat", partners)
        db.session.commit()
        assert created and user.store == "partners" and user.attributes == {"mail": "pat@example.org"}
        assert identity.find_by_user_name("default", "pat") is None
