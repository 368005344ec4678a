"""second factors: TOTP secrets, recovery codes, e-mail codes, second-factor failures

Issue 13: ``totp_factors`` holds each enrolled user's TOTP secret as an
``{AES}`` box and the last time step accepted (replay guard);
``recovery_codes`` their SHA-256 digests and when each was used;
``email_otp_codes`` one keyed digest of a mailed code per sign-in flow, with
its expiry and attempts; ``second_factor_failures`` the wrong codes per
account in the lockout window, which a right password does not reset.

Revision ID: e00715494cf6
Revises: 4d292d575751
Create Date: 2026-12-02 10:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e00715494cf6"
down_revision = "4d292d575751"
branch_labels = None
depends_on = None


def _user_fk(table):
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "totp_factors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_box", sa.String(length=255), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        _user_fk("totp_factors"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_factors")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        _user_fk("recovery_codes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index("uq_recovery_codes_user_id_code_digest", "recovery_codes", ["user_id", "code_digest"], unique=True)
    op.create_table(
        "email_otp_codes",
        sa.Column("flow_digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        _user_fk("email_otp_codes"),
        sa.PrimaryKeyConstraint("flow_digest", name=op.f("pk_email_otp_codes")),
    )
    op.create_table(
        "second_factor_failures",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        _user_fk("second_factor_failures"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_second_factor_failures")),
    )


def downgrade():
    op.drop_table("second_factor_failures")
    op.drop_table("email_otp_codes")
    op.drop_index("uq_recovery_codes_user_id_code_digest", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("totp_factors")
