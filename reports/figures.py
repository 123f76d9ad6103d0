"""The reports' shared reads of the ledger: sums of postings in the reporting currency, each able to name the
journal entries behind it.

A :class:`Selection` is a set of postings: some accounts, a date range, at most one value per dimension (or
the pooled fund: no window) and optionally one source type. Its sum is a reporting-currency amount (debit
positive, credit negative, as the ledger stores it); :meth:`Selection.query` is the ``/ledger/entries``
query that lists exactly the entries holding those postings, so a reader can add them up again. Sums read
``postings.reporting_amount`` directly; the source type is the entry's, read through a join.

The domain reads the reports share (the windows and their names, grantees' reported expenditure) are taken
as of the report's date, never as of the clock: once the report's months are closed nothing posted,
created or changed later may alter it (``docs/reports.md``, "Closed periods are final").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.models import AuditEvent
from governance import Decision, DecisionKind, DecisionResult, Window
from ledger import POOLED_KEY, JournalEntry, LedgerAccount, Money, Posting, allocate, totals_between
from proposals import GrantReport
from reports.document import Amount, EntryQuery, Name, Ratio

# The dimensions a sum may be grouped by, and the columns that hold them.
GROUPS: Mapping[str, Any] = {
    "account": col(LedgerAccount.code),
    "source_type": col(JournalEntry.source_type),
    "contributor": col(Posting.contributor_id),
    "window": col(Posting.window_id),
    "grant": col(Posting.grant_id),
}


@dataclass(frozen=True, slots=True)
class Selection:
    """Postings on any of ``accounts`` dated ``date_from`` (None: since inception) to ``date_to``, with the
    given dimensions (``pooled``: no window) and, when given, in entries of ``source_type``."""

    accounts: tuple[str, ...]
    date_to: date
    date_from: date | None = None
    contributor_id: int | None = None
    window_id: int | None = None
    pooled: bool = False
    grant_id: int | None = None
    source_type: str | None = None

    def query(self) -> EntryQuery:
        return EntryQuery(
            accounts=self.accounts,
            date_from=self.date_from,
            date_to=self.date_to,
            contributor_id=self.contributor_id,
            window_id=self.window_id,
            pooled=self.pooled,
            grant_id=self.grant_id,
            source_type=self.source_type,
        )

    def but(self, **changes: Any) -> Selection:
        return replace(self, **changes)

    def for_window(self, window_id: int | None) -> Selection:
        """The same postings of one window (``None``: the pooled fund)."""
        return replace(self, window_id=window_id, pooled=window_id is None)


def _conditions(selection: Selection) -> list[Any]:
    conditions: list[Any] = [
        col(LedgerAccount.code).in_(selection.accounts),
        col(Posting.entry_date) <= selection.date_to,
    ]
    if selection.date_from is not None:
        conditions.append(col(Posting.entry_date) >= selection.date_from)
    for column, value in (
        (Posting.contributor_id, selection.contributor_id),
        (Posting.window_id, selection.window_id),
        (Posting.grant_id, selection.grant_id),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if selection.pooled:
        conditions.append(col(Posting.window_id).is_(None))
    if selection.source_type is not None:
        conditions.append(col(JournalEntry.source_type) == selection.source_type)
    return conditions


# The groups the posting totals keep (per account, day or month, currency, window and source type).
TOTALS_GROUPS = ("account", "source_type", "window")


def _totals_conditions(selection: Selection) -> Callable[[Any], list[Any]]:
    """The selection's conditions on either table of posting totals (its dates are the parts' own)."""

    def where(table: Any) -> list[Any]:
        accounts = select(col(LedgerAccount.id)).where(col(LedgerAccount.code).in_(selection.accounts))
        conditions = [table.account_id.in_(accounts)]
        if selection.window_id is not None:
            conditions.append(table.window_key == selection.window_id)
        if selection.pooled:
            conditions.append(table.window_key == POOLED_KEY)
        if selection.source_type is not None:
            conditions.append(table.source_type == selection.source_type)
        return conditions

    return where


async def _totals_sums(session: AsyncSession, selection: Selection, by: Sequence[str]) -> dict[tuple[Any, ...], int]:
    totals = totals_between(selection.date_from, selection.date_to, _totals_conditions(selection))
    if totals is None:
        return {}
    groups = {"account": col(LedgerAccount.code), "source_type": totals.c.source_type, "window": totals.c.window_key}
    columns = [groups[name] for name in by]
    query = select(*columns, func.sum(totals.c.reporting_amount)).select_from(totals)
    if "account" in by:
        query = query.join(LedgerAccount, col(LedgerAccount.id) == totals.c.account_id)
    if columns:
        query = query.group_by(*columns)
    window = by.index("window") if "window" in by else None
    found: dict[tuple[Any, ...], int] = {}
    for row in (await session.execute(query)).all():
        *keys, amount = tuple(row)
        if window is not None and keys[window] == POOLED_KEY:
            keys[window] = None
        if amount is not None:
            found[tuple(keys)] = int(amount)
    return found


async def sums(session: AsyncSession, selection: Selection, by: Sequence[str] = ()) -> dict[tuple[Any, ...], int]:
    """The reporting-currency sum of the selection's postings, per value of the ``by`` groups (account,
    source_type, contributor, window, grant); one key ``()`` without groups. Groups without postings are absent.
    A selection that names no contributor and no grant is summed from the posting totals."""
    if selection.contributor_id is None and selection.grant_id is None and set(by) <= set(TOTALS_GROUPS):
        return await _totals_sums(session, selection, by)
    columns = [GROUPS[name] for name in by]
    query = (
        select(*columns, func.sum(col(Posting.reporting_amount)))
        .select_from(Posting)
        .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
        .where(*_conditions(selection))
    )
    if selection.source_type is not None or "source_type" in by:
        query = query.join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
    if columns:
        query = query.group_by(*columns)
    found: dict[tuple[Any, ...], int] = {}
    for row in (await session.execute(query)).all():
        *keys, total = tuple(row)
        if total is not None:
            found[tuple(keys)] = int(total)
    return found


async def total(session: AsyncSession, selection: Selection) -> int:
    """The selection's signed sum in minor units of the reporting currency (0 when nothing matches)."""
    return (await sums(session, selection)).get((), 0)


