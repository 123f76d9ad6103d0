"""ledger: the postings' sums per account, day (and per month), currency, window and source type, kept by a trigger
on every insert into postings, so that a balance as of a date reads whole months and a few days of sums instead
of every posting

Revision ID: 0019_posting_totals
Revises: 0018_chain_seals
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0019_posting_totals"
down_revision: str | None = "0018_chain_seals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The key is (account, day, currency, window, source type); a posting without a window is counted under window 0
# (window ids start at 1), so that the key has no NULL and one upsert finds its row on both databases.

# PostgreSQL: once per statement, the statement's new postings summed by key into both tables in one statement.
# Each posting's source type is a lookup of its entry by primary key, never a join: the function's plan is made
# once per connection, and a join planned for a bulk statement (a hash join reading every entry) would then
# serve every later one-entry post. SECURITY DEFINER: the service's role may read the totals but not write them
# (docs/operations.md, "Database roles").
PG_ADD_TOTALS = """
CREATE OR REPLACE FUNCTION fundapp_add_posting_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    WITH s AS MATERIALIZED (
        SELECT n.account_id, n.entry_date, n.currency, coalesce(n.window_id, 0) AS window_key,
               (SELECT e.source_type FROM journal_entries e WHERE e.id = n.entry_id) AS source_type,
               n.amount, n.reporting_amount
          FROM new_postings n
    ), days AS (
        INSERT INTO posting_totals (entry_date, account_id, currency, window_key, source_type, amount, reporting_amount, postings)
        SELECT entry_date, account_id, currency, window_key, source_type, sum(amount), sum(reporting_amount), count(*)
          FROM s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (entry_date, account_id, currency, window_key, source_type) DO UPDATE SET
            amount = posting_totals.amount + excluded.amount,
            reporting_amount = posting_totals.reporting_amount + excluded.reporting_amount,
            postings = posting_totals.postings + excluded.postings
    )
    INSERT INTO posting_month_totals (month, account_id, currency, window_key, source_type, amount, reporting_amount, postings)
    SELECT date_trunc('month', entry_date)::date, account_id, currency, window_key, source_type,
           sum(amount), sum(reporting_amount), count(*)
      FROM s GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (month, account_id, currency, window_key, source_type) DO UPDATE SET
        amount = posting_month_totals.amount + excluded.amount,
        reporting_amount = posting_month_totals.reporting_amount + excluded.reporting_amount,
        postings = posting_month_totals.postings + excluded.postings;
    RETURN NULL;
END;
$$
"""

SQLITE_ADD_TOTALS = """
CREATE TRIGGER postings_totals AFTER INSERT ON postings
BEGIN
    INSERT INTO posting_totals (account_id, entry_date, currency, window_key, source_type, amount, reporting_amount, postings)
    VALUES (NEW.account_id, NEW.entry_date, NEW.currency, coalesce(NEW.window_id, 0),
            (SELECT source_type FROM journal_entries WHERE id = NEW.entry_id), NEW.amount, NEW.reporting_amount, 1)
    ON CONFLICT (entry_date, account_id, currency, window_key, source_type) DO UPDATE SET
        amount = posting_totals.amount + excluded.amount,
        reporting_amount = posting_totals.reporting_amount + excluded.reporting_amount,
        postings = posting_totals.postings + excluded.postings;
    INSERT INTO posting_month_totals (account_id, month, currency, window_key, source_type, amount, reporting_amount, postings)
    VALUES (NEW.account_id, date(NEW.entry_date, 'start of month'), NEW.currency, coalesce(NEW.window_id, 0),
            (SELECT source_type FROM journal_entries WHERE id = NEW.entry_id), NEW.amount, NEW.reporting_amount, 1)
    ON CONFLICT (month, account_id, currency, window_key, source_type) DO UPDATE SET
        amount = posting_month_totals.amount + excluded.amount,
        reporting_amount = posting_month_totals.reporting_amount + excluded.reporting_amount,
        postings = posting_month_totals.postings + excluded.postings;
END
"""

FILL_MONTHS = """
INSERT INTO posting_month_totals (account_id, month, currency, window_key, source_type, amount, reporting_amount, postings)
SELECT account_id, {month}, currency, window_key, source_type, sum(amount), sum(reporting_amount), sum(postings)
  FROM posting_totals
 GROUP BY account_id, {month}, currency, window_key, source_type
"""

FILL = """
INSERT INTO posting_totals (account_id, entry_date, currency, window_key, source_type, amount, reporting_amount, postings)
SELECT p.account_id, p.entry_date, p.currency, coalesce(p.window_id, 0), e.source_type,
       sum(p.amount), sum(p.reporting_amount), count(*)
  FROM postings p JOIN journal_entries e ON e.id = p.entry_id
 GROUP BY p.account_id, p.entry_date, p.currency, coalesce(p.window_id, 0), e.source_type
"""


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, day in (("posting_totals", "entry_date"), ("posting_month_totals", "month")):
        _create(table, day)
    op.execute(FILL)
    month = "date_trunc('month', entry_date)::date" if postgresql else "date(entry_date, 'start of month')"
    op.execute(FILL_MONTHS.replace("{month}", month))
    if postgresql:
        op.execute(PG_ADD_TOTALS)
        op.execute(
            "CREATE TRIGGER postings_totals AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings "
            "FOR EACH STATEMENT EXECUTE FUNCTION fundapp_add_posting_totals()"
        )
    else:
        op.execute(SQLITE_ADD_TOTALS)


def _create(table: str, day: str) -> None:
    op.create_table(
        table,
        sa.Column(day, sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("window_key", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reporting_amount", sa.BigInteger(), nullable=False),
        sa.Column("postings", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"]),
        # The day first: a run of days (inside one month) is one range of the key.
        sa.PrimaryKeyConstraint(day, "account_id", "currency", "window_key", "source_type"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS postings_totals ON postings")
        op.execute("DROP FUNCTION IF EXISTS fundapp_add_posting_totals()")
    else:
        op.execute("DROP TRIGGER IF EXISTS postings_totals")
    op.drop_table("posting_month_totals")
    op.drop_table("posting_totals")
