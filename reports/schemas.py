"""The reports' JSON shape (``reports.render.to_json``), for the API description and for tests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MoneyCellOut(_Out):
    """A money figure: a decimal string in its currency, with the link listing its journal entries."""

    amount: str = Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["-1250.00"])
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    entries: str | None = Field(description="GET this /api/v1/ledger/entries query for the entries behind it")
    unit: Literal["millions"] | None = Field(
        default=None, description="present when the amount is in millions of the currency (two decimals)"
    )


# A cell: money; text (data, a translated label, a name or country in the locale, a ratio as a decimal fraction,
# an exchange rate as a decimal, an ISO date); a count; empty.
CellOut = MoneyCellOut | str | int | None


class ColumnOut(_Out):
    key: str
    label: str
    kind: Literal["text", "count", "money", "percent", "rate", "date"]


class RowOut(_Out):
    style: Literal["line", "heading", "subtotal", "total"]
    level: int = Field(ge=0)
    cells: list[CellOut]


class TableOut(_Out):
    key: str
    title: str
    columns: list[ColumnOut]
    rows: list[RowOut]


class NoteOut(_Out):
    title: str
    paragraphs: list[str]


class ReportOut(_Out):
    """A report in JSON. ``ledger_head`` is the journal's chain head the figures were read at; a ``closed``
    report (every month through ``date_to`` closed) has the head of that close and no ``generated_at``,
    so its body is the same byte for byte whenever it is generated."""

    report: str
    title: str
    subject: str
    locale: Literal["en", "es", "fr"]
    currency: str
    date_from: date | None
    date_to: date
    closed: bool
    ledger_head: str = Field(pattern=r"^[0-9a-f]{64}$")
    generated_at: datetime | None
    parameters: dict[str, str]
    tables: list[TableOut]
    notes: list[NoteOut]
