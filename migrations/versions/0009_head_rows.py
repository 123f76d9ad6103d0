"""head functions return one row: the planner is told so

The chain-head functions (a lock, then the last row) return at most one row, but PostgreSQL plans any
set-returning function for 1,000. A statement that joins a head to its own rows then looked a thousand times
costlier than it is, and past ``jit_above_cost`` PostgreSQL compiled it with LLVM on every run (seconds).

Revision ID: 0009_head_rows
Revises: 0006_speed
Create Date: 2026-11-21 18:50:00
"""

from collections.abc import Sequence

import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0009_head_rows"
down_revision: str | None = "0006_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HEADS = ("fundapp_journal_head(bigint)", "fundapp_ledger_head(bigint)", "fundapp_audit_head(bigint)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in HEADS:
            op.execute(f"ALTER FUNCTION {function} ROWS 1")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in HEADS:
            op.execute(f"ALTER FUNCTION {function} ROWS 1000")
