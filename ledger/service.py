"""The posting service: the only code that writes journal entries, periods and rates.

Other domains call ``Ledger(session, ...)`` inside their own transaction: ``post``, ``post_batch``,
``reverse``, ``close_period``, ``revalue``, ``add_rate``. Every refusal raises one of ``ledger.errors``
before anything is written.

Every command has one shape: a facts reader here (``_entry_facts``, ``_reversal_facts``,
``_revaluation_facts``, ``_close_facts``: plain values, read under the lock), a pure planner in
``ledger.rules`` (``plan_entry``, ``plan_reversal``, ``plan_revaluation``, ``plan_period_close``) that
refuses or returns what to write, and one write (``_write``: the entries and postings in one trip, or handed
to the caller's ``one_trip`` block).

Writers serialise on the journal's chain head (SQLite: the write transaction; PostgreSQL: a
transaction-scoped advisory lock taken first; ``fundapp.core.locks`` knows which), so idempotency checks and
chain links are race-free and entry ids are gap-free.

What one post needs to read is kept where it stays true:

- the chain head, per transaction (``session.info``): read once under the lock, then advanced by each
  entry written, and forgotten when the transaction (or a savepoint) ends;
- accounts, periods and rate spans, per process and database, under the reference version that the lock
  read returned with the head. Triggers give the version a new random token on every change to those
  tables (migration 0006), and every writer of them holds the chain lock first, so while this transaction
  holds the lock the copy it uses is the one the database holds. A transaction that changes them itself
  stops using the shared copy for the rest of its life.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.expression import FromClause
from sqlmodel import col

from fundapp.core.audit import Actor, seal
from fundapp.core.chain import GENESIS_HASH
from fundapp.core.db import transaction_scoped
from fundapp.core.errors import refuse_future
from fundapp.core.locks import ChainHead, head_source, is_postgresql, lock_and_read_head
from fundapp.core.unit import Service, Unit, ledger_settings
from fundapp.core.writes import insert_rows, pending_writes
from ledger import rules
from ledger.errors import AccountNotEmpty, ClosedAccount, EntryNotFound, IdempotencyConflict
from ledger.models import (
    FxRate,
    JournalEntry,
    LedgerAccount,
    Period,
    PeriodStatus,
    Posting,
    ReferenceVersion,
)
from ledger.queries import entry_views
from ledger.types import ChartAccount, EntryDraft, EntryView, PostingView

INT64_MAX = 2**63 - 1
# Hot paths read through the tables (Core), not ORM entities: one post runs a handful of these.
ACCOUNTS_TABLE: Table = LedgerAccount.metadata.tables["ledger_accounts"]
PERIODS_TABLE: Table = Period.metadata.tables["ledger_periods"]
FX_TABLE: Table = FxRate.metadata.tables["ledger_fx_rates"]
JOURNAL_TABLE: Table = JournalEntry.metadata.tables["journal_entries"]
POSTINGS_TABLE: Table = Posting.metadata.tables["postings"]
REFERENCE_TABLE: Table = ReferenceVersion.metadata.tables["ledger_reference_version"]
_FX_LATER = FxRate.metadata.tables["ledger_fx_rates"].alias("later")
# Arbitrary constant naming the journal chain's advisory lock on PostgreSQL.
JOURNAL_CHAIN_LOCK = 7_270_002

# The head and the reference version in one statement (SQLite: the write lock is already held).
_LAST_ENTRY = select(JOURNAL_TABLE.c.id, JOURNAL_TABLE.c.hash).order_by(JOURNAL_TABLE.c.id.desc()).limit(1).subquery()
_HEAD_SERIALISED = select(
    _LAST_ENTRY.c.id,
    _LAST_ENTRY.c.hash,
    select(REFERENCE_TABLE.c.token).where(REFERENCE_TABLE.c.id == 1).scalar_subquery().label("reference"),
).select_from(select(literal(1).label("one")).subquery().outerjoin(_LAST_ENTRY, literal(True)))
_HEAD_LOCKING = text("SELECT id, hash, reference FROM fundapp_ledger_head(:k)").bindparams(k=JOURNAL_CHAIN_LOCK)
# The core reads it under the writers' lock, as each database takes it (fundapp.core.locks).
JOURNAL_HEAD = ChainHead(serialised=_HEAD_SERIALISED, locking=_HEAD_LOCKING, name="ledger_head")
_ACCOUNT_FIELDS = ("id", "code", "name", "book", "type", "normal_side", "currencies", "is_monetary", "is_open")
_SELECT_ACCOUNTS = select(*(ACCOUNTS_TABLE.c[name] for name in _ACCOUNT_FIELDS))
_SELECT_PERIODS = select(PERIODS_TABLE.c.id, PERIODS_TABLE.c.status)


@functools.cache
def _balance_statement(contributor: bool, window: bool, grant: bool, as_of: bool) -> Any:
    """The sums of one account's postings in one currency for exactly one value of each dimension (IS NULL
    when not given); built once per shape. With a contributor, one range of its covering index (0006)."""
    p = POSTINGS_TABLE.c
    conditions = [p.account_id == bindparam("account_id"), p.currency == bindparam("currency")]
    for column, given in ((p.contributor_id, contributor), (p.window_id, window), (p.grant_id, grant)):
        conditions.append(column == bindparam(column.name) if given else column.is_(None))
    if as_of:
        conditions.append(p.entry_date <= bindparam("as_of"))
    return select(func.coalesce(func.sum(p.amount), 0), func.coalesce(func.sum(p.reporting_amount), 0)).where(
        *conditions
    )


_CHAIN = transaction_scoped("fundapp.ledger.chain")
RateSpan = tuple[date, date, Decimal]


@dataclass(slots=True)
class _ChainState:
    """The journal's head as the transaction holding the writer lock sees it."""

    last_id: int
    hash: str
    # The reference version read with the head; None once this transaction changed accounts, periods or rates.
    reference: str | None


