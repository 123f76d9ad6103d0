"""Pure ledger arithmetic: no I/O, so every invariant here is tested by properties.

- ``reporting_amounts``: converts a currency's lines to the reporting currency so that they sum exactly
  to the rounded conversion of their total (largest remainder), so a balanced currency group always
  stays balanced in the reporting currency.
- ``imbalances``: what keeps an entry from balancing, per book and currency and per book in the
  reporting currency.
- ``revaluation``: the unrealised gain or loss of each monetary balance at a closing rate.
- the journal's chain link (``entry_hash``), in the canonical form of ``fundapp.core.chain``.
- ``totals_spans``: which whole months and which days make up a date range, for the posting totals.
- a draft's checks, as named validators (``check_entry_shape``, ``check_line_accounts``, ``LINE_CHECKS``,
  ``check_converted``, ``fx_settlement``): what the posting service refuses before it writes.
"""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from fundapp.core.chain import digest
from fundapp.core.errors import Conflict, FieldError, PermissionDenied, refuse_future
from ledger import chart
from ledger.errors import (
    AlreadyReversed,
    ClosedAccount,
    ClosedPeriod,
    CurrencyNotAllowed,
    EmptyEntry,
    EntryNotFound,
    IdempotencyConflict,
    LedgerRuleError,
    MissingRate,
    PeriodNotEnded,
    PeriodOrder,
    ReversalOfReversal,
    UnbalancedEntry,
    UnknownAccount,
)
from ledger.models import PeriodStatus, RequestStatus
from ledger.money import Money, exponent, quantize
from ledger.types import MAX_LINE_MINOR, ChartAccount, EntryDraft, Line, PostingView


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_bounds(period_id: str) -> tuple[date, date]:
    year, month = (int(part) for part in period_id.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True, slots=True)
class TotalsSpans:
    """A date range as the posting totals read it: whole months (their first days, ``months_from`` to
    ``months_to`` inclusive; ``months_from`` None: since inception; no months when ``months_to`` is None) and the
    leftover days (at most two runs, each inside one month)."""

    months_from: date | None
    months_to: date | None
    days: tuple[tuple[date, date], ...]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _previous_month(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def totals_spans(date_from: date | None, date_to: date) -> TotalsSpans | None:
    """The days ``date_from`` (None: since inception) to ``date_to`` inclusive as whole months and leftover days,
    each day in exactly one of them (None: the range is empty)."""
    if date_from is not None and date_from > date_to:
        return None
    last_whole = _month_start(date_to) if date_to == _month_end(date_to) else _previous_month(_month_start(date_to))
    if date_from is None or date_from.day == 1:
        first_whole = date_from
    else:  # the first day of the next month
        first_whole = date(date_from.year + (date_from.month == 12), date_from.month % 12 + 1, 1)
    if first_whole is not None and first_whole > last_whole:
        # No whole month: the days, split at the month's end when the range runs into the next month.
        assert date_from is not None
        if _month_start(date_from) == _month_start(date_to):
            return TotalsSpans(None, None, ((date_from, date_to),))
        return TotalsSpans(None, None, ((date_from, _month_end(date_from)), (_month_start(date_to), date_to)))
    days: list[tuple[date, date]] = []
    if date_from is not None and first_whole is not None and date_from < first_whole:
        days.append((date_from, _month_end(date_from)))
    if date_to != _month_end(date_to):
        days.append((_month_start(date_to), date_to))
    return TotalsSpans(first_whole, last_whole, tuple(days))


# Wide enough for any BIGINT amount times any stored rate: conversions below are exact until rounded.
_EXACT = Context(prec=120, traps=[Inexact, Overflow, InvalidOperation])


def next_period(period_id: str) -> str:
    year, month = (int(part) for part in period_id.split("-"))
    return f"{year + (month == 12):04d}-{month % 12 + 1:02d}"


def exact_conversion(amount_minor: int, currency: str, rate: Decimal, reporting_currency: str) -> Decimal:
    """``amount_minor`` of ``currency`` converted to major units of the reporting currency, exactly."""
    return _EXACT.multiply(Decimal(amount_minor).scaleb(-exponent(currency), context=_EXACT), rate)


def convert_minor(amount_minor: int, currency: str, rate: Decimal, reporting_currency: str) -> int:
    """The conversion rounded once, by ledger.money's one rounding rule."""
    return quantize(exact_conversion(amount_minor, currency, rate, reporting_currency), reporting_currency)


def reporting_amounts(amounts_minor: Sequence[int], currency: str, rate: Decimal, reporting_currency: str) -> list[int]:
    """Convert each line; the parts sum exactly to the rounded conversion of their total."""
    scale = exponent(reporting_currency)
    exact = [
        exact_conversion(a, currency, rate, reporting_currency).scaleb(scale, context=_EXACT) for a in amounts_minor
    ]
    rounded = [quantize(x.scaleb(-scale, context=_EXACT), reporting_currency) for x in exact]
    target = convert_minor(sum(amounts_minor), currency, rate, reporting_currency)
    residue = target - sum(rounded)
    if residue:
        step = 1 if residue > 0 else -1
        # Move the residue, one minor unit at a time, to the lines that rounding moved furthest the other way.
        order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - rounded[i]) * step, i))
        for i in order[: abs(residue)]:
            rounded[i] += step
    return rounded


