"""The schema comes from Alembic migrations, and the migrations describe exactly the models.

Runs on this leg's database (SQLite, or PostgreSQL under ``.ci/run``). When a
branch adds or changes a model without a migration, the comparison lists the
difference and fails: regenerate as docs/operations.md
("Database and migrations") says.
"""

from __future__ import annotations

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import create_app
from app.extensions import db


def test_upgrade_creates_the_schema_and_it_matches_the_models(make_settings, empty_database_url):
    app = create_app(make_settings(extra={"database_url": empty_database_url}), testing=True)
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
        flask_migrate.upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        assert "alembic_version" in tables
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        db.engine.dispose()


def test_downgrade_removes_everything_the_upgrade_made(make_settings, empty_database_url):
    app = create_app(make_settings(extra={"database_url": empty_database_url}), testing=True)
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
