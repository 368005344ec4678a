"""The catalogue in a Flask request: the chosen locale, ``_()`` in templates, ``lang`` and ``Vary``.

The locale is chosen once per request, the first time a text is asked for:
the ``lang`` cookie when it names an available locale, else Accept-Language.
A response that used it says ``Vary: Accept-Language, Cookie`` so a cache
never hands one person's French page to another's English browser, and an
HTML page says its ``Content-Language``. Outside a request (the CLI, a
worker) the locale is English.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, Response, g, has_request_context, request
from markupsafe import Markup, escape

from app.i18n.catalogue import DEFAULT_LOCALE, LOCALES, catalogue, fill
from app.i18n.negotiation import best_locale, explicit_locale

COOKIE = "lang"


def current_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE
    locale = g.get("i18n_locale")
    if locale is None:
        locale = g.i18n_locale = locale_among(LOCALES, DEFAULT_LOCALE)
    return locale


def locale_among(available: tuple[str, ...], default: str) -> str:
    """The request's choice among ``available``: the ``lang`` cookie if it names one, else Accept-Language."""
    g.i18n_negotiated = True
    chosen = explicit_locale(request.cookies.get(COOKIE), available)
    return chosen or best_locale(request.headers.get("Accept-Language"), available, default)


def say(key: str, /, **params) -> str:
    """The text of ``key`` in the request's locale, as plain text (escaped wherever it is rendered)."""
    return catalogue().text(key, current_locale(), **params)


def say_html(key: str, /, **params) -> Markup:
    """For templates: the text escaped, then each placeholder filled escaped unless it is already Markup."""
    template = _escaped(key, current_locale())
    if not params:
        return template
    return Markup(fill(str(template), {name: escape(value) for name, value in params.items()}))  # noqa: S704 - all escaped


@lru_cache(maxsize=4096)
def _escaped(key: str, locale: str) -> Markup:
    """A text escaped once per process: the catalogue never changes once loaded (bounded, were a key computed)."""
    return escape(catalogue().raw(key, locale))


def init_app(app: Flask) -> None:
    app.jinja_env.globals["_"] = say_html
    app.jinja_env.globals["current_locale"] = current_locale

    @app.after_request
    def vary_by_language(response: Response) -> Response:
        if g.get("i18n_negotiated"):
            response.vary.add("Accept-Language")
            response.vary.add("Cookie")
            if g.get("i18n_locale") is not None and response.mimetype == "text/html":
                response.headers.setdefault("Content-Language", g.i18n_locale)
        return response