@dataclass(frozen=True, slots=True)
class LineFigures:
    """What the balance rule needs of a line."""

    book: str
    currency: str
    amount: int
    reporting_amount: int


@dataclass(frozen=True, slots=True)
class Imbalance:
    book: str
    currency: str  # the reporting currency for a reporting-currency imbalance
    difference: int
    in_reporting: bool


def imbalances(lines: Iterable[LineFigures], reporting_currency: str) -> list[Imbalance]:
    per_currency: dict[tuple[str, str], int] = defaultdict(int)
    per_book: dict[str, int] = defaultdict(int)
    for line in lines:
        per_currency[(line.book, line.currency)] += line.amount
        per_book[line.book] += line.reporting_amount
    found = [Imbalance(b, c, d, False) for (b, c), d in sorted(per_currency.items()) if d]
    found += [Imbalance(b, reporting_currency, d, True) for b, d in sorted(per_book.items()) if d]
    return found


@dataclass(frozen=True, slots=True)
class RevaluationKey:
    account_id: int
    currency: str
    contributor_id: int | None
    window_id: int | None
    grant_id: int | None


def revaluation(
    balances: Mapping[RevaluationKey, tuple[int, int]],
    rates: Mapping[str, Decimal],
    reporting_currency: str,
) -> dict[RevaluationKey, int]:
    """For each foreign-currency monetary balance ``(amount, carrying reporting amount)``, the adjustment
    (reporting minor units) that brings its carrying value to the closing rate; zero adjustments omitted."""
    adjustments: dict[RevaluationKey, int] = {}
    for key, (amount, carrying) in balances.items():
        if key.currency == reporting_currency:
            continue
        target = convert_minor(amount, key.currency, rates[key.currency], reporting_currency)
        if target != carrying:
            adjustments[key] = target - carrying
    return adjustments


def entry_hash(header: Mapping[str, Any], postings: Sequence[Mapping[str, Any]], prev_hash: str) -> str:
    """The chain link: covers the previous hash, the entry's header and every posting, canonically."""
    return digest({"prev": prev_hash, "entry": dict(header), "postings": [dict(p) for p in postings]})


# ---------------------------------------------------------------- four eyes


def approvals_needed(size: Decimal, threshold: Decimal) -> int:
    """One approver, or two different ones when a money movement's size (major units) is above the
    charter's threshold."""
    return 2 if size > threshold else 1


@dataclass(frozen=True, slots=True)
class CheckerStep:
    """One approval of something a person prepared: ``final`` when it is the last one needed (the movement
    happens now), otherwise the first of two; or the rule that refuses this approver."""

    final: bool = False
    refused: str | None = None  # rule name
    reason: str = ""


def checker_step(*, needed: int, approver: int, prepared_by: int, first_approver: int | None) -> CheckerStep:
    """Maker-checker as a pure function, for every money movement a person prepares (journal entries and
    reversals here, transfers in proposals): the preparer never approves, and the second of two approvals
    comes from another approver than the first."""
    if approver == prepared_by:
        return CheckerStep(refused="maker-checker", reason="who prepared it cannot approve it")
    if first_approver is not None:
        if approver == first_approver:
            return CheckerStep(refused="second-approver", reason="the second approval comes from another approver")
        return CheckerStep(final=True)
    return CheckerStep(final=needed == 1)


def chain_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hashable_posting(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "line_no",
            "account",
            "currency",
            "amount",
            "reporting_amount",
            "contributor_id",
            "window_id",
            "grant_id",
        )
    }


# ------------------------------------------------------------------------------------------ a draft's checks
# What ``Ledger`` checks before it writes a draft, as named pure validators (facts in, a refusal or a list of
# field errors out). The service reads the facts (the period, the accounts, the day's rates) and calls them
# in this order: ``check_entry_shape``, ``check_line_accounts``, the ``LINE_CHECKS`` of every line (their
# errors reported together), ``check_converted`` on each converted line, and ``fx_settlement`` on the whole.

LineCheck = Callable[[Line, str, str], FieldError | None]


def check_entry_shape(draft: EntryDraft, prefix: str = "") -> None:
    """At least two lines and a description."""
    if len(draft.lines) < 2:
        raise EmptyEntry("an entry needs at least two lines", field=f"{prefix}lines", rule="min-two-lines")
    if not draft.description.strip():
        raise LedgerRuleError("the description is empty", field=f"{prefix}description", rule="required")


def check_line_accounts(
    draft: EntryDraft, accounts: Sequence[ChartAccount], reporting_currency: str, prefix: str = ""
) -> None:
    """Each line's account is open and takes the line's currency (the first line that fails is named)."""
    for i, (line, account) in enumerate(zip(draft.lines, accounts, strict=True)):
        if not account.is_open:
            raise ClosedAccount(
                f"account {account.code} is closed", field=f"{prefix}lines.{i}.account", rule="account-open"
            )
        if not account.allows(line.amount.currency, reporting_currency):
            where = f"{prefix}lines.{i}"
            raise CurrencyNotAllowed(
                f"account {account.code} does not take {line.amount.currency}"
                + (f" (it is kept in {reporting_currency})" if account.currencies == "REPORTING" else ""),
                field=f"{where}.currency",
                rule="account-currency",
            )


