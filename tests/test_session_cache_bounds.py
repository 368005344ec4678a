"""A worker's session cache stays bounded: expired entries go, and it never holds more than its entries or bytes.

Before, expired entries were never dropped and the cache was only emptied at
50,000 entries, so a worker grew with every sign-in. Entries dropped early only
cost a row read: the session is still checked, and still revoked at once.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from app import session_cache, sessions
from app.extensions import db
from app.session_cache import CheckedSession, Entries, entry_bytes
from app.sessions import ValidSession
from app.stores import sql as identity
from app.stores.sql import UserView

GEN = (0, 0)


def checked(name: str = "alice", attributes: dict[str, str] | None = None, amr: tuple[str, ...] = ()) -> CheckedSession:
    attributes = {"mail": f"{name}@example.org", "displayName": name.title()} if attributes is None else attributes
    return CheckedSession(
        ValidSession(1, name, 1, "PasswordScheme", datetime(2030, 1, 1, 12, 0, 0), amr),
        UserView(1, "default", name, "active", attributes),
    )


def deep_size(obj, seen: set[int] | None = None) -> int:
    """Every object reachable from ``obj`` that it owns (classes and shared singletons left out)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(obj, bool | type):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, tuple | list):
        size += sum(deep_size(item, seen) for item in obj)
    elif hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    return size


def test_an_expired_entry_is_dropped_when_a_later_one_is_stored():
    entries = Entries()
    entries.put("old", 5.0, GEN, checked("old"), now=0.0)
    entries.put("older-but-later", 6.0, GEN, checked("later"), now=1.0)
    entries.put("new", 11.0, GEN, checked("new"), now=5.5)
    assert entries.get("old") is None, "expired at 5 s, dropped by the store at 5.5 s"
    assert entries.get("older-but-later") is not None and entries.get("new") is not None
    entries.put("newer", 13.0, GEN, checked("newer"), now=8.0)
    assert len(entries) == 2 and entries.get("older-but-later") is None


def test_the_cache_holds_no_more_than_its_entries_oldest_dropped_first():
    entries = Entries(max_entries=3)
    for i in range(10):
        entries.put(f"t{i}", 100.0, GEN, checked(f"user{i}"), now=float(i))
    assert len(entries) == 3
    assert [entries.get(f"t{i}") is not None for i in range(10)] == [False] * 7 + [True] * 3


def test_the_cache_holds_no_more_than_its_bytes():
    one = entry_bytes("t0", checked("user0"))
    entries = Entries(max_bytes=5 * one + one // 2)
    for i in range(50):
        entries.put(f"t{i}", 100.0, GEN, checked(f"user{i}"), now=0.0)
        assert entries.bytes <= entries.max_bytes
    assert len(entries) == 5 and entries.bytes == sum(entry_bytes(f"t{i}", checked(f"user{i}")) for i in range(45, 50))


def test_storing_a_session_again_replaces_it_and_counts_it_once():
    entries = Entries()
    for _ in range(3):
        entries.put("same", 100.0, GEN, checked(), now=0.0)
    assert len(entries) == 1 and entries.bytes == entry_bytes("same", checked())


def test_the_byte_estimate_is_no_less_than_what_an_entry_really_holds():
    cases = [
        checked(),
        checked("bob", {}),
        checked("zoë", {"mail": "zoë@exämple.org", "cn": "Zoë 🦊 Ünïcode", "title": "x" * 500}),
        checked("carol", amr=("pwd", "otp", "mfa", "idp:https://login.example.org/hwk")),
        checked("u" * 200, {f"attr{i}": f"value {i}" * 10 for i in range(30)}),
    ]
    for case in cases:
        token = "T" * 43  # what tokens.new_token gives
        entry = (1.0, GEN, case, 0)
        really = deep_size(entry) - deep_size(GEN) + 120  # the generation is shared; 120: an OrderedDict's slot + link
        estimate = entry_bytes(token, case)
        assert really + sys.getsizeof(token) <= estimate <= 1.6 * (really + sys.getsizeof(token)), (really, estimate)


def test_a_full_cache_still_checks_every_session_and_a_revocation_still_counts(app, add_user):
    """Sessions dropped from a small cache are read from their rows again; a logout still ends one at once."""
    user_id = add_user("alice", password="correct horse battery staple", mail="alice@example.org")
    cache = app.extensions["stepgate.session_cache"]
    cache._entries.max_entries = 5
    with app.app_context():
        tokens = [sessions.create(user_id, 1, "PasswordScheme", 600) for _ in range(20)]
        db.session.commit()
    for _ in range(2):
        for token in tokens:
            with app.test_request_context("/"):
                found = session_cache.check(token)
                assert found is not None and found.session.user_name == "alice"
                assert found.attributes["mail"] == "alice@example.org"
            assert len(cache._entries) <= 5
    with app.test_request_context("/"):
        sessions.revoke(tokens[-1])  # cached: it was the last one checked
        db.session.commit()
    with app.test_request_context("/"):
        assert session_cache.check(tokens[-1]) is None
        assert identity.get_user(user_id) is not None


def test_entries_expire_with_the_session_they_hold(app, add_user):
    """A session that ends sooner than session_cache.seconds is trusted only until it ends."""
    user_id = add_user("alice", password="correct horse battery staple")
    cache = app.extensions["stepgate.session_cache"]
    with app.app_context():
        token = sessions.create(user_id, 1, "PasswordScheme", 600)
        db.session.execute(
            sessions.update(sessions.SignInSession)
            .where(sessions.SignInSession.id_digest == sessions.digest(token))
            .values(expires_at=sessions.utcnow() + timedelta(seconds=1))
        )
        db.session.commit()
    with app.test_request_context("/"):
        assert session_cache.check(token) is not None
    deadline = cache._entries.get(token)[0]
    import time

    assert deadline <= time.monotonic() + 1.0
