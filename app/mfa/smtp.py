"""The ``smtp:`` settings block and sending one message, with bounded timeouts.

```yaml
smtp:
  host: mail.example.org
  port: 587
  tls: starttls            # none | starttls | tls (implicit TLS, usually port 465)
  username: stepgate
  password: "{AES}..."     # {AES} values are decrypted with STEPGATE_MASTER_KEY at start-up
  from: "Sign-in <no-reply@example.org>"
  timeout_seconds: 5
```

Credentials are refused with ``tls: none`` unless the server is on loopback:
a password must not cross a network in clear. Certificates are verified
(the system's trust store). Any failure to send is a ``MailError``; the
plugin turns it into a clear page, never a 500.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path

from flask import Flask, current_app, has_app_context

from app import secretbox
from app.yamlsource import Checker, Located, load_block

KEY = "smtp"
TLS_MODES = ("none", "starttls", "tls")
_EXTENSION = "stepgate.smtp"


class MailError(Exception):
    """The message could not be handed to the SMTP server; the text names the cause (never a credential)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    sender: str
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 5


def load(settings_file: str | Path) -> SmtpSettings | None:
    """The ``smtp`` block of ``settings_file`` (None when absent); ConfigError with file:line on any problem."""
    return load_block(settings_file, KEY, parse)


def parse(raw: object, doc: Located, check: Checker) -> SmtpSettings | None:
    if raw is None:
        return None
    raw = check.require_mapping(raw, doc, KEY, KEY)
    if raw is None:
        return None
    known = {"host", "port", "tls", "username", "password", "from", "timeout_seconds"}
    check.unknown_keys(raw, known, KEY)
    host = raw.get("host")
    if not isinstance(host, str) or not host.strip():
        check.add(raw.problem("host" if "host" in raw else None, "'smtp.host' must be a host name or address"))
        host = ""
    tls = raw.get("tls", "starttls")
    if tls not in TLS_MODES:
        check.add(raw.problem("tls", f"'smtp.tls' must be one of {', '.join(TLS_MODES)}"))
        tls = "starttls"
    port = raw.get("port", 465 if tls == "tls" else 587)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        check.add(raw.problem("port", "'smtp.port' must be a whole number from 1 to 65535"))
        port = 587
    timeout = raw.get("timeout_seconds", 5)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 60:
        check.add(raw.problem("timeout_seconds", "'smtp.timeout_seconds' must be a number of seconds from 0 to 60"))
        timeout = 5
    sender = raw.get("from")
    if not isinstance(sender, str) or "@" not in parseaddr(sender)[1] or any(c in sender for c in "\r\n"):
        check.add(raw.problem("from" if "from" in raw else None, "'smtp.from' must be an address such as a@b.org"))
        sender = ""
    username, password = _credentials(raw, check)
    if username and tls == "none" and host and not _loopback(host):
        check.add(raw.problem("tls", "'smtp.tls: none' would send the SMTP password in clear; use starttls or tls"))
    return SmtpSettings(host, sender, port, tls, username, password, float(timeout))


def _credentials(raw: Located, check: Checker) -> tuple[str, str]:
    username, password = raw.get("username", ""), raw.get("password", "")
    if not isinstance(username, str) or not isinstance(password, str):
        check.add(raw.problem("username", "'smtp.username' and 'smtp.password' must be strings"))
        return "", ""
    if bool(username) != bool(password):
        check.add(raw.problem("username" if username else "password", "give both 'smtp.username' and 'smtp.password'"))
    try:
        password = secretbox.resolve_secret(password)
    except secretbox.SecretError as exc:
        check.add(raw.problem("password", f"'smtp.password': {exc}"))
        password = ""
    return username, password


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def init_app(app: Flask, settings: SmtpSettings | None) -> None:
    app.extensions[_EXTENSION] = settings


def current_settings() -> SmtpSettings | None:
    return current_app.extensions.get(_EXTENSION) if has_app_context() else None


def send(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    """Hand one plain-text message to the SMTP server; MailError on any failure, within the timeout."""
    if not plain_address(to):
        raise MailError("the recipient is not one plain address")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, to, subject
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.sender)[1].rpartition("@")[2] or None)
    message.set_content(body)
    context = ssl.create_default_context()
    try:
        if settings.tls == "tls":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_seconds, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with client:
            if settings.tls == "starttls":
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__} from {settings.host}:{settings.port}: {_short(exc)}") from None


def plain_address(text: str) -> bool:
    """One ``local@domain`` address and nothing else: no display name, list, comment or line break."""
    if not text or len(text) > 254 or not text.isprintable() or any(c in text for c in ' ,;<>()"\\'):
        return False
    local, at, domain = text.rpartition("@")
    return bool(local and at and domain and "." in domain and "@" not in local and parseaddr(text)[1] == text)


def _short(exc: Exception) -> str:
    return str(exc).replace("\n", " ")[:200]
