"""One :class:`~reports.document.Report` in four formats: JSON, CSV, HTML and PDF, in en, es or fr.

- JSON: labels translated, names (a window's, a country's) in the locale; money as ``{"amount": "-1250.00",
  "currency", "entries"}`` where ``entries`` is the drill-down link (the ``/ledger/entries`` query behind
  the figure); ratios as decimal fractions ("0.456700"); rates as decimals; dates ISO; counts as integers.
- CSV: one file for the whole report (layout in docs/api.md): each line starts with the table's key, the
  kind of row and its level, then the cells. Text cells are neutralised for spreadsheets
  (``rules.neutralise``); numbers are plain decimal strings that parse back exactly.
- HTML: Jinja2 templates with autoescaping, Babel-formatted figures (money without a currency sign: the
  table or the column says it once, see :func:`currencies`), the project's stylesheet.
- PDF: the HTML through WeasyPrint, tagged (A4; each table planned by ``reports/layout.py``: portrait, a
  landscape page, or parts that repeat the row labels; a running header, and a footer that reads as a
  sentence with the period, the generation time and its zone, the ledger's chain head and "page X of Y");
  WeasyPrint reads nothing but the project's own assets and templates (:class:`ProjectFetcher`).

JSON and CSV carry the ledger's chain head the report was read at, and the generation time only while the
report is not ``closed``: once every month through its last day is closed, its head is the one of that
close and the report is byte-identical whenever it is generated.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from weasyprint import HTML  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]

from fundapp.core.config import Settings
from reports import i18n, layout
from reports.document import (
    MILLIONS,
    Amount,
    Cell,
    Column,
    ColumnKind,
    Label,
    Name,
    Rate,
    Ratio,
    Report,
    Table,
    Territory,
)
from reports.rules import ReportFormat, css_string, neutralise, ratio_string, safe_filename_part

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STYLESHEET = "report.css"
# The only folders WeasyPrint may read from: the project's own stylesheet, fonts, images and templates.
PROJECT_RESOURCE_DIRS = (ASSETS_DIR, TEMPLATES_DIR)
DEFAULT_FACILITY_NAME: str = Settings().facility_name

i18n.register(
    {
        "render.period": {"en": "Period", "es": "Período", "fr": "Période"},
        "render.period_range": {
            "en": "{start} to {end}",
            "es": "del {start} al {end}",
            "fr": "du {start} au {end}",
        },
        "render.since_inception": {
            "en": "from inception to {end}",
            "es": "desde el inicio hasta el {end}",
            "fr": "depuis la création jusqu'au {end}",
        },
        # The header's details and the footer say when a report was made in the same words.
        "render.generated_at": {"en": "Generated on", "es": "Generado el", "fr": "Généré le"},
        "render.moment": {"en": "{day} at {time}", "es": "{day} a las {time}", "fr": "{day} à {time}"},
        # "Period: ..." (French sets a no-break space before the colon).
        "render.colon": {"en": "{label}: {value}", "es": "{label}: {value}", "fr": "{label}\u00a0: {value}"},
        "render.amounts_in": {
            "en": "Amounts in {currency}",
            "es": "Importes en {currency}",
            "fr": "Montants en {currency}",
        },
        "render.amounts_in_millions": {
            "en": "Amounts in millions of {currency}",
            "es": "Importes en millones de {currency}",
            "fr": "Montants en millions de {currency}",
        },
        "render.part": {
            "en": "{title} (continued), part {part} of {parts}",
            "es": "{title} (continuación), parte {part} de {parts}",
            "fr": "{title} (suite), partie {part} sur {parts}",
        },
        "render.first_part": {
            "en": "Part 1 of {parts}",
            "es": "Parte 1 de {parts}",
            "fr": "Partie 1 sur {parts}",
        },
        "render.certification": {"en": "Certification", "es": "Certificación", "fr": "Certification"},
        "render.sign.name": {"en": "Name", "es": "Nombre", "fr": "Nom"},
        "render.sign.function": {"en": "Title", "es": "Cargo", "fr": "Fonction"},
        "render.sign.signature": {"en": "Signature", "es": "Firma", "fr": "Signature"},
        "render.sign.date": {"en": "Date", "es": "Fecha", "fr": "Date"},
        "render.ledger_head": {
            "en": "Ledger chain head",
            "es": "Cabeza de la cadena del libro mayor",
            "fr": "Tête de la chaîne du grand livre",
        },
        "render.reporting_currency": {
            "en": "Reporting currency",
            "es": "Moneda de presentación",
            "fr": "Monnaie de présentation",
        },
        "render.currency": {"en": "Currency", "es": "Moneda", "fr": "Devise"},
        "render.page_of": {
            "en": "Page {page} of {pages}",
            "es": "Página {page} de {pages}",
            "fr": "Page {page} sur {pages}",
        },
        "render.drill_down": {
            "en": "Journal entries behind this figure",
            "es": "Asientos del diario que sustentan esta cifra",
            "fr": "Écritures du journal à l'origine de ce montant",
        },
        "render.notes": {"en": "Notes", "es": "Notas", "fr": "Notes"},
        "render.status": {"en": "Status", "es": "Estado", "fr": "Statut"},
        "render.closed": {
            "en": "Final: every month of the period is closed",
            "es": "Definitivo: todos los meses del período están cerrados",
            "fr": "Définitif : tous les mois de la période sont clôturés",
        },
        "render.open": {
            "en": "Provisional: the period is still open to entries",
            "es": "Provisional: el período sigue abierto a nuevos asientos",
            "fr": "Provisoire : la période est encore ouverte aux écritures",
        },
        "render.csv.table": {"en": "table", "es": "tabla", "fr": "tableau"},
        "render.csv.row": {"en": "row", "es": "fila", "fr": "ligne"},
        "render.csv.level": {"en": "level", "es": "nivel", "fr": "niveau"},
        "render.csv.values": {"en": "values", "es": "valores", "fr": "valeurs"},
    }
)


def _words(key: str, locale: str, **params: object) -> str:
    return i18n.text(Label.of(key, **params), locale)


def _text(value: Label | Name | Territory | str, locale: str) -> str:
    """A label, a name or a country in ``locale``; data text as it is."""
    if isinstance(value, Label):
        return i18n.text(value, locale)
    if isinstance(value, Name):
        return i18n.name(value, locale)
    if isinstance(value, Territory):
        return i18n.territory(value, locale)
    return value


def period_text(report: Report, locale: str) -> str:
    """The period written out: "1 January 2025 to 31 December 2025", "desde el inicio hasta el ..."."""
    if report.date_from is None:
        return _words("render.since_inception", locale, end=report.date_to)
    return _words("render.period_range", locale, start=report.date_from, end=report.date_to)


def generated_text(report: Report, locale: str) -> str:
    """When the report was made, with the time zone: "3 December 2026 at 09:41 UTC"."""
    moment = report.generated_at
    return _words("render.moment", locale, day=moment.date(), time=i18n.clock_time(moment, locale))


def _colon(label: str, value: str, locale: str) -> str:
    return _words("render.colon", locale, label=label, value=value)


def footer_text(report: Report, locale: str) -> str:
    """The printed footer, a sentence in each language: "Period: 1 January 2025 to 31 December 2025 ·
    Generated on 3 December 2026 at 09:41 UTC", then the ledger's chain head on a line of its own."""
    period = _colon(_words("render.period", locale), period_text(report, locale), locale)
    generated = f"{_words('render.generated_at', locale)} {generated_text(report, locale)}"
    head = _colon(_words("render.ledger_head", locale), report.ledger_head, locale)
    return f"{period} \u00b7 {generated}\n{head}"


