"""Pure ledger arithmetic: no I/O, so every invariant here is tested by properties.

- ``reporting_amounts``: converts a currency's lines to the reporting currency so that they sum exactly
  to the rounded conversion of their total (largest remainder), so a balanced currency group always
  stays balanced in the reporting currency.
- ``imbalances``: what keeps an entry from balancing, per book and currency and per book in the
  reporting currency.
- ``revaluation``: the unrealised gain or loss of each monetary balance at a closing rate.
- the journal's chain link (``entry_hash``), in the canonical form of ``fundapp.core.chain``.
- ``totals_spans``: which whole months and which days make up a date range, for the posting totals.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from fundapp.core.chain import digest
from ledger.money import exponent, quantize


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
