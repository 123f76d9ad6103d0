"""grants: grants made by funding decisions, their tranches, maker-checker disbursements, the report
schedule, refunds and idempotency keys; CHECK constraints keep a tranche's payments within its amount and
an approver from approving what they prepared, on every backend

Revision ID: 0008_grants
Revises: 0007_decisions
Create Date: 2026-11-21 03:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0008_grants"
down_revision: str | None = "0007_decisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("isc_rate", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("agreement_signed_on", sa.Date(), nullable=True),
        sa.Column("agreement_reference", sa.Text(), nullable=False),
        sa.Column("agreement_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_grants_amount_positive")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_grants_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_grants_proposal_id_proposals")),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_grants_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_grants_proposal_id")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_decision_id"), ["decision_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_window_id"), ["window_id"], unique=False)

    op.create_table(
        "grant_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_grant_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_grant_refunds_grant_id_grants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_refunds")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_grant_refunds_entry_id")),
    )
    with op.batch_alter_table("grant_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_refunds_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "grant_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("indicators", sa.Text(), nullable=False),
        sa.Column("expenditure", sa.Text(), nullable=False),
        sa.Column("expenditure_total", sa.BigInteger(), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_grant_reports_grant_id_grants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_reports")),
        sa.UniqueConstraint("grant_id", "number", name=op.f("uq_grant_reports_grant_id_number")),
    )
    with op.batch_alter_table("grant_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_reports_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_grant_reports_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "grant_requests",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_grant_requests_grant_id_grants")),
        sa.PrimaryKeyConstraint("grant_id", "key", name=op.f("pk_grant_requests")),
    )
    op.create_table(
        "grant_tranches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=False),
        sa.Column("condition", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("recognised_on", sa.Date(), nullable=True),
        sa.Column("recognised_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("met_by_report_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_grant_tranches_amount_positive")),
        sa.CheckConstraint("paid >= 0 AND paid <= amount", name=op.f("ck_grant_tranches_paid_within_amount")),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_grant_tranches_grant_id_grants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_tranches")),
        sa.UniqueConstraint("grant_id", "number", name=op.f("uq_grant_tranches_grant_id_number")),
    )
    with op.batch_alter_table("grant_tranches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_tranches_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "disbursements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("tranche_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("prepared_by", sa.Integer(), nullable=False),
        sa.Column("prepared_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("second_approved_by", sa.Integer(), nullable=True),
        sa.Column("second_approved_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_by", sa.Integer(), nullable=True),
        sa.Column("rejected_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_disbursements_amount_positive")),
        sa.CheckConstraint("prepared_by <> approved_by", name=op.f("ck_disbursements_maker_is_not_checker")),
        sa.CheckConstraint("prepared_by <> rejected_by", name=op.f("ck_disbursements_maker_does_not_reject")),
        sa.CheckConstraint(
            "prepared_by <> second_approved_by AND approved_by <> second_approved_by",
            name=op.f("ck_disbursements_second_checker"),
        ),
        sa.ForeignKeyConstraint(["approved_by"], ["users.id"], name=op.f("fk_disbursements_approved_by_users")),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"], name=op.f("fk_disbursements_grant_id_grants")),
        sa.ForeignKeyConstraint(["prepared_by"], ["users.id"], name=op.f("fk_disbursements_prepared_by_users")),
        sa.ForeignKeyConstraint(["rejected_by"], ["users.id"], name=op.f("fk_disbursements_rejected_by_users")),
        sa.ForeignKeyConstraint(
            ["second_approved_by"], ["users.id"], name=op.f("fk_disbursements_second_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["tranche_id"], ["grant_tranches.id"], name=op.f("fk_disbursements_tranche_id_grant_tranches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disbursements")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_disbursements_entry_id")),
    )
    with op.batch_alter_table("disbursements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disbursements_grant_id"), ["grant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disbursements_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_disbursements_tranche_id"), ["tranche_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disbursements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disbursements_tranche_id"))
        batch_op.drop_index(batch_op.f("ix_disbursements_status"))
        batch_op.drop_index(batch_op.f("ix_disbursements_grant_id"))

    op.drop_table("disbursements")
    with op.batch_alter_table("grant_tranches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_tranches_grant_id"))

    op.drop_table("grant_tranches")
    op.drop_table("grant_requests")
    with op.batch_alter_table("grant_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_reports_grant_id"))
        batch_op.drop_index(batch_op.f("ix_grant_reports_due_on"))

    op.drop_table("grant_reports")
    with op.batch_alter_table("grant_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_refunds_grant_id"))

    op.drop_table("grant_refunds")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_window_id"))
        batch_op.drop_index(batch_op.f("ix_grants_status"))
        batch_op.drop_index(batch_op.f("ix_grants_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_grants_decision_id"))

    op.drop_table("grants")
