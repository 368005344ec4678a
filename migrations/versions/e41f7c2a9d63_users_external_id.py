"""users.external_id: the stable id (entryUUID, objectGUID) of a user kept in a store outside SQL

Revision ID: e41f7c2a9d63
Revises: 9e15583b83f8
"""

import sqlalchemy as sa
from alembic import op

revision = "e41f7c2a9d63"
down_revision = "9e15583b83f8"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch.create_index("uq_users_store_external_id", ["external_id", "store"], unique=True)


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_index("uq_users_store_external_id")
        batch.drop_column("external_id")
