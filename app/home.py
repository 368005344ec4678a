"""Where stepgate finds the files it ships and where it keeps its state, from a source tree or a wheel.

From a source tree (``make run``, the tests) the shipped files sit beside
``app/``: ``config/``, ``schemes/`` (with their labels) and ``migrations/``, and
state goes to ``instance/`` there, as it always has.

Installed from the wheel, the same three folders are inside the package, in
``app/shipped/`` (setup.py copies them there at build time). They are read,
never written: state (the SQLite file of the default ``database_url``, the
session generation file) goes to ``$STEPGATE_HOME/instance``, or to
``./instance`` under the working directory when ``STEPGATE_HOME`` is unset,
never into site-packages. ``STEPGATE_HOME`` also moves the state of a source
tree, for an operator who keeps data apart from code.
"""

from __future__ import annotations

import os
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = Path(__file__).resolve().parent / "shipped"


def shipped_root() -> Path:
    """The folder holding ``config/``, ``schemes/`` and ``migrations/``: the source tree's, else the package's."""
    if (SOURCE_ROOT / "config" / "settings.yaml").is_file() and (SOURCE_ROOT / "migrations").is_dir():
        return SOURCE_ROOT
    return PACKAGE_ROOT


def state_root(settings_base: Path) -> Path:
    """Where ``instance/`` goes for settings whose relative paths are read from ``settings_base``."""
    home = os.environ.get("STEPGATE_HOME")
    if home:
        return Path(home).resolve()
    if settings_base.resolve() == PACKAGE_ROOT.resolve():
        return Path.cwd().resolve()
    return settings_base.resolve()
