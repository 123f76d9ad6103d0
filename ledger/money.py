"""Exact money values for the facility's ledger.

A :class:`Money` is an integer count of minor units (cents, fils, yen) plus an
ISO 4217 currency code known to Babel's CLDR data. The number of decimals per
currency (its *exponent*) also comes from CLDR: USD 2, JPY 0, KWD 3.

Floats are refused everywhere (``TypeError``): binary floating point cannot
represent most decimal amounts, so a float reaching the ledger has already
lost money. Amounts enter as decimal strings, ``int`` or ``Decimal``.

Rounding happens in exactly one place, :func:`quantize`, with exactly one mode,
:data:`ROUNDING` = ``ROUND_HALF_EVEN`` (banker's rounding). Half-up always
rounds ties away from zero, so over many conversions and fee computations the
ties accumulate into a systematic drift in one direction; half-even sends
half the ties up and half down, so the rounding error has no bias on average.
:func:`convert` and :func:`percentage` round through :func:`quantize`;
everything else is exact. :func:`allocate` splits without rounding at all, by
the largest-remainder (Hamilton) method, so the parts always add up.

Babel is used for reference data (codes, exponents) and for display
(:func:`format_money`); canonical text is :meth:`Money.to_str` / :func:`to_json`.
"""

from __future__ import annotations

import decimal
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TypedDict

from babel.numbers import format_currency, get_currency_precision, list_currencies

__all__ = [
    "ROUNDING",
    "CurrencyMismatchError",
    "Money",
    "MoneyError",
    "MoneyJSON",
    "PrecisionError",
    "UnknownCurrencyError",
    "allocate",
    "convert",
    "exponent",
    "format_money",
    "from_json",
    "parse",
    "percentage",
    "quantize",
    "sum_money",
    "to_json",
]

#: The single rounding mode of the module; see the module docstring for why.
ROUNDING = decimal.ROUND_HALF_EVEN

# Decimal arithmetic here must be exact: unlimited precision and exponent range,
# and any rounding or overflow traps instead of silently losing digits.
# Only exact operations (multiply, scaleb) run in it, never division.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    rounding=ROUNDING,
    traps=[
        decimal.InvalidOperation,
        decimal.Inexact,
        decimal.Rounded,
        decimal.Overflow,
        decimal.Underflow,
        decimal.DivisionByZero,
    ],
)

# Bound on a decimal's order of magnitude (either direction). Without it a value
# such as Decimal("1E+999999999") would make int conversion run for ages; the
# figure matches CPython's default int/str conversion limit.
_MAX_MAGNITUDE = 4300

# Plain decimal notation only: no exponent, sign "+", grouping, whitespace or
# non-ASCII digits (which Decimal() would otherwise accept).
_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_CODE_RE = re.compile(r"[A-Z]{3}", re.ASCII)


class MoneyError(ValueError):
    """Base class for invalid money values and operations."""


class PrecisionError(MoneyError):
    """The amount has more decimals than its currency allows."""


class CurrencyMismatchError(MoneyError):
    """An operation mixed two different currencies."""


class UnknownCurrencyError(MoneyError):
    """The currency is not a three-letter ISO 4217 code known to CLDR."""


class MoneyJSON(TypedDict):
    """Wire form of a Money: the canonical amount string and the currency code."""

    amount: str
    currency: str


def _refuse_float(value: object, what: str) -> None:
    if isinstance(value, float):
        raise TypeError(f"{what} must not be a float (got {value!r}); use str or Decimal")


@functools.cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@functools.cache
def _exponent(currency: str) -> int:
    if _CODE_RE.fullmatch(currency) is None:
        raise UnknownCurrencyError(f"currency must be three uppercase letters, got {currency!r}")
    if currency not in _known_currencies():
        raise UnknownCurrencyError(f"unknown currency {currency!r}")
    return int(get_currency_precision(currency))


def exponent(currency: str) -> int:
    """Number of decimals of `currency` per CLDR (USD 2, JPY 0, KWD 3); cached."""
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, got {type(currency).__name__}")
    return _exponent(currency)


def _bounded(value: Decimal, what: str) -> Decimal:
    if not value.is_finite():
        raise MoneyError(f"{what} must be finite, got {value}")
    if value and abs(value.adjusted()) > _MAX_MAGNITUDE:
        raise MoneyError(f"{what} is out of range")
    return value


