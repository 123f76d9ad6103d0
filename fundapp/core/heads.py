"""The chain heads and writer locks a money command takes with its facts.

A money command posts to the ledger's journal and appends to the audit log, two hash chains whose writers
serialise on their heads. Its facts reader reads both heads in its own statement where it can, instead of a
statement each later:

- the audit log's head, always (on PostgreSQL reading it takes the audit chain's lock in the same call);
- the journal's head where the transaction holds the writer lock already (SQLite: ``BEGIN IMMEDIATE``);
  on PostgreSQL a statement reads a snapshot taken before any lock it takes itself, so there the journal's
  lock is taken first, in a statement of its own (``lock_first``).

The journal is any ``Chain`` (the ledger's ``Ledger`` is one), so the core names no domain:

    await heads.lock_first(ledger)                     # before the facts statement
    read = heads.read_heads(dialect, ledger)           # when building it: join read.sources ON true,
    ...select(*facts_columns, *read.columns)...        #   select read.columns
    heads.remember_heads(session, ledger, row)         # after it, with any one of its rows

Later writes of the transaction (``audit.record``, ``Ledger.post``) then start from the heads remembered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import Label

from fundapp.core import audit


class Chain(Protocol):
    """A hash chain a command posts to besides the audit log (the journal), through its writer's methods."""

    async def lock(self) -> None: ...

    def head_source(self) -> FromClause | None: ...

    def remember_head(self, last_id: int | None, last_hash: str | None, reference: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class HeadsRead:
    """What a facts statement reads of the heads: sources to join ``ON true`` and the columns to select."""

    sources: tuple[FromClause, ...]
    columns: tuple[Label[Any], ...]

    def join(self, joined: FromClause) -> FromClause:
        """``joined`` with every head's source joined to it (each a row, or none when its chain is empty)."""
        for source in self.sources:
            joined = joined.outerjoin(source, true())
        return joined


async def lock_first(chain: Chain) -> None:
    """Take the chain's lock now if its head cannot be read in the facts statement (PostgreSQL)."""
    if chain.head_source() is None:
        await chain.lock()


def read_heads(dialect: str, chain: Chain) -> HeadsRead:
    """The heads a facts statement on ``dialect`` reads: the audit log's and, where it can, the chain's."""
    audit_head = audit.head_source(dialect)
    sources = [audit_head]
    columns = [audit_head.c.seq.label("audit_seq"), audit_head.c.hash.label("audit_hash")]
    chain_head = chain.head_source()
    if chain_head is not None:
        sources.append(chain_head)
        columns += [
            chain_head.c.id.label("chain_id"),
            chain_head.c.hash.label("chain_hash"),
            chain_head.c.reference.label("chain_reference"),
        ]
    return HeadsRead(tuple(sources), tuple(columns))


def remember_heads(session: AsyncSession, chain: Chain, row: Row[Any]) -> None:
    """Hand the heads a row of the facts statement read (``read_heads``' columns) to their writers."""
    values = row._mapping
    if "chain_id" in values:
        chain.remember_head(values["chain_id"], values["chain_hash"], values["chain_reference"])
    audit.remember_head(session, values["audit_seq"], values["audit_hash"])
