"""ledger: a covering index for balances; on PostgreSQL a one-pass balance check at commit, postings
accepted only in the transaction that inserts their entry, and the chain lock and head in one call

Revision ID: 0005_ledger_speed_and_guard
Revises: 0004_proposals
Create Date: 2026-11-21 01:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_ledger_speed_and_guard"
down_revision: str | None = "0004_proposals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERING = ["account_id", "currency", "entry_date", "amount", "reporting_amount"]
PREVIOUS = ["account_id", "currency", "entry_date"]

# One pass over the entry's postings for the three rules; run once per entry, at commit.
PG_BALANCE_CHECK = """
CREATE OR REPLACE FUNCTION fundapp_check_entry_balanced() RETURNS trigger AS $$
DECLARE
    entry bigint := NEW.id;
    lines bigint;
    bad_currency text;
    bad_book text;
BEGIN
    WITH p AS MATERIALIZED (
        SELECT a.book, p.currency, p.amount, p.reporting_amount
          FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
         WHERE p.entry_id = entry
    )
    SELECT (SELECT count(*) FROM p),
           (SELECT book || ' ' || currency FROM p GROUP BY book, currency HAVING sum(amount) <> 0 LIMIT 1),
           (SELECT book FROM p GROUP BY book HAVING sum(reporting_amount) <> 0 LIMIT 1)
      INTO lines, bad_currency, bad_book;
    IF lines < 2 THEN
        RAISE EXCEPTION 'journal entry % has fewer than two postings', entry USING ERRCODE = 'check_violation';
    END IF;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance in % (% book)', entry, split_part(bad_currency, ' ', 2),
            split_part(bad_currency, ' ', 1) USING ERRCODE = 'check_violation';
    END IF;
    IF bad_book IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance in the reporting currency (% book)', entry, bad_book
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# A posting joins its entry in the entry's own transaction, or never: a posted entry cannot grow.
PG_POSTING_GUARD = """
CREATE OR REPLACE FUNCTION fundapp_posting_with_its_entry() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM journal_entries WHERE id = NEW.entry_id AND xmin = pg_current_xact_id()::xid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'journal entry % is posted; a posting can only be added with its entry', NEW.entry_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""


# Lock the journal's chain and read its head in one round trip. Inside a function each statement takes a
# fresh snapshot (READ COMMITTED), so the head is read after the lock is held, never before.
PG_JOURNAL_HEAD = """
CREATE OR REPLACE FUNCTION fundapp_journal_head(lock_key bigint) RETURNS TABLE (id bigint, hash varchar) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY SELECT e.id, e.hash FROM journal_entries e ORDER BY e.id DESC LIMIT 1;
END;
$$ LANGUAGE plpgsql
"""


def _replace_index(columns: list[str]) -> None:
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_account_date")
        batch_op.create_index("ix_postings_account_date", columns, unique=False)


def upgrade() -> None:
    _replace_index(COVERING)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_BALANCE_CHECK)
        op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
        op.execute(PG_POSTING_GUARD)
        op.execute(PG_JOURNAL_HEAD)
        op.execute(
            "CREATE TRIGGER postings_with_their_entry BEFORE INSERT ON postings "
            "FOR EACH ROW EXECUTE FUNCTION fundapp_posting_with_its_entry()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS postings_with_their_entry ON postings")
        op.execute("DROP FUNCTION IF EXISTS fundapp_posting_with_its_entry()")
        op.execute("DROP FUNCTION IF EXISTS fundapp_journal_head(bigint)")
        # 0002's function handles both tables; re-create it and the posting-level check.
        from importlib import import_module

        ledger_migration = import_module("migrations.versions.0002_ledger")
        op.execute(ledger_migration.PG_BALANCE_CHECK)
        op.execute(
            "CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fundapp_check_entry_balanced()"
        )
    _replace_index(PREVIOUS)