# ---------------------------------------------------------------- JSON


def json_cell(cell: Cell, locale: str) -> Any:
    if isinstance(cell, Amount):
        found = {
            "amount": i18n.decimal_string(cell),
            "currency": cell.currency,
            "entries": None if cell.entries is None else cell.entries.url(),
        }
        if cell.unit == MILLIONS:  # the amount is in millions of the currency
            found["unit"] = "millions"
        return found
    if isinstance(cell, Ratio):
        return ratio_string(cell)
    if isinstance(cell, Rate):
        return str(cell.value)
    if isinstance(cell, Label | Name | Territory):
        return _text(cell, locale)
    if isinstance(cell, date):
        return cell.isoformat()
    return cell  # str, int (a count) or None


def to_json(report: Report, locale: str) -> dict[str, Any]:
    """The report as JSON values (schema: ``reports.schemas.ReportOut``)."""
    return {
        "report": report.name,
        "title": i18n.text(report.title, locale),
        "subject": _text(report.subject, locale),
        "locale": locale,
        "currency": report.currency,
        "date_from": None if report.date_from is None else report.date_from.isoformat(),
        "date_to": report.date_to.isoformat(),
        "closed": report.closed,
        "ledger_head": report.ledger_head,
        "generated_at": None if report.closed else report.generated_at.isoformat(),
        "parameters": dict(sorted(report.parameters.items())),
        "tables": [
            {
                "key": table.key,
                "title": i18n.text(table.title, locale),
                "columns": [
                    {"key": c.key, "label": _text(c.label, locale), "kind": c.kind.value} for c in table.columns
                ],
                "rows": [
                    {
                        "style": row.style.value,
                        "level": row.level,
                        "cells": [json_cell(cell, locale) for cell in row.cells],
                    }
                    for row in table.rows
                ],
            }
            for table in report.tables
        ],
        "notes": [
            {"title": i18n.text(note.title, locale), "paragraphs": [_text(p, locale) for p in note.paragraphs]}
            for note in report.notes
        ],
    }


