"""Discovery documents and JWKS, cached in the database so every process shares them.

A key set is fetched once and stored; each process keeps the imported keys of
the stored document (keyed by its digest), so no token re-imports keys. A token
signed with a key id the stored set lacks triggers one re-fetch (key rotation),
at most every ``jwks_min_refresh_seconds``.
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


class DatabaseDocuments:
    """Where an OIDC client keeps what it fetched: ``get``/``put`` by (issuer, kind)."""

    def get(self, issuer: str, kind: str) -> tuple[dict, datetime] | None:
        row = db.session.get(ProviderDocument, (issuer, kind), populate_existing=True)
        return (row.body, row.fetched_at) if row is not None else None

    def put(self, issuer: str, kind: str, body: dict) -> None:
        """Store with one upsert: concurrent first fetches never conflict, and nothing is read first.

        Reading before writing inside a savepoint would let two SQLite
        transactions each hold a read lock while waiting for the other's write.
        """
        values = {"issuer": issuer, "kind": kind, "body": body, "fetched_at": utcnow()}
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
