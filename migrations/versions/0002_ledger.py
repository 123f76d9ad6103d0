"""ledger: accounts in two books, periods, FX rates, journal entries and postings; the reference chart;
immutability and the balance rule enforced by the database

Revision ID: 0002_ledger
Revises: 0001_core
Create Date: 2026-11-21 00:13:47.367722
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

import fundapp.core.db

revision: str = "0002_ledger"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("book", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("normal_side", sa.String(length=8), nullable=False),
        sa.Column("currencies", sa.String(length=200), nullable=False),
        sa.Column("is_monetary", sa.Boolean(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    op.create_table(
        "ledger_fx_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_fx_rates")),
        sa.UniqueConstraint("currency", "rate_date", name=op.f("uq_ledger_fx_rates_currency_rate_date")),
    )
    op.create_table(
        "ledger_periods",
        sa.Column("id", sa.String(length=7), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("closed_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("closing_chain_head", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_periods")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("period_id", sa.String(length=7), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("source_type", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_by", sa.Integer(), nullable=True),
        sa.Column("posted_by_label", sa.String(length=100), nullable=False),
        sa.Column("posted_at", fundapp.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["period_id"], ["ledger_periods.id"], name=op.f("fk_journal_entries_period_id_ledger_periods")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["journal_entries.id"], name=op.f("fk_journal_entries_reverses_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_journal_entries_hash")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entries_idempotency_key")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_journal_entries_reverses_id")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_entries_entry_date"), ["entry_date"], unique=False)
        batch_op.create_index("ix_journal_entries_source", ["source_type", "source_id"], unique=False)

    op.create_table(
        "postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reporting_amount", sa.BigInteger(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("contributor_id", sa.Integer(), nullable=True),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_postings_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_postings_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
        sa.UniqueConstraint("entry_id", "line_no", name=op.f("uq_postings_entry_id_line_no")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index("ix_postings_account_date", ["account_id", "currency", "entry_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_postings_contributor_id"), ["contributor_id"], unique=False)
        batch_op.create_index("ix_postings_entry_date", ["entry_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_postings_grant_id"), ["grant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_postings_window_id"), ["window_id"], unique=False)

    _insert_reference_chart()
    _guard_journal()


def downgrade() -> None:
    _unguard_journal()
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postings_window_id"))
        batch_op.drop_index(batch_op.f("ix_postings_grant_id"))
        batch_op.drop_index("ix_postings_entry_date")
        batch_op.drop_index(batch_op.f("ix_postings_contributor_id"))
        batch_op.drop_index("ix_postings_account_date")

    op.drop_table("postings")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_entries_source")
        batch_op.drop_index(batch_op.f("ix_journal_entries_entry_date"))

    op.drop_table("journal_entries")
    op.drop_table("ledger_periods")
    op.drop_table("ledger_fx_rates")
    op.drop_table("ledger_accounts")


# The reference chart as it stood at this revision (a frozen copy: later accounts come with later migrations).
# "REPORTING" means: the facility's reporting currency only.
REFERENCE_CHART = [
    ("1100", "Cash at trustee", "financial", "asset", "debit", "*", True, "Cash held by the trustee, per currency"),
    (
        "1200",
        "Contributions receivable",
        "financial",
        "asset",
        "debit",
        "*",
        True,
        "Assessed fees and signed pledges not yet paid",
    ),
    ("1210", "Interest receivable", "financial", "asset", "debit", "*", True, "Investment income accrued"),
    (
        "2100",
        "Grants payable",
        "financial",
        "liability",
        "credit",
        "*",
        True,
        "Recognised grant tranches not yet transferred",
    ),
    ("2200", "Refunds payable", "financial", "liability", "credit", "*", True, "Money owed back to contributors"),
    (
        "2300",
        "Deferred revenue (conditional contributions)",
        "financial",
        "liability",
        "credit",
        "*",
        False,
        "Conditional pledges until their condition is met",
    ),
    (
        "2400",
        "Unapplied contributions",
        "financial",
        "liability",
        "credit",
        "*",
        True,
        "Money received that settles nothing yet, kept per contributor",
    ),
    (
        "3100",
        "Net assets - pooled fund",
        "financial",
        "net_assets",
        "credit",
        "REPORTING",
        False,
        "Accumulated surplus of the pooled fund",
    ),
    (
        "3200",
        "Net assets - thematic windows",
        "financial",
        "net_assets",
        "credit",
        "REPORTING",
        False,
        "Accumulated surplus earmarked to windows (window dimension)",
    ),
    (
        "4100",
        "Contribution revenue",
        "financial",
        "revenue",
        "credit",
        "*",
        False,
        "Fees and unconditional contributions, when assessed or signed",
    ),
    ("4200", "Investment income", "financial", "revenue", "credit", "*", False, "Interest earned on cash"),
    ("4300", "Foreign exchange gains - realised", "financial", "revenue", "credit", "*", False, "Gains on settlement"),
    (
        "4310",
        "Foreign exchange gains - unrealised",
        "financial",
        "revenue",
        "credit",
        "*",
        False,
        "Gains on revaluation",
    ),
    (
        "5100",
        "Transfers to implementing partners",
        "financial",
        "expense",
        "debit",
        "*",
        False,
        "Grant tranches recognised",
    ),
    ("5200", "Administrative agent fee", "financial", "expense", "debit", "*", False, "Fee deducted at deposit"),
    (
        "5300",
        "Secretariat direct costs",
        "financial",
        "expense",
        "debit",
        "*",
        False,
        "Direct costs approved by decision",
    ),
    ("5400", "Bank charges", "financial", "expense", "debit", "*", False, "Charges on transfers"),
    ("5500", "Foreign exchange losses - realised", "financial", "expense", "debit", "*", False, "Losses on settlement"),
    (
        "5510",
        "Foreign exchange losses - unrealised",
        "financial",
        "expense",
        "debit",
        "*",
        False,
        "Losses on revaluation",
    ),
    (
        "8100",
        "Resources received",
        "budgetary",
        "budgetary",
        "credit",
        "REPORTING",
        False,
        "Net deposits made available for decisions",
    ),
    (
        "8200",
        "Available for allocation",
        "budgetary",
        "budgetary",
        "debit",
        "REPORTING",
        False,
        "Funds the members may still allocate (per window, or pooled)",
    ),
    (
        "8300",
        "Allocated (approved)",
        "budgetary",
        "budgetary",
        "debit",
        "REPORTING",
        False,
        "Approved by funding decision, agreement not yet signed",
    ),
    (
        "8400",
        "Committed (agreement signed)",
        "budgetary",
        "budgetary",
        "debit",
        "REPORTING",
        False,
        "Signed grant agreements not yet disbursed",
    ),
    (
        "8500",
        "Disbursed",
        "budgetary",
        "budgetary",
        "debit",
        "REPORTING",
        False,
        "Transferred to implementing partners",
    ),
]


def _insert_reference_chart() -> None:
    accounts = sa.table(
        "ledger_accounts",
        *(
            sa.column(name)
            for name in (
                "code",
                "name",
                "book",
                "type",
                "normal_side",
                "currencies",
                "is_monetary",
                "is_open",
                "description",
            )
        ),
    )
    op.bulk_insert(
        accounts,
        [
            {
                "code": code,
                "name": name,
                "book": book,
                "type": type_,
                "normal_side": side,
                "currencies": currencies,
                "is_monetary": monetary,
                "is_open": True,
                "description": description,
            }
            for code, name, book, type_, side, currencies, monetary, description in REFERENCE_CHART
        ],
    )


PG_BALANCE_CHECK = """
CREATE OR REPLACE FUNCTION fundapp_check_entry_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
    entry bigint;