# ---------------------------------------------------------------- CSV


def csv_cells(column: Column, cell: Cell, locale: str) -> list[str]:
    """One cell as CSV fields: a money column is two fields (the decimal amount and its currency)."""
    if column.kind is ColumnKind.MONEY:
        return [csv_field(cell, locale), cell.currency if isinstance(cell, Amount) else ""]
    return [csv_field(cell, locale)]


def csv_field(cell: Cell, locale: str) -> str:
    """Numbers as plain decimal strings (they parse back exactly); text neutralised for spreadsheets."""
    if cell is None:
        return ""
    if isinstance(cell, Amount):
        return i18n.decimal_string(cell)
    if isinstance(cell, Ratio):
        return ratio_string(cell) or ""
    if isinstance(cell, Rate):
        return str(cell.value)
    if isinstance(cell, bool):  # not a cell type, but never let one pass as the number 0 or 1
        return neutralise(str(cell))
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, date):
        return cell.isoformat()
    return neutralise(_text(cell, locale))


def _csv_lines(report: Report, locale: str) -> Iterator[list[str]]:
    yield [_words(f"render.csv.{word}", locale) for word in ("table", "row", "level", "values")]
    yield ["", "report", "0", neutralise(report.name), neutralise(i18n.text(report.title, locale))]
    if report.subject:
        yield ["", "subject", "0", neutralise(_text(report.subject, locale))]
    yield [
        "",
        "period",
        "0",
        "" if report.date_from is None else report.date_from.isoformat(),
        report.date_to.isoformat(),
    ]
    yield ["", "currency", "0", report.currency]
    yield ["", "closed", "0", "true" if report.closed else "false"]
    yield ["", "ledger_head", "0", report.ledger_head]
    if not report.closed:
        yield ["", "generated_at", "0", report.generated_at.isoformat()]
    for name, value in sorted(report.parameters.items()):
        yield ["", "parameter", "0", neutralise(name), neutralise(value)]
    for table in report.tables:
        yield from _csv_table(table, locale)
    for index, note in enumerate(report.notes, start=1):
        paragraphs = [neutralise(_text(p, locale)) for p in note.paragraphs]
        yield ["notes", "note", str(index), neutralise(i18n.text(note.title, locale)), *paragraphs]


def _csv_table(table: Table, locale: str) -> Iterator[list[str]]:
    key = neutralise(table.key)
    yield [key, "title", "0", neutralise(i18n.text(table.title, locale))]
    header: list[str] = []
    currency_word = _words("render.currency", locale)
    for column in table.columns:
        header.append(neutralise(_text(column.label, locale)))
        if column.kind is ColumnKind.MONEY:
            header.append(neutralise(currency_word))
    yield [key, "header", "0", *header]
    for row in table.rows:
        fields: list[str] = []
        for column, cell in zip(table.columns, row.cells, strict=True):
            fields.extend(csv_cells(column, cell, locale))
        yield [key, row.style.value, str(row.level), *fields]


