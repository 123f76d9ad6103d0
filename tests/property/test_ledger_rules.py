"""Properties of ledger/rules.py, the ledger's pure arithmetic, checked with hypothesis.

Exact values are recomputed here with ``fractions.Fraction`` (and Python's ``round``, which rounds half to
even like ledger.money), so the oracle shares no code with the implementation.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import rules
from ledger.errors import LedgerRuleError, UnbalancedEntry
from ledger.money import Money, exponent
from ledger.types import EntryDraft, Line

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "GBP", "CHF", "SEK"]
BOOKS = ["financial", "budgetary"]

currencies = st.sampled_from(CURRENCIES)
minor_amounts = st.one_of(
    st.integers(min_value=-1_000, max_value=1_000),
    st.integers(min_value=-(10**15), max_value=10**15),
)


@st.composite
def rates(draw: st.DrawFn) -> Decimal:
    """A positive rate as the ledger stores it: a decimal string, from 1E-12 to about 1E+12."""
    digits = draw(st.integers(min_value=1, max_value=10**12))
    places = draw(st.integers(min_value=0, max_value=12))
    text = str(Decimal(digits).scaleb(-places))
    return Decimal(text)


def exact_minor(amount_minor: int, currency: str, rate: Decimal, reporting: str) -> Fraction:
    """The conversion in minor units of the reporting currency, exactly."""
    return Fraction(amount_minor, 10 ** exponent(currency)) * Fraction(rate) * 10 ** exponent(reporting)


# -- conversion of a currency's lines -------------------------------------------------------------------


@given(amount=minor_amounts, currency=currencies, rate=rates(), reporting=currencies)
def test_convert_minor_is_the_exact_product_rounded_half_to_even(
    amount: int, currency: str, rate: Decimal, reporting: str
) -> None:
    assert rules.convert_minor(amount, currency, rate, reporting) == round(
        exact_minor(amount, currency, rate, reporting)
    )


@given(
    amounts=st.lists(minor_amounts, min_size=1, max_size=12),
    currency=currencies,
    rate=rates(),
    reporting=currencies,
)
def test_reporting_parts_sum_to_the_converted_total_and_stay_within_one_minor_unit(
    amounts: list[int], currency: str, rate: Decimal, reporting: str
) -> None:
    parts = rules.reporting_amounts(amounts, currency, rate, reporting)
    assert len(parts) == len(amounts)
    assert all(isinstance(p, int) for p in parts)
    assert sum(parts) == rules.convert_minor(sum(amounts), currency, rate, reporting)
    assert sum(parts) == round(exact_minor(sum(amounts), currency, rate, reporting))
    for amount, part in zip(amounts, parts, strict=True):
        assert abs(part - exact_minor(amount, currency, rate, reporting)) <= 1, (amount, part)


@given(
    amounts=st.lists(minor_amounts, min_size=1, max_size=12),
    currency=currencies,
    rate=rates(),
    reporting=currencies,
)
def test_a_balanced_currency_group_stays_balanced_in_the_reporting_currency(
    amounts: list[int], currency: str, rate: Decimal, reporting: str
) -> None:
    balanced = [*amounts, -sum(amounts)]
    assert sum(rules.reporting_amounts(balanced, currency, rate, reporting)) == 0


@given(amounts=st.lists(minor_amounts, min_size=1, max_size=12), currency=currencies)
def test_the_reporting_currency_converts_at_par(amounts: list[int], currency: str) -> None:
    assert rules.reporting_amounts(amounts, currency, Decimal(1), currency) == amounts


@given(amount=minor_amounts, currency=currencies, rate=rates(), reporting=currencies)
def test_a_single_line_converts_like_its_total(amount: int, currency: str, rate: Decimal, reporting: str) -> None:
    assert rules.reporting_amounts([amount], currency, rate, reporting) == [
        rules.convert_minor(amount, currency, rate, reporting)
    ]


# -- the balance rule -----------------------------------------------------------------------------------


@st.composite
def line_figures(draw: st.DrawFn) -> list[rules.LineFigures]:
    """Lines of an entry; often balanced per (book, currency) and per book in reporting, sometimes not."""
    raw = draw(
        st.lists(
            st.tuples(
                st.sampled_from(BOOKS),
                st.sampled_from(["USD", "EUR", "JPY", "KWD"]),
                st.integers(-(10**6), 10**6),
                st.integers(-(10**6), 10**6),
            ),
            max_size=10,
        )
    )
    lines = [rules.LineFigures(b, c, a, r) for b, c, a, r in raw]
    if draw(st.booleans()):
        # Close every (book, currency) group and every book's reporting sum with one more line each.
        per_group: dict[tuple[str, str], int] = defaultdict(int)
        per_book: dict[str, int] = defaultdict(int)
        for line in lines:
            per_group[(line.book, line.currency)] += line.amount
            per_book[line.book] += line.reporting_amount
        for (book, currency), total in per_group.items():
            lines.append(rules.LineFigures(book, currency, -total, 0))
        for book, total in per_book.items():
            lines.append(rules.LineFigures(book, "USD", 0, -total))
        if draw(st.booleans()) and lines:
            # ...and then maybe disturb one line again.
            i = draw(st.integers(0, len(lines) - 1))
            line = lines[i]
            nudge = draw(st.sampled_from([(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1)]))
            lines[i] = rules.LineFigures(
                line.book, line.currency, line.amount + nudge[0], line.reporting_amount + nudge[1]
            )
    return draw(st.permutations(lines))


@given(lines=line_figures(), reporting=st.sampled_from(["USD", "EUR"]))
def test_imbalances_is_empty_exactly_when_every_group_and_book_sums_to_zero(
    lines: list[rules.LineFigures], reporting: str
) -> None:
    per_group: dict[tuple[str, str], int] = defaultdict(int)
    per_book: dict[str, int] = defaultdict(int)
    for line in lines:
        per_group[(line.book, line.currency)] += line.amount
        per_book[line.book] += line.reporting_amount
    balanced = all(v == 0 for v in per_group.values()) and all(v == 0 for v in per_book.values())

    found = rules.imbalances(lines, reporting)

    assert (found == []) == balanced
    # And what it reports is exactly the non-zero sums.
    assert {(i.book, i.currency, i.difference) for i in found if not i.in_reporting} == {
        (b, c, d) for (b, c), d in per_group.items() if d
    }
    assert {(i.book, i.currency, i.difference) for i in found if i.in_reporting} == {
        (b, reporting, d) for b, d in per_book.items() if d
    }
    assert all(i.difference != 0 for i in found)


# -- revaluation ----------------------------------------------------------------------------------------


@st.composite
def revaluation_cases(
    draw: st.DrawFn,
) -> tuple[dict[rules.RevaluationKey, tuple[int, int]], dict[str, Decimal], str]:
    reporting = draw(currencies)
    keys = draw(
        st.lists(
            st.builds(
                rules.RevaluationKey,
                account_id=st.integers(1, 6),
                currency=currencies,
                contributor_id=st.none() | st.integers(1, 3),
                window_id=st.none() | st.integers(1, 3),
                grant_id=st.none() | st.integers(1, 3),
            ),
            unique=True,
            max_size=12,
        )
    )
    balances = {k: (draw(minor_amounts), draw(minor_amounts)) for k in keys}
    rate_map = {c: draw(rates()) for c in CURRENCIES if c != reporting}
    rate_map[reporting] = Decimal(1)
    return balances, rate_map, reporting


@given(case=revaluation_cases())
def test_revaluation_brings_each_carrying_value_exactly_to_the_closing_rate(
    case: tuple[dict[rules.RevaluationKey, tuple[int, int]], dict[str, Decimal], str],
) -> None:
    balances, rate_map, reporting = case
    adjustments = rules.revaluation(balances, rate_map, reporting)

    assert set(adjustments) <= set(balances)
    assert all(diff != 0 for diff in adjustments.values())
    for key, (amount, carrying) in balances.items():
        if key.currency == reporting:
            assert key not in adjustments
            continue
        target = round(exact_minor(amount, key.currency, rate_map[key.currency], reporting))
        assert carrying + adjustments.get(key, 0) == target
        assert target == rules.convert_minor(amount, key.currency, rate_map[key.currency], reporting)


@given(case=revaluation_cases())
def test_revaluing_twice_at_the_same_rates_adjusts_nothing(
    case: tuple[dict[rules.RevaluationKey, tuple[int, int]], dict[str, Decimal], str],
) -> None:
    balances, rate_map, reporting = case
    first = rules.revaluation(balances, rate_map, reporting)
    after = {k: (amount, carrying + first.get(k, 0)) for k, (amount, carrying) in balances.items()}
    assert rules.revaluation(after, rate_map, reporting) == {}


# -- periods --------------------------------------------------------------------------------------------

# Every representable day, December 9999 included.
LAST_SAFE_DAY = date(9999, 12, 31)


@given(day=st.dates(max_value=LAST_SAFE_DAY))
def test_period_of_and_period_bounds_round_trip(day: date) -> None:
    period = rules.period_of(day)
    assert len(period) == 7 and period[4] == "-"
    start, end = rules.period_bounds(period)
    assert start <= day <= end
    assert start.day == 1 and (start.year, start.month) == (day.year, day.month)
    assert (end + timedelta(days=1)).day == 1 and (end.year, end.month) == (day.year, day.month)
    assert rules.period_of(start) == rules.period_of(end) == period


@given(day=st.dates(max_value=date(9999, 10, 31)))
def test_consecutive_periods_tile_the_calendar(day: date) -> None:
    _, end = rules.period_bounds(rules.period_of(day))
    following_start, _ = rules.period_bounds(rules.period_of(end + timedelta(days=1)))
    assert following_start == end + timedelta(days=1)
    assert rules.period_of(following_start) > rules.period_of(day)  # ids sort in calendar order


def test_period_bounds_of_the_last_month_of_the_calendar() -> None:
    assert rules.period_bounds(rules.period_of(date.max)) == (date(9999, 12, 1), date.max)


# ---------------------------------------------------------------- the posting totals' spans

FIRST_DAY = date(2020, 1, 1)


def _days_of(spans: rules.TotalsSpans, first: date) -> list[date]:
    """Every day the spans cover: the whole months (from ``first``'s month when since inception), then the runs
    of days."""
    days: list[date] = []
    if spans.months_to is not None:
        day = spans.months_from or first.replace(day=1)
        assert day.day == 1 and spans.months_to.day == 1
        while day.replace(day=1) <= spans.months_to:
            days.append(day)
            day += timedelta(days=1)
    for start, end in spans.days:
        assert start <= end and start.replace(day=1) == end.replace(day=1)  # each run inside one month
        days += [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return days


@given(
    st.one_of(st.none(), st.dates(FIRST_DAY, date(2030, 12, 31))),
    st.dates(FIRST_DAY, date(2030, 12, 31)),
)
def test_the_totals_spans_cover_each_day_of_the_range_once(date_from: date | None, date_to: date) -> None:
    spans = rules.totals_spans(date_from, date_to)
    start = date_from or FIRST_DAY
    if start > date_to:
        assert spans is None
        return
    assert spans is not None
    covered = _days_of(spans, FIRST_DAY)
    covered = [day for day in covered if day >= FIRST_DAY]  # since inception: from the first day here
    assert sorted(covered) == [start + timedelta(days=i) for i in range((date_to - start).days + 1)]
    assert len(set(covered)) == len(covered)
    assert len(spans.days) <= 2


# -- a draft's checks (no database: the validators the posting service calls) -----------------------------

REPORTING = "USD"


def money(minor: int, currency: str) -> Money:
    return Money.from_minor(minor, currency)


@st.composite
def settlement_drafts(draft_: st.DrawFn) -> tuple[EntryDraft, list[rules.LineFigures]]:
    """A settlement: a foreign-currency receivable carried at one value and paid at another, balanced in its
    currency and off by ``gap`` in the reporting currency of the financial book."""
    currency = draft_(st.sampled_from([c for c in CURRENCIES if c != REPORTING]))
    amount = draft_(st.integers(min_value=1, max_value=10**12))
    carried = draft_(st.integers(min_value=1, max_value=10**12))
    paid = draft_(st.integers(min_value=1, max_value=10**12))
    contributor = draft_(st.one_of(st.none(), st.integers(min_value=1, max_value=99)))
    lines = (
        Line("1100", money(amount, currency), money(paid, REPORTING)),
        Line("1200", money(-amount, currency), money(-carried, REPORTING), contributor_id=contributor),
    )
    draft = EntryDraft(date(2026, 3, 16), "settlement", lines, settle_fx=True)
    figures = [
        rules.LineFigures("financial", currency, amount, paid),
        rules.LineFigures("financial", currency, -amount, -carried),
    ]
    return draft, figures


@given(settlement_drafts())
def test_an_fx_settlement_closes_exactly_the_reporting_gap_and_belongs_to_what_was_settled(
    case: tuple[EntryDraft, list[rules.LineFigures]],
) -> None:
    draft, figures = case
    settlement = rules.fx_settlement(draft, figures, REPORTING)
    gap = sum(f.reporting_amount for f in figures)
    if gap == 0:
        assert settlement is None
        return
    assert settlement is not None
    assert settlement.account == (rules.chart.FX_GAIN_REALISED if gap > 0 else rules.chart.FX_LOSS_REALISED)
    closing = rules.LineFigures("financial", settlement.currency, 0, settlement.reporting)
    assert rules.imbalances([*figures, closing], REPORTING) == []
    assert settlement.line.amount.is_zero and settlement.line.contributor_id == draft.lines[0].contributor_id


@given(settlement_drafts())
def test_without_settle_fx_a_reporting_gap_is_refused_naming_the_book(
    case: tuple[EntryDraft, list[rules.LineFigures]],
) -> None:
    draft, figures = case
    draft = dataclasses.replace(draft, settle_fx=False)
    if sum(f.reporting_amount for f in figures) == 0:
        assert rules.fx_settlement(draft, figures, REPORTING) is None
        return
    with pytest.raises(UnbalancedEntry, match=r"financial book off by .* in the reporting currency"):
        rules.fx_settlement(draft, figures, REPORTING)


line_amounts = st.one_of(st.just(0), minor_amounts, st.integers(min_value=10**15 + 1, max_value=10**16))


@given(
    st.lists(
        st.tuples(line_amounts, st.one_of(st.none(), line_amounts), st.sampled_from([REPORTING, "EUR"])),
        min_size=2,
        max_size=6,
    )
)
def test_the_line_checks_refuse_together_exactly_the_lines_that_break_a_rule(
    specs: list[tuple[int, int | None, str]],
) -> None:
    lines = tuple(
        Line("1100", money(amount, currency), None if stated is None else money(stated, REPORTING))
        for amount, stated, currency in specs
    )
    draft = EntryDraft(date(2026, 3, 16), "lines", lines)
    expected = set()
    for i, (amount, stated, currency) in enumerate(specs):
        if abs(amount) > 10**15 or (stated is not None and abs(stated) > 10**15):
            expected.add((f"lines.{i}.amount", "amount-within-range"))
        if amount == 0 and not stated:
            expected.add((f"lines.{i}.amount", "non-zero"))
        if currency == REPORTING and stated is not None and stated != amount:
            expected.add((f"lines.{i}.reporting_amount", "reporting-equals-amount"))
    if not expected:
        rules.check_lines(draft, REPORTING)
        return
    with pytest.raises(LedgerRuleError) as refused:
        rules.check_lines(draft, REPORTING)
    assert {(e.field, e.rule) for e in refused.value.errors} == expected