@dataclass(slots=True)
class _Reference:
    """Accounts, periods and rate spans of one database at one reference version, shared by the process."""

    token: str
    accounts: dict[str, ChartAccount] | None = None
    periods: dict[str, str] | None = None  # period id -> status
    spans: dict[str, list[RateSpan]] = field(default_factory=dict)


# By database URL, oldest first; a handful of databases per process at most (tests create many: the oldest
# entries go).
_REFERENCES: OrderedDict[str, _Reference] = OrderedDict()
_REFERENCES_KEPT = 32


async def chain_head_up_to(session: AsyncSession, period_id: str) -> str:
    """The hash of the last entry dated in ``period_id`` or before: the ledger state behind that month's
    close (the genesis hash when there is none)."""
    found = (
        await session.execute(
            select(col(JournalEntry.hash))
            .where(col(JournalEntry.period_id) <= period_id)
            .order_by(col(JournalEntry.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return found or GENESIS_HASH


class Ledger(Service):
    """The ledger's public operations, bound to the caller's unit of work (and so to its transaction)."""

    def __init__(self, session: AsyncSession, *, reporting_currency: str, actor: Actor, now: datetime) -> None:
        self.bind(Unit(session, ledger_settings(reporting_currency), None, now, actor))

    def bind(self, unit: Unit) -> None:
        super().bind(unit)
        self.reporting_currency = unit.settings.reporting_currency
        self._accounts: dict[str, ChartAccount] | None = None
        self._periods: dict[str, Period] = {}
        self._rate_spans: dict[str, list[RateSpan]] = {}
        self._database: str | None = None

    # ------------------------------------------------------------ reference data

    @property
    def is_postgresql(self) -> bool:
        """Whether the session's database is PostgreSQL (for callers that still ask; ``fundapp.core.locks``
        answers it, and takes the locks and reads the heads that depend on it)."""
        return is_postgresql(self.session)

    def _shared(self) -> _Reference | None:
        """The process's copy of accounts, periods and rates, when this transaction may use it: it holds the
        chain lock (so nobody else can change them before it ends) and has not changed them itself."""
        state: _ChainState | None = self.session.info.get(_CHAIN)
        if state is None or state.reference is None:
            return None
        if self._database is None:
            self._database = str(self.session.get_bind().engine.url)
        found = _REFERENCES.get(self._database)
        if found is None or found.token != state.reference:
            found = _REFERENCES[self._database] = _Reference(state.reference)
            while len(_REFERENCES) > _REFERENCES_KEPT:
                _REFERENCES.popitem(last=False)
        return found

    def _reference_changed(self) -> None:
        """This transaction changed accounts, periods or rates: it reads them from the database from now on."""
        state: _ChainState | None = self.session.info.get(_CHAIN)
        if state is not None:
            state.reference = None

    async def accounts(self) -> dict[str, ChartAccount]:
        """The chart as plain snapshots, by code (shared: do not modify)."""
        if self._accounts is None:
            shared = self._shared()
            if shared is not None and shared.accounts is not None:
                self._accounts = shared.accounts
            else:
                rows = (await self.session.execute(_SELECT_ACCOUNTS)).all()
                self._accounts = {row.code: ChartAccount(*row) for row in rows}
                if shared is not None:
                    shared.accounts = self._accounts
        return self._accounts

    def forget_accounts(self) -> None:
        """Drop the cached chart after accounts were added or closed."""
        self._accounts = None
        self._reference_changed()

    async def account(self, code: str, *, field_name: str = "account") -> ChartAccount:
        return rules.account_of(await self.accounts(), code, field_name)

    async def rate(self, currency: str, on: date, *, field_name: str = "currency") -> Decimal:
        """The latest rate on or before ``on`` (1 for the reporting currency)."""
        return rules.require_rate(currency, on, await self._known_rate(currency, on), field_name)

    async def _known_rate(self, currency: str, on: date) -> Decimal | None:
        """The latest rate on or before ``on`` (1 for the reporting currency), None when there is none."""
        if currency == self.reporting_currency:
            return Decimal(1)
        # A rate holds from its date until the next rate's date: cache that span, so a batch spread over
        # many days asks once per currency and span instead of once per currency and day.
        shared = self._shared()
        store = shared.spans if shared is not None else self._rate_spans
        spans = store.get(currency, [])
        i = bisect.bisect_right(spans, (on, date.max, Decimal(0))) - 1
        if i >= 0 and spans[i][0] <= on < spans[i][1]:
            return spans[i][2]
        following = (
            select(func.min(_FX_LATER.c.rate_date))
            .where(_FX_LATER.c.currency == currency, _FX_LATER.c.rate_date > on)
            .scalar_subquery()
        )
        found = (
            await self.session.execute(
                select(FX_TABLE.c.rate_date, FX_TABLE.c.rate, following)
                .where(FX_TABLE.c.currency == currency, FX_TABLE.c.rate_date <= on)
                .order_by(FX_TABLE.c.rate_date.desc())
                .limit(1)
            )
        ).first()
        if found is None:
            return None
        span = (found[0], found[2] or date.max, Decimal(found[1]))
        # A new list rather than an insert: another task may be reading the shared one.
        updated = list(spans)
        bisect.insort(updated, span)
        store[currency] = updated
        return span[2]

    async def period(self, period_id: str, *, create: bool = True) -> Period | None:
        if period_id in self._periods:
            return self._periods[period_id]
        found = await self.session.get(Period, period_id)
        if found is None and create:
            closed_through = await self._closed_through()
            rules.check_month_open(rules.PeriodFacts(period_id, None, closed_through))
            found = await self._open_period(period_id)
        if found is not None:
            self._periods[period_id] = found
        return found

    async def _open_period(self, period_id: str) -> Period:
        """Write a month nobody used yet, open (a plan's ``opens_period``)."""
        starts_on, ends_on = rules.period_bounds(period_id)
        found = Period(id=period_id, starts_on=starts_on, ends_on=ends_on, status=PeriodStatus.OPEN.value)
        self.session.add(found)
        await self.session.flush()
        self._reference_changed()
        self._periods[period_id] = found
        return found

    async def _closed_through(self) -> str | None:
        """The latest closed month, if any."""
        found = (
            await self.session.execute(
                select(func.max(col(Period.id))).where(col(Period.status) == PeriodStatus.CLOSED.value)
            )
        ).scalar_one_or_none()
        return None if found is None else str(found)

    async def _period_facts(self, day: date) -> rules.PeriodFacts:
        """The month of ``day`` as a command sees it: from the shared copy when this transaction may use it,
        otherwise (this transaction changed periods, through any Ledger: the session's own rows are the truth)
        or for a month the copy does not know, from the database, with the latest closed month then."""
        period_id = rules.period_of(day)
        status = None
        shared = self._shared()
        if shared is not None:
            if shared.periods is None:
                shared.periods = {str(k): str(v) for k, v in (await self.session.execute(_SELECT_PERIODS)).all()}
            status = shared.periods.get(period_id)
        if status is None:
            period = await self.period(period_id, create=False)
            if period is None:
                return rules.PeriodFacts(period_id, None, await self._closed_through())
            status = period.status
        return rules.PeriodFacts(period_id, status)

    async def _open_period_for(self, day: date, *, field_name: str = "entry_date") -> str:
        """The open period of ``day``, the date something is posted at: today or earlier (the facility's
        clock), in a month that is not closed (opened now when nobody used it yet)."""
        facts = await self._period_facts(day)
        opens = rules.check_period_open(day, self.now.date(), facts, field_name)
        if opens is not None:
            await self._open_period(opens)
        return facts.period_id

    # ------------------------------------------------------------ the chain

    async def _lock_chain(self) -> tuple[int, str]:
        """Serialise writers on the chain head and return it (last id, last hash). The first call of a
        transaction takes the lock and reads the head with the reference version (one round trip; on
        PostgreSQL a function of migration 0006 takes the advisory lock first); later calls of the same
        transaction answer from what it has read and written since."""
        state: _ChainState | None = self.session.info.get(_CHAIN)
        if state is None:
            head = await lock_and_read_head(self.session, JOURNAL_HEAD)
            self.remember_head(head.id, head.hash, head.reference)
            state = self.session.info[_CHAIN]
        return state.last_id, state.hash

    def _advance_chain(self, last_id: int, last_hash: str) -> None:
        state: _ChainState | None = self.session.info.get(_CHAIN)
        if state is not None:
            state.last_id, state.hash = last_id, last_hash

    async def lock(self) -> None:
        """Take the journal's writer lock now, for a caller that must read and decide before posting
        (idempotency of its own records, balances it settles). Held until the transaction ends."""
        await self._lock_chain()

    def head_source(self) -> FromClause | None:
        """On SQLite, the chain's head as a one-row source (columns ``id``, ``hash``, ``reference``), for a
        caller that reads it in its own first statement of a write transaction, instead of ``lock()``: the
        transaction's BEGIN IMMEDIATE, sent with that statement, holds the writer lock already. Give what it
        returned to ``remember_head``. None on PostgreSQL: a statement reads a snapshot taken before any
        lock it takes itself, so there ``lock()`` must come first, in a statement of its own."""
        return head_source(self.session, JOURNAL_HEAD)

    def remember_head(self, last_id: int | None, last_hash: str | None, reference: str | None) -> None:
        """The head a caller read through ``head_source`` in this transaction (unless the transaction knows
        it already: then what it knows stands, with whether it changed accounts, periods or rates)."""
        if _CHAIN in self.session.info:
            return
        if last_id is None or last_hash is None:
            self.session.info[_CHAIN] = _ChainState(0, GENESIS_HASH, reference)
        else:
            self.session.info[_CHAIN] = _ChainState(int(last_id), str(last_hash), reference)

    async def balance(
        self,
        account: str,
        currency: str,
        *,
        contributor_id: int | None = None,
        window_id: int | None = None,
        grant_id: int | None = None,
        as_of: date | None = None,
    ) -> tuple[int, int]:
        """(amount, reporting amount) of one account in one currency for exactly these dimensions
        (``None`` matches postings without that dimension)."""
        found = await self.account(account)
        dimensions = {"contributor_id": contributor_id, "window_id": window_id, "grant_id": grant_id}
        shape = (*(value is not None for value in dimensions.values()), as_of is not None)
        parameters: dict[str, Any] = {"account_id": found.id, "currency": currency}
        parameters.update((name, value) for name, value in dimensions.items() if value is not None)
        if as_of is not None:
            parameters["as_of"] = as_of
        amount, reporting = (await self.session.execute(_balance_statement(*shape), parameters)).one()
        return int(amount), int(reporting)

    def balance_columns(
        self,
        account: str,
        currency: Any,
        *,
        contributor_id: Any,
        window_id: Any,
        grant_id: Any = None,
        never_null: Collection[str] = (),
    ) -> tuple[Any, Any]:
        """The same balance as ``balance`` as two SQL expressions (amount, reporting amount), for a caller
        that reads it in a statement of its own, after ``lock``. The currency and each dimension is a value
        (or a bound parameter), None (no such dimension), or a column of the caller's statement that may be
        NULL (unless named in ``never_null``). For such a column the sum is that of two subqueries, one for
        a value and one for NULL (which the database skips when it does not apply), so each is an exact
        range of an index. The account is found by its code in the statement, so a caller may build it once
        and run it on any database."""
        account_id = select(ACCOUNTS_TABLE.c.id).where(ACCOUNTS_TABLE.c.code == account).scalar_subquery()
        p = POSTINGS_TABLE.c
        given = {p.contributor_id: contributor_id, p.window_id: window_id, p.grant_id: grant_id}
        outer = [
            c
            for c, v in given.items()
            if isinstance(v, ColumnElement) and not isinstance(v, BindParameter) and c.name not in never_null
        ]
        sums: list[Any] = [literal(0), literal(0)]
        for nulls in itertools.product((False, True), repeat=len(outer)):
            conditions = [p.account_id == account_id, p.currency == currency]
            for column, value in given.items():
                if value is None:
                    conditions.append(column.is_(None))
                elif column in outer:
                    is_null = nulls[outer.index(column)]
                    conditions += [column.is_(None), value.is_(None)] if is_null else [column == value]
                else:
                    conditions.append(column == value)
            for i, amount in enumerate((p.amount, p.reporting_amount)):
                sums[i] = sums[i] + select(func.coalesce(func.sum(amount), 0)).where(*conditions).scalar_subquery()
        return sums[0], sums[1]

    # ------------------------------------------------------------ validation

    async def _entry_facts(self, draft: EntryDraft, prefix: str = "") -> rules.EntryFacts:
        """What ``rules.plan_entry`` needs of ``draft``: its month, the chart and the day's rates (from the
        caches of the module's notes)."""
        rates = {c: await self._known_rate(c, draft.entry_date) for c in rules.converted_currencies(draft)}
        return rules.EntryFacts(
            today=self.now.date(),
            reporting_currency=self.reporting_currency,
            period=await self._period_facts(draft.entry_date),
            accounts=await self.accounts(),
            rates=rates,
        )

    async def _plan(self, draft: EntryDraft, *, prefix: str = "") -> rules.EntryPlan:
        """Validate a draft and plan its posting rows (``rules.plan_entry``); raises before anything is written.
        A month nobody used yet is opened now, so the next draft of a batch finds it."""
        plan = rules.plan_entry(draft, await self._entry_facts(draft, prefix), prefix)
        if plan.opens_period is not None:
            await self._open_period(plan.opens_period)
        return plan

    async def _replay(
        self, draft: EntryDraft, payload_hash: str, *, field_name: str = "idempotency_key"
    ) -> EntryView | None:
        """The first entry posted with this key, or a refusal if the key came with another payload."""
        if draft.idempotency_key is None:
            return None
        existing = (
            await self.session.execute(
                select(JOURNAL_TABLE.c.id, JOURNAL_TABLE.c.payload_hash).where(
                    JOURNAL_TABLE.c.idempotency_key == draft.idempotency_key
                )
            )
        ).first()
        if existing is None:
            return None
        if existing.payload_hash != payload_hash:
            raise IdempotencyConflict(
                f"the idempotency key {draft.idempotency_key!r} was used for entry {existing.id} "
                "with a different payload",
                field=field_name,
                rule="idempotency-same-payload",
            )
        view = await self.entry(existing.id)
        return _replayed(view)

    # ------------------------------------------------------------ writing

    def _journal_row(self, entry_id: int, prev_hash: str, plan: rules.EntryPlan, payload_hash: str) -> dict[str, Any]:
        row = rules.journal_row(
            plan, entry_id, prev_hash, payload_hash, posted_by=self.actor.user_id, label=self.actor.label, now=self.now
        )
        row["seal"] = seal(row["hash"])
        return row

    async def _write(self, entries: list[dict[str, Any]], postings: list[dict[str, Any]]) -> None:
        # Entries and postings in one trip (PostgreSQL: one statement, whose end checks the postings' guard
        # of migration 0006), or handed to the caller's one-trip block to go with its own rows.
        pending = pending_writes(self.session)
        if pending is None:
            await insert_rows(self.session, [(JOURNAL_TABLE, entries), (POSTINGS_TABLE, postings)])
        else:
            pending.add(JOURNAL_TABLE, entries, on_discard=functools.partial(self.session.info.pop, _CHAIN, None))
            pending.add(POSTINGS_TABLE, postings)
        self._advance_chain(entries[-1]["id"], entries[-1]["hash"])

    async def post(self, draft: EntryDraft) -> EntryView:
        """Post one balanced entry; the same idempotency key with the same payload returns the first entry."""
        payload_hash = rules.draft_payload_hash(draft)
        last_id, prev_hash = await self._lock_chain()
        replay = await self._replay(draft, payload_hash)
        if replay is not None:
            return replay
        plan = await self._plan(draft)
        return await self._insert_one(plan, payload_hash, last_id + 1, prev_hash)

    async def _insert_one(self, plan: rules.EntryPlan, payload_hash: str, entry_id: int, prev_hash: str) -> EntryView:
        values = self._journal_row(entry_id, prev_hash, plan, payload_hash)
        await self._write([values], rules.journal_postings(entry_id, plan))
        # Everything the view shows was just written: answer from it rather than read it back.
        return EntryView(
            id=entry_id,
            entry_date=plan.draft.entry_date,
            period_id=values["period_id"],
            description=values["description"],
            source_type=values["source_type"],
            source_id=values["source_id"],
            idempotency_key=values["idempotency_key"],
            reverses_id=plan.reverses_id,
            reversed_by_id=None,
            posted_by=values["posted_by"],
            posted_by_label=values["posted_by_label"],
            posted_at=self.now,
            prev_hash=prev_hash,
            hash=values["hash"],
            postings=tuple(
                PostingView(
                    r["line_no"],
                    r["account"],
                    r["currency"],
                    r["amount"],
                    r["reporting_amount"],
                    r["contributor_id"],
                    r["window_id"],
                    r["grant_id"],
                )
                for r in plan.rows
            ),
        )

    async def _known_keys(self, drafts: Sequence[EntryDraft]) -> dict[str, tuple[str, int]]:
        """(payload hash, entry id) of every idempotency key the drafts carry that was posted before."""
        keys = [d.idempotency_key for d in drafts if d.idempotency_key is not None]
        known: dict[str, tuple[str, int]] = {}
        for chunk in range(0, len(keys), 500):
            rows = await self.session.execute(
                select(col(JournalEntry.idempotency_key), col(JournalEntry.payload_hash), col(JournalEntry.id)).where(
                    col(JournalEntry.idempotency_key).in_(keys[chunk : chunk + 500])
                )
            )
            known.update({str(k): (str(h), int(i)) for k, h, i in rows.all()})
        return known

    async def post_batch(self, drafts: Sequence[EntryDraft]) -> list[int]:
        """Post many entries in one transaction (imports, benchmarks): all or nothing, same rules."""
        last_id, prev_hash = await self._lock_chain()
        entries: list[dict[str, Any]] = []
        postings: list[dict[str, Any]] = []
        ids: list[int] = []
        seen_keys: dict[str, tuple[str, int]] = {}
        # One lookup for every key the batch carries, instead of one per draft.
        known = await self._known_keys(drafts)
        for n, draft in enumerate(drafts):
            payload_hash = rules.draft_payload_hash(draft)
            key = draft.idempotency_key
            if key is not None:
                first_id = rules.batch_replay(key, payload_hash, seen_keys, known, f"entries.{n}.idempotency_key")
                if first_id is not None:
                    ids.append(first_id)  # one id per draft, a repeat naming the first
                    continue
                seen_keys[key] = (payload_hash, last_id + 1)
            plan = await self._plan(draft, prefix=f"entries.{n}.")
            last_id += 1
            values = self._journal_row(last_id, prev_hash, plan, payload_hash)
            prev_hash = values["hash"]
            entries.append(values)
            postings.extend(rules.journal_postings(last_id, plan))
            ids.append(last_id)
        if entries:
            await self._write(entries, postings)
        return ids

    async def _reversal_facts(
        self, entry_id: int, entry_date: date, idempotency_key: str | None = None
    ) -> tuple[rules.ReversalFacts, JournalEntry | None]:
        """What reversing ``entry_id`` needs (``rules.plan_reversal``), and the entry's row."""
        row = await self.session.get(JournalEntry, entry_id) if 0 < entry_id <= INT64_MAX else None
        period = rules.PeriodFacts(rules.period_of(entry_date), None)
        if row is None:  # refused first: nothing else is read
            return rules.ReversalFacts(entry_id, None, None, None, period, self.now.date(), {}), None
        keyed = None
        if idempotency_key is not None:
            found = (
                await self.session.execute(
                    select(col(JournalEntry.id), col(JournalEntry.reverses_id)).where(
                        col(JournalEntry.idempotency_key) == idempotency_key
                    )
                )
            ).first()
            keyed = None if found is None else (int(found[0]), found[1])
        view = (await entry_views(self.session, [row]))[0]
        original = rules.OriginalEntry(view.id, view.description, view.source_type, view.reverses_id, view.postings)
        facts = rules.ReversalFacts(
            entry_id=entry_id,
            original=original,
            reversed_by=view.reversed_by_id,
            keyed=keyed,
            period=await self._period_facts(entry_date),
            today=self.now.date(),
            accounts=await self.accounts(),
        )
        return facts, row

    async def check(self, draft: EntryDraft) -> int:
        """Everything ``post`` would refuse in ``draft``, refused now, and nothing written: for an entry that
        a second person will approve. Returns its size, the debits in the reporting currency (the financial
        book's, or the budgetary book's when it has no financial line)."""
        await self._lock_chain()
        plan = await self._plan(draft)
        books = {a.code: a.book for a in (await self.accounts()).values()}
        return rules.entry_size(plan.rows, books)

    async def check_reversal(self, entry_id: int, entry_date: date) -> JournalEntry:
        """Everything ``reverse`` would refuse, refused now, nothing written; returns the entry to reverse."""
        await self._lock_chain()
        facts, row = await self._reversal_facts(entry_id, entry_date)
        _, opens = rules.check_reversible(facts, entry_date)
        if opens is not None:
            await self._open_period(opens)
        assert row is not None
        return row

    async def reverse(
        self, entry_id: int, *, entry_date: date, description: str | None = None, idempotency_key: str | None = None
    ) -> EntryView:
        """Post the entry that nets ``entry_id`` to zero (once), dated in an open period."""
        last_id, prev_hash = await self._lock_chain()
        facts, _ = await self._reversal_facts(entry_id, entry_date, idempotency_key)
        plan = rules.plan_reversal(facts, entry_date, description, idempotency_key)
        if isinstance(plan, rules.Replay):
            return _replayed(await self.entry(plan.entry_id))
        if plan.opens_period is not None:
            await self._open_period(plan.opens_period)
        payload_hash = rules.reversal_payload_hash(entry_id, entry_date)
        return await self._insert_one(plan, payload_hash, last_id + 1, prev_hash)

    # ------------------------------------------------------------ periods, rates, revaluation, accounts

    async def _close_facts(self, period_id: str) -> rules.CloseFacts:
        """What closing ``period_id`` needs (``rules.plan_period_close``), read under the chain lock."""
        _, head_hash = await self._lock_chain()
        existing = await self.session.get(Period, period_id)
        earlier_open = (
            await self.session.execute(
                select(col(Period.id))
                .where(col(Period.id) < period_id, col(Period.status) == PeriodStatus.OPEN.value)
                .order_by(col(Period.id))
                .limit(1)
            )
        ).scalar_one_or_none()
        first = (await self.session.execute(select(func.min(col(Period.id))))).scalar_one_or_none()
        months = (await self.session.execute(select(col(Period.id)).where(col(Period.id) < period_id))).scalars()
        later_postings = (
            await self.session.execute(
                select(func.count()).select_from(JournalEntry).where(col(JournalEntry.period_id) > period_id)
            )
        ).scalar_one()
        return rules.CloseFacts(
            period_id=period_id,
            today=self.now.date(),
            status=None if existing is None else existing.status,
            closed_through=await self._closed_through(),
            earlier_open=None if earlier_open is None else str(earlier_open),
            first=None if first is None else str(first),
            existing=frozenset(str(m) for m in months),
            head=head_hash,
            head_at_end=await chain_head_up_to(self.session, period_id) if later_postings else None,
        )

    async def close_period(self, period_id: str) -> Period:
        """Close a month (and so freeze its reports) once it has ended. Months close in order."""
        rules.check_period_ended(period_id, self.now.date())  # before the lock: nothing to read
        plan = rules.plan_period_close(await self._close_facts(period_id), now=self.now, closed_by=self.actor.user_id)
        for month in plan.unused_months:
            starts_on, ends_on = rules.period_bounds(month)
            self.session.add(Period(id=month, starts_on=starts_on, ends_on=ends_on, **plan.unused_closed))
        period = await self.session.get(Period, period_id)
        if period is None:
            starts_on, ends_on = rules.period_bounds(period_id)
            period = Period(id=period_id, starts_on=starts_on, ends_on=ends_on, status=PeriodStatus.OPEN.value)
        for name, value in plan.closed.items():
            setattr(period, name, value)
        self.session.add(period)
        await self.session.flush()
        self._reference_changed()
        return period

    async def add_rate(self, currency: str, rate_date: date, rate: Decimal, *, source: str = "") -> FxRate:
        refuse_future(rate_date, self.now.date(), field="rate_date", what="the rate")
        # Every writer of accounts, periods and rates holds the chain lock first (see the module's notes).
        await self._lock_chain()
        row = FxRate(currency=currency, rate_date=rate_date, rate=str(rate), source=source, created_at=self.now)
        self.session.add(row)
        await self.session.flush()
        self._rate_spans.clear()
        self._reference_changed()
        return row

    async def _revaluation_facts(self, as_of: date) -> rules.RevaluationFacts:
        """What revaluing at ``as_of`` needs (``rules.plan_revaluation``), read under the chain lock: balances
        read before it could miss a concurrent entry or a period's close."""
        await self._lock_chain()
        period = await self._period_facts(as_of)
        accounts = await self.accounts()
        monetary_ids = [a.id for a in accounts.values() if a.is_monetary and a.book == "financial"]
        key_columns = (
            col(Posting.account_id),
            col(Posting.currency),
            col(Posting.contributor_id),
            col(Posting.window_id),
            col(Posting.grant_id),
        )
        rows = (
            await self.session.execute(
                select(*key_columns, func.sum(col(Posting.amount)), func.sum(col(Posting.reporting_amount)))
                .where(
                    col(Posting.account_id).in_(monetary_ids),
                    col(Posting.entry_date) <= as_of,
                    col(Posting.currency) != self.reporting_currency,
                )
                .group_by(*key_columns)
            )
        ).all()
        balances = {rules.RevaluationKey(int(r[0]), str(r[1]), r[2], r[3], r[4]): (int(r[5]), int(r[6])) for r in rows}
        rates = {c: await self._known_rate(c, as_of) for c in sorted({k.currency for k in balances})}
        by_id = {a.id: a for a in accounts.values()}
        return rules.RevaluationFacts(self.now.date(), self.reporting_currency, period, by_id, balances, rates)

    async def revalue(self, as_of: date, *, idempotency_key: str | None = None) -> EntryView | None:
        """Bring every foreign-currency monetary balance to the rate of ``as_of``; post the unrealised
        gain or loss (one entry, reporting-only lines), or nothing when no balance moved."""
        plan = rules.plan_revaluation(await self._revaluation_facts(as_of), as_of, idempotency_key)
        if plan.opens_period is not None:
            await self._open_period(plan.opens_period)
        return None if plan.draft is None else await self.post(plan.draft)

    async def close_account(self, code: str) -> LedgerAccount:
        # The lock first: no entry can be posted to the account between its balance check and its closing.
        await self._lock_chain()
        snapshot = await self.account(code)
        account = await self.session.get(LedgerAccount, snapshot.id)
        assert account is not None
        if not account.is_open:
            raise ClosedAccount(f"account {code} is already closed", field="code", rule="account-open")
        nonzero = (
            await self.session.execute(
                select(col(Posting.currency))
                .where(col(Posting.account_id) == account.id)
                .group_by(col(Posting.currency))
                .having((func.sum(col(Posting.amount)) != 0) | (func.sum(col(Posting.reporting_amount)) != 0))
                .limit(1)
            )
        ).scalar_one_or_none()
        if nonzero is not None:
            raise AccountNotEmpty(
                f"account {code} still has a {nonzero} balance", field="code", rule="zero-balance-to-close"
            )
        account.is_open = False
        self.session.add(account)
        await self.session.flush()
        self.forget_accounts()
        return account

    # ------------------------------------------------------------ reading one entry

    async def entry(self, entry_id: int) -> EntryView:
        row = await self.session.get(JournalEntry, entry_id) if 0 < entry_id <= INT64_MAX else None
        if row is None:
            raise EntryNotFound(f"no journal entry {entry_id}")
        return (await entry_views(self.session, [row]))[0]


def _replayed(view: EntryView) -> EntryView:
    return dataclasses.replace(view, replayed=True)