BEGIN
    -- Each branch is planned only when taken: NEW has entry_id on postings, id on journal_entries.
    IF TG_TABLE_NAME = 'postings' THEN
        entry := NEW.entry_id;
    ELSE
        entry := NEW.id;
    END IF;
    IF (SELECT count(*) FROM postings WHERE entry_id = entry) < 2 THEN
        RAISE EXCEPTION 'journal entry % has fewer than two postings', entry USING ERRCODE = 'check_violation';
    END IF;
    SELECT a.book, p.currency INTO bad
      FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
     WHERE p.entry_id = entry
     GROUP BY a.book, p.currency HAVING sum(p.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in % (% book)', entry, bad.currency, bad.book
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT a.book INTO bad
      FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
     WHERE p.entry_id = entry
     GROUP BY a.book HAVING sum(p.reporting_amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in the reporting currency (% book)', entry, bad.book
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

JOURNAL_TABLES = ("journal_entries", "postings")


def _guard_journal() -> None:
    """Posted rows are immutable; on PostgreSQL an unbalanced entry also fails at commit, whoever wrote it."""
    if op.get_bind().dialect.name == "postgresql":
        for table in JOURNAL_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION fundapp_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION fundapp_refuse_change()"
            )
        op.execute(PG_BALANCE_CHECK)
        for table in JOURNAL_TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fundapp_check_entry_balanced()"
            )
    else:
        for table in JOURNAL_TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{event} on {table} is refused: the table is append-only'); END"
                )


def _unguard_journal() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in JOURNAL_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_balanced ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS fundapp_check_entry_balanced()")
    else:
        for table in JOURNAL_TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
