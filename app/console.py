"""The ``stepgate`` command: ``flask --app app``'s groups under one name, plus ``stepgate serve``.

``stepgate db upgrade``, ``stepgate schemes check``, ``stepgate users ...``,
``stepgate purge`` and the rest are the same commands as ``flask --app app ...``
(app/cli.py, Flask-Migrate's ``db``); ``serve`` runs gunicorn with the shipped
``config/gunicorn.conf.py``. Declared in pyproject.toml's ``[project.scripts]``,
so an installed wheel needs no source tree (app/home.py says where files are).
"""

from __future__ import annotations

import os
import sys

import click
from flask.cli import FlaskGroup

from app import home


def _create_app():
    from app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, load_dotenv=False, set_debug_flag=False, add_version_option=False)
@click.version_option(package_name="stepgate", message="%(prog)s %(version)s")
def main() -> None:
    """stepgate, an access server. Settings: $STEPGATE_SETTINGS (default: the shipped config/settings.yaml)."""


@main.command(
    "serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
)
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Serve with gunicorn and the shipped config/gunicorn.conf.py; extra arguments go to gunicorn.

    STEPGATE_BIND (default 127.0.0.1:5000), STEPGATE_WORKERS and STEPGATE_THREADS set the
    listening address and the process and thread counts. Run ``stepgate db upgrade`` first.
    """
    conf = home.shipped_root() / "config" / "gunicorn.conf.py"
    argv = [sys.executable, "-m", "gunicorn", "-c", str(conf), *gunicorn_args, "app:create_app()"]
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - gunicorn takes the process over: signals from systemd reach it
