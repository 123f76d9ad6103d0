"""Read-only ledger queries: trial balance, balances by dimension, account statements, entry search,
chain verification. Postings carry their entry date, so balances as of a date never join the entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.audit import ChainBreak, SealCheck
from ledger import rules
from ledger.models import Book, JournalEntry, LedgerAccount, Posting
from ledger.service import EntryView, chain_timestamp, entry_views, hashable_posting

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


async def trial_balance(session: AsyncSession, *, book: Book, as_of: date | None = None) -> list[TrialBalanceRow]:
    """Every account of ``book`` with a non-zero balance, per currency, as of a date (inclusive)."""
    accounts = await _accounts_by_id(session)
    ids = [a_id for a_id, a in accounts.items() if a.book == book.value]
    query = (
        select(
            col(Posting.account_id),
            col(Posting.currency),
            func.sum(col(Posting.amount)),
            func.sum(col(Posting.reporting_amount)),
        )
        .where(col(Posting.account_id).in_(ids))
        .group_by(col(Posting.account_id), col(Posting.currency))
    )
    if as_of is not None:
        query = query.where(col(Posting.entry_date) <= as_of)
    rows = []
    for account_id, currency, amount, reporting in (await session.execute(query)).all():
        if not amount and not reporting:
            continue
        a = accounts[account_id]
        rows.append(TrialBalanceRow(a.code, a.name, a.type, a.normal_side, currency, int(amount), int(reporting)))
    rows.sort(key=lambda r: (r.account, r.currency))
    return rows


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
    """Sums of amount and reporting amount grouped by any of account, currency, contributor, window, grant."""
    by_id = await _accounts_by_id(session)
    columns = [DIMENSIONS[g] for g in group_by]
    query = select(*columns, func.sum(col(Posting.amount)), func.sum(col(Posting.reporting_amount)), func.count())
    if columns:
        query = query.group_by(*columns)
    if as_of is not None:
        query = query.where(col(Posting.entry_date) <= as_of)
    if date_from is not None:
        query = query.where(col(Posting.entry_date) >= date_from)
    if accounts:
        wanted = {a.id for a in by_id.values() if a.code in set(accounts)}
        query = query.where(col(Posting.account_id).in_(wanted))
    for column, value in (
        (Posting.currency, currency),
        (Posting.contributor_id, contributor_id),
        (Posting.window_id, window_id),
        (Posting.grant_id, grant_id),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    results = []
    for row in (await session.execute(query)).all():
        values: tuple[Any, ...] = tuple(row)
        item: dict[str, Any] = {}
        for name, key in zip(group_by, values[: len(group_by)], strict=True):
            item[name] = by_id[key].code if name == "account" else key
        item["amount"] = int(values[-3] or 0)
        item["reporting_amount"] = int(values[-2] or 0)
        item["postings"] = int(values[-1])
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

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.entries} journal entries verified; chain head {self.head}"
        lines = [f"BROKEN at journal entry {self.broken_entry}: {self.reason}"]
        lines += [f"  also at journal entry {b.at}: {b.reason}" for b in self.breaks[1:]]
        lines.append(f"{len(self.breaks)} breaks in {self.entries} journal entries")
        return "\n".join(lines)


async def verify_chain(session: AsyncSession, *, batch: int = 2000) -> ChainReport:
    """Recompute every entry's hash from its stored rows and report every entry whose place, link, content or
    seal is wrong, and a journal whose newest entries are gone (the chain's anchor names a later head)."""
    codes = {a_id: a.code for a_id, a in (await _accounts_by_id(session)).items()}
    prev_hash, expected, count, last = rules.GENESIS_HASH, 1, 0, 0
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
                hashable_posting(
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
                "posted_at": chain_timestamp(e.posted_at),
            }
            if rules.entry_hash(header, postings.get(e.id, []), e.prev_hash) != e.hash:
                breaks.append(ChainBreak(e.id, "its content or postings do not match its hash"))
            seals.row(e.id, e.hash, e.seal)
            prev_hash, expected, count, last = e.hash, e.id + 1, count + 1, e.id
    seals.finish(last, prev_hash)
    breaks.sort(key=lambda b: b.at)
    if not breaks:
        return ChainReport(True, count, prev_hash)
    return ChainReport(False, count, prev_hash, breaks[0].at, breaks[0].reason, tuple(breaks))


async def chain_head(session: AsyncSession) -> str:
    found = (
        await session.execute(select(col(JournalEntry.hash)).order_by(col(JournalEntry.id).desc()).limit(1))
    ).scalar_one_or_none()
    return found or rules.GENESIS_HASH


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
