"""entry requests: a manual journal entry or a reversal is prepared by one finance officer (with its reason)
and posted only when a different approver approves it (two above the charter's threshold); CHECK
constraints keep the preparer from approving or rejecting it, on every backend

Revision ID: 0013_entry_requests
Revises: 0012_user_preferences
Create Date: 2026-12-03 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0013_entry_requests"
down_revision: str | None = "0012_user_preferences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "entry_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("prepared_by", sa.Integer(), nullable=False),
        sa.Column("prepared_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_approved_by", sa.Integer(), nullable=True),
        sa.Column("first_approved_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_by", sa.Integer(), nullable=True),
        sa.Column("rejected_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("prepared_by <> first_approved_by", name=op.f("ck_entry_requests_maker_is_not_checker")),
        sa.CheckConstraint(
            "prepared_by <> approved_by AND (first_approved_by IS NULL OR first_approved_by <> approved_by)",
            name=op.f("ck_entry_requests_checkers_differ"),
        ),
        sa.CheckConstraint("prepared_by <> rejected_by", name=op.f("ck_entry_requests_maker_does_not_reject")),
        sa.CheckConstraint("approvals_needed IN (1, 2)", name=op.f("ck_entry_requests_one_or_two_approvals")),
        sa.ForeignKeyConstraint(["prepared_by"], ["users.id"], name=op.f("fk_entry_requests_prepared_by_users")),
        sa.ForeignKeyConstraint(
            ["first_approved_by"], ["users.id"], name=op.f("fk_entry_requests_first_approved_by_users")
        ),
        sa.ForeignKeyConstraint(["approved_by"], ["users.id"], name=op.f("fk_entry_requests_approved_by_users")),
        sa.ForeignKeyConstraint(["rejected_by"], ["users.id"], name=op.f("fk_entry_requests_rejected_by_users")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_entry_requests_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_requests")),
        sa.UniqueConstraint(
            "prepared_by", "idempotency_key", name=op.f("uq_entry_requests_prepared_by_idempotency_key")
        ),
    )
    with op.batch_alter_table("entry_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entry_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_entry_requests_reverses_id"), ["reverses_id"], unique=False)


def downgrade() -> None:
    op.drop_table("entry_requests")
