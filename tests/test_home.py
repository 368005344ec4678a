"""Where state goes: beside the settings in a source tree, under STEPGATE_HOME when set, never into the package."""

from __future__ import annotations

from pathlib import Path

from app import home
from app.settings import load_settings


def test_state_follows_the_settings_folder_unless_stepgate_home_says_otherwise(make_settings, monkeypatch, tmp_path):
    settings_path = make_settings(extra={"database_url": "sqlite:///instance/stepgate.db"})
    site = settings_path.parent.parent
    beside = load_settings(settings_path)
    assert beside.database_url == f"sqlite:///{site / 'instance' / 'stepgate.db'}"
    assert beside.deployment.session_cache.generation_file == site / "instance" / "session-generation"

    monkeypatch.setenv("STEPGATE_HOME", str(tmp_path / "var"))
    moved = load_settings(settings_path)
    assert moved.database_url == f"sqlite:///{tmp_path / 'var' / 'instance' / 'stepgate.db'}"
    assert moved.deployment.session_cache.generation_file == tmp_path / "var" / "instance" / "session-generation"
    assert moved.base_dir == tmp_path / "var"
    assert moved.schemes_dir == site / "schemes"  # what the settings name stays beside them


def test_the_shipped_files_of_an_installed_package_keep_state_in_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("STEPGATE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert home.state_root(home.PACKAGE_ROOT) == tmp_path.resolve()
    assert home.state_root(Path("/srv/site")) == Path("/srv/site")


def test_a_source_tree_reads_its_own_config_schemes_and_migrations():
    assert home.shipped_root() == home.SOURCE_ROOT
    for name in ("config/settings.yaml", "config/gunicorn.conf.py", "migrations/env.py", "schemes"):
        assert (home.shipped_root() / name).exists()
