"""session logout hint: the provider and ID token for RP-initiated logout

A session signed in through a provider with ``rp_initiated_logout: true``
keeps that provider's name and the ID token it issued, so signing out can send
the browser to the provider's end_session_endpoint with ``id_token_hint``.
Both columns are empty for every other session.

Revision ID: 5d1c0a7e9b21
Revises: b767c31454a0
Create Date: 2026-12-02 06:50:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '5d1c0a7e9b21'
down_revision = 'b767c31454a0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logout_provider', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('logout_id_token', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('logout_id_token')
        batch_op.drop_column('logout_provider')
