"""fee years: a fee notice for a year that has not begun is recorded without a posting (the receivable and
its revenue are posted on 1 January of the fee year); money received for it before then is held as a
liability, contributions received in advance (2450), and applied when the year begins

Revision ID: 0011_fee_years
Revises: 0010_decision_roll
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0011_fee_years"
down_revision: str | None = "0010_decision_roll"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADVANCE = {
    "code": "2450",
    "name": "Contributions received in advance",
    "book": "financial",
    "type": "liability",
    "normal_side": "credit",
    "currencies": "*",
    "is_monetary": True,
    "is_open": True,
    "description": "Money received for a fee year that has not begun, applied to its fee on 1 January",
}


def upgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.alter_column("entry_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.add_column(sa.Column("recognised_on", sa.Date(), nullable=True))
    # Every fee assessed until now was posted on the day it was assessed.
    op.execute("UPDATE assessments SET recognised_on = assessed_on")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("advance", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("applied_entry_id", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_contributions_applied_entry_id_journal_entries"),
            "journal_entries",
            ["applied_entry_id"],
            ["id"],
        )
    accounts = sa.table("ledger_accounts", *(sa.column(name) for name in ADVANCE))
    op.bulk_insert(accounts, [ADVANCE])


def downgrade() -> None:
    op.execute("DELETE FROM ledger_accounts WHERE code = '2450'")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_contributions_applied_entry_id_journal_entries"), type_="foreignkey")
        batch_op.drop_column("applied_entry_id")
        batch_op.drop_column("advance")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_column("recognised_on")
        batch_op.alter_column("entry_id", existing_type=sa.BigInteger(), nullable=False)
