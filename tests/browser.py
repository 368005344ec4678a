"""A small scripted browser for end-to-end tests: cookies, redirects and HTML forms.

It walks redirects like a browser (requests does that), keeps cookies per host,
and fills in forms the way a person would: hidden inputs (CSRF token) are sent
back as the page gave them.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": attrs.get("action", ""),
                    "method": (attrs.get("method") or "get").lower(),
                    "id": attrs.get("id"),
                    "fields": {},
                }
            )
        elif tag in ("input", "textarea", "select") and self.forms and attrs.get("name"):
            if attrs.get("type") in ("submit", "button"):
                return
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


def parse_forms(html: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    def __init__(self, base_url: str, timeout: float = 10):
        self.base_url = base_url
        self.timeout = timeout
        self.session = requests.Session()
        self.last: requests.Response | None = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path)

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        self.last = self.session.get(self.url(path), **kwargs)
        return self.last

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        self.last = self.session.post(self.url(path), data=data, **kwargs)
        return self.last

    def form(self, response: requests.Response | None = None, index: int = 0) -> dict:
        response = response or self.last
        forms = parse_forms(response.text)
        assert forms, f"no form on {response.url}: {response.text[:400]}"
        return forms[index]

    def submit(
        self, data: dict | None = None, response: requests.Response | None = None, **kwargs
    ) -> requests.Response:
        """Fill the page's form with ``data`` over its own fields and submit it."""
        response = response or self.last
        form = self.form(response)
        fields = {**form["fields"], **(data or {})}
        action = urljoin(response.url, form["action"] or response.url)
        kwargs.setdefault("timeout", self.timeout)
        if form["method"] == "post":
            self.last = self.session.post(action, data=fields, **kwargs)
        else:
            self.last = self.session.get(action, params=fields, **kwargs)
        return self.last

    def sign_out(self, base_url: str | None = None) -> requests.Response:
        """Sign out as a person does: the confirmation page, then its form (a POST with the CSRF token)."""
        self.get(urljoin(base_url or self.base_url, "/logout"))
        return self.submit()

    def cookie(self, name: str) -> str | None:
        return self.session.cookies.get(name)
