"""Every package the code imports is declared, and requirements.lock pins every declared one.

A fresh install (``make`` installs requirements.lock, an operator pip-installs
the wheel) has exactly what pyproject.toml declares: a package that is only
there because something else pulls it in (joserfc through Authlib, once) can
vanish with that other package's next release. Imports are read from the
source (AST), so a new one is caught the day it is written.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OWN = {"app", "plugins", "tests", "bench", "dev", "examples", "migrations"}
# imported only where the optional feature is used, each through its extra
OPTIONAL = {"psycopg": "postgres", "redis": "serve", "playwright": "graph"}
RUNTIME_SOURCES = ("app", "plugins", "config", "migrations")
TEST_SOURCES = ("tests", "bench", "dev", "examples")


def declared(*groups: str) -> set[str]:
    requirements = list(PROJECT["dependencies"])
    for group in groups:
        requirements += PROJECT["optional-dependencies"][group]
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def imported_distributions(*folders: str) -> dict[str, set[str]]:
    """Distribution name -> the files importing one of its modules, for every third-party import in ``folders``."""
    providers = packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if "node_modules" in path.parts or path.is_relative_to(ROOT / "bench" / "peers"):
                continue  # bench/peers: the benchmark peer (Django) runs in a venv of its own, never stepgate's
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in OWN or top.startswith("_stepgate"):
                        continue
                    for distribution in providers.get(top, [f"<no installed distribution provides {top}>"]):
                        found.setdefault(canonicalize_name(distribution), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_the_server_imports_is_a_declared_runtime_dependency():
    runtime = declared()
    optional = {canonicalize_name(name): extra for name, extra in OPTIONAL.items()}
    missing = {}
    for distribution, files in imported_distributions(*RUNTIME_SOURCES).items():
        if distribution in optional:
            assert distribution in declared(optional[distribution]), f"{distribution} not in [{optional[distribution]}]"
        elif distribution not in runtime:
            missing[distribution] = sorted(files)
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_every_package_the_tests_import_is_declared_in_the_test_extra_or_at_run_time():
    allowed = declared("test", *set(OPTIONAL.values()))
    missing = {d: sorted(f) for d, f in imported_distributions(*TEST_SOURCES).items() if d not in allowed}
    assert not missing, f"imported by tests but not declared (add them to the test extra): {missing}"


def test_test_only_packages_stay_out_of_the_runtime_dependencies():
    assert not {"pytest", "ruff", "hypothesis"} & declared()


def test_the_lock_pins_every_declared_package_at_a_version_its_specifier_accepts():
    pins = {
        canonicalize_name(name): version
        for name, version in re.findall(
            r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", (ROOT / "requirements.lock").read_text(), re.M
        )
    }
    requirements = [
        *PROJECT["dependencies"],
        *(r for group in PROJECT["optional-dependencies"].values() for r in group),
    ]
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared but not pinned in requirements.lock (run make lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"lock pins {name}=={pins[name]}: {text}"


def test_make_installs_from_the_lock_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    stamp_rule = makefile[makefile.index("$(STAMP): pyproject.toml") :].split("\n\n")[0]
    assert "requirements.lock" in stamp_rule.splitlines()[0]  # a changed lock re-installs
    pip_lines = [line for line in stamp_rule.splitlines() if "requirements.lock" in line and "pip" in line]
    # downloaded with their hashes checked, then installed from those files only (checked again)
    assert any(" download " in line for line in pip_lines), stamp_rule
    assert any(" install " in line and "--no-index" in line for line in pip_lines), stamp_rule
    assert all("--require-hashes" in line for line in pip_lines), stamp_rule
    assert "--no-deps -e ." in stamp_rule
