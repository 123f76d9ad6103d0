"""The posting service against a plain-Python model of the ledger (a hypothesis state machine).

Each run gets a fresh migrated database (SQLite: a copy of conftest's template file; PostgreSQL:
``CREATE DATABASE ... TEMPLATE``). Every rule is one "request": its own event loop, ``Database``, session
and commit. The model knows every posting the ledger should hold, computed from the drafts, the FX
rates and ``ledger.rules`` (whose arithmetic tests/property/test_ledger_rules.py checks against an
independent oracle); after every step the database is read back through ``ledger.queries`` and compared.

The tests at the end pin down bugs found while writing the machine, so they stay fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.ext.asyncio import AsyncSession

from fundapp.core.audit import Actor
from fundapp.core.db import Database
from fundapp.core.errors import DomainError
from ledger import chart
from ledger import rules as arithmetic
from ledger.errors import (
    AlreadyReversed,
    ClosedPeriod,
    IdempotencyConflict,
    MissingRate,
    PeriodOrder,
    ReversalOfReversal,
)
from ledger.models import Book, JournalEntry, LedgerAccount, Posting
from ledger.money import Money
from ledger.queries import balances, trial_balance, verify_chain
from ledger.service import Ledger
from ledger.types import EntryDraft, EntryView, Line
from tests import conftest

T = TypeVar("T")
REPORTING = "USD"
ACTOR = Actor(None, "test")
FIRST_DAY = date(2026, 1, 6)
RATES_FROM = date(2025, 12, 1)

BOOK_OF = {spec.code: spec.book.value for spec in chart.REFERENCE_CHART}
MONETARY = {spec.code for spec in chart.REFERENCE_CHART if spec.is_monetary and spec.book is Book.FINANCIAL}
FINANCIAL_ACCOUNTS = [
    chart.CASH,
    chart.CONTRIBUTIONS_RECEIVABLE,
    chart.GRANTS_PAYABLE,
    chart.UNAPPLIED_CONTRIBUTIONS,
    chart.CONTRIBUTION_REVENUE,
    chart.TRANSFERS_TO_PARTNERS,
    chart.ADMIN_AGENT_FEE,
]
BUDGETARY_ACCOUNTS = [chart.RESOURCES_RECEIVED, chart.AVAILABLE, chart.ALLOCATED]
# CHF has no rate until a rule adds one, so posting in it can be refused with MissingRate.
FOREIGN = ["EUR", "JPY", "KWD", "GBP", "CHF"]
SEEDED_RATES = ["EUR", "JPY", "KWD", "GBP"]
# Ways to split 2-6 lines into balanced groups of at least two lines each.
PARTITIONS = [(2,), (3,), (4,), (5,), (6,), (2, 2), (2, 3), (3, 3), (2, 4), (2, 2, 2)]
DESCRIPTIONS = ["Deposit", "Grant tranche", "Fee", "Pledge signed", "Transfer to partner", "Décision n° 7 — ajustement"]

Dims = tuple[int | None, int | None, int | None]


@dataclass(frozen=True, slots=True)
class P:
    """A posting as the model knows it (line numbers aside)."""

    account: str
    currency: str
    amount: int
    reporting: int
    dims: Dims = (None, None, None)

    def negated(self) -> P:
        return P(self.account, self.currency, -self.amount, -self.reporting, self.dims)


@dataclass
class ModelEntry:
    id: int
    entry_date: date
    postings: list[P]
    reverses: int | None = None


def _postings_of(view: EntryView) -> Counter[P]:
    return Counter(
        P(p.account, p.currency, p.amount, p.reporting_amount, (p.contributor_id, p.window_id, p.grant_id))
        for p in view.postings
    )


def _dims(line: Line) -> Dims:
    return (line.contributor_id, line.window_id, line.grant_id)


def _month_after(period: str) -> str:
    _, end = arithmetic.period_bounds(period)
    return arithmetic.period_of(end + timedelta(days=1))


# ---------------------------------------------------------------- strategies

minor_amounts = st.one_of(st.integers(1, 999), st.integers(1, 10**9)).flatmap(lambda n: st.sampled_from([n, -n]))
dimension_values = st.tuples(
    st.sampled_from([None, 1, 2, 3]), st.sampled_from([None, 1, 2]), st.sampled_from([None, 1, 2])
)
rate_values = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9"), places=6).map(lambda d: Decimal(str(d)))


@st.composite
def balanced_lines(draw: st.DrawFn) -> tuple[Line, ...]:
    """2-6 lines in balanced groups: each group one currency of one book (budgetary groups in USD)."""
    lines: list[Line] = []
    for size in draw(st.sampled_from(PARTITIONS)):
        budgetary = draw(st.integers(0, 3)) == 0
        currency = REPORTING if budgetary else draw(st.sampled_from([REPORTING, *FOREIGN]))
        accounts = BUDGETARY_ACCOUNTS if budgetary else FINANCIAL_ACCOUNTS
        amounts = [draw(minor_amounts) for _ in range(size - 1)]
        if sum(amounts) == 0:
            amounts[0] *= 2
        amounts.append(-sum(amounts))
        for amount in amounts:
            contributor, window, grant = draw(dimension_values)
            lines.append(
                Line(
                    draw(st.sampled_from(accounts)),
                    Money.from_minor(amount, currency),
                    contributor_id=contributor,
                    window_id=window,
                    grant_id=grant,
                )
            )
    return tuple(draw(st.permutations(lines)))


# ---------------------------------------------------------------- fresh databases


@dataclass
class DatabaseFactory:
    """Makes a fresh migrated database per machine run; returns its URL and how to drop it.

    PostgreSQL takes most of a second to drop a database (a checkpoint), so drops run in a background
    thread while the next run goes on; ``close`` waits for them."""

    backend: str
    template: Any  # SQLite: the template file; PostgreSQL: the template database's name
    directory: Path
    counter: Iterator[int] = field(default_factory=itertools.count)
    dropper: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    drops: list[Future[None]] = field(default_factory=list)

    def close(self) -> None:
        self.dropper.shutdown(wait=True)
        for done in self.drops:
            done.result()

    def create(self) -> tuple[str, Callable[[], None]]:
        n = next(self.counter)
        if self.backend == "sqlite":
            path = self.directory / f"machine-{n}.sqlite3"
            shutil.copyfile(self.template, path)

            def drop_file() -> None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

            return f"sqlite+aiosqlite:///{path}", drop_file
        assert conftest.PG_ADMIN_URL is not None
        name = f"fundapp_m_{os.getpid()}_{n}"
        conftest._pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')

        def drop_database() -> None:
            self.drops.append(self.dropper.submit(conftest._pg_admin_execute, f'DROP DATABASE "{name}" WITH (FORCE)'))

        return conftest._with_database(conftest.PG_ADMIN_URL, name), drop_database


# ---------------------------------------------------------------- the machine


class LedgerMachine(RuleBasedStateMachine):
    factory: ClassVar[DatabaseFactory]

    def __init__(self) -> None:
        super().__init__()
        self.url, self._drop = self.factory.create()
        self.today = FIRST_DAY
        self.tick = 0
        self.rates: dict[str, dict[date, Decimal]] = defaultdict(dict)
        self.entries: list[ModelEntry] = []
        self.keys: dict[str, tuple[EntryDraft, int]] = {}
        self.reversed_by: dict[int, int] = {}
        self.next_to_close = arithmetic.period_of(FIRST_DAY)
        self.closed: list[str] = []
        self.period_rows: set[str] = set()
        self.snapshots: dict[str, dict[str, dict[tuple[str, str], tuple[int, int]]]] = {}
        self._keys = itertools.count(1)
        self.checks = 0

    def teardown(self) -> None:
        self._drop()

    # ------------------------------------------------------------ running "requests"

    def _now(self) -> datetime:
        self.tick += 1
        return datetime.combine(self.today, time(12), tzinfo=UTC) + timedelta(microseconds=self.tick)

    def call(self, work: Callable[[Ledger], Awaitable[T]]) -> T:
        """One request: a fresh Database, session and Ledger; committed on success, rolled back on error."""
        now = self._now()

        async def runner() -> T:
            database = Database(self.url)
            try:
                async with database.session() as session:
                    ledger = Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=now)
                    try:
                        result = await work(ledger)
                    except BaseException:
                        await session.rollback()
                        raise
                    await session.commit()
                    return result
            finally:
                await database.dispose()

        return asyncio.run(runner())

    def read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def runner() -> T:
            database = Database(self.url)
            try:
                async with database.session(write=False) as session:
                    return await work(session)
            finally:
                await database.dispose()

        return asyncio.run(runner())

    # ------------------------------------------------------------ the model

    @property
    def first_open_day(self) -> date:
        return arithmetic.period_bounds(self.next_to_close)[0]

    def open_day(self, data: st.DataObject) -> date:
        first = self.first_open_day
        return first + timedelta(days=data.draw(st.integers(0, (self.today - first).days), label="days in"))

    def rate_on(self, currency: str, day: date) -> Decimal | None:
        if currency == REPORTING:
            return Decimal(1)
        known = [d for d in self.rates[currency] if d <= day]
        return self.rates[currency][max(known)] if known else None

    def expected_postings(self, draft: EntryDraft) -> list[P] | type[Exception]:
        """What ``post`` should write for a draft in an open period, or the error it should raise."""
        reporting: list[int | None] = [
            None if line.reporting_amount is None else line.reporting_amount.minor for line in draft.lines
        ]
        auto: dict[str, list[int]] = defaultdict(list)
        for i, line in enumerate(draft.lines):
            if reporting[i] is None:
                auto[line.amount.currency].append(i)
        for currency, indexes in auto.items():
            rate = self.rate_on(currency, draft.entry_date)
            if rate is None:
                return MissingRate
            parts = arithmetic.reporting_amounts(
                [draft.lines[i].amount.minor for i in indexes], currency, rate, REPORTING
            )
            for i, part in zip(indexes, parts, strict=True):
                reporting[i] = part
        postings = [
            P(line.account, line.amount.currency, line.amount.minor, value, _dims(line))
            for line, value in zip(draft.lines, reporting, strict=True)
            if value is not None
        ]
        if draft.settle_fx:
            difference = sum(p.reporting for p in postings)
            if difference:
                currency = next((p.currency for p in postings if p.currency != REPORTING), REPORTING)
                code = chart.FX_GAIN_REALISED if difference > 0 else chart.FX_LOSS_REALISED
                # The gain or loss takes the dimensions of what was settled: the first line at a given value.
                settled = next((line for line in draft.lines if line.reporting_amount is not None), None)
                dims = (None, None, None) if settled is None else _dims(settled)
                postings.append(P(code, currency, 0, -difference, dims))
        return postings

    def add_entry(self, entry_date: date, postings: list[P], *, reverses: int | None = None) -> ModelEntry:
        entry = ModelEntry(len(self.entries) + 1, entry_date, postings, reverses)
        self.entries.append(entry)
        self.period_rows.add(arithmetic.period_of(entry_date))
        return entry

    def model_balances(self, *, as_of: date | None = None) -> dict[tuple[str, str, str, Dims], tuple[int, int]]:
        """(book, account, currency, dims) -> (amount, reporting amount)."""
        totals: dict[tuple[str, str, str, Dims], list[int]] = defaultdict(lambda: [0, 0])
        for entry in self.entries:
            if as_of is not None and entry.entry_date > as_of:
                continue
            for p in entry.postings:
                total = totals[(BOOK_OF[p.account], p.account, p.currency, p.dims)]
                total[0] += p.amount
                total[1] += p.reporting
        return {k: (v[0], v[1]) for k, v in totals.items()}

    def model_trial_balance(self, book: str, *, as_of: date | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for (b, account, currency, _), (amount, reporting) in self.model_balances(as_of=as_of).items():
            if b == book:
                totals[(account, currency)][0] += amount
                totals[(account, currency)][1] += reporting
        return {k: (v[0], v[1]) for k, v in totals.items() if v != [0, 0]}

    def new_key(self, data: st.DataObject) -> str | None:
        return f"key-{next(self._keys)}" if data.draw(st.booleans(), label="with key") else None

    # ------------------------------------------------------------ rules

    @initialize(data=st.data(), opening_entries=st.integers(1, 3))
    def seed_rates_and_open_the_books(self, data: st.DataObject, opening_entries: int) -> None:
        seeded = {c: data.draw(rate_values, label=f"{c} rate") for c in SEEDED_RATES}

        async def work(ledger: Ledger) -> None:
            for currency, rate in seeded.items():
                await ledger.add_rate(currency, RATES_FROM, rate)

        self.call(work)
        for currency, rate in seeded.items():
            self.rates[currency][RATES_FROM] = rate
        # A few entries from the start, so that every run has something to reverse, retry and revalue.
        for _ in range(opening_entries):
            self.post(data)

    @rule(data=st.data())
    def add_rate(self, data: st.DataObject) -> None:
        currency = data.draw(st.sampled_from(FOREIGN), label="currency")
        day = self.today - timedelta(days=data.draw(st.integers(0, 60), label="days back"))
        if day in self.rates[currency]:
            return  # (not assume(): an unsatisfied assumption throws the whole run away)
        rate = data.draw(rate_values, label="rate")

        async def work(ledger: Ledger) -> None:
            await ledger.add_rate(currency, day, rate)

        self.call(work)
        self.rates[currency][day] = rate

    @rule(days=st.integers(1, 40))
    def advance_today(self, days: int) -> None:
        self.today += timedelta(days=days)

    @precondition(lambda self: arithmetic.period_bounds(self.next_to_close)[1] >= self.today)
    @rule(days=st.integers(1, 10))
    def move_into_the_next_month(self, days: int) -> None:
        self.today = arithmetic.period_bounds(self.next_to_close)[1] + timedelta(days=days)

    @rule(data=st.data())
    def post(self, data: st.DataObject) -> None:
        draft = EntryDraft(
            entry_date=self.open_day(data),
            description=data.draw(st.sampled_from(DESCRIPTIONS), label="description"),
            lines=data.draw(balanced_lines(), label="lines"),
            idempotency_key=self.new_key(data),
        )
        expected = self.expected_postings(draft)
        if isinstance(expected, type):
            with pytest.raises(expected):
                self.call(lambda ledger: ledger.post(draft))
            return
        view = self.call(lambda ledger: ledger.post(draft))
        entry = self.add_entry(draft.entry_date, expected)
        assert (view.id, view.replayed, view.reverses_id) == (entry.id, False, None)
        assert _postings_of(view) == Counter(expected)
        if draft.idempotency_key is not None:
            self.keys[draft.idempotency_key] = (draft, entry.id)

    @rule(data=st.data())
    def settle_in_foreign_currency(self, data: st.DataObject) -> None:
        """Cash received against a receivable booked at another rate: settle_fx adds the realised FX line."""
        day = self.open_day(data)
        currency = data.draw(st.sampled_from([c for c in FOREIGN if self.rate_on(c, day) is not None]))
        rate = self.rate_on(currency, day)
        assert rate is not None
        amount = data.draw(st.integers(1, 10**9), label="amount")
        booked = arithmetic.convert_minor(amount, currency, rate, REPORTING) + data.draw(
            st.integers(-50_000, 50_000), label="rate difference"
        )
        cash_dims, receivable_dims = data.draw(dimension_values, label="cash"), data.draw(dimension_values)
        cash = Line(chart.CASH, Money.from_minor(amount, currency), None, *cash_dims)
        receivable = Line(
            chart.CONTRIBUTIONS_RECEIVABLE,
            Money.from_minor(-amount, currency),
            Money.from_minor(-booked, REPORTING),
            *receivable_dims,
        )
        draft = EntryDraft(
            entry_date=day,
            description="Settlement",
            lines=(cash, receivable) if data.draw(st.booleans(), label="cash first") else (receivable, cash),
            idempotency_key=self.new_key(data),
            settle_fx=True,
        )
        expected = self.expected_postings(draft)
        assert isinstance(expected, list)
        view = self.call(lambda ledger: ledger.post(draft))
        entry = self.add_entry(day, expected)
        assert view.id == entry.id
        assert _postings_of(view) == Counter(expected)
        if draft.idempotency_key is not None:
            self.keys[draft.idempotency_key] = (draft, entry.id)

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def retry_with_the_same_payload(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)), label="key")
        draft, entry_id = self.keys[key]
        view = self.call(lambda ledger: ledger.post(draft))
        assert (view.id, view.replayed) == (entry_id, True)
        assert _postings_of(view) == Counter(self.entries[entry_id - 1].postings)

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def retry_with_another_payload(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.keys)), label="key")
        draft, _ = self.keys[key]
        change = data.draw(st.sampled_from(["description", "amounts", "date", "dimensions"]), label="change")
        if change == "description":
            other = replace(draft, description=draft.description + " (again)")
        elif change == "amounts":
            other = replace(
                draft,
                lines=tuple(
                    replace(
                        line,
                        amount=-line.amount,
                        reporting_amount=None if line.reporting_amount is None else -line.reporting_amount,
                    )
                    for line in draft.lines
                ),
            )
        elif change == "date":
            other = replace(draft, entry_date=draft.entry_date + timedelta(days=1))
        else:
            other = replace(draft, lines=(replace(draft.lines[0], grant_id=99), *draft.lines[1:]))
        with pytest.raises(IdempotencyConflict):
            self.call(lambda ledger: ledger.post(other))

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        original = self.entries[data.draw(st.integers(1, len(self.entries)), label="entry") - 1]
        day = self.open_day(data)
        if original.reverses is not None:
            with pytest.raises(ReversalOfReversal):
                self.call(lambda ledger: ledger.reverse(original.id, entry_date=day))
            return
        if original.id in self.reversed_by:
            with pytest.raises(AlreadyReversed):
                self.call(lambda ledger: ledger.reverse(original.id, entry_date=day))
            return
        view = self.call(lambda ledger: ledger.reverse(original.id, entry_date=day))
        entry = self.add_entry(day, [p.negated() for p in original.postings], reverses=original.id)
        self.reversed_by[original.id] = entry.id
        assert (view.id, view.reverses_id) == (entry.id, original.id)
        assert _postings_of(view) == Counter(entry.postings)

    @rule(data=st.data())
    def revalue(self, data: st.DataObject) -> None:
        as_of = self.open_day(data)
        expected: list[P] = []
        for (_, account, currency, dims), (amount, carrying) in sorted(
            self.model_balances(as_of=as_of).items(), key=repr
        ):
            if account not in MONETARY or currency == REPORTING:
                continue
            rate = self.rate_on(currency, as_of)
            assert rate is not None  # a posting in this currency on or before as_of found one
            difference = arithmetic.convert_minor(amount, currency, rate, REPORTING) - carrying
            if difference:
                offset = chart.FX_GAIN_UNREALISED if difference > 0 else chart.FX_LOSS_UNREALISED
                expected += [P(account, currency, 0, difference, dims), P(offset, currency, 0, -difference, dims)]
        view = self.call(lambda ledger: ledger.revalue(as_of))
        self.period_rows.add(arithmetic.period_of(as_of))
        if not expected:
            assert view is None
            return
        assert view is not None
        entry = self.add_entry(as_of, expected)
        assert view.id == entry.id
        assert _postings_of(view) == Counter(expected)

    @precondition(lambda self: arithmetic.period_bounds(self.next_to_close)[1] < self.today)
    @rule(data=st.data())
    def close_periods(self, data: st.DataObject) -> None:
        """Close the oldest open month, or a later ended one: allowed when the months skipped were never
        used (they close with it), refused with PeriodOrder when one of them was."""
        ended = [self.next_to_close]
        while len(ended) < 3 and arithmetic.period_bounds(_month_after(ended[-1]))[1] < self.today:
            ended.append(_month_after(ended[-1]))
        target = data.draw(st.sampled_from(ended), label="close")
        skipped = ended[: ended.index(target)]
        if any(month in self.period_rows for month in skipped):
            with pytest.raises(PeriodOrder):
                self.call(lambda ledger: ledger.close_period(target))
            return
        closed = self.call(lambda ledger: ledger.close_period(target))
        assert (closed.id, closed.status) == (target, "closed")
        again = data.draw(st.sampled_from([*skipped, target]), label="close again")
        with pytest.raises(ClosedPeriod):
            self.call(lambda ledger: ledger.close_period(again))
        self.closed += [*skipped, target]
        self.period_rows.update([*skipped, target])
        self.next_to_close = _month_after(target)
        ends = {month: arithmetic.period_bounds(month)[1] for month in [*skipped, target]}

        async def snapshot(session: AsyncSession) -> dict[str, dict[str, dict[tuple[str, str], tuple[int, int]]]]:
            return {
                month: {
                    book.value: {
                        (r.account, r.currency): (r.amount, r.reporting_amount)
                        for r in await trial_balance(session, book=book, as_of=end)
                    }
                    for book in Book
                }
                for month, end in ends.items()
            }

        for month, snapshot_of_month in self.read(snapshot).items():
            self.snapshots[month] = snapshot_of_month
            for book in Book:
                assert snapshot_of_month[book.value] == self.model_trial_balance(book.value, as_of=ends[month])

    @precondition(lambda self: self.closed)
    @rule(data=st.data())
    def write_into_a_closed_period(self, data: st.DataObject) -> None:
        """A closed month, or a month before the first one (never opened, closed since the books were)."""
        if data.draw(st.booleans(), label="before the first month"):
            day = FIRST_DAY.replace(day=1) - timedelta(days=data.draw(st.integers(1, 90), label="days before"))
        else:
            period = data.draw(st.sampled_from(self.closed), label="closed period")
            start, end = arithmetic.period_bounds(period)
            day = start + timedelta(days=data.draw(st.integers(0, (end - start).days), label="day"))
        reversible = [e.id for e in self.entries if e.reverses is None and e.id not in self.reversed_by]
        what = data.draw(st.sampled_from(["post", "reverse", "revalue"] if reversible else ["post", "revalue"]))
        if what == "post":
            draft = EntryDraft(day, "Late entry", data.draw(balanced_lines()), idempotency_key=self.new_key(data))
            with pytest.raises(ClosedPeriod):
                self.call(lambda ledger: ledger.post(draft))
        elif what == "reverse":
            entry_id = data.draw(st.sampled_from(reversible), label="entry")
            with pytest.raises(ClosedPeriod):
                self.call(lambda ledger: ledger.reverse(entry_id, entry_date=day))
        else:
            with pytest.raises(ClosedPeriod):
                self.call(lambda ledger: ledger.revalue(day))

    # ------------------------------------------------------------ invariants

    @invariant()
    def the_ledger_matches_the_model(self) -> None:
        # One closed month per step, each in turn (two trial balances per month checked); every closed
        # month's trial balance was also compared with the model when it closed.
        recheck = {self.closed[-1 - self.checks % len(self.closed)]} if self.closed else set()
        closing_days = {period: arithmetic.period_bounds(period)[1] for period in recheck}
        self.checks += 1
        dimension = ("contributor", "window", "grant")[self.checks % 3]

        async def gather(session: AsyncSession) -> dict[str, Any]:
            postings = (
                await session.execute(
                    sa.select(
                        Posting.entry_id,
                        Posting.line_no,
                        LedgerAccount.code,
                        Posting.currency,
                        Posting.amount,
                        Posting.reporting_amount,
                        Posting.contributor_id,
                        Posting.window_id,
                        Posting.grant_id,
                    ).join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                )
            ).all()
            entries = (
                await session.execute(
                    sa.select(JournalEntry.id, JournalEntry.reverses_id, JournalEntry.entry_date).order_by(
                        JournalEntry.id
                    )
                )
            ).all()
            return {
                "chain": await verify_chain(session),
                "postings": postings,
                "entries": entries,
                "tb": {book.value: await trial_balance(session, book=book) for book in Book},
                "closed": {
                    period: {
                        book.value: {
                            (r.account, r.currency): (r.amount, r.reporting_amount)
                            for r in await trial_balance(session, book=book, as_of=end)
                        }
                        for book in Book
                    }
                    for period, end in closing_days.items()
                },
                "by_all": await balances(session, group_by=["account", "currency", "contributor", "window", "grant"]),
                # One single dimension per step, in turn (each query costs a round of the event loop).
                "by_dimension": await balances(session, group_by=["account", "currency", dimension]),
            }

        got = self.read(gather)

        # The chain verifies and holds exactly the model's entries, gap-free, with their reversal links.
        assert got["chain"].ok, got["chain"].describe()
        assert got["chain"].entries == len(self.entries)
        assert [(e.id, e.reverses_id, e.entry_date) for e in got["entries"]] == [
            (e.id, e.reverses, e.entry_date) for e in self.entries
        ]

        # Every entry's postings are the model's, numbered 1..n.
        by_entry: dict[int, list[P]] = defaultdict(list)
        line_numbers: dict[int, list[int]] = defaultdict(list)
        for row in got["postings"]:
            by_entry[row.entry_id].append(
                P(
                    row.code,
                    row.currency,
                    row.amount,
                    row.reporting_amount,
                    (row.contributor_id, row.window_id, row.grant_id),
                )
            )
            line_numbers[row.entry_id].append(row.line_no)
        for entry in self.entries:
            assert Counter(by_entry[entry.id]) == Counter(entry.postings), entry.id
            assert sorted(line_numbers[entry.id]) == list(range(1, len(entry.postings) + 1))

        # Each book balances per currency and in the reporting currency, and matches the model per account.
        for book in Book:
            rows = got["tb"][book.value]
            per_currency: Counter[str] = Counter()
            for r in rows:
                per_currency[r.currency] += r.amount
            assert all(v == 0 for v in per_currency.values()), (book, per_currency)
            assert sum(r.reporting_amount for r in rows) == 0, book
            assert {(r.account, r.currency): (r.amount, r.reporting_amount) for r in rows} == (
                self.model_trial_balance(book.value)
            )

        # A closed period's trial balance never changes.
        for period, trial_balances in got["closed"].items():
            assert trial_balances == self.snapshots[period], period

        # Every reversal nets its original to zero, line by line.
        for original_id, reversal_id in self.reversed_by.items():
            net: Counter[tuple[str, str, Dims]] = Counter()
            net_reporting: Counter[tuple[str, str, Dims]] = Counter()
            for p in by_entry[original_id] + by_entry[reversal_id]:
                net[(p.account, p.currency, p.dims)] += p.amount
                net_reporting[(p.account, p.currency, p.dims)] += p.reporting
            assert all(v == 0 for v in net.values()) and all(v == 0 for v in net_reporting.values())

        # Balances by dimension add up to the account totals, which are the trial balance's.
        def nonzero(totals: dict[Any, list[int]]) -> dict[Any, tuple[int, int]]:
            return {k: (v[0], v[1]) for k, v in totals.items() if v != [0, 0]}

        accounts = {
            (r.account, r.currency): (r.amount, r.reporting_amount) for book in Book for r in got["tb"][book.value]
        }
        for grouping in (got["by_all"], got["by_dimension"]):
            summed: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
            for r in grouping:
                summed[(r["account"], r["currency"])][0] += r["amount"]
                summed[(r["account"], r["currency"])][1] += r["reporting_amount"]
            assert nonzero(summed) == accounts
        by_all = nonzero(
            {
                (r["account"], r["currency"], (r["contributor"], r["window"], r["grant"])): [
                    r["amount"],
                    r["reporting_amount"],
                ]
                for r in got["by_all"]
            }
        )
        model = {(a, c, d): v for (_, a, c, d), v in self.model_balances().items() if v != (0, 0)}
        assert by_all == model


BACKEND_SETTINGS = {
    "sqlite": settings(
        max_examples=25,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
    "postgresql": settings(
        max_examples=10,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_the_posting_service_behaves_like_the_model(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    template = request.getfixturevalue("sqlite_template" if backend == "sqlite" else "pg_template")
    LedgerMachine.factory = DatabaseFactory(backend, template, tmp_path)
    try:
        run_state_machine_as_test(LedgerMachine, settings=BACKEND_SETTINGS[backend])
    finally:
        LedgerMachine.factory.close()


# ---------------------------------------------------------------- bugs found along the way (both backends)


def _request(database_url: str, work: Callable[[Ledger], Awaitable[T]]) -> T:
    async def runner() -> T:
        database = Database(database_url)
        try:
            async with database.session() as session:
                result = await work(Ledger(session, reporting_currency=REPORTING, actor=ACTOR, now=datetime.now(UTC)))
                await session.commit()
                return result
        finally:
            await database.dispose()

    return asyncio.run(runner())


def _usd_entry(day: date, *, key: str | None = None, minor: int = 1_000) -> EntryDraft:
    return EntryDraft(
        day,
        "Deposit",
        (
            Line(chart.CASH, Money.from_minor(minor, REPORTING)),
            Line(chart.CONTRIBUTION_REVENUE, Money.from_minor(-minor, REPORTING)),
        ),
        idempotency_key=key,
    )


def test_reversing_with_a_key_another_entry_carries_is_an_idempotency_conflict(database_url: str) -> None:
    _request(database_url, lambda ledger: ledger.post(_usd_entry(FIRST_DAY, key="deposit-1")))
    _request(database_url, lambda ledger: ledger.post(_usd_entry(FIRST_DAY, key="deposit-2")))
    with pytest.raises(IdempotencyConflict):
        _request(database_url, lambda ledger: ledger.reverse(2, entry_date=FIRST_DAY, idempotency_key="deposit-1"))


def test_post_batch_returns_one_id_per_draft_when_a_key_repeats_in_the_batch(database_url: str) -> None:
    drafts = [_usd_entry(FIRST_DAY, key="k"), _usd_entry(FIRST_DAY, minor=7), _usd_entry(FIRST_DAY, key="k")]
    assert _request(database_url, lambda ledger: ledger.post_batch(drafts)) == [1, 2, 1]


def test_an_entry_dated_in_december_9999_is_posted_or_refused(database_url: str) -> None:
    with contextlib.suppress(DomainError):
        _request(database_url, lambda ledger: ledger.post(_usd_entry(date(9999, 12, 31))))
