"""The reports' words in en, es and fr and Babel's formatting (the locale a request asks for: reports/rules.py).

Each report module registers its own labels with :func:`register` at import (one mapping of key to the
three translations), so modules never edit a shared catalogue; the words every report uses alike are the
``common.*`` labels registered here. Registering a key twice with different words, or without all three
locales, fails at import. Money, numbers, percentages and dates are always
formatted by Babel for the chosen locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from ledger.money import exponent
from reports.document import Amount, Label, Ratio

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


def text(label: Label, locale: str) -> str:
    """The label's words in ``locale``, with its parameters filled in; an unknown key raises KeyError."""
    words = _CATALOGUE[label.key][locale]
    return words.format(**dict(label.params)) if label.params else words


def money(amount: Amount, locale: str) -> str:
    return format_currency(Decimal(amount.minor).scaleb(-exponent(amount.currency)), amount.currency, locale=locale)


def decimal_string(amount: Amount) -> str:
    """The amount as a plain decimal string with the currency's precision ("-1250.00"): JSON and CSV."""
    places = exponent(amount.currency)
    return str(Decimal(amount.minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


def percent(ratio: Ratio, locale: str) -> str:
    if ratio.value is None:
        return "\u2013"  # an en dash: no ratio when the denominator is zero
    return format_percent(ratio.value, format="#,##0.0%", locale=locale)


def count(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def day(value: date, locale: str) -> str:
    return format_date(value, format="medium", locale=locale)


def moment(value: datetime, locale: str) -> str:
    return format_datetime(value, format="medium", tzinfo=value.tzinfo, locale=locale)
