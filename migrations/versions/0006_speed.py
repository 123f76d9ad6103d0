"""ledger speed: a contributor index that covers a balance, a reference version bumped by every change to
accounts, periods and rates (so a process may cache them safely), set-based guards on PostgreSQL, and the
chain heads read in the call that takes their lock

Revision ID: 0006_speed
Revises: 0008_grants
Create Date: 2026-11-21 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_speed"
down_revision: str | None = "0008_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A contributor's balance in one account and currency (each deposit reads one, of its receivable) is one
# range of this index, read without the table; it replaces the single-column contributor index. The entry
# id before the sums keeps each key's new rows at the end of its range (few hot pages when posting in
# bulk). Partial: a posting without a contributor costs no index work.
CONTRIBUTOR_INDEX = [
    "contributor_id",
    "account_id",
    "currency",
    "window_id",
    "grant_id",
    "entry_id",
    "amount",
    "reporting_amount",
]

REFERENCE_TABLES = ("ledger_accounts", "ledger_periods", "ledger_fx_rates")
# A fresh random token per change: a token names one state of the three tables, never two.
SQLITE_BUMP = "UPDATE ledger_reference_version SET token = lower(hex(randomblob(16))) WHERE id = 1;"
SQLITE_FIRST = "INSERT INTO ledger_reference_version (id, token) VALUES (1, lower(hex(randomblob(16))))"
PG_FIRST = "INSERT INTO ledger_reference_version (id, token) VALUES (1, md5(random()::text || clock_timestamp()::text))"

PG_BUMP_REFERENCE = """
CREATE OR REPLACE FUNCTION fundapp_bump_ledger_reference() RETURNS trigger AS $$
BEGIN
    UPDATE ledger_reference_version SET token = md5(random()::text || clock_timestamp()::text) WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# The journal's lock, its head and the reference version in one round trip. Each statement of a function
# takes a fresh snapshot (READ COMMITTED), so both are read after the lock is held.
PG_LEDGER_HEAD = """
CREATE OR REPLACE FUNCTION fundapp_ledger_head(lock_key bigint)
RETURNS TABLE (id bigint, hash varchar, reference varchar) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY
        SELECT h.id, h.hash, (SELECT r.token FROM ledger_reference_version r WHERE r.id = 1)
          FROM (SELECT 1) AS one
          LEFT JOIN (SELECT e.id, e.hash FROM journal_entries e ORDER BY e.id DESC LIMIT 1) AS h ON true;
END;
$$ LANGUAGE plpgsql
"""

PG_AUDIT_HEAD = """
CREATE OR REPLACE FUNCTION fundapp_audit_head(lock_key bigint) RETURNS TABLE (seq bigint, hash varchar) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY SELECT a.seq, a.hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
END;
$$ LANGUAGE plpgsql
"""

# Postings join their entry in the entry's own transaction, or never (as in 0005), checked once per
# statement over the entries its rows name (one index probe each) instead of once per row.
PG_POSTINGS_GUARD = """
CREATE OR REPLACE FUNCTION fundapp_postings_with_their_entry() RETURNS trigger AS $$
DECLARE
    entries bigint[];
    own bigint;
    posted bigint;
BEGIN
    SELECT array_agg(DISTINCT n.entry_id) INTO entries FROM new_postings n;
    SELECT count(*) INTO own FROM journal_entries e
     WHERE e.id = ANY (entries) AND e.xmin = pg_current_xact_id()::xid;
    IF own < coalesce(cardinality(entries), 0) THEN
        SELECT i INTO posted FROM unnest(entries) AS i
         WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = i AND e.xmin = pg_current_xact_id()::xid)
         ORDER BY i LIMIT 1;
        RAISE EXCEPTION 'journal entry % is posted; a posting can only be added with its entry', posted
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# The deferred balance check, set-based: the first entry checked at commit checks every entry from its id
# to the journal's end in one pass (all written by this transaction: writers hold the chain lock until
# they commit) and remembers the range, so the other entries' checks return at once. An entry outside the
# checked range (written after an earlier SET CONSTRAINTS ... IMMEDIATE) extends it. Same rules and
# messages as 0005's one-entry check.
PG_BALANCE_CHECK = """
CREATE OR REPLACE FUNCTION fundapp_check_entry_balanced() RETURNS trigger AS $$
DECLARE
    checked_from bigint := nullif(current_setting('fundapp.balanced_from', true), '')::bigint;
    checked_through bigint := nullif(current_setting('fundapp.balanced_through', true), '')::bigint;
    low bigint;
    high bigint;
    short_entry bigint;
    bad_currency text;
    bad_book text;
