"""Moved to ``app.stores.federation`` (links between users of any store and federated identities).

The module object *is* ``app.stores.federation``; this name stays importable until callers move.
"""

import sys

from app.stores import federation

sys.modules[__name__] = federation
