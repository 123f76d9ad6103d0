"""Properties of the reports' pure arithmetic (reports/figures.py, reports/contributors.py,
reports/portfolio.py), with hypothesis: contributor shares sum exactly to the fund's total and each is within
one minor unit of its exact share; a window's resources split into its earmarked deposits, shared by its
earmarking contributors, and the pooled money allocated to it, shared by the pooled contributors; the
delivery rate is expenditure over net transfers, and n/a without transfers; a selection's drill-down query
names exactly its filters."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from reports.contributors import FundTotals, share_funds
from reports.document import ENTRIES_PATH
from reports.figures import Selection, delivery_rate, pro_rata, share
from reports.portfolio import target_order

totals = st.integers(min_value=-(10**13), max_value=10**13)
weights = st.dictionaries(
    st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=10**12), max_size=30
)


@given(totals, weights)
def test_shares_sum_exactly_to_the_total_and_stay_within_a_minor_unit(total: int, its_weights: dict[int, int]) -> None:
    shares = pro_rata(total, "USD", its_weights)
    positive = {k: w for k, w in its_weights.items() if w > 0}
    assert set(shares) == set(positive)
    if not positive:
        return
    assert sum(shares.values()) == total
    weight_sum = sum(positive.values())
    for key, part in shares.items():
        exact = Fraction(total * positive[key], weight_sum)
        assert abs(part - exact) < 1, (key, part, exact)


@given(totals, weights)
def test_shares_do_not_depend_on_the_order_weights_are_given(total: int, its_weights: dict[int, int]) -> None:
    reordered = dict(reversed(list(its_weights.items())))
    assert pro_rata(total, "USD", reordered) == pro_rata(total, "USD", its_weights)


contributor_ids = st.integers(min_value=1, max_value=40)
window_ids = st.none() | st.integers(min_value=1, max_value=6)
net_deposits = st.dictionaries(
    st.tuples(window_ids, contributor_ids), st.integers(min_value=1, max_value=10**11), min_size=1, max_size=60
)


@st.composite
def facilities(draw: st.DrawFn) -> tuple[dict[tuple[int | None, int | None], int], dict[int | None, FundTotals]]:
    """Net deposits by (window, contributor) and budgetary totals consistent with them: the pooled fund
    allocated part of its deposits to some windows, and each fund transferred and committed parts of its
    resources."""
    deposits: dict[tuple[int | None, int | None], int] = dict(draw(net_deposits).items())
    own: dict[int | None, int] = {}
    for (fund, _), value in deposits.items():
        own[fund] = own.get(fund, 0) + value
    pooled_left = own.get(None, 0)
    resources: dict[int | None, int] = {fund: value for fund, value in own.items() if fund is not None}
    for window in range(1, 7):
        given = draw(st.integers(min_value=0, max_value=pooled_left))
        if given:
            resources[window] = resources.get(window, 0) + given
            pooled_left -= given
    if None in own:
        resources[None] = pooled_left
    totals: dict[int | None, FundTotals] = {}
    for fund, value in resources.items():
        transferred = draw(st.integers(min_value=0, max_value=value))
        pending = draw(st.integers(min_value=0, max_value=value - transferred))
        totals[fund] = FundTotals(value, transferred, pending)
    return deposits, totals


@given(facilities())
def test_a_fund_s_shares_sum_to_its_totals_and_follow_who_supplied_the_money(
    facility: tuple[dict[tuple[int | None, int | None], int], dict[int | None, FundTotals]],
) -> None:
    deposits, totals = facility
    shares = share_funds(deposits, totals, "USD")
    pooled = {c: v for (fund, c), v in deposits.items() if fund is None and c is not None}
    pooled_total = sum(pooled.values())
    for fund, total in totals.items():
        its = shares[fund]
        assert sum(its.resources.values()) == total.resources
        assert sum(its.transferred.values()) == total.transferred or total.resources == 0
        assert sum(its.pending.values()) == total.pending or total.resources == 0
        for contributor_id, part in its.resources.items():
            assert part == its.kept.get(contributor_id, 0) + its.allocated.get(contributor_id, 0)
        if fund is None:
            assert its.allocated == {}
            continue
        # A window keeps exactly what each contributor earmarked to it...
        earmarked = {c: v for (w, c), v in deposits.items() if w == fund and c is not None}
        assert {c: v for c, v in its.kept.items() if v} == earmarked
        # ...and the pooled money allocated to it goes to the pooled contributors by their pooled deposits.
        allocation = total.resources - sum(earmarked.values())
        assert set(its.allocated) <= set(pooled)
        for contributor_id, weight in pooled.items():
            exact = Fraction(allocation * weight, pooled_total)
            assert abs(its.allocated.get(contributor_id, 0) - exact) < 1


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=10**6))
def test_equal_deposits_get_equal_shares_up_to_a_minor_unit(total: int, count: int) -> None:
    shares = pro_rata(total, "JPY", dict.fromkeys(range(1, min(count, 50) + 1), 7))
    assert max(shares.values()) - min(shares.values()) <= 1
    assert sum(shares.values()) == total


@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=-(10**13), max_value=10**13))
def test_delivery_rate_is_expenditure_over_net_transfers(expenditure: int, transferred: int) -> None:
    rate = delivery_rate(expenditure, transferred)
    if transferred <= 0:
        assert rate.value is None
    else:
        assert rate.value is not None
        exact = Fraction(expenditure, transferred)
        # A decimal of 28 significant digits: within a relative 10^-26 of the exact fraction.
        assert abs(Fraction(rate.value) - exact) <= exact / 10**26


@given(st.integers(min_value=-(10**13), max_value=10**13), st.integers(min_value=-(10**13), max_value=10**13))
def test_a_share_of_nothing_is_not_a_number(part: int, whole: int) -> None:
    assert (share(part, whole).value is None) == (whole == 0)


accounts = st.lists(st.sampled_from(["1100", "1200", "4200", "5200", "8100", "8200", "8500"]), min_size=1, unique=True)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
ids = st.none() | st.integers(min_value=1, max_value=2**31 - 1)


@given(
    accounts,
    days,
    st.none() | days,
    ids,
    ids,
    st.booleans(),
    ids,
    st.none() | st.sampled_from(["contribution", "grant_refund"]),
)
def test_a_selection_links_to_exactly_its_filters(
    codes: list[str],
    date_to: date,
    date_from: date | None,
    contributor_id: int | None,
    window_id: int | None,
    pooled: bool,
    grant_id: int | None,
    source_type: str | None,
) -> None:
    if date_from is not None and date_from > date_to:
        date_from = date_to - timedelta(days=1)
    window_id = None if pooled else window_id
    selection = Selection(tuple(codes), date_to, date_from, contributor_id, window_id, pooled, grant_id, source_type)
    url = urlsplit(selection.query().url())
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == ENTRIES_PATH
    expected = {
        "account": ",".join(codes),
        "date_to": date_to.isoformat(),
        **({"date_from": date_from.isoformat()} if date_from else {}),
        **({"contributor_id": str(contributor_id)} if contributor_id else {}),
        **({"window_id": str(window_id)} if window_id else {}),
        **({"window": "pooled"} if pooled else {}),
        **({"grant_id": str(grant_id)} if grant_id else {}),
        **({"source_type": source_type} if source_type else {}),
    }
    assert params == expected
    # Narrowing to a fund switches between a window and the pooled fund, never both.
    assert selection.for_window(None).query().params().get("window") == "pooled"
    assert "window_id" not in selection.for_window(None).query().params()
    assert selection.for_window(7).query().params().get("window_id") == "7"
    assert "window" not in selection.for_window(7).query().params()


targets = st.builds(
    lambda goal, target, indicator: f"{goal}.{target}" + (f".{indicator}" if indicator else ""),
    st.integers(min_value=1, max_value=17),
    st.integers(min_value=1, max_value=99).map(str) | st.sampled_from(list("abc")),
    st.none() | st.integers(min_value=1, max_value=9),
)


@given(st.lists(targets, unique=True))
def test_sdg_targets_sort_by_goal_then_target(found: list[str]) -> None:
    ordered = sorted(found, key=target_order)
    goals = [int(t.split(".")[0]) for t in ordered]
    assert goals == sorted(goals)
    for earlier, later in pairwise(ordered):
        a, b = earlier.split("."), later.split(".")
        if a[0] == b[0] and a[1].isdigit() and b[1].isdigit():
            assert int(a[1]) <= int(b[1])
        if a[0] == b[0] and not a[1].isdigit():
            assert not b[1].isdigit()
