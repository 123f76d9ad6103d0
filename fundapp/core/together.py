"""Writes that take the same parameters, sent together.

A hot write that touches several tables (a ballot: the decision chain's event, the chain's new head, the
member's current ballot) pays a round trip per statement. ``Together`` holds such writes, built once on the
tables with named bind parameters; ``run`` sends them with one set of parameters: on PostgreSQL as one
statement (the leading writes as data-modifying WITH clauses of the last), elsewhere one after another on
the same connection and transaction. The domain names the writes; only this module knows which database
takes them in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

Write = Insert | Update


@dataclass(frozen=True, slots=True)
class Together:
    """Writes run in order with the same parameters, and the same as one statement."""

    writes: tuple[Executable, ...]  # one after another
    combined: Executable  # the last, with the others as its data-modifying CTEs


def together(name: str, *writes: Write) -> Together:
    """``writes`` (at least one), to be run in this order; ``name`` names their CTEs in the one statement."""
    if not writes:
        raise ValueError("together needs at least one write")
    *leading, last = writes
    ctes = [write.cte(f"{name}_{n}") for n, write in enumerate(leading, start=1)]
    combined = last.add_cte(*ctes) if ctes else last
    return Together(tuple(writes), combined)


def _one_statement(connection: AsyncConnection) -> bool:
    """Whether the database runs data-modifying CTEs (and so the writes as one statement)."""
    return connection.dialect.name == "postgresql"


async def run(connection: AsyncConnection, writes: Together, params: dict[str, Any]) -> None:
    """Send the writes with ``params``: in one statement where the database allows, else in order."""
    if _one_statement(connection):
        await connection.execute(writes.combined, params)
        return
    for statement in writes.writes:
        await connection.execute(statement, params)
