"""SCIM documents and groups; user ids are never reused

``scim_users`` keeps each user's SCIM resource beyond the mapped attributes
(externalId, every email with its type...); ``scim_groups`` and
``scim_group_members`` are the /Groups resources. On SQLite, ``users`` is
rebuilt with AUTOINCREMENT so a deleted user's id is never handed to the next
user (their audit history, links and SCIM id stay theirs), its counter starting
past the highest id the users table or the audit trail has seen; PostgreSQL's
sequences never reuse an id already.

Revision ID: 9e15583b83f8
Revises: e00715494cf6
Create Date: 2026-12-02 10:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "9e15583b83f8"
down_revision = "e00715494cf6"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _remember_deleted_ids() -> None:
    """Start the AUTOINCREMENT counter past every id a user ever had, deleted ones included.

    The rebuilt table only knows the ids alive now; the audit trail also names the
    users deleted before this migration (``user.created`` at least), so their ids
    are not handed out either.
    """
    bind = op.get_bind()
    highest = bind.execute(
        sa.text("SELECT max(m) FROM (SELECT max(id) AS m FROM users UNION ALL SELECT max(user_id) FROM audit_events)")
    ).scalar()
    bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'users'"))
    bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('users', :seq)"), {"seq": highest or 0})


def upgrade():
    if _sqlite():
        with op.batch_alter_table("users", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
        _remember_deleted_ids()
    op.create_table(
        "scim_users",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scim_users_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_scim_users")),
    )
    op.create_index("ix_scim_users_store_external_id", "scim_users", ["store", "external_id"], unique=False)
    op.create_table(
        "scim_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_groups")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_scim_groups_store_display_name", "scim_groups", ["store", "display_name"], unique=False)
    op.create_index("ix_scim_groups_store_external_id", "scim_groups", ["store", "external_id"], unique=False)
    op.create_table(
        "scim_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_groups.id"],
            name=op.f("fk_scim_group_members_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scim_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_scim_group_members")),
    )
    op.create_index("ix_scim_group_members_user_id", "scim_group_members", ["user_id"], unique=False)


def downgrade():
    op.drop_index("ix_scim_group_members_user_id", table_name="scim_group_members")
    op.drop_table("scim_group_members")
    op.drop_index("ix_scim_groups_store_external_id", table_name="scim_groups")
    op.drop_index("ix_scim_groups_store_display_name", table_name="scim_groups")
    op.drop_table("scim_groups")
    op.drop_index("ix_scim_users_store_external_id", table_name="scim_users")
    op.drop_table("scim_users")
    if _sqlite():
        with op.batch_alter_table("users", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