def reporting_amount_in_reporting_currency(line: Line, where: str, reporting_currency: str) -> FieldError | None:
    given = line.reporting_amount
    if given is not None and given.currency != reporting_currency:
        return FieldError(
            f"{where}.reporting_amount", "reporting-currency", f"reporting amounts are in {reporting_currency}"
        )
    return None


def amount_within_range(line: Line, where: str, reporting_currency: str) -> FieldError | None:
    given = line.reporting_amount
    if abs(line.amount.minor) > MAX_LINE_MINOR or (given is not None and abs(given.minor) > MAX_LINE_MINOR):
        return FieldError(
            f"{where}.amount", "amount-within-range", f"a line may carry at most {MAX_LINE_MINOR} minor units"
        )
    return None


def moves_money(line: Line, where: str, reporting_currency: str) -> FieldError | None:
    given = line.reporting_amount
    if line.amount.is_zero and (given is None or given.is_zero):
        return FieldError(f"{where}.amount", "non-zero", "a line must move money")
    return None


def reporting_equals_amount(line: Line, where: str, reporting_currency: str) -> FieldError | None:
    given = line.reporting_amount
    if line.amount.currency == reporting_currency and given is not None and given != line.amount:
        return FieldError(
            f"{where}.reporting_amount",
            "reporting-equals-amount",
            "a line in the reporting currency has the same reporting amount",
        )
    return None


LINE_CHECKS: tuple[LineCheck, ...] = (
    reporting_amount_in_reporting_currency,
    amount_within_range,
    moves_money,
    reporting_equals_amount,
)


def check_lines(draft: EntryDraft, reporting_currency: str, prefix: str = "") -> None:
    """Every line against every ``LINE_CHECKS`` rule; all the errors found are refused together."""
    errors: list[FieldError] = []
    for i, line in enumerate(draft.lines):
        where = f"{prefix}lines.{i}"  # once a line, not once a check: posting is the ledger's hot path
        for check in LINE_CHECKS:
            error = check(line, where, reporting_currency)
            if error is not None:
                errors.append(error)
    if errors:
        raise LedgerRuleError("the entry has invalid lines", errors=errors)


def check_converted(reporting_minor: int, index: int, reporting_currency: str, prefix: str = "") -> None:
    """A line converted at the day's rate stays within the range a line may carry."""
    if abs(reporting_minor) > MAX_LINE_MINOR:
        raise LedgerRuleError(
            f"the line converts to more than {MAX_LINE_MINOR} minor units of {reporting_currency}",
            field=f"{prefix}lines.{index}.amount",
            rule="amount-within-range",
        )


@dataclass(frozen=True, slots=True)
class FxSettlement:
    """The line that closes a settlement's difference in the reporting currency: ``reporting`` minor units
    on ``account`` (the realised gain or loss), in ``currency`` with an amount of zero."""

    account: str
    currency: str
    reporting: int
    line: Line


def fx_settlement(
    draft: EntryDraft, figures: Sequence[LineFigures], reporting_currency: str, prefix: str = ""
) -> FxSettlement | None:
    """None when the lines balance; the closing line of a settlement whose only difference is in the
    reporting currency of the financial book; otherwise the refusal naming every difference."""
    problems = imbalances(figures, reporting_currency)
    if not problems:
        return None
    if draft.settle_fx and all(p.in_reporting and p.book == "financial" for p in problems):
        difference = problems[0].difference
        # Debits exceed credits in the reporting currency: a realised gain closes the gap, and vice versa.
        code = chart.FX_GAIN_REALISED if difference > 0 else chart.FX_LOSS_REALISED
        currency = next((f.currency for f in figures if f.currency != reporting_currency), reporting_currency)
        # The gain or loss belongs to what was settled: the first line given at its carrying value.
        settled = next((line for line in draft.lines if line.reporting_amount is not None), None)
        line = Line(
            code,
            Money.zero(currency),
            contributor_id=settled.contributor_id if settled else None,
            window_id=settled.window_id if settled else None,
            grant_id=settled.grant_id if settled else None,
        )
        return FxSettlement(code, currency, -difference, line)
    raise UnbalancedEntry(
        "the entry does not balance: "
        + "; ".join(
            f"{p.book} book off by {Money.from_minor(p.difference, p.currency)}"
            + (" in the reporting currency" if p.in_reporting else "")
            for p in problems
        ),
        field=f"{prefix}lines",
        rule="balanced",
    )


# ------------------------------------------------------------------------------------------ the money commands
# Each of the ledger's commands in one shape: the service reads the facts (below, frozen dataclasses of plain
# values), a pure planner here decides (refusing exactly as the service always has) and returns what to write,
# and the service writes it (the journal's rows through ``Ledger._write``, in the caller's one trip).


@dataclass(frozen=True, slots=True)
class PeriodFacts:
    """A month as a command sees it: its status, None for a month nobody used yet (then ``closed_through``, the
    latest closed month, says whether it may still be opened)."""

    period_id: str
    status: str | None
    closed_through: str | None = None


def check_period_open(day: date, today: date, period: PeriodFacts, field_name: str = "entry_date") -> str | None:
    """Refuse a posting dated ``day`` that is in the future or in a closed month; the month to open first
    (one nobody used yet), or None."""
    refuse_future(day, today, field=field_name, what="the entry")
    return check_month_open(period, field_name)


