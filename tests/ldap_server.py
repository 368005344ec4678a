"""A real OpenLDAP ``slapd`` for the LDAP store's tests: Debian's package, a throwaway configuration, loopback only.

``slapd_server`` (one per run) installs ``slapd`` and ``ldap-utils`` with
apt-get when they are missing and the tests run as root (CI does), else the
tests skip with the command to run. It writes a ``slapd.conf`` and an MDB
database under a temporary folder (schemas core, cosine, inetorgperson, nis;
the ppolicy overlay, whose schema is built in since OpenLDAP 2.5), starts slapd on
a free 127.0.0.1 port and stops it at the end. ``ldap_base`` gives each test
its own ``ou=`` under the suffix, so tests share the server and nothing else.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.debian import require
from tests.servers import free_port  # outside the ephemeral range: slapd binds it a moment later

with warnings.catch_warnings():  # ldap3 2.9.1 imports names pyasn1 0.6 deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3 import Connection, Server

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMAS = "/etc/ldap/schema"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "slapd-test-root-secret"  # noqa: S105 - a throwaway test directory's manager password
POLICY_DN = f"cn=default,ou=policies,{SUFFIX}"

CONFIG = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
include {schemas}/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
password-hash {{SSHA}}
sizelimit unlimited

database mdb
maxsize 2147483648
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/data
index objectClass eq
index uid,mail,cn eq
index entryUUID eq
overlay ppolicy
ppolicy_default "{policy_dn}"
ppolicy_use_lockout
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""

BASE_LDIF = """\
dn: {suffix}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=policies,{suffix}
objectClass: organizationalUnit
ou: policies

dn: {policy_dn}
objectClass: top
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMustChange: FALSE
pwdLockout: TRUE
pwdMaxFailure: 0

"""


@dataclass
class Slapd:
    url: str
    port: int
    folder: Path
    process: subprocess.Popen | None = None
    ldaps_url: str | None = None

    def manager(self) -> Connection:
        conn = Connection(Server(self.url), ROOT_DN, ROOT_PASSWORD, auto_bind=True, receive_timeout=10)
        return conn

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def require_slapd() -> None:
    """slapd and ldap-utils present, installed with apt-get when root; else the test skips, saying how."""
    require(["slapd", "ldap-utils"], lambda: Path(SLAPD).exists() and shutil.which("ldapadd") is not None)


def start_slapd(folder: Path, extra_ldif: Path | None = None, tls: dict[str, Path] | None = None) -> Slapd:
    """Write the configuration and base entries under ``folder`` (plus ``extra_ldif``, by slapadd), start slapd.

    ``tls`` (``ca``, ``cert``, ``key`` PEM files) adds StartTLS on the ldap:// URL
    and an ldaps:// URL (``Slapd.ldaps_url``).
    """
    require_slapd()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    values = {
        "schemas": SCHEMAS,
        "dir": folder,
        "suffix": SUFFIX,
        "root_dn": ROOT_DN,
        "root_password": ROOT_PASSWORD,
        "policy_dn": POLICY_DN,
    }
    conf = folder / "slapd.conf"
    text = CONFIG.format(**values)
    if tls:
        files = (
            f"TLSCACertificateFile {tls['ca']}\nTLSCertificateFile {tls['cert']}\nTLSCertificateKeyFile {tls['key']}\n"
        )
        text = text.replace("password-hash", files + "password-hash", 1)
    conf.write_text(text)
    base = folder / "base.ldif"
    base.write_text(BASE_LDIF.format(**values))
    for ldif in (base, extra_ldif):
        if ldif is not None:
            added = subprocess.run(
                [SLAPADD, "-q", "-f", str(conf), "-l", str(ldif)], capture_output=True, text=True, check=False
            )
            if added.returncode != 0:
                raise RuntimeError(f"slapadd {ldif.name} failed: {added.stderr[-800:]}")
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    listen = url + "/"
    ldaps_url = None
    if tls:
        ldaps_url = f"ldaps://127.0.0.1:{free_port()}"
        listen += f" {ldaps_url}/"
    with open(folder / "slapd.log", "wb") as log:
        process = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", listen, "-d", "0"], stdout=subprocess.DEVNULL, stderr=log
        )
    server = Slapd(url, port, folder, process, ldaps_url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited: {(folder / 'slapd.log').read_text(errors='replace')[-800:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("slapd did not listen within 20 s")


@pytest.fixture(scope="session")
def slapd_server():
    folder = Path(tempfile.mkdtemp(prefix="stepgate-slapd-"))
    server = start_slapd(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ldap_base(slapd_server) -> str:
    """A fresh organisational unit for this test's people."""
    ou = f"t{uuid.uuid4().hex[:12]}"
    conn = slapd_server.manager()
    conn.add(f"ou={ou},{SUFFIX}", ["organizationalUnit"], {"ou": ou})
    assert conn.result["result"] == 0, conn.result
    conn.unbind()
    return f"ou={ou},{SUFFIX}"


TEST_ATTRIBUTES = {
    "mail": "mail",
    "first-name": "givenName",
    "last-name": "sn",
    "display-name": "displayName",
    "locale": "preferredLanguage",
    "groups": "businessCategory",
    "picture": "labeledURI",
}


def ldap_store_settings(server: Slapd, base: str, **overrides) -> dict:
    """An ``identity_stores`` entry for an LDAP store on ``server`` under ``base``."""
    block = {
        "urls": [server.url],
        "bind_dn": ROOT_DN,
        "bind_password": ROOT_PASSWORD,
        "user_base": base,
        "attributes": dict(TEST_ATTRIBUTES),
        "pool_size": 4,
        "timeout_seconds": 5,
        "connect_timeout_seconds": 2,
    }
    read_only = overrides.pop("read_only", False)
    block.update(overrides)
    return {"kind": "ldap", "read_only": read_only, "ldap": block}
