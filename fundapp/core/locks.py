"""Writers' locks and chain heads: the one place that knows how each database serialises a chain's writers.

A hash chain (the journal, the audit log) is written by one writer at a time, who reads its head (last id,
last hash) under that lock. SQLite holds one write lock per database from a write transaction's
``BEGIN IMMEDIATE``, so the head is a plain read; PostgreSQL takes a transaction-scoped advisory lock first,
in a function of the chain's migration that then reads the head (one round trip). A domain describes its
chain once (``ChainHead``) and asks this module for the head; it never tests the dialect itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, TextClause
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import FromClause


def is_postgresql(session: AsyncSession) -> bool:
    """Whether ``session`` talks to PostgreSQL (otherwise SQLite)."""
    return bool(session.get_bind().dialect.name == "postgresql")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """How one chain's head is read under its writers' lock: ``serialised`` where the write transaction
    already holds the database's write lock (SQLite), ``locking`` where a database function takes the
    chain's advisory lock and then reads the head (PostgreSQL). Both return the same columns."""

    serialised: Select[Any]
    locking: TextClause
    name: str = "chain_head"


async def lock_and_read_head(session: AsyncSession, chain: ChainHead) -> Row[Any]:
    """Take the chain's writer lock (held until the transaction ends) and read its head, in one statement."""
    statement = chain.locking if is_postgresql(session) else chain.serialised
    return (await session.execute(statement)).one()


def head_source(session: AsyncSession, chain: ChainHead) -> FromClause | None:
    """The chain's head as a one-row source for a caller's own first statement of a write transaction, when
    that statement holds the writer lock already (SQLite: its BEGIN IMMEDIATE). None where the lock must be
    taken in a statement of its own first (PostgreSQL: a statement reads a snapshot taken before any lock it
    takes itself)."""
    return None if is_postgresql(session) else chain.serialised.subquery(chain.name)
