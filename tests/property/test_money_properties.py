"""Properties of the ledger's money value type, checked with hypothesis."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.money import (
    Money,
    allocate,
    convert,
    exponent,
    from_json,
    parse,
    percentage,
    quantize,
    to_json,
)

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "GBP", "CHF", "SEK"]

currencies = st.sampled_from(CURRENCIES)
minor_units = st.integers(min_value=-(10**15), max_value=10**15)


@st.composite
def money(draw: st.DrawFn, currency: str | None = None) -> Money:
    code = currency if currency is not None else draw(currencies)
    return Money.from_minor(draw(minor_units), code)


@st.composite
def same_currency(draw: st.DrawFn, n: int) -> list[Money]:
    code = draw(currencies)
    return [draw(money(code)) for _ in range(n)]


int_weights = st.integers(min_value=0, max_value=10_000)
decimal_weights = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False, allow_infinity=False)
weight_lists = st.lists(st.one_of(int_weights, decimal_weights), min_size=1, max_size=25).filter(
    lambda ws: any(w > 0 for w in ws)
)

positive_rates = st.decimals(
    min_value=Decimal("0.000001"),
    max_value=Decimal("100000"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)

# -- allocation --------------------------------------------------------------


@given(total=money(), weights=weight_lists)
def test_allocated_parts_always_sum_to_the_total(total: Money, weights: list[int | Decimal]) -> None:
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert all(p.currency == total.currency for p in parts)
    assert sum(p.minor for p in parts) == total.minor


@given(total=money(), weights=weight_lists)
def test_each_part_is_within_one_minor_unit_of_its_exact_share(total: Money, weights: list[int | Decimal]) -> None:
    weight_sum = sum(Fraction(w) for w in weights)
    for part, w in zip(allocate(total, weights), weights, strict=True):
        share = Fraction(total.minor) * Fraction(w) / weight_sum
        assert abs(part.minor - share) < 1
        if w == 0:
            assert part.is_zero


@given(total=money(), weights=weight_lists)
def test_allocation_is_deterministic_and_mirrors_under_negation(total: Money, weights: list[int | Decimal]) -> None:
    parts = allocate(total, weights)
    assert allocate(total, weights) == parts
    assert allocate(-total, weights) == [-p for p in parts]


# -- text and JSON round trips -----------------------------------------------


@given(m=money())
def test_canonical_string_round_trips(m: Money) -> None:
    assert Money.of(m.to_str(), m.currency) == m
    assert parse(m.to_str(), m.currency) == m
    assert Money.of(m.amount, m.currency) == m


@given(m=money())
def test_canonical_string_has_exactly_the_currency_decimals(m: Money) -> None:
    text = m.to_str()
    decimals = len(text.partition(".")[2])
    assert decimals == exponent(m.currency)
    assert str(m) == f"{text} {m.currency}"


@given(m=money())
def test_json_round_trips(m: Money) -> None:
    payload = to_json(m)
    assert isinstance(payload["amount"], str)
    assert from_json(payload) == m


# -- arithmetic --------------------------------------------------------------


@given(ms=same_currency(3))
def test_addition_is_associative(ms: list[Money]) -> None:
    a, b, c = ms
    assert (a + b) + c == a + (b + c)


@given(ms=same_currency(2))
def test_addition_is_commutative_and_subtraction_undoes_it(ms: list[Money]) -> None:
    a, b = ms
    assert a + b == b + a
    assert (a + b) - b == a
    assert a - a == Money.zero(a.currency)
    assert -a + a == Money.zero(a.currency)
    assert abs(-a) == abs(a)


@given(m=money(), k=st.integers(min_value=-1000, max_value=1000))
def test_multiplying_by_an_int_is_repeated_addition(m: Money, k: int) -> None:
    assert (m * k).minor == m.minor * k
    assert k * m == m * k


# -- conversion and percentages ----------------------------------------------


def nearest_half_even(exact: Fraction) -> int:
    """Independent oracle for the one rounding mode, in exact rational arithmetic."""
    low = exact.numerator // exact.denominator
    rest = exact - low
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and low % 2 == 1):
        return low + 1
    return low


@given(m=money(), rate=positive_rates, target=currencies)
def test_conversion_never_has_more_decimals_than_the_target_allows(m: Money, rate: Decimal, target: str) -> None:
    converted = convert(m, rate, target)
    assert converted.currency == target
    assert converted.amount.as_tuple().exponent == -exponent(target)
    assert len(converted.to_str().partition(".")[2]) == exponent(target)


@given(m=money(), rate=positive_rates, target=currencies)
def test_conversion_rounds_the_exact_product_half_to_even(m: Money, rate: Decimal, target: str) -> None:
    exact = Fraction(m.amount) * Fraction(rate) * 10 ** exponent(target)
    assert convert(m, rate, target).minor == nearest_half_even(exact)
    assert convert(m, str(rate), target) == convert(m, rate, target)


@given(m=money(), rate=st.decimals(places=4, allow_nan=False, allow_infinity=False))
def test_percentage_rounds_the_exact_product_half_to_even(m: Money, rate: Decimal) -> None:
    exact = Fraction(m.minor) * Fraction(rate)
    assert percentage(m, rate).minor == nearest_half_even(exact)


@given(value=st.decimals(allow_nan=False, allow_infinity=False, places=6), code=currencies)
def test_quantize_matches_the_oracle(value: Decimal, code: str) -> None:
    assert quantize(value, code) == nearest_half_even(Fraction(value) * 10 ** exponent(code))


# -- floats are never money --------------------------------------------------


@given(f=st.floats(), m=money(), code=currencies)
def test_floats_are_refused_wherever_they_are_fed(f: float, m: Money, code: str) -> None:
    with pytest.raises(TypeError):
        Money.of(f, code)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.from_minor(f, code)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(f, code)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse(f, code)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        m * f  # type: ignore[operator]
    with pytest.raises(TypeError):
        f * m  # type: ignore[operator]
    with pytest.raises(TypeError):
        percentage(m, f)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        convert(m, f, code)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        quantize(f, code)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        allocate(m, [1, f])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        from_json({"amount": f, "currency": code})
