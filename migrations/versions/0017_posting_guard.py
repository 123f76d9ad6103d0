"""ledger: every entry records how many postings it has; on SQLite a trigger refuses a posting added to an entry
that already has them all (PostgreSQL refuses a posting outside its entry's transaction, migration 0005/0006)

Revision ID: 0017_posting_guard
Revises: 0016_jobs
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0017_posting_guard"
down_revision: str | None = "0016_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The ledger writes an entry and then its postings in one trip; the entry says how many there are, so the
# postings of its own write are accepted one by one until the entry has them all, and none after.
SQLITE_GUARD = """
CREATE TRIGGER postings_sealed_entry BEFORE INSERT ON postings
WHEN (SELECT count(*) FROM postings WHERE entry_id = NEW.entry_id)
     >= coalesce((SELECT line_count FROM journal_entries WHERE id = NEW.entry_id), 0)
BEGIN
    SELECT RAISE(ABORT, 'journal entry is posted; a posting can only be added with its entry');
END
"""

FILL = "UPDATE journal_entries SET line_count = (SELECT count(*) FROM postings p WHERE p.entry_id = journal_entries.id)"


def upgrade() -> None:
    op.add_column("journal_entries", sa.Column("line_count", sa.Integer(), nullable=True))
    # Entries posted before: their count of postings, written past the append-only guard for this once.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_append_only")
        op.execute(FILL)
        op.execute("ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_append_only")
    else:
        op.execute("DROP TRIGGER journal_entries_no_update")
        op.execute(FILL)
        op.execute(
            "CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries "
            "BEGIN SELECT RAISE(ABORT, 'UPDATE on journal_entries is refused: the table is append-only'); END"
        )
        op.execute(SQLITE_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS postings_sealed_entry")
    with op.batch_alter_table("journal_entries", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("line_count")
