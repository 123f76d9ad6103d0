"""Concurrent writers on one journal: they queue on the chain lock, nothing fails, nothing is lost or doubled.

Each worker is an asyncio task with its own ``Database`` (engine and connections), posting one entry per
transaction, like one application process serving requests. About 10% of the submissions share an
idempotency key with a submission of another worker (same payload), placed at the same position in both
workers' queues so that the two often race.

The tests at the end interleave ``Ledger.revalue`` with another writer deterministically (the second
transaction is released only once PostgreSQL shows the first one waiting on a lock): revalue takes the
journal's writer lock before it reads anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core.audit import Actor
from fundapp.core.db import Database
from ledger import chart, rules
from ledger.errors import ClosedPeriod, LedgerRuleError
from ledger.models import Book
from ledger.money import Money
from ledger.queries import trial_balance, verify_chain
from ledger.service import Ledger
from ledger.types import EntryDraft, EntryView, Line

T = TypeVar("T")
REPORTING = "USD"
ACTOR = Actor(None, "test")
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
EUR_RATE = Decimal("1.0825")
RATE_DAY = date(2025, 12, 1)
FIRST_DAY = date(2026, 1, 1)
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgresql)


def ledger_for(session: AsyncSession) -> Ledger:
    return Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=NOW)


async def in_transaction(database: Database, work: Callable[[Ledger], Awaitable[T]]) -> T:
    async with database.session() as session:
        result = await work(ledger_for(session))
        await session.commit()
        return result


def run(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def runner() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(runner())


# ---------------------------------------------------------------- the workload


@dataclass
class Workload:
    queues: list[list[EntryDraft]]  # one per worker
    distinct: list[EntryDraft]  # every draft once
    shared_keys: set[str]


def _draft(rnd: random.Random, n: int, key: str | None) -> EntryDraft:
    """A deposit, maybe with a fee, in USD or EUR, in one of three months, on a few accounts."""
    currency = rnd.choice([REPORTING, "EUR"])
    amount = rnd.randint(1, 10**7)
    contributor = rnd.choice([None, 1, 2, 3])
    lines = [Line(chart.CASH, Money.from_minor(amount, currency), contributor_id=contributor)]
    if rnd.random() < 0.5:
        fee = rnd.randint(1, 10**5)
        lines += [
            Line(chart.ADMIN_AGENT_FEE, Money.from_minor(fee, currency), contributor_id=contributor),
            Line(chart.CONTRIBUTION_REVENUE, Money.from_minor(-amount - fee, currency), contributor_id=contributor),
        ]
    else:
        lines.append(
            Line(chart.CONTRIBUTIONS_RECEIVABLE, Money.from_minor(-amount, currency), contributor_id=contributor)
        )
    return EntryDraft(
        entry_date=FIRST_DAY + timedelta(days=rnd.randrange(90)),
        description=f"Deposit {n}",
        lines=tuple(lines),
        idempotency_key=key,
    )


def make_workload(*, workers: int, per_worker: int, shared_pairs: int, seed: int) -> Workload:
    """``shared_pairs`` drafts are each submitted by two different workers at the same queue position."""
    rnd = random.Random(seed)
    slots: list[list[EntryDraft | None]] = [[None] * per_worker for _ in range(workers)]
    distinct: list[EntryDraft] = []
    shared: set[str] = set()
    free_positions = [(w, i) for w in range(workers) for i in range(per_worker)]
    for n in range(shared_pairs):
        while True:
            position = rnd.randrange(per_worker)
            first, second = rnd.sample(range(workers), 2)
            if slots[first][position] is None and slots[second][position] is None:
                break
        draft = _draft(rnd, len(distinct), f"shared-{n}")
        distinct.append(draft)
        shared.add(f"shared-{n}")
        slots[first][position] = slots[second][position] = draft
    for w, i in free_positions:
        if slots[w][i] is None:
            n = len(distinct)
            draft = _draft(rnd, n, f"single-{n}" if rnd.random() < 0.5 else None)
            distinct.append(draft)
            slots[w][i] = draft
    queues = [[d for d in queue if d is not None] for queue in slots]
    return Workload(queues, distinct, shared)


@dataclass
class Outcome:
    posted: list[tuple[EntryDraft, EntryView]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _worker(url: str, queue: list[EntryDraft], start: asyncio.Event, outcome: Outcome) -> None:
    database = Database(url, pool_size=1)
    try:
        await start.wait()
        for draft in queue:
            try:
                view = await in_transaction(database, lambda ledger, draft=draft: ledger.post(draft))
            except Exception:  # noqa: BLE001 - whatever reaches a worker is the finding
                outcome.errors.append(traceback.format_exc())
            else:
                outcome.posted.append((draft, view))
    finally:
        await database.dispose()


def _post_concurrently(url: str, workload: Workload) -> tuple[Outcome, float]:
    async def seed(database: Database) -> None:
        await in_transaction(database, lambda ledger: ledger.add_rate("EUR", RATE_DAY, EUR_RATE))

    run(url, seed)

    async def all_workers() -> Outcome:
        outcome = Outcome()
        start = asyncio.Event()
        tasks = [asyncio.create_task(_worker(url, queue, start, outcome)) for queue in workload.queues]
        await asyncio.sleep(0)
        start.set()
        await asyncio.gather(*tasks)
        return outcome

    began = time.perf_counter()
    outcome = asyncio.run(all_workers())
    return outcome, time.perf_counter() - began


def _expected_totals(drafts: list[EntryDraft]) -> dict[tuple[str, str], tuple[int, int]]:
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for draft in drafts:
        currency = draft.lines[0].amount.currency
        rate = Decimal(1) if currency == REPORTING else EUR_RATE
        reporting = rules.reporting_amounts([line.amount.minor for line in draft.lines], currency, rate, REPORTING)
        for line, value in zip(draft.lines, reporting, strict=True):
            totals[(line.account, currency)][0] += line.amount.minor
            totals[(line.account, currency)][1] += value
    return {k: (v[0], v[1]) for k, v in totals.items() if v != [0, 0]}


def _check(url: str, workload: Workload, outcome: Outcome) -> None:
    assert not outcome.errors, f"{len(outcome.errors)} submissions failed; the first:\n" + "\n".join(outcome.errors[:3])
    submissions = sum(len(queue) for queue in workload.queues)
    assert len(outcome.posted) == submissions

    # Each shared key: both submissions got the same entry, exactly one of them wrote it.
    by_key: dict[str, list[EntryView]] = defaultdict(list)
    for draft, view in outcome.posted:
        if draft.idempotency_key is not None:
            by_key[draft.idempotency_key].append(view)
    for key in workload.shared_keys:
        views = by_key[key]
        assert len(views) == 2 and views[0].id == views[1].id, key
        assert sorted(v.replayed for v in views) == [False, True], key

    # Every distinct draft is exactly one entry, ids 1..n without gaps.
    written = sorted(view.id for _, view in outcome.posted if not view.replayed)
    assert written == list(range(1, len(workload.distinct) + 1))

    async def read(database: Database) -> dict[str, Any]:
        async with database.session(write=False) as session:
            return {
                "entries": (await session.execute(sa.text("SELECT count(*), max(id) FROM journal_entries"))).one(),
                "keys": (
                    await session.execute(
                        sa.text(
                            "SELECT idempotency_key, count(*) FROM journal_entries "
                            "WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key"
                        )
                    )
                ).all(),
                "tb": {book: await trial_balance(session, book=book) for book in Book},
                "chain": await verify_chain(session),
            }

    got = run(url, read)
    n = len(workload.distinct)
    assert tuple(got["entries"]) == (n, n)
    keys = Counter(dict(got["keys"]))
    assert set(keys) == {d.idempotency_key for d in workload.distinct if d.idempotency_key is not None}
    assert set(keys.values()) == {1}
    assert got["tb"][Book.BUDGETARY] == []
    rows = got["tb"][Book.FINANCIAL]
    assert {(r.account, r.currency): (r.amount, r.reporting_amount) for r in rows} == _expected_totals(
        workload.distinct
    )
    assert sum(r.reporting_amount for r in rows) == 0
    assert got["chain"].ok, got["chain"].describe()
    assert got["chain"].entries == n


@pytest.mark.parametrize("backend", [POSTGRESQL])
def test_eight_workers_post_two_thousand_entries_on_postgresql(database_url: str) -> None:
    workload = make_workload(workers=8, per_worker=250, shared_pairs=100, seed=20260401)
    assert sum(len(q) for q in workload.queues) == 2000 and len(workload.distinct) == 1900
    outcome, seconds = _post_concurrently(database_url, workload)
    print(f"postgresql: 2000 submissions by 8 workers in {seconds:.1f} s")
    _check(database_url, workload, outcome)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_writers_queue_rather_than_fail(database_url: str) -> None:
    workload = make_workload(workers=4, per_worker=100, shared_pairs=20, seed=20260402)
    assert sum(len(q) for q in workload.queues) == 400 and len(workload.distinct) == 380
    outcome, seconds = _post_concurrently(database_url, workload)
    print(f"sqlite: 400 submissions by 4 workers in {seconds:.1f} s")
    _check(database_url, workload, outcome)


# ---------------------------------------------------------------- revalue against another writer (PostgreSQL)


def _eur(day: date, minor: int) -> EntryDraft:
    return EntryDraft(
        day,
        "EUR deposit",
        (
            Line(chart.CASH, Money.from_minor(minor, "EUR")),
            Line(chart.CONTRIBUTION_REVENUE, Money.from_minor(-minor, "EUR")),
        ),
    )


async def _opening(database: Database) -> None:
    """EUR at 1.1 from January 1st, 1.3 from January 20th; one EUR deposit on January 5th."""

    async def work(ledger: Ledger) -> None:
        await ledger.add_rate("EUR", date(2026, 1, 1), Decimal("1.1"))
        await ledger.add_rate("EUR", date(2026, 1, 20), Decimal("1.3"))
        await ledger.post(_eur(date(2026, 1, 5), 100_000))

    await in_transaction(database, work)


async def _someone_waits_on_a_lock(database: Database) -> None:
    """Until PostgreSQL shows a session of this database waiting on a lock (advisory lock or row)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(1000):
        async with database.session(write=False) as session:
            if (await session.execute(query)).scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("no session ever waited on a lock")


