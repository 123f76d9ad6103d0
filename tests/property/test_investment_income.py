"""Investment income (issue 21, acceptance 6): the interest earned on cash held is allocated to the pooled
fund and the windows by their time-weighted balances, by largest remainder; the parts sum exactly to the
income, follow the balances, and each contributor's shares of a fund's part sum to it."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from governance.rules import allocate_income, balance_days, fund_order, time_weighted_balances
from reports.contributors import FundTotals, share_funds

FUNDS = st.sampled_from([None, 1, 2, 3, 4, 5])
weights = st.dictionaries(FUNDS, st.integers(min_value=0, max_value=10**15), min_size=1).filter(
    lambda w: any(v > 0 for v in w.values())
)
totals = st.integers(min_value=0, max_value=10**13)


@given(totals, weights)
def test_the_parts_sum_exactly_to_the_income_each_within_a_minor_unit(total: int, its: dict[int | None, int]) -> None:
    parts = allocate_income(total, its)
    assert sum(parts.values()) == total
    weight_sum = sum(w for w in its.values() if w > 0)
    assert set(parts) == {f for f, w in its.items() if w > 0}
    for fund, part in parts.items():
        assert abs(part - Fraction(total * its[fund], weight_sum)) < 1


@given(totals, weights)
def test_a_larger_balance_never_gets_less(total: int, its: dict[int | None, int]) -> None:
    parts = allocate_income(total, its)
    for a in parts:
        for b in parts:
            if its[a] > its[b]:
                assert parts[a] >= parts[b]
            if its[a] == its[b] and fund_order(a) < fund_order(b):
                # Equal balances: equal parts, or the first in the funds' order takes the odd unit.
                assert parts[a] - parts[b] in (0, 1)


@given(st.integers(min_value=1, max_value=365), st.data())
def test_balances_held_longer_weigh_more(days: int, data: st.DataObject) -> None:
    start = date(2026, 1, 1)
    end = start + timedelta(days=days - 1)
    amount = data.draw(st.integers(min_value=1, max_value=10**12))
    first = data.draw(st.integers(min_value=0, max_value=days - 1))
    later = data.draw(st.integers(min_value=first, max_value=days - 1))
    # The same amount arriving on two days: the earlier one is held for more days, and weighs more.
    changes = {1: {start + timedelta(days=first): amount}, 2: {start + timedelta(days=later): amount}}
    summed = balance_days(changes, start, end)
    assert summed[1] == amount * (days - first)
    assert summed[2] == amount * (days - later)
    assert (summed[1] > summed[2]) == (first < later)
    averages = time_weighted_balances(changes, start, end)
    assert averages[1] >= averages[2]
    # An opening balance (dated before the period) is held every day; a change after the end not at all.
    held = balance_days({None: {start - timedelta(days=3): amount, end + timedelta(days=1): amount}}, start, end)
    assert held[None] == amount * days


@given(st.integers(min_value=1, max_value=60), st.lists(st.tuples(st.integers(0, 59), st.integers(-(10**9), 10**9))))
def test_the_average_is_the_mean_of_the_daily_balances(days: int, moves: list[tuple[int, int]]) -> None:
    start = date(2026, 3, 1)
    end = start + timedelta(days=days - 1)
    changes: dict[date, int] = {}
    for offset, value in moves:
        day = start + timedelta(days=offset % days)
        changes[day] = changes.get(day, 0) + value
    daily = [sum(v for d, v in changes.items() if d <= start + timedelta(days=i)) for i in range(days)]
    assert balance_days({None: changes}, start, end)[None] == sum(daily)


@given(
    totals,
    weights,
    st.dictionaries(
        st.tuples(FUNDS, st.integers(min_value=1, max_value=8)), st.integers(min_value=1, max_value=10**9), min_size=1
    ),
)
def test_contributor_shares_sum_to_each_fund_s_part(
    total: int, its: dict[int | None, int], deposits: dict[tuple[int | None, int], int]
) -> None:
    """The income made available in each fund is shared among its contributors; their shares of each fund's
    income sum exactly to the fund's part, and their resources still sum to the fund's."""
    parts = allocate_income(total, its)
    own: dict[int | None, int] = {}
    for (fund, _), value in deposits.items():
        own[fund] = own.get(fund, 0) + value
    fund_totals = {fund: FundTotals(resources=own.get(fund, 0) + parts.get(fund, 0)) for fund in {*own, *parts}}
    shares = share_funds(dict(deposits.items()), fund_totals, "USD", parts)
    pooled_weights = any(f is None for f, _ in deposits)
    for fund, part in parts.items():
        its_shares = shares[fund]
        has_weights = any(f == fund for f, _ in deposits) or (fund is not None and pooled_weights)
        if not has_weights:
            continue  # no contributor supplied the fund: no one to share with
        assert sum(its_shares.income.values()) == part
        assert sum(its_shares.resources.values()) == fund_totals[fund].resources
