"""investment income: interest earned on the cash the trustee holds, recorded by a finance officer with its
period and allocated to the funds by their time-weighted balances, posted only when a different approver
approves it (two above the charter's threshold); CHECK constraints keep the recorder from approving it

Revision ID: 0022_investment_income
Revises: 0021_benefitting_countries
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0022_investment_income"
down_revision: str | None = "0021_benefitting_countries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "investment_income",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reporting_amount", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("bank_reference", sa.String(length=100), nullable=False),
        sa.Column("allocation", sa.Text(), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
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
        sa.CheckConstraint("amount > 0", name=op.f("ck_investment_income_amount_positive")),
        sa.CheckConstraint("period_start <= period_end", name=op.f("ck_investment_income_period_in_order")),
        sa.CheckConstraint("prepared_by <> first_approved_by", name=op.f("ck_investment_income_maker_is_not_checker")),
        sa.CheckConstraint(
            "prepared_by <> approved_by AND (first_approved_by IS NULL OR first_approved_by <> approved_by)",
            name=op.f("ck_investment_income_checkers_differ"),
        ),
        sa.CheckConstraint("prepared_by <> rejected_by", name=op.f("ck_investment_income_maker_does_not_reject")),
        sa.CheckConstraint("approvals_needed IN (1, 2)", name=op.f("ck_investment_income_one_or_two_approvals")),
        sa.ForeignKeyConstraint(["prepared_by"], ["users.id"], name=op.f("fk_investment_income_prepared_by_users")),
        sa.ForeignKeyConstraint(
            ["first_approved_by"], ["users.id"], name=op.f("fk_investment_income_first_approved_by_users")
        ),
        sa.ForeignKeyConstraint(["approved_by"], ["users.id"], name=op.f("fk_investment_income_approved_by_users")),
        sa.ForeignKeyConstraint(["rejected_by"], ["users.id"], name=op.f("fk_investment_income_rejected_by_users")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_investment_income_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investment_income")),
        sa.UniqueConstraint(
            "prepared_by", "idempotency_key", name=op.f("uq_investment_income_prepared_by_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_investment_income_status"), "investment_income", ["status"])
    op.create_index(op.f("ix_investment_income_currency"), "investment_income", ["currency"])


def downgrade() -> None:
    op.drop_table("investment_income")
