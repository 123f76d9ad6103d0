"""A report as plain immutable values, independent of any format.

Each report module builds a :class:`Report` from the ledger and the domain tables at request time; the
renderers (``reports/render.py``) turn the same value into JSON, CSV, HTML or PDF in en, es or fr. Labels
are message keys (``reports/i18n.py``) translated at render time; text that comes from the records in one
language (organisation names, grant titles, a donor's name) is a plain ``str`` and is never translated,
only escaped or neutralised. Names the records hold in three languages (a window's) are a :class:`Name`,
and a country or member state is a :class:`Territory` named by CLDR: both are put in the reader's language
at render time, so every format (JSON and CSV included) says the same. Every money figure may carry the
ledger query that lists the journal entries behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from urllib.parse import urlencode

ENTRIES_PATH = "/api/v1/ledger/entries"


@dataclass(frozen=True, slots=True)
class EntryQuery:
    """The ``/ledger/entries`` filters that list the journal entries behind one figure.

    ``accounts`` are ledger codes (any of them); ``pooled`` asks for lines without a window (the pooled
    fund), which ``window_id`` cannot express.
    """

    accounts: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    currency: str | None = None
    contributor_id: int | None = None
    window_id: int | None = None
    pooled: bool = False
    grant_id: int | None = None
    source_type: str | None = None
    source_id: str | None = None

    def params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.accounts:
            params["account"] = ",".join(self.accounts)
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value.isoformat()
        for name in ("currency", "contributor_id", "window_id", "grant_id", "source_type", "source_id"):
            value = getattr(self, name)
            if value is not None:
                params[name] = str(value)
        if self.pooled:
            params["window"] = "pooled"
        return params

    def url(self) -> str:
        return f"{ENTRIES_PATH}?{urlencode(self.params())}"


@dataclass(frozen=True, slots=True)
class Amount:
    """Money in minor units of ``currency``, with the entries behind it when it comes from the ledger.

    ``unit`` is the power of ten the figure is shown in: 0 (whole units of the currency, ``minor`` in its
    minor units) or :data:`MILLIONS` (millions of the currency: ``minor`` is then in hundredths of a
    million, the figure rounded to two decimals, see :func:`in_millions`)."""

    minor: int
    currency: str
    entries: EntryQuery | None = None
    unit: int = 0

    @property
    def places(self) -> int | None:
        """The decimals the figure has when scaled (None: the currency's own)."""
        return None if self.unit == 0 else UNIT_PLACES


# Figures in millions have this many decimals, whatever the currency.
MILLIONS = 6
UNIT_PLACES = 2


def in_millions(amount: Amount, minor_digits: int) -> Amount:
    """``amount`` (in minor units of a currency with ``minor_digits`` decimals) shown in millions with two
    decimals, rounded on its own half away from zero (ROUND_HALF_UP): 5,927,500.00 is 5.93, 2,345,000.00 is 2.35,
    -5,000.00 is -0.01. Its drill-down query is kept: it lists the entries behind the exact figure."""
    if amount.unit != 0:
        raise ValueError("the amount is already scaled")
    exact = Decimal(amount.minor).scaleb(-(minor_digits + MILLIONS))
    rounded = exact.quantize(Decimal(1).scaleb(-UNIT_PLACES), rounding=ROUND_HALF_UP)
    return Amount(int(rounded.scaleb(UNIT_PLACES)), amount.currency, amount.entries, MILLIONS)


@dataclass(frozen=True, slots=True)
class Ratio:
    """A fraction shown as a percentage; ``None`` when its denominator is zero (shown as a dash)."""

    value: Decimal | None

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Ratio:
        return cls(None if denominator == 0 else Decimal(numerator) / Decimal(denominator))


@dataclass(frozen=True, slots=True)
class Rate:
    """An exchange rate (or any exact decimal that is not money), shown with all its stored digits."""

    value: Decimal


@dataclass(frozen=True, slots=True)
class Label:
    """A message key of ``reports/i18n.py``, translated when the report is rendered. A parameter that is a
    date is written out for the reader's locale ("31 December 2025", "31 de diciembre de 2025"), a rate with
    the locale's decimal sign; any other is text."""

    key: str
    params: tuple[tuple[str, str | date | Rate], ...] = ()

    @classmethod
    def of(cls, key: str, **params: object) -> Label:
        return cls(key, tuple(sorted((k, v if isinstance(v, date | Rate) else str(v)) for k, v in params.items())))


@dataclass(frozen=True, slots=True)
class Name:
    """A name the records hold in English, Spanish and French (a window's), shown in the reader's language.

    ``code`` (a window's code) stands before it, and an en dash, in every language.
    """

    en: str
    es: str
    fr: str
    code: str = ""

    def words(self, locale: str) -> str:
        return {"en": self.en, "es": self.es, "fr": self.fr}.get(locale, self.en)


@dataclass(frozen=True, slots=True)
class Territory:
    """A country or member state by its ISO 3166-1 alpha-3 code, named by CLDR in the reader's language
    (Babel's territory names); a code CLDR does not know is shown as it is."""

    code: str


# A cell: data text (never translated), a translated label, a name in three languages, a country, a count,
# money, a percentage, an exchange rate, a date, or empty.
Cell = str | Label | Name | Territory | int | Amount | Ratio | Rate | date | None


class ColumnKind(StrEnum):
    TEXT = "text"
    COUNT = "count"
    MONEY = "money"
    PERCENT = "percent"
    RATE = "rate"
    DATE = "date"


class RowStyle(StrEnum):
    LINE = "line"
    HEADING = "heading"
    SUBTOTAL = "subtotal"
    TOTAL = "total"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: Label | Name
    kind: ColumnKind


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[Cell, ...]
    style: RowStyle = RowStyle.LINE
    level: int = 0


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    title: Label
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row.cells) != len(self.columns):
                raise ValueError(f"table {self.key}: a row has {len(row.cells)} cells for {len(self.columns)} columns")

    def column(self, key: str) -> int:
        for index, column in enumerate(self.columns):
            if column.key == key:
                return index
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class Note:
    title: Label
    paragraphs: tuple[Label | str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """One report: what it is, which ledger state and period it covers, its tables and notes."""

    name: str
    title: Label
    currency: str
    generated_at: datetime
    ledger_head: str
    date_from: date | None
    date_to: date
    tables: tuple[Table, ...]
    # What the report is about (a contributor's name or member state, a window), if anything.
    subject: str | Name | Territory = ""
    # Every month through date_to is closed: the figures are final and ledger_head is the head at that
    # close, so the JSON and CSV leave out the generation time and come out byte-identical every time.
    closed: bool = False
    notes: tuple[Note, ...] = ()
    parameters: Mapping[str, str] = field(default_factory=dict)
    # Who signs the printed document (HTML and PDF): a line to sign for each, e.g. prepared by, reviewed by.
    signatures: tuple[Label, ...] = ()

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)
