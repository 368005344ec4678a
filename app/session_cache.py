"""A per-process cache in front of the session row, invalidated across processes and machines.

Reading the session row on every request halves what a worker can serve, so
each process keeps the sessions it has checked, with the user's attributes for
forward-auth headers. What makes a cached session wrong is a revocation: a
logout, a lock or disable, a deleted user, a changed attribute. Every commit
that does one of those bumps a *revocation generation*; a process that sees a
new generation drops its whole cache and reads rows again.

- On one machine the generation is an 8-byte counter in a memory-mapped file
  shared by every process (``session_cache.generation_file``): a bump is seen
  by the next request of every worker, and reading it costs a memory load.
- Across machines a bump is also published on Redis (``session_cache.redis_url``);
  each process listens in a background thread and drops its cache on a message.
- Whatever happens to those signals, an entry is trusted for at most
  ``session_cache.seconds`` (default 5) before the row is read again: the
  documented bound for a node that missed a revocation (Redis down, or no
  Redis with several machines). ``seconds: 0`` turns the cache off.

The cache is bounded, so a worker's memory stays flat however many people sign
in: entries are kept in the order they were stored, and as each new one is
stored the oldest are dropped while they have expired (every entry lives at most
``seconds``), then while the cache holds more than ``MAX_ENTRIES`` entries or
more than ``MAX_BYTES`` bytes (each entry's size estimated from its strings when
stored). An entry dropped early only costs a row read.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import sessions
from app.deployment import SessionCache as CacheSettings
from app.extensions import db
from app.federated_sessions import FederatedSession
from app.session_read import RowRead
from app.sessions import SignInSession, ValidSession
from app.stores.sql import User, UserAttribute, UserView
from app.timeutil import utcnow

log = logging.getLogger("stepgate.sessions")
CHANNEL = "stepgate:session-revocations"
RETRY_FIRST, RETRY_MAX = 1.0, 30.0  # seconds between the listener's attempts to reach Redis: doubling, capped
REDIS_TIMEOUT = 2.0  # seconds any one Redis call may take: connecting, publishing, answering the listener's ping
HEALTH_SECONDS = 3.0  # the listener pings a channel silent this long
MAX_ENTRIES = 10_000  # per process
MAX_BYTES = 6 * 1024 * 1024  # per process, as estimated by entry_bytes: about 2,500 sessions
_FLAG = "stepgate.revocation"


@dataclass(frozen=True)
class CheckedSession:
    session: ValidSession
    user: UserView

    @property
    def attributes(self) -> dict[str, str]:
        return self.user.attributes


class GenerationFile:
    """A revocation counter shared by every process on this machine through a memory-mapped file."""

    def __init__(self, path: Path):
        self.path = path
        self._pid = -1
        self._fd = -1
        self._map: mmap.mmap | None = None

    def _open(self) -> mmap.mmap:
        if self._map is None or self._pid != os.getpid():  # a fork gets its own mapping
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < 8:
                os.ftruncate(self._fd, 8)
            self._map = mmap.mmap(self._fd, 8)
            self._pid = os.getpid()
        return self._map

    def read(self) -> int:
        return int.from_bytes(self._open()[:8], "little")

    def bump(self) -> int:
        mapping = self._open()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            value = int.from_bytes(mapping[:8], "little") + 1
            mapping[:8] = value.to_bytes(8, "little")
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return value


_Entry = tuple[float, tuple[int, int], CheckedSession, int]  # deadline, generation, session, estimated bytes


class Entries:
    """The cached sessions of one process, oldest first, bounded by expiry, entry count and bytes.

    Every entry is trusted for at most ``session_cache.seconds``, and (but for a
    session that expires sooner) entries are stored with deadlines in the order
    they are stored: so expired entries gather at the front, and dropping from
    the front while the first has expired keeps the cache to what the last
    ``seconds`` stored, at a constant cost per store. Reads take no lock (a dict
    read is atomic); stores and drops take one, as the worker's threads share it.
    """

    def __init__(self, max_entries: int | None = None, max_bytes: int | None = None):
        self.max_entries = MAX_ENTRIES if max_entries is None else max_entries
        self.max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self._map: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._map)

    def get(self, token: str) -> _Entry | None:
        return self._map.get(token)

    def put(self, token: str, deadline: float, generation: tuple[int, int], checked: CheckedSession, now: float):
        size = entry_bytes(token, checked)
        with self._lock:
            old = self._map.pop(token, None)
            if old is not None:
                self.bytes -= old[3]
            self._map[token] = (deadline, generation, checked, size)
            self.bytes += size
            self._drop(now)

    def _drop(self, now: float) -> None:
        entries = self._map
        while entries:
            first = entries[next(iter(entries))]
            if first[0] > now and len(entries) <= self.max_entries and self.bytes <= self.max_bytes:
                return
            self.bytes -= entries.popitem(last=False)[1][3]

    def clear(self) -> None:
        with self._lock:
            self._map.clear()
            self.bytes = 0


# a CheckedSession with its ValidSession, UserView, attributes dict and datetime, the entry tuple and the
# OrderedDict's slot and link, without the strings: measured with a deep size in tests/test_session_cache_bounds.py
_ENTRY = 2000
_ATTRIBUTE = 48  # an attributes dict's slot, and its growth


def entry_bytes(token: str, checked: CheckedSession) -> int:
    """What one cached session holds in memory, a little over (``sys.getsizeof`` of a str is exact and O(1))."""
    user, session = checked.user, checked.session
    size = _ENTRY + sys.getsizeof(token) + sys.getsizeof(user.user_name) + sys.getsizeof(user.store)
    size += sys.getsizeof(session.user_name) + sys.getsizeof(session.scheme) + sys.getsizeof(user.status)
    for name, value in user.attributes.items():
        size += _ATTRIBUTE + sys.getsizeof(name) + sys.getsizeof(value)
    amr = getattr(session, "amr", ())  # the authentication methods: a tuple of short strings
    if amr:
        size += sys.getsizeof(amr) + sum(sys.getsizeof(method) for method in amr)
    return size


class SessionCache:
    def __init__(self, settings: CacheSettings):
        self.ttl = settings.seconds
        self.file = GenerationFile(settings.generation_file)
        self.redis_url = settings.redis_url
        self._entries = Entries()
        self._seen = (-1, 0)
        self._remote = 0  # bumped by the Redis listener of this process
        self._listener_pid = -1
        self._lock = threading.Lock()

    def generation(self) -> tuple[int, int]:
        if self.redis_url and self._listener_pid != os.getpid():
            self._start_listener()
        return (self.file.read(), self._remote)

    def check(self, token: str | None) -> CheckedSession | None:
        if not token:
            return None
        if self.ttl == 0:
            return _read(token)
        # Read before the row and kept with the entry: a revocation committed while another
        # thread of this worker reads the row leaves that entry under an old generation, unused.
        generation = self.generation()
        if generation != self._seen:
            self._entries.clear()
            self._seen = generation
        now = time.monotonic()
        hit = self._entries.get(token)
        if hit is not None and hit[1] == generation and now < hit[0]:
            return hit[2]
        checked = _read(token)
        if checked is not None:
            self._entries.put(token, now + self._lifetime(checked), generation, checked, now)
        return checked

    def prime(self, token: str, checked: CheckedSession, generation: tuple[int, int]) -> None:
        """Keep a session this process has just committed, read under ``generation``; dropped if anything was
        revoked since, which includes the commit that opened it (a synced attribute, a replaced session)."""
        if self.ttl == 0 or generation != self.generation():
            return
        if generation != self._seen:
            self._entries.clear()
            self._seen = generation
        now = time.monotonic()
        self._entries.put(token, now + self._lifetime(checked), generation, checked, now)

    def _lifetime(self, checked: CheckedSession) -> float:
        left = (checked.session.expires_at - utcnow()).total_seconds()
        return max(0.0, min(float(self.ttl), left))

    def revoked(self) -> None:
        """A commit revoked something: tell this machine's processes, then the other machines."""
        self.file.bump()
        if self.redis_url and getattr(self, "redis_lost_at", None) is not None:
            return  # this process's listener has lost Redis and said so; a publish would only wait for nothing
        if self.redis_url:
            try:
                with _redis(self.redis_url) as client:
                    client.publish(CHANNEL, str(os.getpid()))
            except Exception as exc:  # a revocation must not fail because Redis is away
                log.warning(
                    "could not publish a session revocation on Redis (%s): this machine has dropped the session, "
                    "but other machines may still honour it for up to session_cache.seconds (%ss)",
                    exc,
                    self.ttl,
                )

    def _start_listener(self) -> None:
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self.redis_lost_at: float | None = None  # monotonic time the listener lost Redis; None while subscribed
            self.retry_delay = RETRY_FIRST  # how long the listener will wait after its next failed attempt
            threading.Thread(target=self._listen, name="stepgate-revocations", daemon=True).start()

    def _listen(self) -> None:
        """Drop the cache on every revocation another machine publishes; reconnect, with backoff, when Redis goes.

        An outage is logged twice, once when it starts and once when it ends (with
        how long it lasted), not on every attempt: Redis may be down for hours.
        The cache is dropped when the connection is lost and again when it is back,
        since revocations published meanwhile were missed; in between, entries live
        at most ``session_cache.seconds`` as always. A Redis that goes silent
        without closing the connection (a hung proxy, a dropped route) is noticed
        too: see ``_follow``.
        """
        while True:
            try:
                with _redis(self.redis_url, name=f"stepgate-revocations-{os.getpid()}") as client:
                    with client.pubsub() as pubsub:
                        pubsub.subscribe(CHANNEL)
                        self._follow(pubsub)
            except Exception as exc:
                if self.redis_lost_at is None:
                    self.redis_lost_at = time.monotonic()
                    self._remote += 1
                    log.warning(
                        "session revocation listener lost Redis (%s); retrying after %.0f s, doubling up to %.0f s, "
                        "and saying so once it is back. Meanwhile revocations on other machines reach this one "
                        "within session_cache.seconds (%ss)",
                        exc or type(exc).__name__,
                        RETRY_FIRST,
                        RETRY_MAX,
                        self.ttl,
                    )
                wait, self.retry_delay = self.retry_delay, min(self.retry_delay * 2, RETRY_MAX)
                time.sleep(wait)

    def _follow(self, pubsub) -> None:
        """Read the channel until Redis fails or stays silent.

        Redis says nothing on an idle channel, so silence alone proves nothing: after
        ``HEALTH_SECONDS`` without a word the listener pings, and a Redis that has
        not answered ``REDIS_TIMEOUT`` seconds later is taken as lost.
        """
        heard = pinged = time.monotonic()
        while True:
            message = pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is not None:
                heard = now
                if message["type"] == "subscribe":
                    self._remote += 1  # (re)subscribed: anything may have been missed meanwhile
                    self._back_on_redis()
                elif message["type"] == "message":
                    self._remote += 1
            if now - heard > HEALTH_SECONDS + REDIS_TIMEOUT:
                raise TimeoutError(f"no answer from Redis for {now - heard:.0f} s")
            if now - heard > HEALTH_SECONDS and pinged <= heard:
                pubsub.ping("stepgate-liveness")
                pinged = now

    def _back_on_redis(self) -> None:
        if self.redis_lost_at is not None:
            log.info(
                "session revocation listener is back on Redis after %.1f s away; cached sessions dropped",
                time.monotonic() - self.redis_lost_at,
            )
        self.redis_lost_at = None
        self.retry_delay = RETRY_FIRST


