"""Concrete examples for the ledger's money value type."""

from __future__ import annotations

import dataclasses
import operator
from decimal import Decimal
from typing import Any

import pytest
from babel.numbers import format_currency

from ledger.money import (
    ROUNDING,
    CurrencyMismatchError,
    Money,
    MoneyError,
    PrecisionError,
    UnknownCurrencyError,
    allocate,
    convert,
    exponent,
    format_money,
    from_json,
    parse,
    percentage,
    quantize,
    sum_money,
    to_json,
)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


# -- currencies and their exponents ------------------------------------------


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("USD", 2), ("EUR", 2), ("GBP", 2), ("CHF", 2), ("SEK", 2), ("JPY", 0), ("KWD", 3)],
)
def test_exponent_comes_from_cldr(currency: str, expected: int) -> None:
    assert exponent(currency) == expected


@pytest.mark.parametrize("code", ["usd", "US", "USDD", "ABC", "", "U$D", "\uff35\uff33\uff24"])
def test_unknown_or_malformed_currency_codes_are_refused(code: str) -> None:
    with pytest.raises(UnknownCurrencyError):
        Money.of("1", code)
    with pytest.raises(MoneyError):
        exponent(code)


def test_currency_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        Money.from_minor(1, 840)  # type: ignore[arg-type]


# -- constructors and precision ----------------------------------------------


def test_a_dollar_amount_is_held_in_cents() -> None:
    assert usd("1250.00").minor == 125_000
    assert usd("-3.5").minor == -350
    assert Money.of(12, "USD").minor == 1200
    assert Money.of(Decimal("0.5"), "USD").minor == 50


def test_yen_have_no_minor_unit_and_dinars_have_three() -> None:
    assert Money.of("100", "JPY").minor == 100
    assert Money.of("1.25", "KWD").minor == 1250
    assert Money.of("0.001", "KWD").minor == 1


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.234", "USD"), ("0.001", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD"), ("1.005", "GBP")],
)
def test_more_decimals_than_the_currency_allows_is_a_precision_error(amount: str, currency: str) -> None:
    with pytest.raises(PrecisionError):
        Money.of(amount, currency)
    with pytest.raises(PrecisionError):
        Money.of(Decimal(amount), currency)


def test_precision_error_is_a_money_error_and_a_value_error() -> None:
    assert issubclass(PrecisionError, MoneyError)
    assert issubclass(CurrencyMismatchError, MoneyError)
    assert issubclass(MoneyError, ValueError)


def test_trailing_zeros_lose_nothing_and_are_accepted() -> None:
    assert usd("1.230") == usd("1.23")
    assert Money.of("100.00", "JPY") == Money.of(100, "JPY")


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "1E3",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "",
        " ",
        "\t\n",
        " 1",
        "1 ",
        "1,000",
        "1,5",
        "+-1",
        "--1",
        "+1",
        ".5",
        "5.",
        "1_000",
        "1.2.3",
        "٣",  # Arabic-Indic digit three, which Decimal() would accept
        "1\n",
        "$1",
    ],
)
def test_malformed_amount_strings_are_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        Money.of(text, "USD")
    with pytest.raises(MoneyError):
        parse(text, "USD")


@pytest.mark.parametrize("text", ["1.10", "1", "0.5", "-0.5", "0", "-0", "007.00"])
def test_plain_decimal_strings_are_accepted(text: str) -> None:
    assert usd(text).amount == Decimal(text)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")])
def test_non_finite_decimals_are_refused(value: Decimal) -> None:
    with pytest.raises(MoneyError):
        Money.of(value, "USD")


def test_absurd_magnitudes_are_refused_rather_than_computed() -> None:
    with pytest.raises(MoneyError):
        Money.of(Decimal("1E+999999999"), "USD")


@pytest.mark.parametrize("bad", [1.0, 0.1, float("nan"), float("inf")])
def test_floats_are_refused_everywhere(bad: Any) -> None:
    ten = usd("10.00")
    with pytest.raises(TypeError):
        Money.of(bad, "USD")
    with pytest.raises(TypeError):
        Money.from_minor(bad, "USD")
    with pytest.raises(TypeError):
        Money(bad, "USD")
    with pytest.raises(TypeError):
        parse(bad, "USD")
    with pytest.raises(TypeError):
        ten * bad
    with pytest.raises(TypeError):
        bad * ten
    with pytest.raises(TypeError):
        percentage(ten, bad)
    with pytest.raises(TypeError):
        convert(ten, bad, "EUR")
    with pytest.raises(TypeError):
        quantize(bad, "USD")
    with pytest.raises(TypeError):
        allocate(ten, [1, bad])
    with pytest.raises(TypeError):
        from_json({"amount": bad, "currency": "USD"})