def check_month_open(period: PeriodFacts, field_name: str = "entry_date") -> str | None:
    """Refuse a closed month, or one nobody used that the books were closed past; the month to open first
    (one nobody used yet), or None."""
    if period.status is None:
        if period.closed_through is not None and period.period_id <= period.closed_through:
            # A month nobody used before the books were closed past it stays closed.
            raise ClosedPeriod(
                f"the books are closed through {period.closed_through}; {period.period_id} cannot be opened",
                field="entry_date",
                rule="period-open",
            )
        return period.period_id
    if period.status == PeriodStatus.CLOSED.value:
        raise ClosedPeriod(
            f"period {period.period_id} is closed; date the entry in an open period",
            field=field_name,
            rule="period-open",
        )
    return None


def account_of(accounts: Mapping[str, ChartAccount], code: str, field_name: str = "account") -> ChartAccount:
    found = accounts.get(code)
    if found is None:
        raise UnknownAccount(f"no account with code {code!r}", field=field_name, rule="account-exists")
    return found


def require_rate(currency: str, on: date, rate: Decimal | None, field_name: str = "currency") -> Decimal:
    """The rate a command needs, or the refusal that names the missing one."""
    if rate is None:
        raise MissingRate(
            f"no {currency} rate on or before {on.isoformat()}; add one under /ledger/fx-rates",
            field=field_name,
            rule="fx-rate-known",
        )
    return rate


def converted_currencies(draft: EntryDraft) -> list[str]:
    """The currencies whose lines are converted at the day's rate (no reporting amount given), first seen first."""
    return list(dict.fromkeys(line.amount.currency for line in draft.lines if line.reporting_amount is None))


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What posting one draft needs to know: the clock's day, the draft's month, the chart (by code) and the
    rate on the draft's date of each currency it converts (None: no rate known)."""

    today: date
    reporting_currency: str
    period: PeriodFacts
    accounts: Mapping[str, ChartAccount]
    rates: Mapping[str, Decimal | None]


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """An entry ready to chain: the draft, its posting rows (line_no, account_id, account, currency, amount,
    reporting_amount and the dimensions), the month to open first, and the entry it reverses."""

    draft: EntryDraft
    rows: tuple[dict[str, Any], ...]
    opens_period: str | None = None
    reverses_id: int | None = None


def posting_row(
    line_no: int, account: ChartAccount, currency: str, amount: int, reporting: int, line: Line
) -> dict[str, Any]:
    return {
        "line_no": line_no,
        "account_id": account.id,
        "account": account.code,
        "currency": currency,
        "amount": amount,
        "reporting_amount": reporting,
        "contributor_id": line.contributor_id,
        "window_id": line.window_id,
        "grant_id": line.grant_id,
    }


def line_reporting_amounts(
    draft: EntryDraft, rates: Mapping[str, Decimal | None], reporting_currency: str, prefix: str = ""
) -> list[int]:
    """Each line's reporting amount: as given, or converted per currency at the day's rate, rounded so each
    currency's converted lines sum to the rounded conversion of their total."""
    reporting = [0 if line.reporting_amount is None else line.reporting_amount.minor for line in draft.lines]
    auto_by_currency: dict[str, list[int]] = defaultdict(list)
    for i, line in enumerate(draft.lines):
        if line.reporting_amount is None:
            auto_by_currency[line.amount.currency].append(i)
    for currency, indexes in auto_by_currency.items():
        found = Decimal(1) if currency == reporting_currency else rates.get(currency)
        rate = require_rate(currency, draft.entry_date, found, f"{prefix}lines.{indexes[0]}.currency")
        converted = reporting_amounts(
            [draft.lines[i].amount.minor for i in indexes], currency, rate, reporting_currency
        )
        for i, value in zip(indexes, converted, strict=True):
            reporting[i] = value
    return reporting


def plan_entry(draft: EntryDraft, facts: EntryFacts, prefix: str = "") -> EntryPlan:
    """Every check of a draft, in the order the ledger has always refused them, and its posting rows (with the
    realised FX line of a settlement)."""
    check_entry_shape(draft, prefix)
    opens = check_period_open(draft.entry_date, facts.today, facts.period, f"{prefix}entry_date")
    known = facts.accounts
    # The field's name is built only for a refusal (posting is the ledger's hot path).
    accounts = [
        known.get(line.account) or account_of(known, line.account, f"{prefix}lines.{i}.account")
        for i, line in enumerate(draft.lines)
    ]
    reporting_currency = facts.reporting_currency
    check_line_accounts(draft, accounts, reporting_currency, prefix)
    check_lines(draft, reporting_currency, prefix)
    reporting = line_reporting_amounts(draft, facts.rates, reporting_currency, prefix)
    rows: list[dict[str, Any]] = []
    for i, (line, account) in enumerate(zip(draft.lines, accounts, strict=True)):
        check_converted(reporting[i], i, reporting_currency, prefix)
        rows.append(posting_row(i + 1, account, line.amount.currency, line.amount.minor, reporting[i], line))
    figures = [
        LineFigures(a.book, r["currency"], r["amount"], r["reporting_amount"])
        for a, r in zip(accounts, rows, strict=True)
    ]
    settlement = fx_settlement(draft, figures, reporting_currency, prefix)
    if settlement is not None:
        fx_account = account_of(facts.accounts, settlement.account)
        rows.append(
            posting_row(len(rows) + 1, fx_account, settlement.currency, 0, settlement.reporting, settlement.line)
        )
    return EntryPlan(draft, tuple(rows), opens)