def _parse_decimal(text: str, what: str) -> Decimal:
    if _DECIMAL_RE.fullmatch(text) is None:
        raise MoneyError(f"{what} {text!r} is not a plain decimal number like '-1250.00'")
    return _bounded(Decimal(text), what)


def _to_decimal(value: object, what: str, *, allow_int: bool) -> Decimal:
    """Exact Decimal from str/Decimal (and int if allowed); float and bool are refused."""
    _refuse_float(value, what)
    if isinstance(value, bool):
        raise TypeError(f"{what} must not be a bool")
    if isinstance(value, str):
        return _parse_decimal(value, what)
    if isinstance(value, Decimal):
        return _bounded(value, what)
    if allow_int and isinstance(value, int):
        return _bounded(Decimal(value), what)
    allowed = "str, int or Decimal" if allow_int else "str or Decimal"
    raise TypeError(f"{what} must be {allowed}, got {type(value).__name__}")


def _require_money(value: object, what: str = "value") -> Money:
    if not isinstance(value, Money):
        raise TypeError(f"{what} must be Money, got {type(value).__name__}")
    return value


def quantize(value: Decimal, currency: str) -> int:
    """Round an amount in major units of `currency` to integer minor units.

    The module's only rounding step; it always uses :data:`ROUNDING`.
    """
    value = _to_decimal(value, "value", allow_int=False)
    scaled = value.scaleb(exponent(currency), context=_EXACT)
    return int(scaled.to_integral_value(rounding=ROUNDING, context=_EXACT))


def _exact_minor(amount: Decimal, currency: str) -> int:
    """Minor units of `amount` without rounding; PrecisionError if that would lose digits."""
    scaled = amount.scaleb(exponent(currency), context=_EXACT)
    whole = scaled.to_integral_value(context=_EXACT)
    if scaled != whole:
        raise PrecisionError(f"{amount} has more decimals than {currency} allows ({exponent(currency)})")
    return int(whole)


@dataclass(frozen=True, slots=True, eq=False)
class Money:
    """An exact amount: `minor` integer minor units of ISO 4217 `currency`."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        _refuse_float(self.minor, "minor")
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError(f"minor must be an int, got {type(self.minor).__name__}")
        exponent(self.currency)  # validates the code

    # -- constructors -------------------------------------------------------

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """From a decimal string ("1250.00", "-3.5"), an int of major units, or a Decimal.

        Raises PrecisionError only when digits would be lost: "1.234" USD is refused,
        "1.230" USD is exactly 1.23 and accepted.
        """
        value = _to_decimal(amount, "amount", allow_int=True)
        return cls(_exact_minor(value, currency), currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """From an integer count of minor units (cents for USD)."""
        return cls(minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in `currency`."""
        return cls(0, currency)

    # -- views ---------------------------------------------------------------

    @property
    def amount(self) -> Decimal:
        """Exact Decimal in major units with exactly the currency's decimals."""
        return Decimal(self.minor).scaleb(-exponent(self.currency), context=_EXACT)

    def to_str(self) -> str:
        """Canonical decimal string: "1250.00", "-3.50", "100" (JPY), "1.250" (KWD)."""
        return format(self.amount, "f")

    def __str__(self) -> str:
        return f"{self.to_str()} {self.currency}"

    @property
    def is_zero(self) -> bool:
        """True for a zero amount (a property, so a missing call cannot go unnoticed)."""
        return self.minor == 0

    @property
    def is_positive(self) -> bool:
        """True for an amount above zero."""
        return self.minor > 0

    @property
    def is_negative(self) -> bool:
        """True for an amount below zero."""
        return self.minor < 0

    # -- comparison ----------------------------------------------------------

    def _check_same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")

    def __eq__(self, other: object) -> bool:
        # Comparing amounts in different currencies is a bug, not a False.
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return self.minor == other.minor

    def __hash__(self) -> int:
        return hash((self.minor, self.currency))

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return self.minor >= other.minor

    # -- arithmetic ----------------------------------------------------------

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        # Only int: a fractional factor needs rounding, which belongs to
        # percentage()/convert() or allocate(), never to an operator.
        _refuse_float(factor, "factor")
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError(f"Money can only be multiplied by int, got {type(factor).__name__}")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__


def parse(amount_str: str, currency: str) -> Money:
    """Money from a plain decimal string such as "1250.00" or "-3.5"."""
    _refuse_float(amount_str, "amount")
    if not isinstance(amount_str, str):
        raise TypeError(f"amount must be a str, got {type(amount_str).__name__}")
    return Money.of(amount_str, currency)