BEGIN
    IF checked_from IS NOT NULL AND NEW.id BETWEEN checked_from AND checked_through THEN
        RETURN NULL;
    END IF;
    low := CASE WHEN checked_from IS NULL OR NEW.id < checked_from THEN NEW.id ELSE checked_through + 1 END;
    SELECT max(e.id) INTO high FROM journal_entries e WHERE e.id >= low;
    WITH p AS MATERIALIZED (
        SELECT p.entry_id, a.book, p.currency, p.amount, p.reporting_amount
          FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
         WHERE p.entry_id BETWEEN low AND high
    )
    SELECT (SELECT e.id FROM journal_entries e
              LEFT JOIN (SELECT entry_id, count(*) AS n FROM p GROUP BY entry_id) c ON c.entry_id = e.id
             WHERE e.id BETWEEN low AND high AND coalesce(c.n, 0) < 2 ORDER BY e.id LIMIT 1),
           (SELECT entry_id || ' ' || currency || ' ' || book FROM p GROUP BY entry_id, book, currency
            HAVING sum(amount) <> 0 ORDER BY entry_id LIMIT 1),
           (SELECT entry_id || ' ' || book FROM p GROUP BY entry_id, book
            HAVING sum(reporting_amount) <> 0 ORDER BY entry_id LIMIT 1)
      INTO short_entry, bad_currency, bad_book;
    IF short_entry IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % has fewer than two postings', short_entry USING ERRCODE = 'check_violation';
    END IF;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance in % (% book)', split_part(bad_currency, ' ', 1),
            split_part(bad_currency, ' ', 2), split_part(bad_currency, ' ', 3) USING ERRCODE = 'check_violation';
    END IF;
    IF bad_book IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance in the reporting currency (% book)',
            split_part(bad_book, ' ', 1), split_part(bad_book, ' ', 2) USING ERRCODE = 'check_violation';
    END IF;
    PERFORM set_config('fundapp.balanced_from', least(low, coalesce(checked_from, low))::text, true);
    PERFORM set_config('fundapp.balanced_through', high::text, true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_postings_contributor_id", table_name="postings")
    where = sa.text("contributor_id IS NOT NULL")
    op.create_index(
        "ix_postings_contributor",
        "postings",
        CONTRIBUTOR_INDEX,
        unique=False,
        sqlite_where=where,
        postgresql_where=where,
    )

    op.create_table(
        "ledger_reference_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_reference_version")),
    )
    op.execute(SQLITE_FIRST if dialect == "sqlite" else PG_FIRST)
    if dialect == "postgresql":
        op.execute(PG_BUMP_REFERENCE)
        for table in REFERENCE_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_bump_reference AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION fundapp_bump_ledger_reference()"
            )
        op.execute(PG_LEDGER_HEAD)
        op.execute(PG_AUDIT_HEAD)
        op.execute("DROP TRIGGER IF EXISTS postings_with_their_entry ON postings")
        op.execute(PG_POSTINGS_GUARD)
        op.execute(
            "CREATE TRIGGER postings_with_their_entry AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings "
            "FOR EACH STATEMENT EXECUTE FUNCTION fundapp_postings_with_their_entry()"
        )
        op.execute(PG_BALANCE_CHECK)
    else:
        for table in REFERENCE_TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_bump_reference_{event.lower()} AFTER {event} ON {table} "
                    f"BEGIN {SQLITE_BUMP} END"
                )


def downgrade() -> None:
    from importlib import import_module

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        previous = import_module("migrations.versions.0005_ledger_speed_and_guard")
        op.execute(previous.PG_BALANCE_CHECK)
        op.execute("DROP TRIGGER IF EXISTS postings_with_their_entry ON postings")
        op.execute("DROP FUNCTION IF EXISTS fundapp_postings_with_their_entry()")
        op.execute(
            "CREATE TRIGGER postings_with_their_entry BEFORE INSERT ON postings "
            "FOR EACH ROW EXECUTE FUNCTION fundapp_posting_with_its_entry()"
        )
        op.execute("DROP FUNCTION IF EXISTS fundapp_audit_head(bigint)")
        op.execute("DROP FUNCTION IF EXISTS fundapp_ledger_head(bigint)")
        for table in REFERENCE_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_reference ON {table}")
        op.execute("DROP FUNCTION IF EXISTS fundapp_bump_ledger_reference()")
    else:
        for table in REFERENCE_TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_reference_{event}")
    op.drop_table("ledger_reference_version")
    op.drop_index("ix_postings_contributor", table_name="postings")
    op.create_index("ix_postings_contributor_id", "postings", ["contributor_id"], unique=False)