def entry_size(rows: Iterable[Mapping[str, Any]], books: Mapping[str, str]) -> int:
    """An entry's size: its debits in the reporting currency in the financial book, or in the budgetary book
    when it has no financial line."""
    debits: dict[str, int] = defaultdict(int)
    for row in rows:
        debits[books[row["account"]]] += max(0, int(row["reporting_amount"]))
    return debits["financial"] or debits["budgetary"]


def draft_payload_hash(draft: EntryDraft) -> str:
    """What an idempotency key promises: the same key must come with exactly this draft."""
    return digest(
        {
            "entry_date": draft.entry_date.isoformat(),
            "description": draft.description,
            "source_type": draft.source_type,
            "source_id": draft.source_id,
            "settle_fx": draft.settle_fx,
            "lines": [
                {
                    "account": line.account,
                    "currency": line.amount.currency,
                    "amount": line.amount.minor,
                    "reporting_amount": None if line.reporting_amount is None else line.reporting_amount.minor,
                    "contributor_id": line.contributor_id,
                    "window_id": line.window_id,
                    "grant_id": line.grant_id,
                }
                for line in draft.lines
            ],
        }
    )


def journal_row(
    plan: EntryPlan,
    entry_id: int,
    prev_hash: str,
    payload_hash: str,
    *,
    posted_by: int | None,
    label: str,
    now: datetime,
) -> dict[str, Any]:
    """The journal's row for a planned entry, chained to ``prev_hash`` (the seal is the service's to add)."""
    draft = plan.draft
    header = {
        "id": entry_id,
        "entry_date": draft.entry_date.isoformat(),
        "period_id": period_of(draft.entry_date),
        "description": draft.description,
        "source_type": draft.source_type,
        "source_id": draft.source_id,
        "idempotency_key": draft.idempotency_key,
        "payload_hash": payload_hash,
        "reverses_id": plan.reverses_id,
        "posted_by": posted_by,
        "posted_by_label": label,
        "posted_at": chain_timestamp(now),
    }
    link = entry_hash(header, [hashable_posting(r) for r in plan.rows], prev_hash)
    return {
        **header,
        "entry_date": draft.entry_date,
        "posted_at": now,
        "prev_hash": prev_hash,
        "hash": link,
        "line_count": len(plan.rows),
    }


def journal_postings(entry_id: int, plan: EntryPlan) -> list[dict[str, Any]]:
    """The postings' rows of a planned entry numbered ``entry_id``."""
    day = plan.draft.entry_date
    postings = []
    for row in plan.rows:
        posting = dict(row)
        del posting["account"]
        posting["entry_id"] = entry_id
        posting["entry_date"] = day
        postings.append(posting)
    return postings


def batch_replay(
    key: str, payload_hash: str, seen: Mapping[str, tuple[str, int]], known: Mapping[str, tuple[str, int]], field: str
) -> int | None:
    """In a batch, the entry a draft's idempotency key already names (earlier in the batch, or posted before),
    or None; a key that comes back with another payload is refused."""
    if key in seen:
        first_hash, first_id = seen[key]
        if first_hash != payload_hash:
            raise IdempotencyConflict(
                f"the batch uses the key {key!r} twice with different payloads",
                field=field,
                rule="idempotency-same-payload",
            )
        return first_id
    if key in known:
        first_hash, first_id = known[key]
        if first_hash != payload_hash:
            raise IdempotencyConflict(
                f"the idempotency key {key!r} was used for entry {first_id} with a different payload",
                field=field,
                rule="idempotency-same-payload",
            )
        return first_id
    return None


# ---------------------------------------------------------------- reversal


@dataclass(frozen=True, slots=True)
class OriginalEntry:
    """The entry to reverse, as the reversal needs it."""

    id: int
    description: str
    source_type: str
    reverses_id: int | None
    postings: tuple[PostingView, ...]


@dataclass(frozen=True, slots=True)
class ReversalFacts:
    """What reversing an entry needs: the entry (None: there is none), the entry that already reverses it, the
    entry posted earlier with the same idempotency key (its id and what it reverses), the month of the
    reversal's date, the clock's day and the chart."""

    entry_id: int
    original: OriginalEntry | None
    reversed_by: int | None
    keyed: tuple[int, int | None] | None
    period: PeriodFacts
    today: date
    accounts: Mapping[str, ChartAccount]


@dataclass(frozen=True, slots=True)
class Replay:
    """The command was done before with the same idempotency key: the entry it posted."""

    entry_id: int