def to_csv(report: Report, locale: str) -> str:
    """The whole report as one RFC 4180 CSV text (CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(_csv_lines(report, locale))
    return out.getvalue()


# ---------------------------------------------------------------- HTML

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Figures, counts, percentages, rates and dates: right-aligned (except dates) and never wrapped.
_NUMERIC = {ColumnKind.MONEY, ColumnKind.COUNT, ColumnKind.PERCENT, ColumnKind.RATE}
_UNBROKEN = _NUMERIC | {ColumnKind.DATE}


def display(cell: Cell, locale: str, *, with_currency: bool = True) -> str:
    """A cell as a reader sees it, formatted by Babel for ``locale``: money as a number with the currency's
    decimals (with its ISO code only when ``with_currency``, for a column of several currencies), counts,
    percentages, rates, dates, names in the reader's language and countries by their CLDR names."""
    if cell is None:
        return ""
    if isinstance(cell, Amount):
        return i18n.money(cell, locale) if with_currency else i18n.figure(cell, locale)
    if isinstance(cell, Ratio):
        return i18n.percent(cell, locale)
    if isinstance(cell, Rate):
        return i18n.rate(cell, locale)
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, int):
        return i18n.count(cell, locale)
    if isinstance(cell, date):
        return i18n.short_day(cell, locale)
    return _text(cell, locale)


@dataclass(frozen=True, slots=True)
class Currencies:
    """Where a table says its currency: once for the whole table when all its money is in one currency;
    otherwise in the header of each column whose money is in one currency, and in the cells of a column
    that mixes currencies (``mixed``, column indexes)."""

    table: str | None
    columns: tuple[str | None, ...]
    mixed: frozenset[int]


def currencies(table: Table) -> Currencies:
    found: list[set[str]] = [set() for _ in table.columns]
    for row in table.rows:
        for index, cell in enumerate(row.cells):
            if isinstance(cell, Amount):
                found[index].add(cell.currency)
    every = set().union(*found)
    if len(every) == 1:
        return Currencies(every.pop(), tuple(None for _ in found), frozenset())
    columns = tuple(next(iter(seen)) if len(seen) == 1 else None for seen in found)
    return Currencies(None, columns, frozenset(i for i, seen in enumerate(found) if len(seen) > 1))


def _page_css(report: Report, locale: str, facility_name: str) -> Markup:
    """The printed pages: A4 with the side margins the table layout is planned for, landscape pages for
    wide tables (``reports/layout.py``), the tables' font sizes, and the running header and footer. Every
    text is a fully escaped CSS string (``rules.css_string``), so no name can end the rule or the
    ``<style>`` element."""
    subject = _text(report.subject, locale)
    title = i18n.text(report.title, locale) + (f" \u2014 {subject}" if subject else "")
    pieces = re.split(r"(\{page\}|\{pages\})", _words("render.page_of", locale, page="{page}", pages="{pages}"))
    counters = {"{page}": "counter(page)", "{pages}": "counter(pages)"}
    page_of = " ".join(counters.get(piece) or css_string(piece) for piece in pieces if piece)
    margin = f"{layout.PAGE_MARGIN_MM:g}mm"
    # Safe: every text in it went through css_string, which leaves only letters, digits and spaces bare;
    # the numbers are the layout's own constants.
    return Markup(  # noqa: S704
        f"@page {{ size: A4 portrait; margin: 22mm {margin} 22mm {margin};"
        f" @top-left {{ content: {css_string(facility_name)} }}"
        f" @top-right {{ content: {css_string(title)} }}"
        f" @bottom-left {{ content: {css_string(footer_text(report, locale))} }}"
        f" @bottom-right {{ content: {page_of} }}"
        " }"
        " @page wide { size: A4 landscape }"
        f" @media print {{ .report-table table {{ font-size: {layout.PORTRAIT.font_pt:g}pt }}"
        " .report-table, .report-header { page: upright } .report-table.wide, .report-header.wide { page: wide }"
        f" .report-table.wide table {{ font-size: {layout.LANDSCAPE.font_pt:g}pt }} }}"
    )


@dataclass(frozen=True, slots=True)
class CellView:
    text: str
    numeric: bool
    href: str | None


@dataclass(frozen=True, slots=True)
class RowView:
    style: str
    level: int
    cells: list[CellView]


