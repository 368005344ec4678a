"""User names: which are acceptable, and the normalised key that makes look-alikes one name.

A new name must pass PRECIS ``UsernameCaseMapped`` (RFC 8265, through
``precis-i18n``): no controls, no invisible or default-ignorable characters
(zero-width space and joiner, soft hyphen, bidi overrides), no compatibility
characters (``ﬁ``, ``ǅ``), and the Bidi Rule. Spaces may separate parts of a
name (RFC 8265 section 3.5), never lead, trail or double. On top of PRECIS a
name may not mix scripts that hold look-alike letters (Latin ``a`` and
Cyrillic ``а`` in one name): the letters come from one script, or from one of
the combinations a language writes together (UTS #39's "highly restrictive"
level: Latin with Han and Japanese kana, with Han and Bopomofo, with Han and
Hangul).

``key`` is what uniqueness is decided on: NFKC and Unicode case folding, with
default-ignorable characters dropped. ``Admin``, ``ADMIN`` and ``Ａｄｍｉｎ``
share the key ``admin``; the database holds it in ``users.user_name_key`` under
a unique index, so a look-alike is "taken", never a second account. ``key``
never refuses: a lookup with an odd name simply finds nothing, or the account
the name looks like (whose password still has to match).

This module knows nothing of the database; ``app.stores.sql`` stores the key.
"""

from __future__ import annotations

import unicodedata

import precis_i18n

_PROFILE = precis_i18n.get_profile("UsernameCaseMapped")

_WHY = {
    "spaces": "a space",
    "controls": "a control character",
    "precis_ignorable_properties": "an invisible or formatting character",
    "zero_width_joiner": "an invisible joiner",
    "zero_width_nonjoiner": "an invisible joiner",
    "has_compat": "a compatibility character (a ligature or a styled letter); type the plain letters",
    "bidi_rule": "a mix of right-to-left and left-to-right text",
    "old_hangul_jamo": "an archaic Hangul letter",
    "unassigned": "a character Unicode has not assigned",
    "other": "a character a user name may not hold (a symbol or punctuation outside ASCII)",
}

_TOGETHER = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


class UserNameRefused(ValueError):
    """A user name that may not be given to an account; ``str()`` is the reason, for people.

    ``key`` and ``params`` name the same reason in the catalogue (``user_name.refused.*``,
    app/i18n/messages.properties), for a page in the reader's language.
    """

    def __init__(self, message: str, key: str, **params: str):
        super().__init__(message)
        self.key = key
        self.params = params


def key(user_name: str) -> str:
    """The normalised form two names are compared in (NFKC, case folded, default-ignorables dropped)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", user_name).casefold())
    return " ".join("".join(ch for ch in folded if not _ignorable(ch)).split())


def require(user_name: str) -> str:
    """``user_name`` if an account may be given it, else UserNameRefused with the reason."""
    if not user_name:
        raise UserNameRefused("the user name is empty", "user_name.refused.empty")
    if len(user_name) > 255:
        raise UserNameRefused("the user name is longer than 255 characters", "user_name.refused.too_long")
    if user_name != user_name.strip(" ") or "  " in user_name:
        raise UserNameRefused(
            "the user name starts or ends with a space, or holds two in a row", "user_name.refused.spaces"
        )
    for part in user_name.split(" "):
        _enforce(part)
    scripts = {script for ch in user_name if (script := _script(ch))}
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _TOGETHER):
        raise UserNameRefused(
            f"the user name mixes letters of the {' and '.join(s.title() for s in sorted(scripts))} scripts, "
            "which can look alike",
            "user_name.refused.mixed_scripts",
            scripts=", ".join(s.title() for s in sorted(scripts)),
        )
    return user_name


def _enforce(part: str) -> None:
    try:
        _PROFILE.enforce(part)
    except UnicodeEncodeError as exc:
        reason = exc.reason.rpartition("/")[2]
        ch = part[exc.start] if exc.start < len(part) else ""
        shown = f" (U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip() + ")" if ch else ""
        why = reason if reason in _WHY else "unknown"
        message = f"the user name holds {_WHY.get(reason, 'a character it may not hold')}{shown}"
        raise UserNameRefused(message, "user_name.refused.holds", why=why, shown=shown) from None


def _script(ch: str) -> str | None:
    """The script of a letter, from its Unicode name (Python's unicodedata has no Script property).

    Marks, digits, punctuation and modifier letters belong to no script here
    (Unicode's Common and Inherited); a letter's name starts with its script.
    """
    if unicodedata.category(ch) not in ("Lu", "Ll", "Lt", "Lo"):
        return None
    name = unicodedata.name(ch, "")
    if name.startswith("CJK ") or name.startswith("IDEOGRAPHIC"):
        return "HAN"
    first = name.split(" ", 1)[0]
    if first in ("KATAKANA-HIRAGANA", "HALFWIDTH", "FULLWIDTH"):
        word = name.split(" ", 2)[1] if first != "KATAKANA-HIRAGANA" else "KATAKANA"
        return word
    return first or None


def _ignorable(ch: str) -> bool:
    """Default_Ignorable_Code_Point, approximated by its categories: format characters and variation selectors."""
    return unicodedata.category(ch) == "Cf" or "\ufe00" <= ch <= "\ufe0f" or ch in "\u034f\u115f\u1160\u3164\uffa0"
