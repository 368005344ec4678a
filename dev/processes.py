"""The processes ``make run`` starts together. Add yours to ``PROCESSES``: one entry each."""

from __future__ import annotations

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