@pytest.mark.parametrize("flag", [True, False])
def test_booleans_are_not_amounts(flag: Any) -> None:
    with pytest.raises(TypeError):
        Money.of(flag, "USD")
    with pytest.raises(TypeError):
        Money.from_minor(flag, "USD")
    with pytest.raises(TypeError):
        usd("1.00") * flag
    with pytest.raises(TypeError):
        allocate(usd("1.00"), [flag, 1])


def test_zero_and_from_minor() -> None:
    assert Money.zero("KWD") == Money.from_minor(0, "KWD")
    assert Money.from_minor(125_000, "EUR") == Money.of("1250.00", "EUR")
    assert Money.zero("USD").is_zero


def test_money_is_immutable() -> None:
    m = usd("1.00")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.minor = 2  # type: ignore[misc]
    assert not hasattr(m, "__dict__")


# -- canonical text ----------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "canonical"),
    [
        ("1250", "EUR", "1250.00"),
        ("-3.5", "USD", "-3.50"),
        ("0", "USD", "0.00"),
        ("-0", "USD", "0.00"),
        ("0.07", "USD", "0.07"),
        ("100", "JPY", "100"),
        ("1.25", "KWD", "1.250"),
        ("-0.001", "KWD", "-0.001"),
    ],
)
def test_canonical_string_has_exactly_the_currency_decimals(amount: str, currency: str, canonical: str) -> None:
    m = Money.of(amount, currency)
    assert m.to_str() == canonical
    assert str(m.amount) == canonical
    assert str(m) == f"{canonical} {currency}"


def test_amount_is_an_exact_decimal_quantized_to_the_exponent() -> None:
    assert usd("1250").amount.as_tuple().exponent == -2
    assert Money.of("1", "KWD").amount.as_tuple().exponent == -3
    assert Money.of("5", "JPY").amount.as_tuple().exponent == 0


# -- display through Babel ---------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1250.00", "EUR"), ("-3.5", "USD"), ("1234567", "JPY"), ("1.25", "KWD"), ("9876.5", "SEK")],
)
def test_display_is_babels_own_currency_format(amount: str, currency: str, locale: str) -> None:
    m = Money.of(amount, currency)
    assert format_money(m, locale) == format_currency(Decimal(amount), currency, locale=locale)


def test_display_defaults_to_english() -> None:
    m = Money.of("1250.00", "EUR")
    assert format_money(m) == format_currency(Decimal("1250.00"), "EUR", locale="en")


def test_french_display_groups_with_a_narrow_no_break_space() -> None:
    shown = format_money(Money.of("1250.00", "EUR"), "fr")
    assert "\u202f" in shown
    assert " " not in shown


# -- comparison and arithmetic -----------------------------------------------


def test_arithmetic_within_one_currency() -> None:
    assert usd("10.00") + usd("0.05") == usd("10.05")
    assert usd("10.00") - usd("10.05") == usd("-0.05")
    assert -usd("1.50") == usd("-1.50")
    assert +usd("1.50") == usd("1.50")
    assert abs(usd("-1.50")) == usd("1.50")
    assert usd("1.50") * 3 == usd("4.50")
    assert 3 * usd("1.50") == usd("4.50")
    assert usd("1.50") * -2 == usd("-3.00")


def test_ordering_within_one_currency() -> None:
    assert usd("1.00") < usd("1.01")
    assert usd("1.00") <= usd("1.00")
    assert usd("2.00") > usd("-2.00")
    assert usd("2.00") >= usd("2.00")
    assert usd("2.00") != usd("2.01")
    assert max(usd("1.00"), usd("3.00"), usd("2.00")) == usd("3.00")


