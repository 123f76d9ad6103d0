"""Ids for new rows, chosen in a facts statement, so a plan can name its rows before they are written.

A command that writes rows in one trip at its end (``fundapp.core.plans``) needs their ids while it plans:
its ledger entry, its audit event and the record it returns name them. The facts reader selects
``next_id(dialect, table)`` as a column of its statement, one value per row of its input, and turns what
came back into the ids to use, in order, with ``id_pool``:

- PostgreSQL: a value of the table's id sequence per row (``nextval``), taken even when the row is not
  written in the end, so ids may have gaps, as the sequence's own default gives them;
- SQLite: ``max(id) + 1`` (the same value on every row), and the ids follow it one by one. Writers hold
  SQLite's write lock from ``BEGIN IMMEDIATE`` until they commit, and SQLite itself gives a new row
  ``max(id) + 1``, so the ids are the ones the table would have given.

This module is where that dialect choice lives; domain code only asks for the next id of a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement


def next_id(dialect: str, table: Table) -> ColumnElement[Any]:
    """A column expression giving a new id of ``table`` (its ``id`` column) for each row of a statement."""
    if dialect == "postgresql":
        return func.nextval(func.pg_get_serial_sequence(table.name, "id"))
    return select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery()


def id_pool(dialect: str, values: Sequence[Any]) -> tuple[int, ...]:
    """The ids that ``values`` (what ``next_id`` gave, one per row of the statement) allow, in the order to
    use them: one per row, ascending."""
    if not values:
        return ()
    if dialect == "postgresql":
        return tuple(sorted(int(value) for value in values))
    first = int(values[0])
    return tuple(range(first, first + len(values)))


async def new_id(session: AsyncSession, table: Table) -> int:
    """One new id of ``table``, read on its own (a command that names one row before it writes it)."""
    connection = await session.connection()
    statement = select(next_id(connection.dialect.name, table))
    return id_pool(connection.dialect.name, [(await session.execute(statement)).scalar_one()])[0]
