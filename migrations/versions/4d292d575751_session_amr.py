"""session amr: the authentication methods a session was signed in with

Space-separated RFC 8176 values (``pwd``, ``otp``, ``fed``, ``mfa``) and the
provider's own as ``idp:<value>`` (docs/conditions.md). Empty for sessions
opened before this revision: they count as having none, so a policy that
requires ``mfa`` asks them to sign in again.

Revision ID: 4d292d575751
Revises: 03befe33ac6b
Create Date: 2026-12-02 10:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '4d292d575751'
down_revision = '03befe33ac6b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amr', sa.String(length=255), nullable=False, server_default=sa.text("''")))


def downgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('amr')
