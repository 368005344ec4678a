"""Connections to a directory: a pool bound as the service account, failover across URLs, timeouts.

ldap3's own pooled strategies (REUSABLE) run every operation through worker
threads; a plain LIFO of bound synchronous connections is faster on the hot
path and simpler to reason about: an identification takes one idle connection,
searches, and gives it back. At most ``pool_size`` are open; a request that
finds none idle waits up to ``timeout_seconds``. A connection that fails is
dropped and the operation tried once more on a new one, which tries the URLs
in order (failover). The pool remembers the process that opened it: after a
fork (gunicorn) the child opens its own.

Password checks bind on a connection of their own, closed after the answer:
a bind as a person must never leave a pooled connection acting as them.
"""

from __future__ import annotations

import logging
import os
import queue
import ssl
import threading
import uuid
import warnings
from contextlib import contextmanager

with warnings.catch_warnings():  # ldap3 2.9.1 imports names pyasn1 0.6 deprecates (tagMap, typeMap)
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3 import BASE, LEVEL, NONE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPException, LDAPExceptionError

from app.stores import ldap_status
from app.stores.base import Conflict, PasswordAnswer, Refused, StoreUnavailable
from app.stores.ldap_settings import LdapOptions

log = logging.getLogger(__name__)
_ALREADY_EXISTS = 68
_NO_SUCH_OBJECT = 32
_REFUSED_VALUES = {
    17: "undefinedAttributeType",
    18: "inappropriateMatching",
    19: "constraintViolation",  # also ppolicy's password quality and history
    20: "attributeOrValueExists",
    21: "invalidAttributeSyntax",
    34: "invalidDNSyntax",
    64: "namingViolation",
    65: "objectClassViolation",
    67: "notAllowedOnRDN",
}
"""Result codes that refuse the values sent (the caller's doing), not the directory being unwell."""


