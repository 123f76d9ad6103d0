"""The reports' words in en, es and fr and Babel's formatting (the locale a request asks for: reports/rules.py).

Each report module registers its own labels with :func:`register` at import (one mapping of key to the
three translations), so modules never edit a shared catalogue; the words every report uses alike are the
``common.*`` labels registered here. Registering a key twice with different words, or without all three
locales, fails at import. Money, numbers, percentages, rates, dates and country names are always
formatted by Babel (CLDR) for the chosen locale; English is written as the United Nations write it
(British English: "31 December 2025").
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import NumberPattern, format_currency, format_decimal, get_currency_name

from governance import iso_alpha3
from ledger import exponent
from reports.document import Amount, Label, Name, Rate, Ratio, Territory

LOCALES = ("en", "es", "fr")
DEFAULT_LOCALE = "en"

_CATALOGUE: dict[str, dict[str, str]] = {}


def register(messages: Mapping[str, Mapping[str, str]]) -> None:
    for key, words in messages.items():
        missing = [loc for loc in LOCALES if not words.get(loc)]
        if missing:
            raise ValueError(f"report label {key!r} has no words in {', '.join(missing)}")
        known = _CATALOGUE.get(key)
        if known is not None and known != dict(words):
            raise ValueError(f"report label {key!r} is registered twice with different words")
        _CATALOGUE[key] = {loc: words[loc] for loc in LOCALES}


register(
    {
        "common.item": {"en": "Item", "es": "Concepto", "fr": "Poste"},
        "common.amount": {"en": "Amount", "es": "Importe", "fr": "Montant"},
        "common.total": {"en": "Total", "es": "Total", "fr": "Total"},
        "common.pooled_fund": {"en": "Pooled fund", "es": "Fondo común", "fr": "Fonds commun"},
        "common.window": {"en": "Window", "es": "Ventanilla", "fr": "Guichet"},
    }
)


def known(key: str) -> bool:
    return key in _CATALOGUE


def catalogue() -> Mapping[str, Mapping[str, str]]:
    return _CATALOGUE


def babel_locale(locale: str) -> Locale:
    """The CLDR locale that formats a report in ``locale``. English is British English, the usage of the
    United Nations system ("31 December 2025", not "December 31, 2025"); Spanish and French are CLDR's own."""
    return Locale.parse(_BABEL_LOCALES.get(locale, locale))


_BABEL_LOCALES = {"en": "en_GB"}


def text(label: Label, locale: str) -> str:
    """The label's words in ``locale``, with its parameters filled in (a date written out for the locale);
    an unknown key raises KeyError."""
    words = _CATALOGUE[label.key][locale]
    if not label.params:
        return words
    return words.format(**{k: _parameter(v, locale) for k, v in label.params})


def _parameter(value: str | date | Rate, locale: str) -> str:
    if isinstance(value, Rate):
        return rate(value, locale)
    if isinstance(value, date):
        return day(value, locale)
    return value


def name(value: Name, locale: str) -> str:
    """A name held in three languages, in ``locale``, after its code when it has one."""
    words = value.words(locale)
    return f"{value.code} \u2013 {words}" if value.code else words


def territory(value: Territory, locale: str) -> str:
    """A country's CLDR name in ``locale`` (from its ISO 3166-1 alpha-3 code); an unknown code as it is."""
    alpha2 = iso_alpha3().get(value.code)
    if alpha2 is None:
        return value.code
    return str(babel_locale(locale).territories.get(alpha2, value.code))


def figure(amount: Amount, locale: str) -> str:
    """Money as a number for the locale, with the currency's decimals and no currency sign: the column or the
    table says the currency once ("1 234,50" in French)."""
    pattern = _with_decimals(babel_locale(locale).decimal_formats[None], places_of(amount))
    return str(pattern.apply(_decimal(amount), babel_locale(locale)))


def money(amount: Amount, locale: str) -> str:
    """Money with its ISO code where the locale puts a currency ("1 234,50 EUR"): for a column whose figures
    are in several currencies."""
    pattern = babel_locale(locale).currency_formats["standard"].pattern.replace("\u00a4", "\u00a4\u00a4")
    shown = format_currency(
        _decimal(amount),
        amount.currency,
        format=pattern,
        locale=babel_locale(locale),
        currency_digits=amount.unit == 0,
    )
    # CLDR separates a currency code from the digits it touches (its currencySpacing rule; Babel does not).
    return re.sub(r"(?<=[A-Z]{3})(?=[-\d])|(?<=\d)(?=[A-Z]{3})", "\u00a0", shown)


def currency_name(currency: str, locale: str) -> str:
    """The currency's name for a heading: "US dollars (USD)", "dólares estadounidenses (USD)"."""
    return f"{get_currency_name(currency, count=2, locale=babel_locale(locale))} ({currency})"


def decimal_string(amount: Amount) -> str:
    """The amount as a plain decimal string with the currency's precision ("-1250.00"): JSON and CSV."""
    places = places_of(amount)
    return str(Decimal(amount.minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


def percent(ratio: Ratio, locale: str) -> str:
    """A percentage with one decimal in the locale's own pattern ("45.7%", "45,7 %")."""
    if ratio.value is None:
        return "\u2013"  # an en dash: no ratio when the denominator is zero
    pattern = _with_decimals(babel_locale(locale).percent_formats[None], 1)
    return str(pattern.apply(ratio.value, babel_locale(locale)))


def rate(value: Rate, locale: str) -> str:
    """An exchange rate with every stored digit, in the locale's decimal pattern ("1,142430" in French)."""
    places = max(0, -int(value.value.as_tuple().exponent))
    pattern = _with_decimals(babel_locale(locale).decimal_formats[None], places)
    return str(pattern.apply(value.value, babel_locale(locale)))


def count(value: int, locale: str) -> str:
    return format_decimal(value, locale=babel_locale(locale))


def day(value: date, locale: str) -> str:
    """A date written out ("31 December 2025", "31 de diciembre de 2025", "31 décembre 2025")."""
    return format_date(value, format="long", locale=babel_locale(locale))


def short_day(value: date, locale: str) -> str:
    """A date in a table cell ("31 Dec 2025")."""
    return format_date(value, format="medium", locale=babel_locale(locale))


def clock_time(value: datetime, locale: str) -> str:
    """The time of day with its zone as the clock names it ("09:41 UTC" in every language; the service's
    clock is UTC, and a time without a zone is taken as UTC)."""
    shown = format_time(value, format="HH:mm", tzinfo=value.tzinfo, locale=babel_locale(locale))
    return f"{shown} {value.tzname() or 'UTC'}"


def places_of(amount: Amount) -> int:
    """The decimals a figure is written with: the currency's (JPY none, KWD three), or two for a figure in
    millions."""
    return exponent(amount.currency) if amount.places is None else amount.places


def _decimal(amount: Amount) -> Decimal:
    return Decimal(amount.minor).scaleb(-places_of(amount))


def _with_decimals(pattern: NumberPattern, places: int) -> NumberPattern:
    """A copy of one of the locale's number patterns showing exactly ``places`` decimals."""
    exact = copy.copy(pattern)
    exact.frac_prec = (places, places)
    return exact