def check_reversible(facts: ReversalFacts, entry_date: date) -> tuple[OriginalEntry, str | None]:
    """Refuse a reversal the ledger would not post; the entry to reverse and the month to open first."""
    original = facts.original
    if original is None:
        raise EntryNotFound(f"no journal entry {facts.entry_id}")
    if original.reverses_id is not None:
        raise ReversalOfReversal(
            f"entry {original.id} reverses entry {original.reverses_id}; post a new entry instead",
            field="entry_id",
            rule="reversal-not-reversed",
        )
    if facts.reversed_by is not None:
        raise AlreadyReversed(
            f"entry {original.id} was already reversed by entry {facts.reversed_by}",
            field="entry_id",
            rule="reverse-once",
        )
    return original, check_period_open(entry_date, facts.today, facts.period)


def plan_reversal(
    facts: ReversalFacts, entry_date: date, description: str | None, idempotency_key: str | None
) -> EntryPlan | Replay:
    """The entry that nets ``facts.original`` to zero, or the replay of the one posted with the same key."""
    if facts.original is None:
        raise EntryNotFound(f"no journal entry {facts.entry_id}")
    if idempotency_key is not None and facts.keyed is not None:
        keyed_id, keyed_reverses = facts.keyed
        if keyed_reverses == facts.entry_id:
            return Replay(keyed_id)
        raise IdempotencyConflict(
            f"the idempotency key {idempotency_key!r} was used for entry {keyed_id}",
            field="idempotency_key",
            rule="idempotency-same-payload",
        )
    original, opens = check_reversible(facts, entry_date)
    draft = EntryDraft(
        entry_date=entry_date,
        description=description or f"Reversal of entry {original.id}: {original.description}"[:500],
        lines=(),
        source_type="reversal",
        source_id=str(original.id),
        idempotency_key=idempotency_key,
    )
    rows = []
    for p in original.postings:
        account = facts.accounts[p.account]
        if not account.is_open:
            raise ClosedAccount(f"account {account.code} is closed", field="entry_id", rule="account-open")
        dims = Line(p.account, Money.zero(p.currency), None, p.contributor_id, p.window_id, p.grant_id)
        rows.append(posting_row(p.line_no, account, p.currency, -p.amount, -p.reporting_amount, dims))
    return EntryPlan(draft, tuple(rows), opens, reverses_id=original.id)


def reversal_payload_hash(entry_id: int, entry_date: date) -> str:
    return digest({"reverses": entry_id, "entry_date": entry_date.isoformat()})


# ---------------------------------------------------------------- revaluation


@dataclass(frozen=True, slots=True)
class RevaluationFacts:
    """What revaluing at a day's closing rates needs: the clock's day, the day's month, the chart (by id), the
    foreign-currency monetary balances of the financial book up to that day (amount, carrying reporting
    amount) and the day's rate of each of their currencies (None: no rate known)."""

    today: date
    reporting_currency: str
    period: PeriodFacts
    accounts: Mapping[int, ChartAccount]
    balances: Mapping[RevaluationKey, tuple[int, int]]
    rates: Mapping[str, Decimal | None]


@dataclass(frozen=True, slots=True)
class RevaluationPlan:
    """The month to open first, and the entry of the unrealised gains and losses (None: no balance moved)."""

    opens_period: str | None
    draft: EntryDraft | None


def plan_revaluation(facts: RevaluationFacts, as_of: date, idempotency_key: str | None) -> RevaluationPlan:
    """Bring every foreign-currency monetary balance to the rate of ``as_of``: one entry of reporting-only
    lines, each adjustment against the unrealised FX gain or loss."""
    opens = check_period_open(as_of, facts.today, facts.period, "as_of")
    rates = {c: require_rate(c, as_of, facts.rates.get(c)) for c in sorted({k.currency for k in facts.balances})}
    reporting_currency = facts.reporting_currency
    adjustments = revaluation(facts.balances, rates, reporting_currency)
    if not adjustments:
        return RevaluationPlan(opens, None)
    lines: list[Line] = []
    for key, diff in sorted(adjustments.items(), key=lambda kv: (kv[0].account_id, kv[0].currency, str(kv[0]))):
        account = facts.accounts[key.account_id]
        dims = {"contributor_id": key.contributor_id, "window_id": key.window_id, "grant_id": key.grant_id}
        # A gain on an asset (or a fall of a liability) is a credit to unrealised gains, and vice versa.
        offset = chart.FX_GAIN_UNREALISED if diff > 0 else chart.FX_LOSS_UNREALISED
        lines.append(Line(account.code, Money.zero(key.currency), Money.from_minor(diff, reporting_currency), **dims))
        lines.append(Line(offset, Money.zero(key.currency), Money.from_minor(-diff, reporting_currency), **dims))
    draft = EntryDraft(
        entry_date=as_of,
        description=f"FX revaluation at {as_of.isoformat()} closing rates",
        lines=tuple(lines),
        source_type="revaluation",
        source_id=as_of.isoformat(),
        idempotency_key=idempotency_key,
    )
    return RevaluationPlan(opens, draft)


# ---------------------------------------------------------------- period close


def check_period_ended(period_id: str, today: date) -> None:
    ends_on = period_bounds(period_id)[1]
    if ends_on >= today:
        raise PeriodNotEnded(
            f"period {period_id} ends on {ends_on.isoformat()}; it can be closed from the day after",
            field="period",
            rule="period-ended",
        )


