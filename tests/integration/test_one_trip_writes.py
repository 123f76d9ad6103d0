"""Rows of several tables in one trip (fundapp/core/writes.py), on SQLite and PostgreSQL: what a block hands
over is written when it ends and not before, a block that raises writes nothing and leaves both chains
where the database has them, and the database's refusals and column types are those of any other write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from fundapp.core import audit
from fundapp.core.audit import Actor
from fundapp.core.db import Database
from fundapp.core.writes import insert_rows, one_trip
from ledger import EntryDraft, Ledger, Line, Money, chart
from ledger.queries import verify_chain
from ledger.service import JOURNAL_TABLE

ACTOR = Actor(None, "test")
T = TypeVar("T")
NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def receipt(amount: str, key: str | None = None) -> EntryDraft:
    return EntryDraft(
        entry_date=date(2026, 3, 2),
        description=f"Receipt of {amount} USD",
        lines=(
            Line(chart.CASH, Money.of(amount, "USD")),
            Line(chart.UNAPPLIED_CONTRIBUTIONS, -Money.of(amount, "USD")),
        ),
        source_type="test",
        idempotency_key=key,
    )


def with_database(database_url: str, scenario: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``scenario`` on a Database of the test's URL, disposed at the end."""

    async def run() -> T:
        database = Database(database_url)
        try:
            return await scenario(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


async def count(database: Database, table: str) -> int:
    async with database.session(write=False) as session:
        tables = {"journal": JOURNAL_TABLE, "audit": audit.AUDIT_TABLE}
        return int((await session.execute(select(func.count()).select_from(tables[table]))).scalar_one())


async def post_and_record(database: Database, amount: str, *, fail_inside: bool = False) -> int:
    """One entry and its audit event handed to a one-trip block, committed; ``fail_inside`` raises in the
    block after both were handed over, and the same transaction then posts again outside any block."""
    async with database.session() as session:
        ledger = Ledger(session, reporting_currency="USD", actor=ACTOR, now=NOW)
        if fail_inside:
            with pytest.raises(RuntimeError, match="changed its mind"):
                async with one_trip(session):
                    await ledger.post(receipt(amount))
                    await audit.record(
                        session, actor=ACTOR, action="test.post", object_type="entry", object_id=0, at=NOW
                    )
                    raise RuntimeError("the caller changed its mind")
        async with one_trip(session):
            entry = await ledger.post(receipt(amount))
            await audit.record(
                session, actor=ACTOR, action="test.post", object_type="entry", object_id=entry.id, at=NOW
            )
        await session.commit()
        return entry.id


async def assert_both_chains_verify(database: Database) -> None:
    async with database.session(write=False) as session:
        chain = await verify_chain(session)
        assert chain.ok, chain.describe()
        audit_chain = await audit.verify(session)
        assert audit_chain.ok, audit_chain.describe()


def test_rows_handed_to_a_block_are_written_when_it_ends_and_both_chains_verify(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        journal, events = await count(database, "journal"), await count(database, "audit")
        async with database.session() as session:
            ledger = Ledger(session, reporting_currency="USD", actor=ACTOR, now=NOW)
            async with one_trip(session) as pending:
                first = await ledger.post(receipt("10.00"))
                second = await ledger.post(receipt("2.50"))
                await audit.record(session, actor=ACTOR, action="test.post", object_type="entry", object_id=1, at=NOW)
                # Handed over, not yet sent: a read of their tables would not see them, so it is refused.
                assert sum(len(rows) for rows in pending.tables.values()) == 2 + 4 + 1
                with pytest.raises(RuntimeError, match="statement on journal_entries inside a one_trip block"):
                    await session.execute(select(func.count()).select_from(JOURNAL_TABLE))
                assert await count(database, "journal") == journal
            assert (second.id, second.prev_hash) == (first.id + 1, first.hash)
            assert (await session.execute(select(func.count()).select_from(JOURNAL_TABLE))).scalar_one() == journal + 2
            await session.commit()
        assert (await count(database, "journal"), await count(database, "audit")) == (journal + 2, events + 1)
        await assert_both_chains_verify(database)

    with_database(database_url, scenario)


def test_a_block_that_raises_writes_nothing_and_the_next_write_links_to_the_real_heads(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        journal, events = await count(database, "journal"), await count(database, "audit")
        entry_id = await post_and_record(database, "7.00", fail_inside=True)
        # The discarded entry's id is taken by the next one, and both chains still link without a gap.
        assert entry_id == journal + 1
        assert (await count(database, "journal"), await count(database, "audit")) == (journal + 1, events + 1)
        await assert_both_chains_verify(database)

    with_database(database_url, scenario)


def test_the_database_refuses_one_trip_rows_as_it_refuses_any_other_write(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        await post_and_record(database, "1.00")
        async with database.session(write=False) as session:
            row = (await session.execute(select(audit.AUDIT_TABLE).order_by(audit.AUDIT_TABLE.c.seq.desc()))).first()
        assert row is not None
        async with database.session() as session:
            # The same sequence number again: the primary key refuses it, as SQLAlchemy reports it.
            with pytest.raises(IntegrityError):
                await insert_rows(session, [(audit.AUDIT_TABLE, [dict(row._mapping)])])
            await session.rollback()
        async with database.session() as session:
            with pytest.raises(ValueError, match="same columns"):
                await insert_rows(session, [(audit.AUDIT_TABLE, [dict(row._mapping), {"seq": 1}])])

    with_database(database_url, scenario)


def test_dates_and_times_written_in_one_trip_read_back_as_written(database_url: str) -> None:
    async def scenario(database: Database) -> tuple[date, datetime]:
        entry_id = await post_and_record(database, "3.00")
        async with database.session(write=False) as session:
            row = (
                await session.execute(
                    select(JOURNAL_TABLE.c.entry_date, JOURNAL_TABLE.c.posted_at).where(JOURNAL_TABLE.c.id == entry_id)
                )
            ).one()
            return row.entry_date, row.posted_at

    assert with_database(database_url, scenario) == (date(2026, 3, 2), NOW)


def test_one_trip_blocks_do_not_nest(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        async with database.session() as session, one_trip(session):
            with pytest.raises(RuntimeError, match="do not nest"):
                async with one_trip(session):
                    pass

    with_database(database_url, scenario)
