"""the roll of a decision, fixed when it opens: decision_roll (append-only) and decisions.roll_size

A decision's roll (the members eligible when it opens) is recorded in its hash-chained opening event and, for
the ballot's one statement, in ``decision_roll``. ``decisions.roll_size`` stays NULL for decisions opened
before this revision: nothing is written for them, since their opening events state no roll (their roll is
the members active at their close, as before).

Revision ID: 0010_decision_roll
Revises: 0009_head_rows
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types
from alembic import op

revision: str = "0010_decision_roll"
down_revision: str | None = "0009_head_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "decision_roll"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("member_code", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_decision_roll_decision_id_decisions")),
        sa.ForeignKeyConstraint(["member_code"], ["members.code"], name=op.f("fk_decision_roll_member_code_members")),
        sa.PrimaryKeyConstraint("decision_id", "member_code", name=op.f("pk_decision_roll")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roll_size", sa.Integer(), nullable=True))
    _append_only(TABLE)


def downgrade() -> None:
    _drop_append_only(TABLE)
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("roll_size")
    op.drop_table(TABLE)


# As decision_events (0007): the database refuses to change or remove a member of a roll.
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
