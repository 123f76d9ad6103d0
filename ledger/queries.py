"""Read-only ledger queries: trial balance, balances by dimension, account statements, entry search,
chain verification. Postings carry their entry date, so balances as of a date never join the entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, Subquery, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.audit import ChainBreak, SealCheck
from fundapp.core.chain import GENESIS_HASH
from ledger import rules
from ledger.models import POOLED_KEY, Book, JournalEntry, LedgerAccount, Posting, PostingMonthTotal, PostingTotal
from ledger.types import EntryView, PostingView

DIMENSIONS = {
    "account": col(Posting.account_id),
    "currency": col(Posting.currency),
    "contributor": col(Posting.contributor_id),
    "window": col(Posting.window_id),
    "grant": col(Posting.grant_id),
}


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account: str
    name: str
    type: str
    normal_side: str
    currency: str
    amount: int
    reporting_amount: int


async def _accounts_by_id(session: AsyncSession) -> dict[int, LedgerAccount]:
    return {a.id: a for a in (await session.execute(select(LedgerAccount))).scalars() if a.id is not None}


def totals_between(
    date_from: date | None, date_to: date | None, where: Callable[[Any], Sequence[Any]] = lambda table: ()
) -> Subquery | None:
    """The posting totals of the days ``date_from`` (None: since inception) to ``date_to`` (None: to the end) as
    one set of rows (account_id, currency, window_key, source_type, amount, reporting_amount, postings): whole
    months from the month totals, the other days from the day totals (``rules.totals_spans``). ``where`` gives
    the conditions of each part, on its table (both have the columns above). None: no day in the range."""
    spans = rules.totals_spans(date_from, date_to or date.max)
    if spans is None:
        return None

    def part(table: Any, *conditions: Any) -> Select[Any]:
        columns = ("account_id", "currency", "window_key", "source_type", "amount", "reporting_amount", "postings")
        return select(*(getattr(table, name) for name in columns)).where(*where(table), *conditions)

    parts = []
    if spans.months_to is not None:
        month = col(PostingMonthTotal.month)
        since = () if spans.months_from is None else (month >= spans.months_from,)
        parts.append(part(PostingMonthTotal, month <= spans.months_to, *since))
    for first, last in spans.days:
        parts.append(part(PostingTotal, col(PostingTotal.entry_date).between(first, last)))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("totals")


async def trial_balance(session: AsyncSession, *, book: Book, as_of: date | None = None) -> list[TrialBalanceRow]:
    """Every account of ``book`` with a non-zero balance, per currency, as of a date (inclusive), summed from
    the posting totals."""
    accounts = await _accounts_by_id(session)
    ids = [a_id for a_id, a in accounts.items() if a.book == book.value]
    totals = totals_between(None, as_of, lambda table: [table.account_id.in_(ids)])
    assert totals is not None  # since inception: never empty
    query = select(
        totals.c.account_id, totals.c.currency, func.sum(totals.c.amount), func.sum(totals.c.reporting_amount)
    ).group_by(totals.c.account_id, totals.c.currency)
    rows = []
    for account_id, currency, amount, reporting in (await session.execute(query)).all():
        if not amount and not reporting:
            continue
        a = accounts[account_id]
        rows.append(TrialBalanceRow(a.code, a.name, a.type, a.normal_side, currency, int(amount), int(reporting)))
    rows.sort(key=lambda r: (r.account, r.currency))
    return rows


# The dimensions the posting totals keep: a balance grouped and filtered by these alone reads them.
TOTALS_DIMENSIONS = ("account", "currency", "window")


async def balances(
    session: AsyncSession,
    *,
    group_by: Sequence[str],
    as_of: date | None = None,
    date_from: date | None = None,
    accounts: Sequence[str] = (),
    currency: str | None = None,
    contributor_id: int | None = None,
    window_id: int | None = None,
    grant_id: int | None = None,
) -> list[dict[str, Any]]:
    """Sums of amount and reporting amount grouped by any of account, currency, contributor, window, grant.
    Without a contributor or a grant (grouped or filtered) the sums are read from the posting totals."""
    by_id = await _accounts_by_id(session)
    wanted = {a_id for a_id, a in by_id.items() if a.code in set(accounts)}
    if contributor_id is None and grant_id is None and set(group_by) <= set(TOTALS_DIMENSIONS):
        ids = wanted if accounts else None
        summed = await _balances_from_totals(session, group_by, as_of, date_from, ids, currency, window_id)
        return _balance_items(by_id, group_by, summed, totals=True)
    columns = [DIMENSIONS[g] for g in group_by]
    query = select(*columns, func.sum(col(Posting.amount)), func.sum(col(Posting.reporting_amount)), func.count())
    if columns:
        query = query.group_by(*columns)
    if as_of is not None:
        query = query.where(col(Posting.entry_date) <= as_of)
    if date_from is not None:
        query = query.where(col(Posting.entry_date) >= date_from)
    if accounts:
        query = query.where(col(Posting.account_id).in_(wanted))
    for column, value in (
        (Posting.currency, currency),
        (Posting.contributor_id, contributor_id),
        (Posting.window_id, window_id),
        (Posting.grant_id, grant_id),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    return _balance_items(by_id, group_by, list((await session.execute(query)).all()), totals=False)


async def _balances_from_totals(
    session: AsyncSession,
    group_by: Sequence[str],
    as_of: date | None,
    date_from: date | None,
    account_ids: set[int] | None,
    currency: str | None,
    window_id: int | None,
) -> list[Any]:
    def where(table: Any) -> list[Any]:
        conditions = [] if account_ids is None else [table.account_id.in_(account_ids)]
        if currency is not None:
            conditions.append(table.currency == currency)
        if window_id is not None:
            conditions.append(table.window_key == window_id)
        return conditions

    totals = totals_between(date_from, as_of, where)
    if totals is None:
        return [] if group_by else [(None, None, 0)]
    columns = [
        {"account": totals.c.account_id, "currency": totals.c.currency, "window": totals.c.window_key}[g]
        for g in group_by
    ]
    query = select(
        *columns, func.sum(totals.c.amount), func.sum(totals.c.reporting_amount), func.sum(totals.c.postings)
    )
    if columns:
        query = query.group_by(*columns)
    return list((await session.execute(query)).all())


def _balance_items(
    by_id: dict[int, LedgerAccount], group_by: Sequence[str], rows: list[Any], *, totals: bool
) -> list[dict[str, Any]]:
    results = []
    for row in rows:
        values: tuple[Any, ...] = tuple(row)
        item: dict[str, Any] = {}
        for name, key in zip(group_by, values[: len(group_by)], strict=True):
            if name == "account":
                key = by_id[key].code
            elif name == "window" and totals and key == POOLED_KEY:
                key = None
            item[name] = key
        item["amount"] = int(values[-3] or 0)
        item["reporting_amount"] = int(values[-2] or 0)
        item["postings"] = int(values[-1] or 0)
        results.append(item)
    results.sort(key=lambda r: tuple(str(r[g]) for g in group_by))
    return results


@dataclass(frozen=True, slots=True)
class StatementLine:
    entry_id: int
    entry_date: date
    description: str
    line_no: int
    amount: int
    reporting_amount: int
    balance: int
    reporting_balance: int


async def account_statement(
    session: AsyncSession,
    *,
    account_id: int,
    currency: str,
    limit: int,
    offset: int,
    date_from: date | None = None,
    date_to: date | None = None,
) -> tuple[int, int, int, list[StatementLine]]:
    """Lines of one account in one currency with a running balance; returns (opening, opening reporting,
    total lines, page). The running balance includes everything before ``date_from``."""
    base = [col(Posting.account_id) == account_id, col(Posting.currency) == currency]
    opening, opening_reporting = 0, 0
    if date_from is not None:
        o = (
            await session.execute(
                select(func.sum(col(Posting.amount)), func.sum(col(Posting.reporting_amount))).where(
                    *base, col(Posting.entry_date) < date_from
                )
            )
        ).one()
        opening, opening_reporting = int(o[0] or 0), int(o[1] or 0)
        base.append(col(Posting.entry_date) >= date_from)
    if date_to is not None:
        base.append(col(Posting.entry_date) <= date_to)
    order = (col(Posting.entry_date), col(Posting.entry_id), col(Posting.line_no))
    running = (
        select(
            col(Posting.entry_id),
            col(Posting.entry_date),
            col(Posting.line_no),
            col(Posting.amount),
            col(Posting.reporting_amount),
            func.sum(col(Posting.amount)).over(order_by=order).label("balance"),
            func.sum(col(Posting.reporting_amount)).over(order_by=order).label("reporting_balance"),
        )
        .where(*base)
        .subquery()
    )
    total = (await session.execute(select(func.count()).select_from(Posting).where(*base))).scalar_one()
    page = (
        await session.execute(
            select(running, col(JournalEntry.description))
            .join(JournalEntry, col(JournalEntry.id) == running.c.entry_id)
            .order_by(running.c.entry_date, running.c.entry_id, running.c.line_no)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    lines = [
        StatementLine(
            r.entry_id,
            r.entry_date,
            r.description,
            r.line_no,
            r.amount,
            r.reporting_amount,
            opening + int(r.balance),
            opening_reporting + int(r.reporting_balance),
        )
        for r in page
    ]
    return opening, opening_reporting, total, lines


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Entries with a line matching every posting filter (any of ``accounts``; ``pooled``: no window)."""

    accounts: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    period_id: str | None = None
    source_type: str | None = None
    source_id: str | None = None
    contributor_id: int | None = None
    window_id: int | None = None
    grant_id: int | None = None
    currency: str | None = None
    pooled: bool = False


