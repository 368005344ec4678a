"""The application's catalogue: ``messages.properties`` (English) and its translations, loaded once.

A key names a text (``reason.credentials.invalid``, ``console.users.title``);
``{name}`` in a text is a placeholder filled by the caller. A key a translation
lacks falls back to English, and a key English lacks is returned as the key
itself, so a gap is visible on the page without ever failing the request;
tests/test_translations.py keeps the bundles complete and their placeholders equal.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from app.i18n.properties import read_properties

BASE = Path(__file__).with_name("messages.properties")
DEFAULT_LOCALE = "en"


class Catalogue:
    def __init__(self, base: Path):
        self.by_locale: dict[str, dict[str, str]] = {DEFAULT_LOCALE: read_properties(base)}
        for variant in sorted(base.parent.glob(f"{base.stem}_*.properties")):
            self.by_locale[variant.stem[len(base.stem) + 1 :].lower().replace("_", "-")] = read_properties(variant)

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self.by_locale)

    def raw(self, key: str, locale: str = DEFAULT_LOCALE) -> str:
        found = self.by_locale.get(locale, {}).get(key)
        return found if found is not None else self.by_locale[DEFAULT_LOCALE].get(key, key)

    def text(self, key: str, locale: str = DEFAULT_LOCALE, /, **params) -> str:
        return fill(self.raw(key, locale), params)


class _Kept(dict):
    """Placeholders the caller did not give stay as written rather than raising mid-page."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, params: dict) -> str:
    return template.format_map(_Kept(params)) if params else template


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@cache
def catalogue() -> Catalogue:
    return Catalogue(BASE)


LOCALES: tuple[str, ...] = catalogue().locales


def text(key: str, locale: str = DEFAULT_LOCALE, /, **params) -> str:
    return catalogue().text(key, locale, **params)