@dataclass(frozen=True, slots=True)
class CloseFacts:
    """What closing a month needs: its status (None: nobody used it), the latest closed month, the earliest
    month still open before it, the first month of the books, the months that exist from that one up to it,
    the chain's head, and its head as of the month's end when entries were posted in a later month (else
    None: the head is that)."""

    period_id: str
    today: date
    status: str | None
    closed_through: str | None
    earlier_open: str | None
    first: str | None
    existing: frozenset[str]
    head: str
    head_at_end: str | None


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """The months to write closed: the unused months before the period (new rows with ``unused_closed``), and
    the period itself (``creates``: a new row, otherwise an update of its row) with ``closed``. The chain head
    at close names the ledger state behind the period's reports."""

    unused_months: tuple[str, ...]
    unused_closed: Mapping[str, Any]
    creates: bool
    closed: Mapping[str, Any]


def plan_period_close(facts: CloseFacts, *, now: datetime, closed_by: int | None) -> ClosePlan:
    """Close a month once it has ended, months in order; the months between the first period and this one that
    nobody used close with it, so no month before a closed one can ever be opened."""
    period_id = facts.period_id
    check_period_ended(period_id, facts.today)
    if facts.status == PeriodStatus.CLOSED.value:
        raise ClosedPeriod(f"period {period_id} is already closed", field="period", rule="period-open")
    if facts.closed_through is not None and period_id < facts.closed_through:
        raise ClosedPeriod(f"the books are closed through {facts.closed_through}", field="period", rule="period-open")
    if facts.earlier_open is not None:
        raise PeriodOrder(
            f"period {facts.earlier_open} is still open; close it first", field="period", rule="close-in-order"
        )
    month = facts.first if facts.first is not None and facts.first < period_id else period_id
    unused: list[str] = []
    while month < period_id:
        if month not in facts.existing:
            unused.append(month)
        month = next_period(month)
    closed = {"status": PeriodStatus.CLOSED.value, "closed_at": now, "closed_by": closed_by}
    at_end = facts.head if facts.head_at_end is None else facts.head_at_end
    return ClosePlan(
        tuple(unused),
        closed | {"closing_chain_head": facts.head},
        facts.status is None,
        closed | {"closing_chain_head": at_end},
    )


# ---------------------------------------------------------------- four eyes: requests for manual entries and reversals

# Entries a person may ask to reverse through the ledger; every other source belongs to a domain.
REVERSIBLE_SOURCES = frozenset({"manual", "revaluation"})
# Where each domain's entries are corrected instead (shown in the refusal).
DOMAIN_CORRECTIONS = {
    "contribution": "contributions are corrected through governance (a payment recorded against the right target)",
    "assessment": "an assessed fee is set by the fee schedule and the assessment",
    "pledge": "a pledge is corrected by a new agreement or its condition",
    "grant_agreement": "a grant's agreement is corrected through the grant (its closure releases the commitment)",
    "grant_disbursement": "a transfer is corrected by a refund from the grantee (POST /grants/{id}/refunds)",
    "grant_refund": "a refund belongs to its grant",
    "grant_closure": "a closure belongs to its grant",
    "grant_tranche": "a recognised tranche belongs to its grant",
    "funding_decision": "a funding decision's allocation is changed by a decision of the members",
    "window_allocation": "an allocation of pooled funds is changed by a decision of the members",
}


@dataclass(frozen=True, slots=True)
class PlannedAudit:
    """An audit event to record: its object's id is the service's to give when the row has none yet."""

    action: str
    object_type: str
    after: Mapping[str, Any]
    object_id: object = None


def draft_payload(draft: EntryDraft) -> dict[str, Any]:
    """What is to be posted, as canonical JSON values (money as decimal strings with their currency)."""
    return {
        "entry_date": draft.entry_date.isoformat(),
        "description": draft.description,
        "settle_fx": draft.settle_fx,
        "lines": [
            {
                "account": line.account,
                "amount": line.amount.to_str(),
                "currency": line.amount.currency,
                "reporting_amount": None if line.reporting_amount is None else line.reporting_amount.to_str(),
                "contributor_id": line.contributor_id,
                "window_id": line.window_id,
                "grant_id": line.grant_id,
            }
            for line in draft.lines
        ],
    }


def draft_of(payload: dict[str, Any], reporting_currency: str, *, request_id: int) -> EntryDraft:
    return EntryDraft(
        entry_date=date.fromisoformat(payload["entry_date"]),
        description=payload["description"],
        lines=tuple(
            Line(
                line["account"],
                Money.of(line["amount"], line["currency"]),
                None if line["reporting_amount"] is None else Money.of(line["reporting_amount"], reporting_currency),
                contributor_id=line["contributor_id"],
                window_id=line["window_id"],
                grant_id=line["grant_id"],
            )
            for line in payload["lines"]
        ),
        source_type="manual",
        source_id=f"request:{request_id}",
        # The system's own key space: no request's key can take this form (request keys are scoped).
        idempotency_key=f"entry-request:{request_id}",
        settle_fx=payload["settle_fx"],
    )


def require_person(user_id: int | None) -> int:
    """Requests are prepared, approved and rejected by people, never by the system."""
    if user_id is None:
        raise PermissionDenied("a request is prepared and approved by people", rule="person-required")
    return user_id


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """A new request's row and the audit event of its preparation."""

    values: Mapping[str, Any]
    audit: PlannedAudit