async def _revalue(database: Database, as_of: date) -> EntryView | None:
    return await in_transaction(database, lambda ledger: ledger.revalue(as_of))


@pytest.mark.parametrize("backend", [POSTGRESQL])
def test_revalue_does_not_post_into_a_period_closed_while_it_waited(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        await _opening(database)
        async with database.session(write=False) as session:
            closed = await trial_balance(session, book=Book.FINANCIAL, as_of=date(2026, 1, 31))
        async with database.session() as closing:
            await ledger_for(closing).close_period("2026-01")  # holds the chain lock until commit
            revaluation = asyncio.create_task(_revalue(database, date(2026, 1, 31)))
            await _someone_waits_on_a_lock(database)
            await closing.commit()
        with pytest.raises(ClosedPeriod):
            await revaluation
        async with database.session(write=False) as session:
            assert await trial_balance(session, book=Book.FINANCIAL, as_of=date(2026, 1, 31)) == closed

    run(database_url, scenario)


@pytest.mark.parametrize("backend", [POSTGRESQL])
def test_revalue_covers_an_entry_committed_while_it_waited(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        await _opening(database)
        async with database.session() as writer:
            await ledger_for(writer).post(_eur(date(2026, 1, 6), 500_000))  # holds the chain lock
            revaluation = asyncio.create_task(_revalue(database, date(2026, 1, 25)))
            await _someone_waits_on_a_lock(database)
            await writer.commit()
        assert await revaluation is not None
        # Every EUR balance now stands at the rate of January 25th: nothing is left to revalue.
        again = await _revalue(database, date(2026, 1, 25))
        assert again is None, [(p.account, p.reporting_amount) for p in again.postings]

    run(database_url, scenario)


@pytest.mark.parametrize("backend", [POSTGRESQL])
def test_revalue_racing_the_first_entry_of_a_month(database_url: str) -> None:
    async def scenario(database: Database) -> None:
        await _opening(database)
        async with database.session() as writer:
            await ledger_for(writer).post(_eur(date(2026, 2, 3), 1_000))  # opens 2026-02, holds the lock
            revaluation = asyncio.create_task(_revalue(database, date(2026, 2, 10)))
            await _someone_waits_on_a_lock(database)  # (on the uncommitted period row)
            await writer.commit()
        with contextlib.suppress(LedgerRuleError):  # a refusal would do; a database error must not escape
            await revaluation

    run(database_url, scenario)


@pytest.mark.parametrize("backend", [POSTGRESQL])
def test_revalue_and_a_transaction_posting_two_entries_do_not_deadlock(database_url: str) -> None:
    """Like governance's yearly assessment, which posts one entry per member in one transaction."""

    async def scenario(database: Database) -> list[str]:
        await _opening(database)
        failures: list[str] = []
        async with database.session() as writer:
            ledger = ledger_for(writer)
            await ledger.post(_eur(date(2026, 1, 7), 1_000))  # holds the chain lock
            revaluation = asyncio.create_task(_revalue(database, date(2026, 3, 10)))  # creates 2026-03, waits
            await _someone_waits_on_a_lock(database)
            try:
                await ledger.post(_eur(date(2026, 3, 11), 1_000))  # needs 2026-03 too
                await writer.commit()
            except Exception:  # noqa: BLE001 - whatever reaches a caller is the finding
                failures.append("writer: " + traceback.format_exc())
                await writer.rollback()
        try:
            await revaluation
        except Exception:  # noqa: BLE001 - whatever reaches a caller is the finding
            failures.append("revalue: " + traceback.format_exc())
        return failures

    failures = run(database_url, scenario)
    assert not failures, "\n".join(failures)
