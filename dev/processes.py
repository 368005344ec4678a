"""The processes ``make run`` starts together. Add yours to ``PROCESSES``: one entry each."""

from __future__ import annotations

import base64
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEB_PORT = int(os.environ.get("STEPGATE_PORT", "5000"))
DEVOP_PORT = int(os.environ.get("DEVOP_PORT", "9000"))
DEVOP_SECRET = os.environ.get("DEVOP_CLIENT_SECRET", "dev-only-client-secret")
PAGE_PORT = int(os.environ.get("REGISTRATION_PAGE_PORT", "5001"))
# Shared by stepgate and the example registration page; fresh on every run unless set.
SCIM_TOKEN = os.environ.get("SCIM_TOKEN") or secrets.token_urlsafe(24)
REGISTRATION_SECRET = os.environ.get("REGISTRATION_SECRET_KEY") or secrets.token_urlsafe(24)


def _dev_master_key() -> str:
    """STEPGATE_MASTER_KEY for the demo's TOTP secrets: kept in instance/ so enrolments survive a restart."""
    if os.environ.get("STEPGATE_MASTER_KEY"):
        return os.environ["STEPGATE_MASTER_KEY"]
    path = ROOT / "instance" / "dev-master-key"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"))
        path.chmod(0o600)
    return path.read_text().strip()


MASTER_KEY = _dev_master_key()


@dataclass(frozen=True)
class Process:
    name: str
    argv: list[str]
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)


PROCESSES = [
    Process(
        "devop",
        [
            "node",
            "server.mjs",
            "--port",
            str(DEVOP_PORT),
            "--issuer",
            f"http://127.0.0.1:{DEVOP_PORT}",
            "--client",
            f"stepgate:{DEVOP_SECRET}:http://127.0.0.1:{WEB_PORT}/oam/server/oidc/callback",
        ],
        cwd=ROOT / "devop",
    ),
    Process(
        "web",
        [str(BIN / "flask"), "--app", "app", "run", "--host", "127.0.0.1", "--port", str(WEB_PORT)],
        env={
            "DEVOP_ISSUER": f"http://127.0.0.1:{DEVOP_PORT}",
            "STEPGATE_EXTERNAL_URL": f"http://127.0.0.1:{WEB_PORT}",
            "SCIM_TOKEN": SCIM_TOKEN,
            "REGISTRATION_SECRET_KEY": REGISTRATION_SECRET,
            "REGISTRATION_URL": f"http://127.0.0.1:{PAGE_PORT}/register",
            "STEPGATE_MASTER_KEY": MASTER_KEY,
        },
    ),
    Process(
        "registration-page",
        [str(BIN / "python"), "-m", "examples.registration_page"],
        env={
            "REGISTRATION_PAGE_PORT": str(PAGE_PORT),
            "STEPGATE_URL": f"http://127.0.0.1:{WEB_PORT}",
            "SCIM_TOKEN": SCIM_TOKEN,
            "REGISTRATION_SECRET_KEY": REGISTRATION_SECRET,
        },
    ),
]