def format_money(money: Money, locale: str = "en") -> str:
    """Localised display string via Babel (e.g. "€1,250.00"); never parse it back."""
    money = _require_money(money, "money")
    return format_currency(money.amount, money.currency, locale=locale)


def to_json(m: Money) -> MoneyJSON:
    """{"amount": "1250.00", "currency": "EUR"}: the amount as a string, never a JSON number."""
    m = _require_money(m, "m")
    return {"amount": m.to_str(), "currency": m.currency}


def from_json(d: Mapping[str, object]) -> Money:
    """Inverse of :func:`to_json`; the amount must be a string (JSON numbers are floats)."""
    if not isinstance(d, Mapping):
        raise TypeError(f"expected a mapping, got {type(d).__name__}")
    if set(d) != {"amount", "currency"}:
        raise MoneyError(f"expected keys 'amount' and 'currency', got {sorted(map(str, d))}")
    amount, currency = d["amount"], d["currency"]
    _refuse_float(amount, "amount")
    if not isinstance(amount, str):
        raise TypeError(f"amount must be a str, got {type(amount).__name__}")
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, got {type(currency).__name__}")
    return Money.of(amount, currency)


def sum_money(items: Iterable[Money], currency: str) -> Money:
    """Sum of `items`, all in `currency`; zero for no items."""
    total = Money.zero(currency)
    for item in items:
        total = total + _require_money(item, "item")
    return total


def percentage(money: Money, rate: Decimal | str) -> Money:
    """`money` times `rate` (e.g. "0.01" for a 1% fee), rounded with :data:`ROUNDING`."""
    money = _require_money(money, "money")
    factor = _to_decimal(rate, "rate", allow_int=False)
    product = _EXACT.multiply(money.amount, factor)
    return Money(quantize(product, money.currency), money.currency)


def convert(money: Money, rate: Decimal | str, to_currency: str) -> Money:
    """Convert at `rate` units of `to_currency` per one unit of `money.currency`.

    The exact product is rounded once, with :data:`ROUNDING`, to the target's exponent.
    """
    money = _require_money(money, "money")
    factor = _to_decimal(rate, "rate", allow_int=False)
    if factor <= 0:
        raise MoneyError(f"rate must be positive, got {factor}")
    product = _EXACT.multiply(money.amount, factor)
    return Money(quantize(product, to_currency), to_currency)


def _weight(value: object, index: int) -> Fraction:
    what = f"weight[{index}]"
    _refuse_float(value, what)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"{what} must be int or Decimal, got {type(value).__name__}")
    exact = Fraction(_bounded(Decimal(value), what))
    if exact < 0:
        raise MoneyError(f"{what} must not be negative, got {value}")
    return exact


def allocate(total: Money, weights: Sequence[int | Decimal]) -> list[Money]:
    """Split `total` in proportion to `weights` by largest remainder (Hamilton).

    Parts always sum exactly to `total`, and each is within one minor unit of its
    exact share ``total * w / sum(weights)``. Every part starts at the floor of
    its share; the leftover minor units go one each to the largest remainders,
    ties to the lower index. A negative total is split as its absolute value and
    negated, so signs mirror. Zero weights receive zero.
    """
    total = _require_money(total, "total")
    return [Money(part, total.currency) for part in allocate_minor(total.minor, weights)]


def allocate_minor(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    """:func:`allocate` on a number of minor units (the same rule: largest remainder, ties to the lower index)."""
    if isinstance(weights, str | bytes):
        raise TypeError("weights must be a sequence of int or Decimal")
    exact = [_weight(w, i) for i, w in enumerate(weights)]
    if not exact:
        raise MoneyError("weights must not be empty")
    weight_sum = sum(exact, Fraction(0))
    if weight_sum == 0:
        raise MoneyError("weights must not all be zero")

    units = abs(total)
    shares = [units * w / weight_sum for w in exact]
    parts = [math.floor(s) for s in shares]
    leftover = units - sum(parts)
    # Sum of remainders == leftover and each remainder < 1, so every leftover
    # unit lands on a part with a non-zero remainder (never on a zero weight).
    order = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in order[:leftover]:
        parts[i] += 1
    sign = -1 if total < 0 else 1
    return [sign * p for p in parts]
