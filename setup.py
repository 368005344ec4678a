"""Puts what stepgate reads at run time into the wheel: ``config/``, ``schemes/`` and ``migrations/``.

They live at the top of the source tree, where operators and tests edit them;
the wheel carries copies inside the package, as ``app/shipped/`` (found by
app/home.py). Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("config", "schemes", "migrations")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", "*.log")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the source tree itself
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "app" / "shipped"
        for name in SHIPPED:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(root / name, target / name, ignore=IGNORED)


setup(cmdclass={"build_py": BuildWithShippedFiles})