def _redis(url: str, name: str | None = None):
    """A Redis client; ``name`` shows in ``CLIENT LIST``, so an operator sees which process holds a connection."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Every call bounded, and not retried inside redis-py: the listener has its own backoff, and a revocation
    # must not keep a request waiting several timeouts.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
        client_name=name,
        retry=Retry(NoBackoff(), 0),
    )


def _read(token: str) -> CheckedSession | None:
    """The row, read on a pooled connection of its own (``app/session_read.py``): a check opens no ORM session
    and no SQLAlchemy ``Connection`` (whose set-up costs a session check more than the statement does), and
    commits nothing."""
    engine = db.engine
    extensions = current_app.extensions
    row_read = extensions.get(_ROW_READ)
    if row_read is None or row_read.engine is not engine:
        row_read = extensions[_ROW_READ] = RowRead(engine, sessions.check_statement())
    found = sessions.check_with_user(token, row_read)
    return CheckedSession(*found) if found is not None else None


_ROW_READ = "stepgate.session_row_read"


def init_app(app: Flask) -> SessionCache:
    cache = SessionCache(app.extensions["stepgate"].settings.deployment.session_cache)
    app.extensions["stepgate.session_cache"] = cache
    return cache


def generation() -> tuple[int, int]:
    """The revocation generation now. Read before anything a session will be primed with (see ``prime``)."""
    return current_app.extensions["stepgate.session_cache"].generation()


def prime(token: str, session: ValidSession, user: UserView, generation: tuple[int, int]) -> None:
    """Cache a session this process opened and committed, so the browser's next request reads no row.

    ``user`` must have been read after ``generation``: a revocation committed in
    between (another process locking the user, say) changes the generation, and
    the session is then left for the next request to read.
    """
    current_app.extensions["stepgate.session_cache"].prime(token, CheckedSession(session, user), generation)


def check_uncached_in_request(token: str | None) -> CheckedSession | None:
    """``check`` for a caller that asks once per request (forward-auth): the same cache, without the memo in ``g``."""
    return current_app.extensions["stepgate.session_cache"].check(token)


def check(token: str | None) -> CheckedSession | None:
    """The valid session behind this cookie (and its user's attributes), from the cache when it may be trusted.

    Remembered for the rest of the request, which asks more than once (the gate, then forward-auth).
    """
    known = g.get("stepgate_checked_session")
    if known is not None and known[0] == token:
        return known[1]
    checked = current_app.extensions["stepgate.session_cache"].check(token)
    g.stepgate_checked_session = (token, checked)
    return checked


# -- noticing revocations in whatever code commits them ---------------------------------------------

_WATCHED = (SignInSession, User, UserAttribute, FederatedSession)


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, flush_context, instances) -> None:
    for obj in session.deleted:
        if isinstance(obj, _WATCHED):
            session.info[_FLAG] = True
    for obj in session.new:  # a new attribute of an existing user (a new user has no cached session)
        if isinstance(obj, UserAttribute) and obj.user is not None and obj.user not in session.new:
            session.info[_FLAG] = True
    for obj in session.dirty:
        if isinstance(obj, SignInSession | UserAttribute | FederatedSession) and session.is_modified(obj):
            session.info[_FLAG] = True
        elif isinstance(obj, User) and _status_changed(obj):
            session.info[_FLAG] = True


def _status_changed(user: User) -> bool:
    from sqlalchemy import inspect

    return inspect(user).attrs.status.history.has_changes()


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        if state.bind_mapper.class_ in _WATCHED:
            state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        try:
            cache = current_app.extensions.get("stepgate.session_cache")
        except RuntimeError:  # no application: nothing cached in this process
            return
        if cache is not None:
            cache.revoked()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, False)
