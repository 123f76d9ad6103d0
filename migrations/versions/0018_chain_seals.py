"""chains: every audit event and journal entry carries a seal (HMAC of its hash under a key kept outside the
database), and each chain an anchor row (its length and newest hash) moved by a trigger on every insert

Revision ID: 0018_chain_seals
Revises: 0017_posting_guard
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0018_chain_seals"
down_revision: str | None = "0017_posting_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (anchor name, table, position column)
CHAINS = (("audit", "audit_events", "seq"), ("journal", "journal_entries", "id"))

# PostgreSQL: once per statement, from the statement's new rows. SECURITY DEFINER: the service's role may read
# the anchors but not write them (docs/operations.md, "Database roles"); the function runs as their owner.
PG_MOVE_ANCHOR = """
CREATE OR REPLACE FUNCTION fundapp_move_{name}_anchor() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE chain_anchors a SET count = n.{column}, head = n.hash, seal = n.seal
      FROM (SELECT {column}, hash, seal FROM new_rows ORDER BY {column} DESC LIMIT 1) n
     WHERE a.name = '{name}' AND a.count < n.{column};
    RETURN NULL;
END;
$$
"""

ANCHOR_NOW = """
INSERT INTO chain_anchors (name, count, head, seal, unsealed_until)
SELECT '{name}', coalesce(max({column}), 0),
       coalesce((SELECT hash FROM {table} ORDER BY {column} DESC LIMIT 1), '{genesis}'), NULL, coalesce(max({column}), 0)
  FROM {table}
"""

SQLITE_MOVE_ANCHOR = """
CREATE TRIGGER {table}_anchor AFTER INSERT ON {table}
BEGIN
    UPDATE chain_anchors SET count = NEW.{column}, head = NEW.hash, seal = NEW.seal
     WHERE name = '{name}' AND count < NEW.{column};
END
"""


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column("audit_events", sa.Column("seal", sa.String(length=64), nullable=True))
    op.add_column("journal_entries", sa.Column("seal", sa.String(length=64), nullable=True))
    op.create_table(
        "chain_anchors",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=True),
        sa.Column("unsealed_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    for name, table, column in CHAINS:
        # The chain as it is now: its rows so far carry no seal.
        op.execute(ANCHOR_NOW.format(name=name, table=table, column=column, genesis="0" * 64))
        if postgresql:
            op.execute(PG_MOVE_ANCHOR.format(name=name, column=column))
            op.execute(
                f"CREATE TRIGGER {table}_anchor AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION fundapp_move_{name}_anchor()"
            )
        else:
            op.execute(SQLITE_MOVE_ANCHOR.format(name=name, table=table, column=column))


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, _column in CHAINS:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_anchor ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS fundapp_move_{name}_anchor()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_anchor")
    op.drop_table("chain_anchors")
    for table in ("journal_entries", "audit_events"):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            batch_op.drop_column("seal")
