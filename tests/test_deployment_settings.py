"""Deployment settings (session cache, forward-auth, metrics, logs) are checked at load, with file and line."""

from __future__ import annotations

import pytest

from app.settings import load_settings
from app.yamlsource import ConfigError

BASE = """\
secret_key: test-secret-key-0123456789
database_url: "sqlite:///:memory:"
"""


def problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "config" / "settings.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(BASE + text + "external_url: http://localhost\n")  # last: the lines above stay
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return [str(p).split("settings.yaml", 1)[1] for p in caught.value.problems]


def test_each_bad_value_is_reported_at_its_line(tmp_path):
    found = problems(
        tmp_path,
        """\
session_cache:
  seconds: -1
  redis_url: http://cache
  sometimes: yes
forward_auth:
  proxies: [127.0.0.1, not-an-address]
  user_header: "X User"
  signin_status: 500
  attribute_headers: {mail: "bad header"}
log_format: xml
metrics_allow: 10.0.0.0/8
session_cookie_domain: "example.org/path"
""",
    )
    assert sorted(found, key=lambda p: int(p.split(":")[1])) == [
        ":4: 'seconds' must be a whole number from 0 to 300",
        ":5: 'redis_url' must be a redis:// or rediss:// URL",
        ":6: unknown key 'sometimes' in session_cache (known: generation_file, redis_url, seconds)",
        ":8: 'not-an-address' in 'proxies' is not an IP address or network",
        ":9: 'user_header' must be an HTTP header name",
        ":10: 'signin_status' must be 401 (nginx) or 302 (Traefik, Caddy)",
        ":11: 'attribute_headers' must map attribute names to header names",
        ":12: 'log_format' must be 'text' or 'json'",
        ":13: 'metrics_allow' must be a list of IP addresses or networks",
        ":14: 'session_cookie_domain' must be a domain such as .example.org",
    ]


def test_defaults_are_safe(tmp_path):
    path = tmp_path / "config" / "settings.yaml"
    path.parent.mkdir()
    path.write_text(BASE + "external_url: http://localhost\n")
    deployment = load_settings(path).deployment
    assert deployment.session_cache.seconds == 5
    assert deployment.session_cache.generation_file == tmp_path / "instance" / "session-generation"
    assert deployment.forward_auth.proxies == ()  # nobody may ask until proxies are configured
    assert not deployment.forward_auth.trusts("127.0.0.1")
    assert deployment.metrics_allow.trusts("127.0.0.1") and not deployment.metrics_allow.trusts("10.0.0.1")
    assert deployment.log_format == "text" and deployment.session_cookie_domain is None
