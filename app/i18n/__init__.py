"""Translations: one catalogue of ``.properties`` bundles for every page, message and console label.

``messages.properties`` is the English default, ``messages_<locale>.properties`` a
translation (French today). The syntax is Java's, as OAM's resource bundles use it
(app/i18n/properties.py), so a scheme's login labels and the application's own
text are read the same way. The locale is negotiated from Accept-Language, or an
explicit ``lang`` cookie naming an available locale (app/i18n/negotiation.py);
app/i18n/web.py keeps it per request and exposes ``_()`` to templates.

Machine-readable answers (SCIM and API JSON bodies, forward-auth headers) stay
English: they read ``app.web.messages.message_for``, never this catalogue's
current locale.
"""

from app.i18n.catalogue import DEFAULT_LOCALE, LOCALES, catalogue, text
from app.i18n.web import current_locale, say

__all__ = ["DEFAULT_LOCALE", "LOCALES", "catalogue", "current_locale", "say", "text"]
