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
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

from fundapp.core.chain import digest
from fundapp.core.errors import FieldError
from ledger import chart
from ledger.errors import ClosedAccount, CurrencyNotAllowed, EmptyEntry, LedgerRuleError, UnbalancedEntry
from ledger.money import Money, exponent, quantize
from ledger.types import MAX_LINE_MINOR, ChartAccount, EntryDraft, Line


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
        where = f"{prefix}lines.{i}"
        if not account.is_open:
            raise ClosedAccount(f"account {account.code} is closed", field=f"{where}.account", rule="account-open")
        if not account.allows(line.amount.currency, reporting_currency):
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
    errors = [
        error
        for i, line in enumerate(draft.lines)
        for check in LINE_CHECKS
        if (error := check(line, f"{prefix}lines.{i}", reporting_currency)) is not None
    ]
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
