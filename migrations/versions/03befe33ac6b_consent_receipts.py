"""consent receipts

One row per consent decision of a federated person (WSO2's JIT "prompt for
consent"): who, when, which purposes at which version were accepted or
declined, and which attributes were withheld (app/consent/receipts.py).

Revision ID: 03befe33ac6b
Revises: 5c1d0e7a9b42
Create Date: 2026-12-02 10:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "03befe33ac6b"
down_revision = "5c1d0e7a9b42"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "consent_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.String(length=128), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("withheld", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consent_receipts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_receipts")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_consent_receipts_receipt_id")),
    )
    with op.batch_alter_table("consent_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_receipts_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("consent_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_receipts_user_id"))
    op.drop_table("consent_receipts")