def test_sign_predicates() -> None:
    assert usd("0.01").is_positive
    assert not usd("0.01").is_negative
    assert usd("-0.01").is_negative
    assert not usd("0.00").is_positive
    assert not usd("0.00").is_negative
    assert usd("0.00").is_zero


@pytest.mark.parametrize(
    "op",
    [
        operator.add,
        operator.sub,
        operator.eq,
        operator.ne,
        operator.lt,
        operator.le,
        operator.gt,
        operator.ge,
    ],
)
def test_mixing_currencies_is_refused(op: Any) -> None:
    with pytest.raises(CurrencyMismatchError):
        op(usd("1.00"), Money.of("1.00", "EUR"))


def test_money_does_not_mix_with_plain_numbers() -> None:
    with pytest.raises(TypeError):
        usd("1.00") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        usd("1.00") < 1  # type: ignore[operator]  # noqa: B015
    with pytest.raises(TypeError):
        usd("1.00") * Decimal("2")  # type: ignore[operator]
    with pytest.raises(TypeError):
        usd("1.00") / 2  # type: ignore[operator]
    assert usd("1.00") != 1


def test_equal_values_hash_equally() -> None:
    assert hash(usd("1.00")) == hash(Money.from_minor(100, "USD"))
    assert len({usd("1.00"), usd("1.0"), usd("1")}) == 1


def test_sum_money() -> None:
    assert sum_money([usd("1.10"), usd("2.20"), usd("-0.30")], "USD") == usd("3.00")
    assert sum_money([], "KWD") == Money.zero("KWD")
    with pytest.raises(CurrencyMismatchError):
        sum_money([usd("1.00"), Money.of("1", "JPY")], "USD")
    with pytest.raises(CurrencyMismatchError):
        sum_money([usd("1.00")], "EUR")


# -- the one rounding mode ---------------------------------------------------


def test_the_rounding_mode_is_half_even() -> None:
    import decimal

    assert ROUNDING == decimal.ROUND_HALF_EVEN


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("0.125", "USD", 12),
        ("0.135", "USD", 14),
        ("-0.125", "USD", -12),
        ("-0.135", "USD", -14),
        ("0.1251", "USD", 13),
        ("2.5", "JPY", 2),
        ("3.5", "JPY", 4),
        ("0.0005", "KWD", 0),
        ("0.0015", "KWD", 2),
        ("7", "USD", 700),
    ],
)
def test_quantize_rounds_half_to_even(value: str, currency: str, minor: int) -> None:
    assert quantize(Decimal(value), currency) == minor


def test_quantize_is_exact_beyond_default_decimal_precision() -> None:
    # 30 significant digits: more than the default 28-digit decimal context.
    assert quantize(Decimal("123456789012345678901234567.895"), "USD") == (12345678901234567890123456790)


# -- conversion and percentages ----------------------------------------------


def test_conversion_rounds_ties_to_even() -> None:
    # 1 KWD amount at par into USD: three decimals round to two.
    assert convert(Money.of("0.125", "KWD"), "1", "USD") == usd("0.12")
    assert convert(Money.of("0.135", "KWD"), "1", "USD") == usd("0.14")
    assert convert(Money.of("1.00", "EUR"), Decimal("0.125"), "USD") == usd("0.12")
    assert convert(Money.of("1.00", "EUR"), Decimal("0.135"), "USD") == usd("0.14")


def test_conversion_examples() -> None:
    assert convert(Money.of("100.00", "EUR"), "1.0837", "USD") == usd("108.37")
    assert convert(usd("100.00"), "151.235", "JPY") == Money.of("15124", "JPY")
    assert convert(usd("100.00"), "0.30712", "KWD") == Money.of("30.712", "KWD")
    assert convert(usd("-10.00"), "0.9", "EUR") == Money.of("-9.00", "EUR")


@pytest.mark.parametrize("rate", ["0", "-1.2", Decimal("0"), Decimal("-0.5")])
def test_conversion_rates_must_be_positive(rate: Any) -> None:
    with pytest.raises(MoneyError):
        convert(usd("1.00"), rate, "EUR")


@pytest.mark.parametrize("rate", ["1e2", "NaN", "", "1,5", Decimal("NaN"), Decimal("Infinity")])
def test_malformed_rates_are_refused(rate: Any) -> None:
    with pytest.raises(MoneyError):
        convert(usd("1.00"), rate, "EUR")
    with pytest.raises(MoneyError):
        percentage(usd("1.00"), rate)


