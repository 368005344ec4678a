"""attribute index with user_id

The console lists the users holding one attribute value a page at a time
(keyset paging by user id). With the index on (name, value) alone, a value
shared by many users (a department, a team) was sorted in full for every
page; with user_id last, the index hands the rows over in order.

Revision ID: 3ae2cb7ae297
Revises: b7e77e05d052
Create Date: 2026-12-01 18:35:59.276301

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3ae2cb7ae297'
down_revision = 'b7e77e05d052'
branch_labels = None
depends_on = None


def upgrade():
    # plain index statements, not a batch: SQLite creates and drops indexes without copying the table
    op.drop_index('ix_user_attributes_name_value', table_name='user_attributes')
    op.create_index('ix_user_attributes_name_value', 'user_attributes', ['name', 'value', 'user_id'], unique=False)


def downgrade():
    op.drop_index('ix_user_attributes_name_value', table_name='user_attributes')
    op.create_index('ix_user_attributes_name_value', 'user_attributes', ['name', 'value'], unique=False)