def _table_view(table: Table, locale: str, *, for_print: bool) -> dict[str, Any]:
    """One table for the template: its cells as the reader sees them and, in print, the parts it is laid
    out in (``reports/layout.py``), each with its columns and their widths."""
    said = currencies(table)
    headers = []
    for index, column in enumerate(table.columns):
        label = _text(column.label, locale)
        currency = said.columns[index]
        headers.append(label if currency is None else f"{label} ({currency})")
    rows = []
    for row in table.rows:
        cells = []
        for index, (column, cell) in enumerate(zip(table.columns, row.cells, strict=True)):
            href = cell.entries.url() if isinstance(cell, Amount) and cell.entries and not for_print else None
            text = display(cell, locale, with_currency=index in said.mixed)
            cells.append(CellView(text, column.kind in _NUMERIC, href))
        rows.append(RowView(row.style.value, min(row.level, 5), cells))
    title = i18n.text(table.title, locale)
    if for_print:
        plan = layout.plan(
            headers,
            [[row.cells[i].text for row in rows] for i in range(len(headers))],
            [column.kind not in _UNBROKEN for column in table.columns],
            max((row.level for row in rows), default=0),
        )
    else:  # on screen: one table, as wide as its content, in a box that scrolls sideways when needed
        plan = layout.TableLayout(layout.Orientation.PORTRAIT, (layout.Part(tuple(range(len(headers))), (), 1, 1),))
    parts = []
    for part in plan.parts:
        caption = None
        if part.of > 1:
            caption = (
                _words("render.first_part", locale, parts=part.of)
                if part.number == 1
                else _words("render.part", locale, title=title, part=part.number, parts=part.of)
            )
        parts.append(
            {
                "caption": caption,
                "widths": [f"{width:g}%" for width in part.widths],
                "columns": [{"label": headers[i], "numeric": table.columns[i].kind in _NUMERIC} for i in part.columns],
                "rows": [RowView(row.style, row.level, [row.cells[i] for i in part.columns]) for row in rows],
            }
        )
    in_millions = {cell.unit for row in table.rows for cell in row.cells if isinstance(cell, Amount)} == {MILLIONS}
    amounts_in = "render.amounts_in_millions" if in_millions else "render.amounts_in"
    return {
        "key": table.key,
        "title": title,
        "currency": None
        if said.table is None
        else _words(amounts_in, locale, currency=i18n.currency_name(said.table, locale)),
        "wide": plan.orientation is layout.Orientation.LANDSCAPE,
        "parts": parts,
    }


def _view(report: Report, locale: str, facility_name: str, *, for_print: bool) -> dict[str, Any]:
    tables = [_table_view(table, locale, for_print=for_print) for table in report.tables]
    return {
        "lang": locale,
        "facility": facility_name,
        "title": i18n.text(report.title, locale),
        "subject": _text(report.subject, locale),
        "period_label": _words("render.period", locale),
        "period": period_text(report, locale),
        "currency_label": _words("render.reporting_currency", locale),
        "currency": report.currency,
        "generated_label": _words("render.generated_at", locale),
        "generated": generated_text(report, locale),
        "generated_iso": report.generated_at.isoformat(),
        "status_label": _words("render.status", locale),
        "status": _words("render.closed" if report.closed else "render.open", locale),
        "head_label": _words("render.ledger_head", locale),
        "head": report.ledger_head,
        "drill_down": _words("render.drill_down", locale),
        "notes_label": _words("render.notes", locale),
        "tables": tables,
        # The first page's details go on the first table's page: a landscape one when that table is wide.
        "header_wide": bool(tables) and tables[0]["wide"],
        "notes": [
            {"title": i18n.text(n.title, locale), "paragraphs": [_text(p, locale) for p in n.paragraphs]}
            for n in report.notes
        ],
        "certification": _words("render.certification", locale),
        "signatures": [i18n.text(role, locale) for role in report.signatures],
        "sign_fields": [_words(f"render.sign.{field}", locale) for field in ("name", "function", "signature", "date")],
        "for_print": for_print,
        "stylesheet": STYLESHEET,
        "inline_css": None if for_print else Markup(_stylesheet_text()),  # noqa: S704 - the project's own file
        "page_css": _page_css(report, locale, facility_name),
    }


def screen_view(report: Report, locale: str, *, links: bool) -> dict[str, Any]:
    """The report as a web page shows it inside the site's layout (``reports/pages.py``): the same words and
    figures as its HTML and PDF; the drill-down links only for a reader who may follow them."""
    view = _view(report, locale, DEFAULT_FACILITY_NAME, for_print=False)
    if not links:
        for table in view["tables"]:
            for part in table["parts"]:
                part["rows"] = [
                    RowView(row.style, row.level, [CellView(c.text, c.numeric, None) for c in row.cells])
                    for row in part["rows"]
                ]
    return view