def test_integer_rates_are_refused_to_avoid_percent_confusion() -> None:
    with pytest.raises(TypeError):
        percentage(usd("100.00"), 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        convert(usd("100.00"), 2, "EUR")  # type: ignore[arg-type]


def test_conversion_into_an_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrencyError):
        convert(usd("1.00"), "1", "ABC")


def test_a_one_percent_fee() -> None:
    assert percentage(Money.of("1250.00", "EUR"), "0.01") == Money.of("12.50", "EUR")
    assert percentage(usd("12.50"), "0.01") == usd("0.12")  # 0.125 -> 0.12
    assert percentage(usd("13.50"), "0.01") == usd("0.14")  # 0.135 -> 0.14
    assert percentage(usd("-12.50"), Decimal("0.01")) == usd("-0.12")
    assert percentage(Money.of("999", "JPY"), "0.015") == Money.of("15", "JPY")


# -- allocation --------------------------------------------------------------


def test_three_way_split_gives_the_odd_cent_to_the_first() -> None:
    parts = allocate(usd("100.00"), [1, 1, 1])
    assert parts == [usd("33.34"), usd("33.33"), usd("33.33")]


def test_negative_totals_split_as_the_mirror_image() -> None:
    parts = allocate(usd("-100.00"), [1, 1, 1])
    assert parts == [usd("-33.34"), usd("-33.33"), usd("-33.33")]


def test_largest_remainder_wins_the_leftover_unit() -> None:
    # shares 0.30, 0.30, 0.40 cents of 1 cent: the largest remainder is the third.
    assert allocate(usd("0.01"), [3, 3, 4]) == [usd("0.00"), usd("0.00"), usd("0.01")]
    # 10 cents by 1:2: shares 3.33.. and 6.66..; the second has the larger remainder.
    assert allocate(usd("0.10"), [1, 2]) == [usd("0.03"), usd("0.07")]


def test_zero_weights_receive_zero() -> None:
    parts = allocate(usd("0.05"), [0, 1, 0, 1])
    assert parts == [usd("0.00"), usd("0.03"), usd("0.00"), usd("0.02")]


def test_decimal_weights() -> None:
    parts = allocate(Money.of("1000", "JPY"), [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")])
    assert parts == [Money.of("500", "JPY"), Money.of("250", "JPY"), Money.of("250", "JPY")]
    parts = allocate(Money.of("1.000", "KWD"), [Decimal("1"), 2])
    # 333.33.. and 666.66.. fils: the second remainder is larger.
    assert parts == [Money.of("0.333", "KWD"), Money.of("0.667", "KWD")]


def test_allocating_zero() -> None:
    assert allocate(Money.zero("EUR"), [1, 2]) == [Money.zero("EUR"), Money.zero("EUR")]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [Decimal("-0.5"), 2], [Decimal("NaN")]])
def test_unusable_weights_are_refused(weights: list[Any]) -> None:
    with pytest.raises(MoneyError):
        allocate(usd("1.00"), weights)


@pytest.mark.parametrize("weights", [[1, "2"], "12", [None]])
def test_weights_must_be_numbers(weights: Any) -> None:
    with pytest.raises(TypeError):
        allocate(usd("1.00"), weights)


# -- JSON --------------------------------------------------------------------


def test_json_form_carries_the_amount_as_a_string() -> None:
    assert to_json(Money.of("1250", "EUR")) == {"amount": "1250.00", "currency": "EUR"}
    assert to_json(Money.of("100", "JPY")) == {"amount": "100", "currency": "JPY"}
    assert from_json({"amount": "1250.00", "currency": "EUR"}) == Money.of("1250", "EUR")


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": "1.00"},
        {"currency": "USD"},
        {"amount": "1.00", "currency": "USD", "extra": 1},
        {"amount": "1.001", "currency": "USD"},
        {"amount": "1.00", "currency": "usd"},
    ],
)
def test_bad_json_payloads_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(MoneyError):
        from_json(payload)


@pytest.mark.parametrize("payload", [{"amount": 100, "currency": "USD"}, {"amount": "1.00", "currency": None}])
def test_json_amounts_and_currencies_must_be_strings(payload: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        from_json(payload)