class VerifiedTls(Tls):
    """TLS (LDAPS or StartTLS) verified by the standard library: the chain against ``ca_file`` and the host name.

    ldap3 2.9 checks the name itself with ``ssl.match_hostname``, which Python
    deprecates (3.7) and removed (3.12); here the ``SSLContext`` does both checks
    during the handshake, as ``requests`` does.
    """

    def __init__(self, ca_file: str | None):
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
        self.context = ssl.create_default_context(cafile=ca_file)  # CERT_REQUIRED, check_hostname, TLS 1.2+

    def wrap_socket(self, connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


class LdapPool:
    def __init__(self, options: LdapOptions):
        self.options = options
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.options.pool_size)
        self._servers = [self._server(url) for url in self.options.urls]

    def _server(self, url: str) -> Server:
        tls = None
        if url.startswith("ldaps://") or self.options.start_tls:
            tls = VerifiedTls(self.options.ca_file)
        return Server(url, get_info=NONE, tls=tls, connect_timeout=self.options.connect_timeout_seconds)

    # -- connections ---------------------------------------------------------------------------
    def open(self, user: str | None = None, password: str | None = None) -> Connection:
        """A connection to the first URL that answers, StartTLS done, not yet bound."""
        last: Exception | None = None
        for server in self._servers:
            conn = Connection(
                server,
                user=user,
                password=password,
                receive_timeout=self.options.timeout_seconds,
                raise_exceptions=False,
                auto_referrals=False,
            )
            try:
                conn.open()
                if self.options.start_tls and not server.ssl and not conn.start_tls():
                    raise StoreUnavailable(f"StartTLS refused by {server.host}: {conn.result}")
                return conn
            except (LDAPException, OSError) as exc:
                last = exc
                log.warning("ldap: %s:%s does not answer (%s); trying the next URL", server.host, server.port, exc)
                _close(conn)
        raise StoreUnavailable(f"no directory URL answers ({last})")

    def _bound(self) -> Connection:
        conn = self.open(self.options.bind_dn or None, self.options.bind_password or None)
        if not conn.bind():
            _close(conn)
            raise StoreUnavailable(f"the directory refused the bind as {self.options.bind_dn!r}: {conn.result}")
        return conn

    @contextmanager
    def connection(self):
        """A pooled connection bound as ``bind_dn``; given back unless the operation failed."""
        with self._lock:
            if self._pid != os.getpid():
                self._reset()
        if not self._slots.acquire(timeout=self.options.timeout_seconds):
            raise StoreUnavailable("every pooled directory connection is busy")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._bound()
            yield conn
        except (LDAPException, OSError) as exc:
            _close(conn)
            conn = None
            raise StoreUnavailable(f"the directory failed: {exc}") from exc
        finally:
            if conn is not None and not conn.closed:
                self._idle.put(conn)
            self._slots.release()

    def _run(self, operation):
        """``operation(conn)`` on a pooled connection; once more on a new one if the first was broken."""
        try:
            with self.connection() as conn:
                return operation(conn)
        except StoreUnavailable as exc:
            if not isinstance(exc.__cause__, LDAPException | OSError):
                raise
        with self.connection() as conn:
            return operation(conn)

    def close(self) -> None:
        while True:
            try:
                _close(self._idle.get_nowait())
            except queue.Empty:
                return

    # -- operations ----------------------------------------------------------------------------
    def search(self, search_filter: str, attributes: list[str], limit: int, base: str | None = None) -> list[dict]:
        scope = SUBTREE if self.options.scope == "sub" else LEVEL

        def run(conn: Connection) -> list[dict]:
            conn.search(
                base or self.options.user_base,
                search_filter,
                scope,
                attributes=attributes,
                size_limit=limit,
                time_limit=max(1, int(self.options.timeout_seconds)),
            )
            _require(conn, (0, 4, 32), "search")  # success, sizeLimitExceeded, noSuchObject
            return [self._entry(item) for item in conn.response or [] if item.get("type") == "searchResEntry"]

        return self._run(run)

    def paged_search(self, search_filter: str, attributes: list[str], offset: int, limit: int) -> list[dict]:
        scope = SUBTREE if self.options.scope == "sub" else LEVEL

        def run(conn: Connection) -> list[dict]:
            found, seen = [], 0
            if limit <= 0:
                return found
            pages = conn.extend.standard.paged_search(
                self.options.user_base, search_filter, scope, attributes=attributes, paged_size=100, generator=True
            )
            for item in pages:
                if item.get("type") != "searchResEntry":
                    continue
                if seen >= offset:
                    found.append(self._entry(item))
                seen += 1
                if len(found) >= limit:
                    break
            return found

        return self._run(run)

    def read(self, dn: str, attributes: list[str]) -> dict[str, list]:
        def run(conn: Connection) -> dict[str, list]:
            conn.search(dn, "(objectClass=*)", BASE, attributes=attributes or ["1.1"])
            _require(conn, (0,), "read")
            item = next(i for i in conn.response if i.get("type") == "searchResEntry")
            return {k: v if isinstance(v, list) else [v] for k, v in item["attributes"].items() if v not in ([], None)}

        return self._run(run)

    def stable_id(self, dn: str, id_attribute: str) -> str:
        def run(conn: Connection) -> str:
            conn.search(dn, "(objectClass=*)", BASE, attributes=[id_attribute])
            _require(conn, (0,), "read")
            item = next(i for i in conn.response if i.get("type") == "searchResEntry")
            return _stable(item, id_attribute)

        return self._run(run)

    def add(self, dn: str, object_classes: list[str], attributes: dict) -> None:
        def run(conn: Connection) -> None:
            conn.add(dn, object_classes, attributes)
            if conn.result["result"] == _ALREADY_EXISTS:
                raise Conflict(f"the directory already holds {dn}", "registration.user_name_taken")
            _require(conn, (0,), "add")

        self._run(run)

    def set_password(self, dn: str, password: str, how: str) -> None:
        def run(conn: Connection) -> None:
            if how == "unicode_pwd":  # Active Directory, over LDAPS or StartTLS only
                from ldap3 import MODIFY_REPLACE

                conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])]})
            else:  # RFC 3062: the directory hashes it by its own policy
                conn.extend.standard.modify_password(dn, new_password=password)
            _require(conn, (0,), "password change")

        self._run(run)

    def replace(self, dn: str, values: dict[str, str | None]) -> None:
        from ldap3 import MODIFY_DELETE, MODIFY_REPLACE

        changes = {
            name: [(MODIFY_REPLACE, [value])] if value is not None else [(MODIFY_DELETE, [])]
            for name, value in values.items()
        }
        self.modify(dn, changes)

    def delete(self, dn: str) -> bool:
        """Delete the entry; False when it was gone already."""

        def run(conn: Connection) -> bool:
            conn.delete(dn)
            _require(conn, (0, _NO_SUCH_OBJECT), "delete")
            return conn.result["result"] == 0

        return self._run(run)

    def rename(self, dn: str, new_rdn: str) -> str:
        """Give the entry another RDN under the same parent; its new DN."""

        def run(conn: Connection) -> str:
            conn.modify_dn(dn, new_rdn)
            if conn.result["result"] == _ALREADY_EXISTS:
                raise Conflict(f"the directory already holds {new_rdn} beside {dn}", "registration.user_name_taken")
            _require(conn, (0,), "rename")
            return f"{new_rdn},{dn.split(',', 1)[1]}" if "," in dn else new_rdn

        return self._run(run)

    def count(self, search_filter: str) -> int:
        """How many entries match, read page by page without their attributes."""
        scope = SUBTREE if self.options.scope == "sub" else LEVEL

        def run(conn: Connection) -> int:
            pages = conn.extend.standard.paged_search(
                self.options.user_base, search_filter, scope, attributes=["1.1"], paged_size=500, generator=True
            )
            return sum(1 for item in pages if item.get("type") == "searchResEntry")

        return self._run(run)

    def modify(self, dn: str, changes: dict) -> None:
        def run(conn: Connection) -> None:
            conn.modify(dn, changes)
            _require(conn, (0, 16), "modify")  # 16: noSuchAttribute, a delete of what is gone already

        self._run(run)

    def bind_as(self, dn: str, password: str) -> PasswordAnswer:
        """Bind as ``dn`` on a connection of its own, with the password policy control; the answer."""
        conn = self.open(dn, password)
        try:
            conn.bind(controls=[(ldap_status.PPOLICY_OID, False, None)])
            answer = ldap_status.bind_answer(conn.result)
        except (LDAPException, OSError) as exc:
            raise StoreUnavailable(f"the directory failed during a bind: {exc}") from exc
        finally:
            _close(conn)
        if answer is None:
            raise StoreUnavailable(f"the directory answered a bind with {conn.result.get('description')}")
        return answer

    def _entry(self, item: dict) -> dict:
        return {
            "dn": item["dn"],
            "id": _stable(item, self.options.id_attribute),
            "attributes": {
                name: value if isinstance(value, list) else [value] for name, value in item["attributes"].items()
            },
        }


