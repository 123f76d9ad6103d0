"""separation of duties: a finance role given by one administrator is held only once a second administrator
approves it (role_grants, CHECK constraints against approving one's own request); one account per e-mail
address, whatever its case (addresses kept in lower case, unique)

Revision ID: 0014_role_grants
Revises: 0013_entry_requests
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0014_role_grants"
down_revision: str | None = "0013_entry_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "role_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint("requested_by <> decided_by", name=op.f("ck_role_grants_requester_is_not_decider")),
        sa.CheckConstraint(
            "requested_by <> user_id AND decided_by <> user_id", name=op.f("ck_role_grants_not_to_oneself")
        ),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_role_grants_known_status")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_role_grants_user_id_users")),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"], name=op.f("fk_role_grants_requested_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_role_grants_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grants")),
    )
    with op.batch_alter_table("role_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_grants_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_role_grants_status"), ["status"], unique=False)
    op.execute("UPDATE users SET email = lower(email)")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_users_email"), ["email"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email"), type_="unique")
    op.drop_table("role_grants")
