"""account lockout and sign-in throttle

Two tables for password sign-ins (issue 11, brute force): ``account_lockouts``
holds each account's recent failed password checks and, while it lasts, the
end of its temporary lockout (kept apart from ``users.status``, which is the
administrators' lock); ``signin_throttle`` holds the attempt counters per
client address and per typed account name (keyed digests), one fixed window
each. Both are shared by every worker and node.

Revision ID: 5c1d0e7a9b42
Revises: 5d1c0a7e9b21
Create Date: 2026-12-02 06:45:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "5c1d0e7a9b42"
down_revision = "5d1c0a7e9b21"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account_lockouts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_lockouts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_lockouts")),
    )
    op.create_table(
        "signin_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_signin_throttle")),
    )
    op.create_index("ix_signin_throttle_window_start", "signin_throttle", ["window_start"], unique=False)


def downgrade():
    op.drop_index("ix_signin_throttle_window_start", table_name="signin_throttle")
    op.drop_table("signin_throttle")
    op.drop_table("account_lockouts")