def _stylesheet_text() -> str:
    # Read per render (a few KiB): an edited stylesheet shows without a restart, and it is our own file.
    return (ASSETS_DIR / STYLESHEET).read_text(encoding="utf-8").replace("</", "<\\/")


def to_html(report: Report, locale: str, *, facility_name: str = DEFAULT_FACILITY_NAME, for_print: bool = False) -> str:
    """A standalone HTML page (the stylesheet inline, drill-down links on money figures). ``for_print``
    is the PDF's variant: the stylesheet linked from the assets folder and no links."""
    template = _environment.get_template("report.html.j2")
    return template.render(**_view(report, locale, facility_name, for_print=for_print))


# ---------------------------------------------------------------- PDF


class ResourceRefused(ValueError):
    """WeasyPrint asked for something outside the project's own assets and templates; it logs and skips it."""


def project_file(url: str) -> Path:
    """The project file a ``file:`` URL names, when it lies inside the assets or templates folder.

    Anything else is refused: another scheme (http, https, data, ftp...), a file elsewhere on the
    machine, a path that climbs out through ``..`` or a symbolic link (the path is resolved first), a
    folder, a file that does not exist.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ResourceRefused(f"only the project's own files are served, not {parts.scheme or 'relative'} URLs")
    if parts.netloc not in ("", "localhost"):
        raise ResourceRefused("file URLs on another host are refused")
    try:
        path = Path(url2pathname(unquote(parts.path))).resolve(strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ResourceRefused("no such project file") from exc
    if not path.is_file() or not any(path.is_relative_to(folder) for folder in PROJECT_RESOURCE_DIRS):
        raise ResourceRefused("outside the project's assets and templates")
    return path


class ProjectFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint has no type hints
    """WeasyPrint's URL fetcher, locked to the project's own files (see :func:`project_file`).

    ``requested`` records every URL WeasyPrint asked for, so a test can show nothing else was fetched.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False, fail_on_errors=False)
        self.requested: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        self.requested.append(url)
        path = project_file(url)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), body=path.read_bytes(), headers={"Content-Type": media_type})


def to_pdf(
    report: Report,
    locale: str,
    *,
    facility_name: str = DEFAULT_FACILITY_NAME,
    fetcher: ProjectFetcher | None = None,
) -> bytes:
    """The report as an A4 PDF. CPU-bound (WeasyPrint): callers on an event loop run it in a thread."""
    page = to_html(report, locale, facility_name=facility_name, for_print=True)
    document = HTML(string=page, base_url=ASSETS_DIR.as_uri() + "/", url_fetcher=fetcher or ProjectFetcher())
    # Tagged: a screen reader (and a test) can tell each table's header and body cells from the PDF itself.
    pdf: bytes = document.write_pdf(pdf_tags=True)
    return pdf


# ---------------------------------------------------------------- one call for the API and the CLI

FILE_EXTENSIONS = {
    ReportFormat.JSON: "json",
    ReportFormat.CSV: "csv",
    ReportFormat.HTML: "html",
    ReportFormat.PDF: "pdf",
}


def encode(report: Report, fmt: ReportFormat, locale: str, *, facility_name: str = DEFAULT_FACILITY_NAME) -> bytes:
    """The report's bytes in ``fmt``: the API and the CLI send exactly these (UTF-8 for text formats)."""
    if fmt is ReportFormat.JSON:
        return json.dumps(to_json(report, locale), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if fmt is ReportFormat.CSV:
        return to_csv(report, locale).encode("utf-8")
    if fmt is ReportFormat.HTML:
        return to_html(report, locale, facility_name=facility_name).encode("utf-8")
    return to_pdf(report, locale, facility_name=facility_name)


def filename(report: Report, fmt: ReportFormat, locale: str, qualifier: str = "") -> str:
    """A download's name: the report, what it is about, its period, the locale (ASCII only)."""
    start = "inception" if report.date_from is None else report.date_from.isoformat()
    parts = [report.name, *([safe_filename_part(qualifier)] if qualifier else []), start, report.date_to.isoformat()]
    return f"{'_'.join(parts)}_{locale}.{FILE_EXTENSIONS[fmt]}"
