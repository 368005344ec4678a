"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the e-mail code tests."""

from __future__ import annotations

import email
import re
import threading
import time
from email.message import Message

import pytest

from tests.oidc_fixtures import free_port


class MailServer:
    """``aiosmtpd``'s Controller on a free 127.0.0.1 port; ``messages`` in arrival order."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self._arrived = threading.Condition()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 OK"

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def settings(self, **overrides) -> dict:
        """An ``smtp:`` block for this server (no TLS: it is on loopback)."""
        return {"host": "127.0.0.1", "port": self.port, "tls": "none", "from": "Sign-in <no-reply@example.org>"} | (
            overrides
        )

    def wait_for(self, count: int, seconds: float = 5) -> list[Message]:
        deadline = time.monotonic() + seconds
        with self._arrived:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
        assert len(self.messages) >= count, f"{len(self.messages)} message(s) arrived, expected {count}"
        return self.messages

    def last_code(self) -> str:
        body = self.messages[-1].get_payload(decode=True).decode()
        match = re.search(r"code is (\d+)", body)
        assert match, body
        return match.group(1)


@pytest.fixture
def mail_server():
    pytest.importorskip("aiosmtpd", reason="aiosmtpd (the test extra) runs the loopback SMTP server")
    server = MailServer().start()
    yield server
    server.stop()