async def find_entries(
    session: AsyncSession, flt: EntryFilter, *, limit: int, offset: int
) -> tuple[int, list[EntryView]]:
    conditions: list[Any] = []
    if flt.date_from is not None:
        conditions.append(col(JournalEntry.entry_date) >= flt.date_from)
    if flt.date_to is not None:
        conditions.append(col(JournalEntry.entry_date) <= flt.date_to)
    if flt.period_id is not None:
        conditions.append(col(JournalEntry.period_id) == flt.period_id)
    if flt.source_type is not None:
        conditions.append(col(JournalEntry.source_type) == flt.source_type)
    if flt.source_id is not None:
        conditions.append(col(JournalEntry.source_id) == flt.source_id)
    posting_conditions: list[Any] = []
    if flt.accounts:
        account_ids = (
            await session.execute(select(col(LedgerAccount.id)).where(col(LedgerAccount.code).in_(flt.accounts)))
        ).scalars()
        posting_conditions.append(col(Posting.account_id).in_([*account_ids, -1]))
    for column, value in (
        (Posting.contributor_id, flt.contributor_id),
        (Posting.window_id, flt.window_id),
        (Posting.grant_id, flt.grant_id),
        (Posting.currency, flt.currency),
    ):
        if value is not None:
            posting_conditions.append(col(column) == value)
    if flt.pooled:
        posting_conditions.append(col(Posting.window_id).is_(None))
    if posting_conditions:
        conditions.append(col(JournalEntry.id).in_(select(col(Posting.entry_id)).where(*posting_conditions)))
    total = (await session.execute(select(func.count()).select_from(JournalEntry).where(*conditions))).scalar_one()
    rows = (
        (
            await session.execute(
                select(JournalEntry)
                .where(*conditions)
                .order_by(col(JournalEntry.id).desc())
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    return total, await entry_views(session, rows)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head: str
    broken_entry: int | None = None
    reason: str | None = None
    # Every break, in order (the first is ``broken_entry``/``reason``).
    breaks: tuple[ChainBreak, ...] = ()
    # Where the posting totals disagree with the postings they sum.
    totals: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.entries} journal entries verified; chain head {self.head}"
        lines = []
        if self.breaks:
            lines.append(f"BROKEN at journal entry {self.broken_entry}: {self.reason}")
            lines += [f"  also at journal entry {b.at}: {b.reason}" for b in self.breaks[1:]]
            lines.append(f"{len(self.breaks)} breaks in {self.entries} journal entries")
        lines += [f"TOTALS WRONG: {problem}" for problem in self.totals]
        return "\n".join(lines)


async def verify_chain(session: AsyncSession, *, batch: int = 2000) -> ChainReport:
    """Recompute every entry's hash from its stored rows and report every entry whose place, link, content or
    seal is wrong, and a journal whose newest entries are gone (the chain's anchor names a later head)."""
    codes = {a_id: a.code for a_id, a in (await _accounts_by_id(session)).items()}
    prev_hash, expected, count, last = GENESIS_HASH, 1, 0, 0
    breaks: list[ChainBreak] = []
    seals = await SealCheck.load(session, "journal", breaks)
    while True:
        entries = (
            (
                await session.execute(
                    select(JournalEntry).where(col(JournalEntry.id) > last).order_by(col(JournalEntry.id)).limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not entries:
            break
        postings: dict[int, list[dict[str, Any]]] = {e.id: [] for e in entries}
        for p in (
            await session.execute(
                select(Posting)
                .where(col(Posting.entry_id).between(entries[0].id, entries[-1].id))
                .order_by(col(Posting.entry_id), col(Posting.line_no))
            )
        ).scalars():
            postings.setdefault(p.entry_id, []).append(
                rules.hashable_posting(
                    {
                        "line_no": p.line_no,
                        "account": codes.get(p.account_id, f"#{p.account_id}"),
                        "currency": p.currency,
                        "amount": p.amount,
                        "reporting_amount": p.reporting_amount,
                        "contributor_id": p.contributor_id,
                        "window_id": p.window_id,
                        "grant_id": p.grant_id,
                    }
                )
            )
        for e in entries:
            if e.id != expected:
                missing = (
                    f"entry {expected} is missing"
                    if e.id == expected + 1
                    else f"entries {expected} to {e.id - 1} are missing"
                )
                breaks.append(ChainBreak(expected, missing))
            if e.prev_hash != prev_hash:
                breaks.append(ChainBreak(e.id, "its link to the previous entry is broken"))
            header = {
                "id": e.id,
                "entry_date": e.entry_date.isoformat(),
                "period_id": e.period_id,
                "description": e.description,
                "source_type": e.source_type,
                "source_id": e.source_id,
                "idempotency_key": e.idempotency_key,
                "payload_hash": e.payload_hash,
                "reverses_id": e.reverses_id,
                "posted_by": e.posted_by,
                "posted_by_label": e.posted_by_label,
                "posted_at": rules.chain_timestamp(e.posted_at),
            }
            if rules.entry_hash(header, postings.get(e.id, []), e.prev_hash) != e.hash:
                breaks.append(ChainBreak(e.id, "its content or postings do not match its hash"))
            seals.row(e.id, e.hash, e.seal)
            prev_hash, expected, count, last = e.hash, e.id + 1, count + 1, e.id
    seals.finish(last, prev_hash)
    breaks.sort(key=lambda b: b.at)
    totals = tuple(await _totals_problems(session, codes))
    if not breaks:
        return ChainReport(not totals, count, prev_hash, totals=totals)
    return ChainReport(False, count, prev_hash, breaks[0].at, breaks[0].reason, tuple(breaks), totals)


_TotalsKey = tuple[int, date, str, int, str]  # account id, day (or month), currency, window key, source type


async def _totals_problems(session: AsyncSession, codes: dict[int, str]) -> list[str]:
    """Where the posting totals (per day, then per month) disagree with the postings they sum, one line per
    account, day or month, currency, window and source type."""
    window = func.coalesce(col(Posting.window_id), POOLED_KEY)
    source = col(JournalEntry.source_type)
    key = (col(Posting.account_id), col(Posting.entry_date), col(Posting.currency), window, source)
    summed = (
        select(*key, func.sum(col(Posting.amount)), func.sum(col(Posting.reporting_amount)), func.count())
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .group_by(*key)
    )
    days: dict[_TotalsKey, tuple[int, int, int]] = {
        (a, d, c, w, s): (int(amount), int(reporting), int(n))
        for a, d, c, w, s, amount, reporting, n in (await session.execute(summed)).all()
    }
    months: dict[_TotalsKey, tuple[int, int, int]] = {}
    for (a, d, c, w, s), (amount, reporting, n) in days.items():
        month = (a, d.replace(day=1), c, w, s)
        before = months.get(month, (0, 0, 0))
        months[month] = (before[0] + amount, before[1] + reporting, before[2] + n)
    problems = []
    tables: tuple[tuple[Any, str, dict[_TotalsKey, tuple[int, int, int]], str], ...] = (
        (PostingTotal, "entry_date", days, "on"),
        (PostingMonthTotal, "month", months, "in the month of"),
    )
    for table, day_column, actual, when in tables:
        names = ("account_id", day_column, "currency", "window_key", "source_type", "amount", "reporting_amount")
        rows = await session.execute(select(*(getattr(table, name) for name in names), table.postings))
        kept = {(r[0], r[1], r[2], r[3], r[4]): (int(r[5]), int(r[6]), int(r[7])) for r in rows.all()}
        for k in sorted(k for k in actual.keys() | kept.keys() if actual.get(k) != kept.get(k)):
            account_id, day, currency, window_key, source_type = k
            problems.append(
                f"account {codes.get(account_id, f'#{account_id}')} {when} {day.isoformat()} ({currency}, "
                f"{'pooled' if window_key == POOLED_KEY else f'window {window_key}'}, {source_type}): "
                f"the totals say {_sums(kept.get(k))}, the postings {_sums(actual.get(k))}"
            )
    return problems


def _sums(values: tuple[int, int, int] | None) -> str:
    amount, reporting, postings = values or (0, 0, 0)
    return f"{amount} ({reporting} reporting) in {postings} postings"


async def chain_head(session: AsyncSession) -> str:
    found = (
        await session.execute(select(col(JournalEntry.hash)).order_by(col(JournalEntry.id).desc()).limit(1))
    ).scalar_one_or_none()
    return found or GENESIS_HASH


@dataclass(frozen=True, slots=True)
class PostingLine:
    entry_id: int
    entry_date: date
    description: str
    source_type: str
    account: str
    currency: str
    amount: int
    reporting_amount: int


async def postings_for(
    session: AsyncSession,
    *,
    accounts: Sequence[str],
    contributor_id: int | None = None,
    window_id: int | None = None,
    grant_id: int | None = None,
    as_of: date | None = None,
) -> list[PostingLine]:
    """The postings of some accounts for one dimension value, oldest first (statements, drill-down)."""
    by_code = {a.code: a_id for a_id, a in (await _accounts_by_id(session)).items()}
    codes = {a_id: code for code, a_id in by_code.items()}
    conditions: list[Any] = [col(Posting.account_id).in_([by_code[c] for c in accounts if c in by_code])]
    for column, value in (
        (Posting.contributor_id, contributor_id),
        (Posting.window_id, window_id),
        (Posting.grant_id, grant_id),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if as_of is not None:
        conditions.append(col(Posting.entry_date) <= as_of)
    rows = await session.execute(
        select(Posting, col(JournalEntry.description), col(JournalEntry.source_type))
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(*conditions)
        .order_by(col(Posting.entry_date), col(Posting.entry_id), col(Posting.line_no))
    )
    return [
        PostingLine(
            p.entry_id,
            p.entry_date,
            description,
            source_type,
            codes[p.account_id],
            p.currency,
            p.amount,
            p.reporting_amount,
        )
        for p, description, source_type in rows.all()
    ]


async def entry_views(session: AsyncSession, entries: Iterable[JournalEntry]) -> list[EntryView]:
    """Entries with their postings and both reversal links, in the order given."""
    entries = list(entries)
    if not entries:
        return []
    ids = [e.id for e in entries]
    codes = dict((await session.execute(select(col(LedgerAccount.id), col(LedgerAccount.code)))).all())
    postings: dict[int, list[PostingView]] = defaultdict(list)
    for p in (
        await session.execute(
            select(Posting).where(col(Posting.entry_id).in_(ids)).order_by(col(Posting.entry_id), col(Posting.line_no))
        )
    ).scalars():
        postings[p.entry_id].append(
            PostingView(
                p.line_no,
                codes[p.account_id],
                p.currency,
                p.amount,
                p.reporting_amount,
                p.contributor_id,
                p.window_id,
                p.grant_id,
            )
        )
    reversed_by = dict(
        (
            await session.execute(
                select(col(JournalEntry.reverses_id), col(JournalEntry.id)).where(
                    col(JournalEntry.reverses_id).in_(ids)
                )
            )
        ).all()
    )
    return [
        EntryView(
            id=e.id,
            entry_date=e.entry_date,
            period_id=e.period_id,
            description=e.description,
            source_type=e.source_type,
            source_id=e.source_id,
            idempotency_key=e.idempotency_key,
            reverses_id=e.reverses_id,
            reversed_by_id=reversed_by.get(e.id),
            posted_by=e.posted_by,
            posted_by_label=e.posted_by_label,
            posted_at=e.posted_at,
            prev_hash=e.prev_hash,
            hash=e.hash,
            postings=tuple(postings[e.id]),
        )
        for e in entries
    ]
