"""The files under deploy/ are what systemd and nginx accept, and they run commands that exist.

``systemd-analyze verify`` parses the unit and the timer (with the venv's real
``stepgate`` in place of /opt/stepgate/bin/stepgate, which it insists exists);
any line it prints is a problem (it exits 0 on an unknown key or a bad time
span). ``nginx -t`` parses the site inside a minimal ``http {}``, with a
throwaway certificate in place of the operator's. Each tool missing here
skips its test with a message.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.test_nginx_forward_auth import find_or_install_nginx

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/stepgate/bin/stepgate"
UNITS = ("stepgate.service", "stepgate-purge.service", "stepgate-purge.timer")


def unit_lines(name: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", (DEPLOY / name).read_text(), re.M)


def test_systemd_accepts_the_server_unit_and_the_purge_timer(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): deploy/ units not verified")
    stepgate = Path(sys.executable).parent / "stepgate"
    assert stepgate.exists(), "the stepgate command is not installed in this venv (make installs it)"
    for name in UNITS:
        (tmp_path / name).write_text((DEPLOY / name).read_text().replace(INSTALLED, str(stepgate)))
    done = subprocess.run(
        [tool, "verify", *(str(tmp_path / name) for name in UNITS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).strip() == "", done.stdout + done.stderr


def test_the_units_run_stepgate_commands_that_exist(make_settings):
    commands = unit_lines("stepgate.service", "ExecStart") + unit_lines("stepgate.service", "ExecStartPre")
    commands += unit_lines("stepgate-purge.service", "ExecStart")
    assert commands == [f"{INSTALLED} serve", f"{INSTALLED} db upgrade", f"{INSTALLED} purge"]
    env = {**os.environ, "STEPGATE_SETTINGS": str(make_settings())}
    stepgate = str(Path(sys.executable).parent / "stepgate")
    listed = subprocess.run([stepgate, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert re.search(r"^  serve ", listed.stdout, re.M), listed.stdout + listed.stderr
    for command in commands[1:]:  # serve hands --help to gunicorn
        words = command.split()[1:]
        done = subprocess.run([stepgate, *words, "--help"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Usage: stepgate " + " ".join(words) in done.stdout, done.stderr
    assert unit_lines("stepgate-purge.timer", "Unit") == ["stepgate-purge.service"]
    assert unit_lines("stepgate.service", "Environment").count("STEPGATE_ENV=production") == 1


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sso.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_nginx_accepts_the_site_file(tmp_path):
    nginx = find_or_install_nginx()
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx-stepgate.conf").read_text()
    site = site.replace("/etc/ssl/stepgate/fullchain.pem", str(cert)).replace("/etc/ssl/stepgate/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {tmp_path}/site.conf;\n}}\n"
    )
    (tmp_path / "logs").mkdir()
    done = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr


def test_the_site_overwrites_forwarded_for_and_redirects_to_a_fixed_name():
    site = (DEPLOY / "nginx-stepgate.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "$proxy_add_x_forwarded_for" not in site  # appending would keep what the client made up
    assert re.search(r"return 301 https://sso\.example\.org\$request_uri;", site)
    assert "$host$request_uri" not in site.split("return 301")[1].split(";")[0]
