"""user name key and attribute provenance

``users.user_name_key`` holds the user name in normalised form (NFKC, case
folded; app/usernames.py) under a unique index per store, so ``Admin`` and
``ADMIN`` can no longer be two accounts. Existing names that already collide
keep working: the lowest id gets the plain key, the others a key no name can
produce, and the migration logs them for the administrator to rename.

``user_attributes`` gains ``source``, ``verified`` and ``set_at``. What the
rows held before is unknown, so the migration is conservative: attributes of
a user linked to an identity provider are marked as that provider's, unproven
(they no longer link another provider's sign-in by e-mail); those of an
unlinked user were set by an administrator's tool (CLI, console seed, SCIM)
and are marked ``admin``, proven.

Revision ID: b767c31454a0
Revises: 3ae2cb7ae297
Create Date: 2026-12-02 06:45:00

"""
import logging

import sqlalchemy as sa
from alembic import op

from app.timeutil import utcnow
from app.usernames import key as user_name_key

# revision identifiers, used by Alembic.
revision = 'b767c31454a0'
down_revision = '3ae2cb7ae297'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
COLLIDED = "\u2060"  # a format character: usernames.key drops these, so no name's key holds one


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('user_name_key', sa.String(length=1024), nullable=True))
    with op.batch_alter_table('user_attributes') as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('verified', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('set_at', sa.DateTime(), nullable=True))

    conn = op.get_bind()
    _fill_user_name_keys(conn)
    now = utcnow()
    conn.execute(
        sa.text("UPDATE user_attributes SET source = 'admin', verified = :proven, set_at = :now"),
        {"proven": True, "now": now},
    )
    conn.execute(
        sa.text(
            "UPDATE user_attributes SET verified = :unproven, source = 'provider:' || "
            "(SELECT provider FROM federated_links l WHERE l.user_id = user_attributes.user_id ORDER BY l.id LIMIT 1) "
            "WHERE user_id IN (SELECT user_id FROM federated_links)"
        ),
        {"unproven": False},
    )

    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column('user_name_key', existing_type=sa.String(length=1024), nullable=False)
    with op.batch_alter_table('user_attributes') as batch_op:
        batch_op.alter_column('source', existing_type=sa.String(length=160), nullable=False)
        batch_op.alter_column('verified', existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column('set_at', existing_type=sa.DateTime(), nullable=False)
    op.create_index('uq_users_store_user_name_key', 'users', ['store', 'user_name_key'], unique=True)


def _fill_user_name_keys(conn) -> None:
    taken: dict[tuple[str, str], str] = {}
    rows = conn.execute(sa.text("SELECT id, store, user_name FROM users ORDER BY id")).all()
    for user_id, store, user_name in rows:
        key = user_name_key(user_name)
        if (store, key) in taken:
            log.warning(
                "users %r and %r of store %r differ only by case, width or invisible characters; "
                "both keep working by their exact names: rename one",
                taken[(store, key)], user_name, store,
            )
            key = f"{key}{COLLIDED}{user_id}"
        else:
            taken[(store, key)] = user_name
        conn.execute(sa.text("UPDATE users SET user_name_key = :key WHERE id = :id"), {"key": key, "id": user_id})


def downgrade():
    op.drop_index('uq_users_store_user_name_key', table_name='users')
    with op.batch_alter_table('user_attributes') as batch_op:
        batch_op.drop_column('set_at')
        batch_op.drop_column('verified')
        batch_op.drop_column('source')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('user_name_key')