# What :class:`PostingSums` reads of each group of postings, in the order its query selects them.
_DIMENSIONS = ("account", "source_type", "contributor", "window", "grant")


@dataclass(frozen=True, slots=True)
class PostingSums:
    """The sums of some accounts' postings up to ``until``, in one pass over the ledger, per account, source
    type, contributor, window and grant, and per span of days: the first span runs from inception to the
    day before ``cuts[0]``, each next one from a cut to the day before the next, the last one to ``until``.

    Any :class:`Selection` of those accounts whose dates are whole spans (from inception or a cut, to the
    day before a cut or to ``until``) is then summed in memory, exactly as :func:`sums` would in SQL, the
    same groups present: a report that needs a period, its inception-to-date and its opening balance reads
    the postings once instead of once per figure."""

    accounts: frozenset[str]
    until: date
    cuts: tuple[date, ...]
    # (account, source_type) -> per (contributor_id, window_id, grant_id), the sum of each span (None: no
    # posting in it); kept by account and source type, which nearly every selection names
    groups: Mapping[tuple[str, str], Sequence[tuple[int | None, int | None, int | None, tuple[int | None, ...]]]]
    # False: read from the posting totals (:func:`totals_pass`), which keep no contributor and no grant
    per_contributor_and_grant: bool = True

    def _spans(self, selection: Selection) -> range | None:
        """The spans that make up the selection's dates (None: no day at all)."""
        if selection.date_from is not None and selection.date_from > selection.date_to:
            return None
        starts: list[date | None] = [None, *self.cuts]
        ends = [*self.cuts, self.until + timedelta(days=1)]  # each span's first day after it
        after = selection.date_to + timedelta(days=1)
        if selection.date_from not in starts or after not in ends:
            raise ValueError(f"{selection} does not fall on the spans of this pass ({self.cuts}, {self.until})")
        return range(starts.index(selection.date_from), ends.index(after) + 1)

    def sums(self, selection: Selection, by: Sequence[str] = ()) -> dict[tuple[Any, ...], int]:
        """What :func:`sums` returns for the selection, grouped ``by`` the same names."""
        if not self.accounts.issuperset(selection.accounts):
            raise ValueError(f"{selection} reads accounts outside this pass ({sorted(self.accounts)})")
        if not self.per_contributor_and_grant and (
            selection.contributor_id is not None or selection.grant_id is not None or {"contributor", "grant"} & set(by)
        ):
            raise ValueError(f"{selection} by {by}: this pass keeps no contributor and no grant")
        spans = self._spans(selection)
        if spans is None:
            return {}
        positions = [_DIMENSIONS.index(name) for name in by]
        wanted = {
            2: None if selection.contributor_id is None else {selection.contributor_id},
            3: _window_values(selection),
            4: None if selection.grant_id is None else {selection.grant_id},
        }
        checks = [(position, values) for position, values in wanted.items() if values is not None]
        found: dict[tuple[Any, ...], int] = {}
        for (account, source_type), members in self.groups.items():
            if account not in selection.accounts or selection.source_type not in (None, source_type):
                continue
            for contributor_id, window_id, grant_id, span_sums in members:
                key = (account, source_type, contributor_id, window_id, grant_id)
                if any(key[position] not in values for position, values in checks):
                    continue
                present = [value for i in spans if (value := span_sums[i]) is not None]
                if present:
                    group = tuple(key[position] for position in positions)
                    found[group] = found.get(group, 0) + sum(present)
        return found

    def total(self, selection: Selection) -> int:
        return self.sums(selection).get((), 0)

    def amount(self, currency: str, selection: Selection, *, sign: int = 1) -> Amount:
        return figure(self.total(selection), currency, selection, sign=sign)


