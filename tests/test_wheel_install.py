"""The wheel is all an operator needs: built, installed into an empty venv, upgraded and served outside the source tree.

The source is copied to a temporary folder and built there (``pip wheel``),
the wheel is installed into a fresh virtual environment (its declared
dependencies only, no source tree on the path), and from an empty working
directory ``stepgate db upgrade``, ``stepgate users add`` and ``stepgate serve``
run as an operator types them; a person then signs in over HTTP with the
shipped settings, schemes, labels, templates and static files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.browser import Browser
from tests.servers import free_port, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "node_modules", "instance", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests"
)
PASSWORD = "correct horse battery staple"
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
"""Filled by the Makefile from requirements.lock (`make test` installs from it)."""


def run(*argv, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, argv))}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCE)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",  # setuptools from the test venv (the test extra): nothing is fetched
        "-w",
        str(work / "dist"),
        str(work / "src"),
        cwd=work,
    )
    (built,) = (work / "dist").glob("stepgate-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel and what its metadata declares, nothing else: its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", str(venv), cwd=venv.parent)
    # only from the wheels `make` downloaded for requirements.lock: no index, no network, the locked versions
    assert WHEELHOUSE.is_dir(), f"{WHEELHOUSE} is missing: `make .venv/.installed` downloads it"
    offline = ("--no-index", "--find-links", str(WHEELHOUSE))
    run(str(venv / "bin" / "pip"), "install", "--quiet", *offline, str(wheel), cwd=venv.parent)
    return venv / "bin"


def operator_env(**extra: str) -> dict:
    """The environment of an operator's shell: no source tree on the path, no settings of the test suite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPGATE_", "PYTHON", "PROMETHEUS_", "VIRTUAL_"))}
    return {**env, **extra}


def test_the_wheel_carries_what_the_code_reads_at_run_time(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        "app/shipped/config/settings.yaml",
        "app/shipped/config/gunicorn.conf.py",
        "app/shipped/migrations/env.py",
        "app/shipped/migrations/alembic.ini",
        "app/shipped/migrations/script.py.mako",
        "app/shipped/schemes/labels/login.properties",
        "app/templates/base.html",
        "app/templates/error.html",
        "app/static/base.css",
        "plugins/credential_collector.py",
    }
    shipped |= {f"app/shipped/schemes/{p.name}" for p in (ROOT / "schemes").glob("*.yaml")}
    shipped |= {f"app/shipped/migrations/versions/{p.name}" for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert shipped <= names, sorted(shipped - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".db", ".pyc")) or n.startswith("tests/")]
    info = next(n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = zipfile.ZipFile(wheel).read(info).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "stepgate = app.console:main" in entry_points


def test_an_installed_wheel_upgrades_its_database_and_serves_a_sign_in_from_an_empty_folder(installed, tmp_path):
    workdir = tmp_path / "operator"
    workdir.mkdir()
    port = free_port()
    env = operator_env(
        STEPGATE_BIND=f"127.0.0.1:{port}", STEPGATE_WORKERS="1", STEPGATE_EXTERNAL_URL=f"http://127.0.0.1:{port}"
    )
    stepgate = str(installed / "stepgate")
    upgraded = run(stepgate, "db", "upgrade", cwd=workdir, env=env)
    assert "Running upgrade" in upgraded.stderr
    assert (workdir / "instance" / "stepgate.db").is_file()  # state in the working folder, not in site-packages
    run(
        stepgate,
        "users",
        "add",
        "alice",
        "--password",
        PASSWORD,
        "--attr",
        "mail=alice@example.org",
        cwd=workdir,
        env=env,
    )
    checked = run(stepgate, "schemes", "check", cwd=workdir, env=env)
    assert "app/shipped/schemes/PasswordScheme.yaml" in checked.stdout

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([stepgate, "serve"], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/healthz", server, timeout=60)
        with Browser(url) as browser:
            assert browser.get("/readyz").json()["status"] == "ok"
            assert browser.get("/static/base.css").status_code == 200
            page = browser.get("/demo/reports")
            assert page.status_code == 200 and "User name" in page.text  # a label from the shipped .properties
            done = browser.submit({"USERNAME": "alice", "PASSWORD": PASSWORD})
            assert done.url == f"{url}/demo/reports"
            assert '<strong id="user-name">alice</strong>' in done.text
    finally:
        server.terminate()
        server.wait(15)
    site_packages = next((installed.parent / "lib").glob("python*/site-packages"))
    assert not list(site_packages.rglob("instance")), "state was written into site-packages"
    assert server.returncode == 0, log.read_text()[-2000:]
