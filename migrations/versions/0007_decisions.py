"""governance, second half: decisions, their hash-chained events (append-only), current ballots,
recusals and approved administrative budgets

Revision ID: 0007_decisions
Revises: 0005_ledger_speed_and_guard
Create Date: 2026-11-21 03:11:14.712479
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0007_decisions"
down_revision: str | None = "0005_ledger_speed_and_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("procedure", sa.String(length=14), nullable=False),
        sa.Column("quorum", sa.String(length=12), nullable=False),
        sa.Column("majority", sa.String(length=10), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("opens_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closes_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=12), nullable=True),
        sa.Column("result_reason", sa.Text(), nullable=False),
        sa.Column("tally", sa.Text(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_decisions_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(["window_id"], ["windows.id"], name=op.f("fk_decisions_window_id_windows")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_decisions_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_decisions_subject"), ["subject"], unique=False)

    op.create_table(
        "admin_budgets",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_admin_budgets_decision_id_decisions")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_admin_budgets")),
    )
    op.create_table(
        "ballots",
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=False),
        sa.Column("choice", sa.String(length=10), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("cast_by", sa.Integer(), nullable=True),
        sa.Column("cast_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_ballots_decision_id_decisions")),
        sa.ForeignKeyConstraint(["member_code"], ["members.code"], name=op.f("fk_ballots_member_code_members")),
        sa.PrimaryKeyConstraint("decision_id", "member_code", name=op.f("pk_ballots")),
    )
    op.create_table(
        "decision_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=True),
        sa.Column("choice", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cast_by", sa.Integer(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_decision_events_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_events")),
        sa.UniqueConstraint("decision_id", "seq", name=op.f("uq_decision_events_decision_id_seq")),
    )
    op.create_table(
        "recusals",
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("declared_by", sa.Integer(), nullable=True),
        sa.Column("declared_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_recusals_decision_id_decisions")),
        sa.ForeignKeyConstraint(["member_code"], ["members.code"], name=op.f("fk_recusals_member_code_members")),
        sa.PrimaryKeyConstraint("decision_id", "member_code", name=op.f("pk_recusals")),
    )
    _append_only("decision_events")


def downgrade() -> None:
    _drop_append_only("decision_events")
    op.drop_table("recusals")
    op.drop_table("decision_events")
    op.drop_table("ballots")
    op.drop_table("admin_budgets")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_subject"))
        batch_op.drop_index(batch_op.f("ix_decisions_status"))
        batch_op.drop_index(batch_op.f("ix_decisions_kind"))

    op.drop_table("decisions")


# A decision's record is append-only: the database refuses to change or remove an event, whatever the
# application does (fundapp_refuse_change() is created by 0001 on PostgreSQL).
def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fundapp_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fundapp_refuse_change()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{event} on {table} is refused: the table is append-only'); END"
            )


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
