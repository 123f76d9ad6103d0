"""Rows of several tables inserted in one trip to the database.

A write that touches several tables (a ledger entry, its postings, the record that caused it, its audit
event) pays a round trip, and the statement machinery's overhead, per table. ``insert_rows`` sends them
together: on PostgreSQL as one statement (each table's rows as one array per column, the INSERTs as
data-modifying WITH clauses, so foreign keys and statement triggers see every row when it ends); on SQLite
as one trip to the connection's thread that runs each table's INSERT in order. The statements are built
once per shape and the values go through each column type's own bind processing, as SQLAlchemy's would.

``one_trip(session)`` lets services that already write rows themselves (the ledger's ``post``, the audit
log's ``record``) hand them over instead, so the caller's whole change goes in one trip at the end of the
block. A statement through the session that touches a table whose rows were handed over would not see
them, so it is refused (other tables, and reads before the hand-over, are fine); nothing is written if the
block raises, and the writers' ``on_discard`` callbacks then forget what they assumed written (chain
heads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.util import find_tables

_PENDING = "fundapp.writes.pending"

Rows = Sequence[Mapping[str, Any]]
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """The SQL for one shape (tables and their columns, in order) on one dialect."""

    statements: tuple[str, ...]  # PostgreSQL: one; SQLite: one per table
    processors: tuple[tuple[Processor, ...], ...]  # per table, per column


_PLANS: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], _Plan] = {}


def _plan(dialect: Dialect, shape: Sequence[tuple[Table, tuple[str, ...]]]) -> _Plan:
    key = (dialect.name, tuple((table.name, columns) for table, columns in shape))
    found = _PLANS.get(key)
    if found is not None:
        return found
    processors = tuple(
        tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns)
        for table, columns in shape
    )
    if dialect.name == "postgresql":
        inserts, n = [], 0
        for table, columns in shape:
            casts = [f"${n + i}::{table.c[name].type.compile(dialect=dialect)}[]" for i, name in enumerate(columns, 1)]
            # Column types from the table's metadata; every value is a bound parameter.
            n += len(columns)
            inserts.append(_insert(dialect, table, columns, f"SELECT * FROM unnest({', '.join(casts)})"))  # noqa: S608
        *first, last = inserts
        clauses = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(first))
        statements: tuple[str, ...] = (f"WITH {clauses} {last}" if first else last,)
    else:
        statements = tuple(
            _insert(dialect, table, columns, f"VALUES ({', '.join('?' for _ in columns)})") for table, columns in shape
        )
    found = _PLANS[key] = _Plan(statements, processors)
    return found


def _insert(dialect: Dialect, table: Table, columns: tuple[str, ...], source: str) -> str:
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(name) for name in columns)
    # Names come from the table's metadata, quoted.
    return f"INSERT INTO {quote.format_table(table)} ({names}) {source}"


def _values(row: Mapping[str, Any], columns: tuple[str, ...], processors: tuple[Processor, ...]) -> tuple[Any, ...]:
    return tuple(
        row[name] if process is None or row[name] is None else process(row[name])
        for name, process in zip(columns, processors, strict=True)
    )


async def insert_rows(session: AsyncSession, batches: Sequence[tuple[Table, Rows]]) -> None:
    """Insert each table's rows (every row of a table with the same keys), tables in the order given, in one
    trip, in the session's transaction."""
    batches = [(table, rows) for table, rows in batches if rows]
    if not batches:
        return
    shape = []
    for table, rows in batches:
        columns = tuple(rows[0])
        if any(len(row) != len(columns) for row in rows):
            raise ValueError(f"rows for {table.name} must all have the same columns")
        shape.append((table, columns))
    connection = await session.connection()
    plan = _plan(connection.dialect, shape)
    tables = [
        [_values(row, columns, processors) for row in rows]
        for (_, rows), (_, columns), processors in zip(batches, shape, plan.processors, strict=True)
    ]
    if connection.dialect.name == "postgresql":
        arrays = tuple(list(column) for rows in tables for column in zip(*rows, strict=True))
        await connection.exec_driver_sql(plan.statements[0], arrays)
        return
    driver = (await connection.get_raw_connection()).driver_connection
    try:
        await driver.insert_many(list(zip(plan.statements, tables, strict=True)))  # type: ignore[union-attr]
    except sqlite3.Error as error:
        # As SQLAlchemy reports a driver's error (IntegrityError and the rest), naming the statements.
        raise DBAPIError.instance("; ".join(plan.statements), None, error, sqlite3.Error) from error


@dataclass
class PendingWrites:
    """Rows handed over inside a ``one_trip`` block, by table in the order the tables first came."""

    tables: dict[Table, list[Mapping[str, Any]]] = field(default_factory=dict)
    on_discard: list[Callable[[], None]] = field(default_factory=list)

    def add(self, table: Table, rows: Rows, *, on_discard: Callable[[], None] | None = None) -> None:
        self.tables.setdefault(table, []).extend(rows)
        if on_discard is not None:
            self.on_discard.append(on_discard)

    def discard(self) -> None:
        self.tables.clear()
        for forget in self.on_discard:
            forget()


@event.listens_for(Session, "do_orm_execute")
def _refuse_reads_of_unsent_rows(state: ORMExecuteState) -> None:
    pending: PendingWrites | None = state.session.info.get(_PENDING)
    if pending is None or not pending.tables or not isinstance(state.statement, ClauseElement):
        return
    unsent = pending.tables.keys() & set(find_tables(state.statement, include_crud=True, include_selects=True))
    if unsent:
        raise RuntimeError(
            f"a statement on {', '.join(sorted(t.name for t in unsent))} inside a one_trip block would not see "
            "the rows handed over for it: read before handing them over, or after the block"
        )


def pending_writes(session: AsyncSession) -> PendingWrites | None:
    """The open ``one_trip`` block's rows, if the session is inside one: writers add theirs there."""
    found: PendingWrites | None = session.info.get(_PENDING)
    return found


@asynccontextmanager
async def one_trip(session: AsyncSession) -> AsyncIterator[PendingWrites]:
    """Rows written inside the block are inserted together when it ends (not nested)."""
    if _PENDING in session.info:
        raise RuntimeError("one_trip blocks do not nest")
    pending = session.info[_PENDING] = PendingWrites()
    try:
        yield pending
    except BaseException:
        pending.discard()
        raise
    finally:
        session.info.pop(_PENDING, None)
    try:
        await insert_rows(session, list(pending.tables.items()))
    except BaseException:
        pending.discard()
        raise
