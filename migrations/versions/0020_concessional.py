"""concessional financing: implementation support agencies' financial procedures agreements, the financing
requests with their loans, and refunds receivable (1300) for a loan cancelled after a transfer

Revision ID: 0020_concessional
Revises: 0019_posting_totals
Create Date: 2026-12-04 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0020_concessional"
down_revision: str | None = "0019_posting_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUNDS_RECEIVABLE = {
    "code": "1300",
    "name": "Refunds receivable",
    "book": "financial",
    "type": "asset",
    "normal_side": "debit",
    "currencies": "*",
    "is_monetary": True,
    "is_open": True,
    "description": "Money transferred that a partner owes back (a concessional loan cancelled after a transfer)",
}


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("procedures_agreement_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("procedures_agreement_document", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "financing_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("endorsement_reference", sa.Text(), nullable=False),
        sa.Column("endorsed_on", sa.Date(), nullable=True),
        sa.Column("loan_amount", sa.BigInteger(), nullable=False),
        sa.Column("loan_currency", sa.String(length=3), nullable=False),
        sa.Column("maturity_months", sa.Integer(), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column("repayments_per_year", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("market_base_rate", sa.String(length=16), nullable=False),
        sa.Column("market_spread", sa.String(length=16), nullable=False),
        sa.Column("concessional_base_rate", sa.String(length=16), nullable=False),
        sa.Column("concessional_spread", sa.String(length=16), nullable=False),
        sa.Column("discount_rate", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.String(length=16), nullable=False),
        sa.Column("grant_element_before", sa.String(length=16), nullable=False),
        sa.Column("grant_element_after", sa.String(length=16), nullable=False),
        sa.Column("leverage", sa.String(length=24), nullable=False),
        sa.Column("concessionality", sa.BigInteger(), nullable=False),
        sa.Column("agency_costs", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("board_approved_on", sa.Date(), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("loan_amount > 0", name=op.f("ck_financing_requests_loan_amount_positive")),
        sa.CheckConstraint("maturity_months > 0", name=op.f("ck_financing_requests_maturity_positive")),
        sa.CheckConstraint(
            "grace_months >= 0 AND grace_months <= maturity_months",
            name=op.f("ck_financing_requests_grace_within_maturity"),
        ),
        sa.CheckConstraint(
            "repayments_per_year IN (1, 2, 4, 12)", name=op.f("ck_financing_requests_repayments_per_year_known")
        ),
        sa.CheckConstraint(
            "concessionality >= 0 AND agency_costs >= 0", name=op.f("ck_financing_requests_amounts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_financing_requests_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["organisations.id"], name=op.f("fk_financing_requests_agency_id_organisations")
        ),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_financing_requests_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_requests")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_financing_requests_proposal_id")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_financing_requests_grant_id")),
    )
    for column in ("agency_id", "window_id", "country", "status", "decision_id"):
        op.create_index(op.f(f"ix_financing_requests_{column}"), "financing_requests", [column])
    accounts = sa.table("ledger_accounts", *(sa.column(name) for name in REFUNDS_RECEIVABLE))
    op.bulk_insert(accounts, [REFUNDS_RECEIVABLE])


def downgrade() -> None:
    op.execute("DELETE FROM ledger_accounts WHERE code = '1300'")
    op.drop_table("financing_requests")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("procedures_agreement_document")
        batch_op.drop_column("procedures_agreement_on")
