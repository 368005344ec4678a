"""JIT-off sessions and locked federated links

``federated_sessions``: sessions of people signed in through a provider with
just-in-time provisioning off (Asgardeo); no local account, the provider's
subject and the claims passed on are kept with the session.
``federated_links.locked_*``: WSO2's lock by social identity.

Revision ID: 98c1f886f1d8
Revises: e41f7c2a9d63
Create Date: 2026-12-02 11:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '98c1f886f1d8'
down_revision = 'e41f7c2a9d63'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'federated_sessions',
        sa.Column('id_digest', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=128), nullable=False),
        sa.Column('issuer', sa.String(length=512), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('user_name', sa.String(length=255), nullable=False),
        sa.Column('claims_json', sa.Text(), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('scheme', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.Column('logout_provider', sa.String(length=128), nullable=True),
        sa.Column('logout_id_token', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id_digest'),
    )
    with op.batch_alter_table('federated_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_federated_sessions_identity', ['issuer', 'subject'], unique=False)
        batch_op.create_index(batch_op.f('ix_federated_sessions_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('federated_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('locked_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('lock_reason', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('federated_links', schema=None) as batch_op:
        batch_op.drop_column('lock_reason')
        batch_op.drop_column('locked_by')
        batch_op.drop_column('locked_at')
    with op.batch_alter_table('federated_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federated_sessions_expires_at'))
        batch_op.drop_index('ix_federated_sessions_identity')
    op.drop_table('federated_sessions')
