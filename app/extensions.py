"""Flask extensions, created once and initialised in ``create_app``."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
db = SQLAlchemy(
    metadata=MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
)
csrf = CSRFProtect()
# Alembic migrations (``flask --app app db upgrade``); batch mode so SQLite can alter tables too.
migrate = Migrate(render_as_batch=True, compare_type=True)


def execute_core(statement, params=None):
    """Run a Core statement in the session's transaction, seeing the session's pending ORM changes.

    ``db.session.execute`` autoflushes only before ORM statements; the hot paths
    read with prebuilt Core statements, so they flush here first when there is
    anything to flush (usually nothing, which costs nothing).
    """
    session = db.session
    if session.new or session.deleted or session.dirty:
        session.flush()
    return session.execute(statement, params)
