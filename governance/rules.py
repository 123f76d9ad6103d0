"""Pure governance rules of the first half: countries, tier fees, pro-rating, settlement, arrears.

No I/O here: these are the functions the property tests exercise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.core import get_global

from ledger.money import Money, exponent, quantize

# CLDR aliases that are not current ISO 3166-1 alpha-3 codes, and reserved alpha-2 targets.
_DEPRECATED_ALPHA3 = frozenset({"BUR", "ZAR", "DDR", "FXX", "TMP", "YMD"})
_NOT_ISO_ALPHA2 = frozenset(
    {
        "AC",
        "CP",
        "DG",
        "TA",
        "EA",
        "IC",
        "AN",
        "CS",
        "YU",
        "ZR",
        "TP",
        "BU",
        "DD",
        "FX",
        "YD",
        "NT",
        "SU",
        "QU",
        "EU",
        "EZ",
        "UN",
        "CQ",
        "AA",
        "ZZ",
    }
)
LOCALES = ("en", "es", "fr")


def _private_use(alpha2: str) -> bool:
    return "QM" <= alpha2 <= "QZ" or alpha2.startswith("X")


@cache
def iso_alpha3() -> dict[str, str]:
    """ISO 3166-1 alpha-3 -> alpha-2, from CLDR (249 countries and territories)."""
    english = Locale("en").territories
    mapping: dict[str, str] = {}
    for alias, targets in get_global("territory_aliases").items():
        if len(alias) != 3 or not alias.isalpha() or not alias.isupper() or len(targets) != 1:
            continue
        alpha2 = targets[0]
        if len(alpha2) != 2 or alpha2 not in english or alpha2 in _NOT_ISO_ALPHA2 or _private_use(alpha2):
            continue
        if alias in _DEPRECATED_ALPHA3:
            continue
        mapping[alias] = alpha2
    return mapping


def is_country(code: str) -> bool:
    return code in iso_alpha3()


def country_names(code: str) -> dict[str, str]:
    """The country's name in each supported locale (CLDR)."""
    alpha2 = iso_alpha3()[code]
    return {locale: Locale(locale).territories[alpha2] for locale in LOCALES}


# ---------------------------------------------------------------- tiers and assessment


def part_one_above_part_two(part_one: Money | None, part_two: Money | None) -> bool:
    """The facility's founding rule: for a year, Part I pays more than Part II (same currency)."""
    if part_one is None or part_two is None:
        return True
    return part_one.currency == part_two.currency and part_one > part_two


def months_of_membership(joined_on: date, year: int) -> int:
    """Whole calendar months of ``year`` the member belongs to the facility.

    A member that joined before the year pays the whole year; one that joins during it pays for the
    months after the month it joined, and for that month too when it joined on its first day.
    """
    if joined_on.year < year:
        return 12
    if joined_on.year > year:
        return 0
    return 12 - joined_on.month + (1 if joined_on.day == 1 else 0)


def prorated_fee(annual: Money, months: int) -> Money:
    """``annual`` x months / 12, rounded once by the money module's rule."""
    if not 0 <= months <= 12:
        raise ValueError("months must be within 0..12")
    exact = annual.amount * Decimal(months) / Decimal(12)
    return Money.from_minor(quantize(exact, annual.currency), annual.currency)


# ---------------------------------------------------------------- pledges and contributions


def instalments_sum_to(total: Money, instalments: Sequence[Money]) -> bool:
    return (
        bool(instalments)
        and all(i.currency == total.currency for i in instalments)
        and (sum((i.minor for i in instalments), 0) == total.minor)
    )


@dataclass(frozen=True, slots=True)
class Split:
    """How a deposit divides: what settles the receivable, and what is kept as unapplied credit."""

    applied: int
    unapplied: int


def split_deposit(amount: int, outstanding: int) -> Split:
    applied = max(0, min(amount, outstanding))
    return Split(applied, amount - applied)


def carrying_share(carrying_reporting: int, balance: int, settled: int, reporting_currency: str) -> int:
    """The part of a receivable's carrying reporting value that ``settled`` (of ``balance``) takes away."""
    if balance == 0:
        return 0
    if settled == balance:
        return carrying_reporting
    exact = Decimal(carrying_reporting) * Decimal(settled) / Decimal(balance)
    return quantize(exact.scaleb(-exponent(reporting_currency)), reporting_currency)


# ---------------------------------------------------------------- arrears


@dataclass(frozen=True, slots=True)
class YearArrears:
    year: int
    assessed: int
    paid: int
    currency: str
    due_on: date
    as_of: date

    @property
    def outstanding(self) -> int:
        return max(0, self.assessed - self.paid)

    @property
    def days_overdue(self) -> int:
        if self.outstanding == 0 or self.as_of <= self.due_on:
            return 0
        return (self.as_of - self.due_on).days


def years_in_arrears(arrears: Iterable[YearArrears]) -> int:
    """Years whose fee is overdue and not fully paid."""
    return sum(1 for a in arrears if a.days_overdue > 0)


def voting_suspended(arrears: Iterable[YearArrears], *, rule_on: bool, years_allowed: int) -> tuple[bool, str]:
    """(suspended, reason). Participation is unconditional unless the charter's arrears rule is on."""
    if not rule_on:
        return False, "participation is unconditional: the charter's arrears rule is off"
    overdue = years_in_arrears(arrears)
    if overdue >= years_allowed:
        return True, f"{overdue} years of fees overdue; the charter suspends voting from {years_allowed}"
    return False, f"{overdue} years of fees overdue; the charter suspends voting from {years_allowed}"
