"""A directory reached over StartTLS or LDAPS: its certificate is verified, chain and host name, or nothing is sent.

A real slapd with a certificate made here by a throwaway CA (tests/ldap_server.py).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app import stores
from app.stores.base import PasswordAnswer, StoreConfig, StoreUnavailable
from app.stores.ldap_settings import LdapOptions
from tests.ldap_server import ROOT_DN, ROOT_PASSWORD, SUFFIX, start_slapd

PASSWORD = "correct horse battery staple"


def write_certificates(folder: Path, name: x509.GeneralName) -> dict[str, Path]:
    """A CA, and a server certificate it signed for ``name``, as PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stepgate test CA")])
    valid = {"not_valid_before": now, "not_valid_after": now + datetime.timedelta(days=1)}
    ca = (
        x509.CertificateBuilder(
            subject_name=ca_name, issuer_name=ca_name, public_key=ca_key.public_key(), serial_number=1, **valid
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "directory")])
    cert = (
        x509.CertificateBuilder(
            subject_name=subject, issuer_name=ca_name, public_key=key.public_key(), serial_number=2, **valid
        )
        .add_extension(x509.SubjectAlternativeName([name]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


@pytest.fixture(scope="module")
def tls_slapd():
    folder = Path(tempfile.mkdtemp(prefix="stepgate-slapd-tls-"))
    files = write_certificates(folder, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = start_slapd(folder / "slapd", tls=files)
    manager = server.manager()
    manager.add(f"ou=people,{SUFFIX}", ["organizationalUnit"], {"ou": "people"})
    dn = f"uid=tess,ou=people,{SUFFIX}"
    manager.add(dn, ["inetOrgPerson"], {"uid": "tess", "cn": "Tess", "sn": "Tess", "mail": "tess@example.org"})
    manager.extend.standard.modify_password(dn, new_password=PASSWORD)
    manager.unbind()
    yield server, files
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def directory(url: str, **options):
    settings = LdapOptions(
        urls=(url,), bind_dn=ROOT_DN, bind_password=ROOT_PASSWORD, user_base=f"ou=people,{SUFFIX}", **options
    )
    return stores.for_config(StoreConfig("corp", kind="ldap", options=settings))


def signs_in(store) -> bool:
    [tess] = store.find("(uid=tess)")
    return store.check_password(tess, PASSWORD) is PasswordAnswer.PROVEN


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
def test_a_directory_whose_certificate_the_ca_file_vouches_for_serves(app, tls_slapd, how):
    server, files = tls_slapd
    url = server.ldaps_url if how == "ldaps" else server.url
    store = directory(url, start_tls=how == "start_tls", ca_file=str(files["ca"]))
    with app.app_context():
        try:
            assert signs_in(store)
        finally:
            store.close()


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
def test_a_certificate_no_configured_ca_vouches_for_is_refused(app, tls_slapd, how):
    server, _ = tls_slapd
    url = server.ldaps_url if how == "ldaps" else server.url
    store = directory(url, start_tls=how == "start_tls")  # the system's CAs never signed the test CA
    with app.app_context(), pytest.raises(StoreUnavailable, match="certificate verify failed"):
        store.find("(uid=tess)")


def test_a_certificate_for_another_host_name_is_refused(app, tmp_path):
    files = write_certificates(tmp_path, x509.DNSName("ldap.example.org"))
    server = start_slapd(tmp_path / "slapd", tls=files)
    try:
        store = directory(server.ldaps_url, ca_file=str(files["ca"]))
        with app.app_context(), pytest.raises(StoreUnavailable, match="IP address mismatch|doesn't match|mismatch"):
            store.find("(uid=tess)")
    finally:
        server.stop()
