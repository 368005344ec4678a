"""Credential prompts in OAM syntax: CRED_PARAM definitions, labels, and the Flask-WTF form.

``{ID=USERNAME},{DISPLAY_NAME=USERNAME},{TYPE=text_readonly},{VALUE=constant}``
declares one field. Labels are looked up in a ``.properties`` file (OAM's
globalization note): ``labels.properties`` and ``labels_fr.properties`` beside
it, chosen by the browser's Accept-Language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField

from app.i18n.properties import read_properties
from app.i18n.web import locale_among

FIELD_TYPES = ("text", "password", "text_readonly", "hidden")
_ITEM = re.compile(r"\{\s*([A-Z_]+)\s*=\s*([^{}]*?)\s*\}")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class CredentialField:
    id: str
    display_name: str
    type: str = "text"
    value: str | None = None

    @property
    def secret(self) -> bool:
        return self.type == "password"

    @property
    def server_side(self) -> bool:
        """Read-only and hidden values come from the server; what the browser sends back is ignored."""
        return self.type in ("text_readonly", "hidden")


def parse_cred_param(text: str) -> CredentialField:
    """Parse one CRED_PARAM value; raise ValueError with a readable message."""
    items, pos = {}, 0
    for match in _ITEM.finditer(text):
        gap = text[pos : match.start()].strip()
        if gap not in ("", ","):
            raise ValueError(f"unexpected text {gap!r}; write {{KEY=value}} items separated by commas")
        items[match.group(1)] = match.group(2)
        pos = match.end()
    if text[pos:].strip() not in ("", ","):
        raise ValueError(f"unexpected text {text[pos:].strip()!r}; write {{KEY=value}} items separated by commas")
    unknown = set(items) - {"ID", "DISPLAY_NAME", "TYPE", "VALUE"}
    if unknown:
        raise ValueError(f"unknown item(s) {', '.join(sorted(unknown))} (known: ID, DISPLAY_NAME, TYPE, VALUE)")
    field_id = items.get("ID", "")
    if not _ID.fullmatch(field_id):
        raise ValueError("needs {ID=NAME} with a letter first, then letters, digits or _")
    field_type = items.get("TYPE", "text").lower()
    if field_type not in FIELD_TYPES:
        raise ValueError(f"TYPE must be one of {', '.join(FIELD_TYPES)}")
    return CredentialField(field_id, items.get("DISPLAY_NAME") or field_id, field_type, items.get("VALUE"))


class Labels:
    """Translated labels: ``base.properties`` plus ``base_<lang>.properties`` variants."""

    def __init__(self, base: Path | None):
        self.by_locale: dict[str, dict[str, str]] = {}
        if base is None:
            return
        self.by_locale[""] = read_properties(base)
        for variant in base.parent.glob(f"{base.stem}_*.properties"):
            self.by_locale[variant.stem[len(base.stem) + 1 :].lower().replace("_", "-")] = read_properties(variant)

    def for_request(self) -> dict[str, str]:
        """Labels in the request's language (the same choice as the page's, app/i18n/), over the base file."""
        locales = tuple(loc for loc in self.by_locale if loc)
        best = locale_among(locales, "") if locales else ""
        return {**self.by_locale.get("", {}), **self.by_locale.get(best, {})}


def build_form(fields: list[CredentialField], values: dict[str, str], csrf: bool = True) -> FlaskForm:
    """A CSRF-protected form with one field per CRED_PARAM, prefilled from the flow's values.

    ``csrf=False`` only for a post whose flow-bound ``loginid`` was already checked (an external login page).
    """

    class CredentialForm(FlaskForm):
        pass

    for f in fields:
        kind = {"password": PasswordField, "hidden": HiddenField}.get(f.type, StringField)
        setattr(
            CredentialForm,
            f.id,
            kind(f.display_name, render_kw={"readonly": True} if f.type == "text_readonly" else None),
        )
    form = CredentialForm() if csrf else CredentialForm(meta={"csrf": False})
    for f in fields:
        if f.server_side or not form.is_submitted():
            prefill = values.get(f.id, f.value)
            if prefill is not None and not f.secret:
                getattr(form, f.id).data = str(prefill)
    return form
