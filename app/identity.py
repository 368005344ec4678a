"""Moved to ``app.stores.sql`` (the SQL identity store); this name stays importable until callers move.

The module object *is* ``app.stores.sql``, so attributes set or patched
through either name are the same.
"""

import sys

from app.stores import sql

sys.modules[__name__] = sql