def _window_values(selection: Selection) -> set[int | None] | None:
    """The window ids a selection admits (None: any), as :func:`_conditions` filters them."""
    values: set[int | None] | None = None if selection.window_id is None else {selection.window_id}
    if selection.pooled:
        values = {None} if values is None else values & {None}
    return values


async def posting_sums(
    session: AsyncSession, accounts: Sequence[str], until: date, cuts: Sequence[date] = ()
) -> PostingSums:
    """One pass over the postings of ``accounts`` dated up to ``until``: a sum per group and span of days
    (conditional aggregation, see :class:`PostingSums`). Cuts after ``until`` are dropped."""
    days = tuple(sorted({day for day in cuts if day <= until}))
    amount = col(Posting.reporting_amount)
    day = col(Posting.entry_date)
    spans: list[Any] = []
    for first, after in zip((None, *days), (*days, None), strict=True):
        within = [*([] if first is None else [day >= first]), *([] if after is None else [day < after])]
        spans.append(func.sum(case((and_(*within), amount)) if within else amount))
    # The accounts by id, so the pass neither joins nor groups by ledger_accounts (a few percent on SQLite)
    found = await session.execute(
        select(col(LedgerAccount.id), col(LedgerAccount.code)).where(col(LedgerAccount.code).in_(accounts))
    )
    codes = {account_id: code for account_id, code in found.all() if account_id is not None}
    columns = [col(Posting.account_id), *(GROUPS[name] for name in _DIMENSIONS[1:])]
    query = (
        select(*columns, *spans)
        .select_from(Posting)
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(col(Posting.account_id).in_(sorted(codes)), day <= until)
        .group_by(*columns)
    )
    groups: dict[tuple[str, str], list[tuple[int | None, int | None, int | None, tuple[int | None, ...]]]] = {}
    for account_id, source_type, contributor_id, window_id, grant_id, *values in (await session.execute(query)).all():
        groups.setdefault((codes[account_id], source_type), []).append(
            (contributor_id, window_id, grant_id, tuple(None if value is None else int(value) for value in values))
        )
    return PostingSums(frozenset(accounts), until, days, groups)


async def totals_pass(session: AsyncSession, accounts: Sequence[str], until: date) -> PostingSums:
    """What :func:`posting_sums` gives for ``accounts`` from inception to ``until`` (no cuts), read in one
    statement from the posting totals, for selections that name no contributor and no grant."""
    ids = select(col(LedgerAccount.id)).where(col(LedgerAccount.code).in_(accounts))
    totals = totals_between(None, until, lambda table: [table.account_id.in_(ids)])
    assert totals is not None  # since inception: never empty
    query = (
        select(col(LedgerAccount.code), totals.c.source_type, totals.c.window_key, func.sum(totals.c.reporting_amount))
        .select_from(totals)
        .join(LedgerAccount, col(LedgerAccount.id) == totals.c.account_id)
        .group_by(col(LedgerAccount.code), totals.c.source_type, totals.c.window_key)
    )
    groups: dict[tuple[str, str], list[tuple[int | None, int | None, int | None, tuple[int | None, ...]]]] = {}
    for code, source_type, window_key, amount in (await session.execute(query)).all():
        window_id = None if window_key == POOLED_KEY else int(window_key)
        groups.setdefault((code, source_type), []).append((None, window_id, None, (int(amount),)))
    return PostingSums(frozenset(accounts), until, (), groups, per_contributor_and_grant=False)


def figure(minor: int, currency: str, selection: Selection, *, sign: int = 1) -> Amount:
    """A ledger figure: ``sign`` times the selection's sum (``-1`` shows a credit balance as positive),
    with the query that lists its entries."""
    return Amount(sign * minor, currency, selection.query())


async def amount(session: AsyncSession, currency: str, selection: Selection, *, sign: int = 1) -> Amount:
    return figure(await total(session, selection), currency, selection, sign=sign)


def plain(minor: int, currency: str) -> Amount:
    """A figure computed from other figures (a total, a difference): no single query lists its entries."""
    return Amount(minor, currency)