def _stable(item: dict, id_attribute: str) -> str:
    """The entry's stable id as text: entryUUID as is, a 16-byte objectGUID as its UUID."""
    raw = next((v for k, v in (item.get("raw_attributes") or {}).items() if k.lower() == id_attribute.lower()), None)
    value = raw[0] if isinstance(raw, list) and raw else raw
    if isinstance(value, bytes) and len(value) == 16 and id_attribute.lower() == "objectguid":
        return str(uuid.UUID(bytes_le=value))
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise StoreUnavailable(f"the entry {item.get('dn')} has no {id_attribute}")


def _require(conn: Connection, accepted: tuple[int, ...], what: str) -> None:
    code = conn.result.get("result") if conn.result else None
    if code in _REFUSED_VALUES and code not in accepted:
        raise Refused(
            f"the directory refused the {what}: {_REFUSED_VALUES[code]} {conn.result.get('message', '')}".strip()
        )
    if code not in accepted:
        raise StoreUnavailable(
            f"the directory refused the {what}: {conn.result.get('description')} "
            f"{conn.result.get('message', '')}".strip()
        )


def _close(conn: Connection | None) -> None:
    if conn is None:
        return
    try:
        conn.unbind()
    except (LDAPException, LDAPExceptionError, OSError):
        pass
    sock = getattr(conn, "socket", None)  # ldap3 leaves a socket that never connected open
    if sock is not None:
        sock.close()