def plan_request(
    *,
    kind: str,
    payload: Mapping[str, Any],
    payload_hash: str,
    reason: str,
    size: int,
    idempotency_key: str | None,
    reverses_id: int | None,
    prepared_by: int | None,
    now: datetime,
    threshold: Decimal,
    reporting_currency: str,
) -> RequestPlan:
    """A request waiting for approval: one approver, or two above the charter's threshold."""
    values = {
        "kind": kind,
        "status": RequestStatus.PENDING.value,
        "payload": json.dumps(payload, sort_keys=True),
        "payload_hash": payload_hash,
        "reason": reason,
        "amount": size,
        "approvals_needed": approvals_needed(Money.from_minor(size, reporting_currency).amount, threshold),
        "idempotency_key": idempotency_key,
        "reverses_id": reverses_id,
        "prepared_by": require_person(prepared_by),
        "prepared_at": now,
    }
    after = {"kind": kind, "reason": reason, "size": size}
    return RequestPlan(values, PlannedAudit("ledger.request.prepare", "entry_request", after))


def check_reversal_request(entry_id: int, source_type: str, pending_request: int | None) -> None:
    """Only manual entries and revaluations are reversed by request, one request at a time."""
    if source_type not in REVERSIBLE_SOURCES:
        where = DOMAIN_CORRECTIONS.get(source_type, f"its domain ({source_type})")
        raise Conflict(
            f"entry {entry_id} belongs to {source_type}: never reversed by itself; {where}",
            field="entry_id",
            rule="domain-correction",
            source_type=source_type,
        )
    if pending_request is not None:
        raise Conflict(
            f"request {pending_request} to reverse entry {entry_id} is already waiting for approval",
            field="entry_id",
            rule="one-pending-reversal",
        )


def reversal_size(postings: Iterable[PostingView]) -> int:
    """A reversal's size: the debits of the entry it reverses, in the reporting currency."""
    return sum(p.reporting_amount for p in postings if p.reporting_amount > 0)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """A request as approving or rejecting it needs it."""

    id: int
    kind: str
    status: str
    payload: str
    amount: int
    approvals_needed: int
    prepared_by: int
    first_approved_by: int | None


def check_pending(request: RequestFacts) -> None:
    if request.status != RequestStatus.PENDING.value:
        raise Conflict(f"request {request.id} is {request.status}", field="status", rule="request-pending")


@dataclass(frozen=True, slots=True)
class ReversalOrder:
    """The reversal an approved request posts."""

    entry_id: int
    entry_date: date
    description: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ApprovalPlan:
    """One approval: the request's new values; a first approval's audit event (``posts`` None), or what the last
    approval posts (an entry's draft or a reversal), whose audit ``approved`` gives once it is posted."""

    updates: Mapping[str, Any]
    audit: PlannedAudit | None = None
    posts: EntryDraft | ReversalOrder | None = None


def plan_approval(request: RequestFacts, approver: int | None, now: datetime, reporting_currency: str) -> ApprovalPlan:
    """Approve: a different person than who prepared it (and than the first approver when two are needed); the
    last approval posts the entry or the reversal, exactly as prepared."""
    check_pending(request)
    person = require_person(approver)
    step = checker_step(
        needed=request.approvals_needed,
        approver=person,
        prepared_by=request.prepared_by,
        first_approver=request.first_approved_by,
    )
    if step.refused is not None:
        raise PermissionDenied(step.reason, field="request", rule=step.refused)
    if not step.final:
        audit = PlannedAudit("ledger.request.first_approval", "entry_request", {"size": request.amount}, request.id)
        return ApprovalPlan({"first_approved_by": person, "first_approved_at": now}, audit)
    payload = json.loads(request.payload)
    posts: EntryDraft | ReversalOrder
    if request.kind == "entry":
        posts = draft_of(payload, reporting_currency, request_id=request.id)
    else:
        posts = ReversalOrder(
            int(payload["entry_id"]),
            date.fromisoformat(payload["entry_date"]),
            payload["description"],
            f"entry-request:{request.id}",
        )
    updates = {"status": RequestStatus.APPROVED.value, "approved_by": person, "approved_at": now}
    return ApprovalPlan(updates, None, posts)


def approved(
    plan: ApprovalPlan, request_id: int, entry_id: int, entry_hash: str
) -> tuple[dict[str, Any], PlannedAudit]:
    """The last approval's values and audit event, once its entry ``entry_id`` is posted."""
    after = {"entry_id": entry_id, "hash": entry_hash}
    return dict(plan.updates) | {"entry_id": entry_id}, PlannedAudit(
        "ledger.request.approve", "entry_request", after, request_id
    )


def plan_rejection(
    request: RequestFacts, rejector: int | None, reason: str, now: datetime
) -> tuple[dict[str, Any], PlannedAudit]:
    """Reject: by someone other than who prepared it; the request's new values and the audit event."""
    check_pending(request)
    person = require_person(rejector)
    if person == request.prepared_by:
        raise PermissionDenied("who prepared it cannot reject it", field="request", rule="maker-checker")
    updates = {
        "status": RequestStatus.REJECTED.value,
        "rejected_by": person,
        "rejected_at": now,
        "rejection_reason": reason,
    }
    return updates, PlannedAudit("ledger.request.reject", "entry_request", {"reason": reason}, request.id)