def delivery_rate(expenditure: int, transferred: int) -> Ratio:
    """Reported expenditure as a share of what was transferred net of refunds; n/a when nothing was."""
    return Ratio.of(expenditure, transferred) if transferred > 0 else Ratio(None)


def share(part: int, whole: int) -> Ratio:
    """``part`` as a fraction of ``whole``; n/a when the whole is zero."""
    return Ratio.of(part, whole)


def pro_rata(total_minor: int, currency: str, weights: Mapping[int, int]) -> dict[int, int]:
    """``total_minor`` shared in proportion to the positive ``weights`` (keys taken in ascending order, so
    ties always go the same way), by largest remainder (``ledger.money.allocate``): the shares sum exactly
    to the total and each is within one minor unit of its exact share. No positive weight: no share."""
    keys = sorted(k for k, w in weights.items() if w > 0)
    if not keys:
        return {}
    shares = allocate(Money(total_minor, currency), [weights[k] for k in keys])
    return {k: share.minor for k, share in zip(keys, shares, strict=True)}


# ---------------------------------------------------------------- domain reads as of a day


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC): domain rows stamped before it happened on or before ``day``."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


async def adopted_budget(session: AsyncSession, year: int, before: datetime) -> Decision | None:
    """The ``admin_budget`` decision in force for ``year`` at the instant ``before``: the last one adopted
    before it. ``admin_budgets`` holds only the latest, which a later revision would have replaced, so a
    report fixed at an earlier time reads the decisions."""
    return (
        (
            await session.execute(
                select(Decision)
                .where(
                    col(Decision.kind) == DecisionKind.ADMIN_BUDGET.value,
                    col(Decision.subject) == f"budget:{year}",
                    col(Decision.result) == DecisionResult.ADOPTED.value,
                    col(Decision.closed_at) < before,
                )
                .order_by(col(Decision.closed_at).desc(), col(Decision.id).desc())
                .limit(1)
            )
        )
        .scalars()
        .first()
    )


async def windows_as_of(session: AsyncSession, as_of: date) -> list[tuple[int, Name]]:
    """(id, name in English, Spanish and French after the window's code) of every window that existed on
    ``as_of``, by code, named as it was then.

    A window existed if it was created by the end of that day or already holds postings dated by then (the
    windows the first migration seeds carry a fixed creation time that may follow the first postings). Each
    name is the one before the first rename of it after that day (the audit log keeps every
    ``window.update`` with the fields it changed), so a closed period's reports keep the names they were
    printed with."""
    end = end_of(as_of)
    used = exists().where(col(Posting.window_id) == col(Window.id), col(Posting.entry_date) <= as_of)
    query = select(Window).where(or_(col(Window.created_at) < end, used)).order_by(col(Window.code))
    windows = (await session.execute(query)).scalars().all()
    names = {w.code: {"name_en": w.name_en, "name_es": w.name_es, "name_fr": w.name_fr} for w in windows}
    renamed: set[tuple[str, str]] = set()
    for code, before in (
        await session.execute(
            select(col(AuditEvent.object_id), col(AuditEvent.before))
            .where(
                col(AuditEvent.action) == "window.update",
                col(AuditEvent.object_type) == "window",
                col(AuditEvent.occurred_at) >= end,
            )
            .order_by(col(AuditEvent.seq))
        )
    ).all():
        if code not in names:
            continue
        for field_name, old in json.loads(before).items():
            if field_name in names[code] and (code, field_name) not in renamed and isinstance(old, str):
                names[code][field_name] = old
                renamed.add((code, field_name))
    return [
        (w.id or 0, Name(names[w.code]["name_en"], names[w.code]["name_es"], names[w.code]["name_fr"], w.code))
        for w in windows
    ]


async def reported_expenditure(session: AsyncSession, grant_ids: Sequence[int], as_of: date) -> dict[int, int]:
    """Per grant, the cumulative expenditure of its latest report accepted by the end of ``as_of`` (UTC)."""
    if not grant_ids:
        return {}
    latest = (
        select(col(GrantReport.grant_id), func.max(col(GrantReport.number)).label("number"))
        .where(
            col(GrantReport.grant_id).in_(grant_ids),
            col(GrantReport.status) == "accepted",
            col(GrantReport.reviewed_at) < end_of(as_of),
        )
        .group_by(col(GrantReport.grant_id))
        .subquery()
    )
    rows = await session.execute(
        select(col(GrantReport.grant_id), col(GrantReport.expenditure_total)).join(
            latest,
            (col(GrantReport.grant_id) == latest.c.grant_id) & (col(GrantReport.number) == latest.c.number),
        )
    )
    return {int(grant_id): int(total) for grant_id, total in rows.all()}
