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
    """Run a Core statement on the session's connection, in its transaction, seeing its pending ORM changes.

    The sign-in and session paths use statements built once, run here rather
    than through ``db.session.execute``, whose ORM layer costs about as much as
    the statement; that layer would also autoflush only before ORM statements,
    so pending ORM changes are flushed here first (usually there are none, and
    ``flush`` then returns at once).
    """
    session = db.session()  # the request's Session itself, not the scoped proxy
    session.flush()  # returns at once when nothing is pending
    return session.connection().execute(statement, params)
