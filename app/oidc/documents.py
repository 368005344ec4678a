"""Discovery documents and JWKS, cached in the database so every process shares them.

A key set is fetched once and stored; each process keeps the imported keys of
the stored document (keyed by its digest), so no token re-imports keys. A token
signed with a key id the stored set lacks triggers one re-fetch (key rotation),
at most every ``jwks_min_refresh_seconds``.

Each process also holds the last document it read or stored per database,
issuer and kind, and answers from it while it is fresh (``DISCOVERY_TTL``,
``JWKS_TTL``): a sign-in then reads neither document from the database. A
stale one is read again from the database, where another process may have
stored a newer one, and a key set is always read again before a re-fetch for
an unknown key id (``reread``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timedelta

from joserfc.jwk import KeySet
from sqlalchemy import JSON, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow

_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
DISCOVERY_TTL = timedelta(hours=1)
JWKS_TTL = timedelta(hours=6)


class ProviderDocument(db.Model):
    __tablename__ = "oidc_provider_documents"

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    body: Mapped[dict] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column()


TTLS = {"discovery": DISCOVERY_TTL, "jwks": JWKS_TTL}
_held: dict[tuple[object, str, str], tuple[dict, datetime]] = {}


def _hold(key: tuple[object, str, str], document: tuple[dict, datetime]) -> None:
    if len(_held) > 64:
        _held.clear()
    _held[key] = document


class DatabaseDocuments:
    """Where an OIDC client keeps what it fetched: ``get``/``put`` by (issuer, kind)."""

    def get(self, issuer: str, kind: str, *, reread: bool = False) -> tuple[dict, datetime] | None:
        key = (db.engine, issuer, kind)
        held = _held.get(key)
        if held is not None and not reread and self.fresh(held[1], TTLS.get(kind, DISCOVERY_TTL)):
            return held
        row = db.session.get(ProviderDocument, (issuer, kind), populate_existing=True)
        if row is None:
            return None
        held = (row.body, row.fetched_at)
        _hold(key, held)
        return held

    def put(self, issuer: str, kind: str, body: dict) -> None:
        """Store with one upsert: concurrent first fetches never conflict, and nothing is read first.

        Reading before writing inside a savepoint would let two SQLite
        transactions each hold a read lock while waiting for the other's write.
        """
        values = {"issuer": issuer, "kind": kind, "body": body, "fetched_at": utcnow()}
        _hold((db.engine, issuer, kind), (body, values["fetched_at"]))
        dialect = db.session.get_bind().dialect.name
        if dialect not in _UPSERTS:
            db.session.merge(ProviderDocument(**values))
            return
        statement = _UPSERTS[dialect](ProviderDocument).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["issuer", "kind"],
            set_={"body": statement.excluded.body, "fetched_at": statement.excluded.fetched_at},
        )
        db.session.execute(statement)

    @staticmethod
    def fresh(fetched_at: datetime, ttl: timedelta) -> bool:
        return utcnow() - fetched_at < ttl


_keysets: dict[str, KeySet] = {}
_lock = threading.Lock()


def import_keys(jwks: dict) -> KeySet:
    """The imported key set of a JWKS document, once per process per distinct document."""
    digest = hashlib.sha256(json.dumps(jwks, sort_keys=True).encode()).hexdigest()
    with _lock:
        keys = _keysets.get(digest)
        if keys is None:
            keys = KeySet.import_key_set(jwks)
            if len(_keysets) > 64:
                _keysets.clear()
            _keysets[digest] = keys
        return keys
