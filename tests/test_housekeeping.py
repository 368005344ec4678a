"""`flask purge` deletes what has expired and nothing that is still alive."""

from __future__ import annotations

from datetime import timedelta

from app import flows, registrations, sessions
from app.extensions import db
from app.timeutil import utcnow


def test_purge_deletes_expired_flows_registrations_and_sessions_only(app, runner, add_user):
    user_id = add_user("alice")
    with app.app_context():
        old_flow = flows.start_flow("PasswordScheme", "v1", "/demo/", lifetime=60)
        old_flow.expires_at = utcnow() - timedelta(seconds=1)
        flows.save(old_flow)
        flows.save(flows.start_flow("PasswordScheme", "v1", "/demo/", lifetime=60))
        _, old_registration = registrations.create_record("flow", "devop", "https://idp", "sub-1", "{}", "hmac", 60)
        registrations.create_record("flow", "devop", "https://idp", "sub-2", "{}", "hmac", 60)
        old_session = sessions.create(user_id, 1, "PasswordScheme", lifetime=60)
        live_session = sessions.create(user_id, 1, "PasswordScheme", lifetime=60)
        db.session.flush()
        old_registration.expires_at = utcnow() - timedelta(seconds=1)
        db.session.execute(
            db.update(sessions.SignInSession)
            .where(sessions.SignInSession.id_digest == sessions.digest(old_session))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert result.exit_code == 0, result.output
    assert "purged 1 expired flows, 1 expired registration records, 1 expired sessions" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(flows.Flow)) == 1
        assert db.session.scalar(db.select(db.func.count()).select_from(registrations.RegistrationRecord)) == 1
        assert sessions.check(live_session) is not None
