"""How printed tables are laid out (``reports/layout.py``) and the names, figures and words they show
(``reports/i18n.py``), on synthetic tables: the orientation chosen from the content, parts that repeat the
row labels when a table is wider than a landscape page, widths that fill the page, and a table of sixteen
columns printed in parts with every header and every character inside the page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_percent, parse_decimal
from hypothesis import given
from hypothesis import strategies as st

from reports import i18n, layout, render
from reports.document import (
    Amount,
    Column,
    ColumnKind,
    Label,
    Name,
    Rate,
    Ratio,
    Report,
    Row,
    RowStyle,
    Table,
    Territory,
)
from tests.pdf_support import outside_printable_area, overlapping_characters, page_sizes, read, squeezed

CLDR = {"en": "en_GB", "es": "es", "fr": "fr"}  # English as the United Nations write it


def spaced(text: str) -> str:
    return re.sub(r"\s+", " ", text)


FIGURE = "12,345,678.90"


def figures_table(columns: int, *, label: str = "Contributions received from donors") -> layout.TableLayout:
    headers = ["Item", *(f"Window number {n}" for n in range(1, columns))]
    cells = [[label, "Total"], *([FIGURE, FIGURE] for _ in range(1, columns))]
    return layout.plan(headers, cells, [True, *([False] * (columns - 1))])


def test_a_narrow_table_stays_on_a_portrait_page() -> None:
    planned = figures_table(3)
    assert planned.orientation is layout.Orientation.PORTRAIT
    assert [part.columns for part in planned.parts] == [(0, 1, 2)]


def test_a_table_wider_than_portrait_goes_on_a_landscape_page() -> None:
    planned = figures_table(8)
    assert planned.orientation is layout.Orientation.LANDSCAPE
    assert len(planned.parts) == 1 and planned.parts[0].columns == tuple(range(8))


def test_a_table_wider_than_landscape_is_split_into_even_parts_that_repeat_the_row_labels() -> None:
    planned = figures_table(17)
    assert planned.orientation is layout.Orientation.LANDSCAPE
    assert len(planned.parts) >= 2
    assert all(part.columns[0] == 0 for part in planned.parts)
    others = [c for part in planned.parts for c in part.columns[1:]]
    assert others == list(range(1, 17))  # every column once, in order
    sizes = [len(part.columns) - 1 for part in planned.parts]
    assert max(sizes) - min(sizes) <= 1
    assert [(p.number, p.of) for p in planned.parts] == [(n, len(planned.parts)) for n in range(1, len(sizes) + 1)]


@given(
    columns=st.integers(min_value=1, max_value=30),
    label=st.text(alphabet=st.characters(codec="utf-8", categories=("L", "Zs")), max_size=300),
    figure=st.from_regex(r"-?[0-9]{1,3}(,[0-9]{3}){0,5}\.[0-9]{2}", fullmatch=True),
)
def test_every_part_fits_its_page_and_its_widths_fill_it(columns: int, label: str, figure: str) -> None:
    headers = ["Item", *(f"Column {n}" for n in range(1, columns))]
    cells = [[label], *([figure] for _ in range(1, columns))]
    wraps = [True, *([False] * (columns - 1))]
    planned = layout.plan(headers, cells, wraps)
    page = layout.PORTRAIT if planned.orientation is layout.Orientation.PORTRAIT else layout.LANDSCAPE
    room = page.width_em * layout.FILL
    # Shares are rounded to a thousandth of a per cent: a column planned exactly at its least may lose that
    # much of the room (the page's width beyond FILL is kept free for such rounding).
    rounding = 0.0005 / 100 * room
    for part in planned.parts:
        assert abs(sum(part.widths) - 100) < 0.01
        for share, index in zip(part.widths, part.columns, strict=True):
            if not wraps[index]:  # a figure never wraps: its column holds it
                assert share / 100 * room >= layout.text_em(figure) + layout.CELL_PADDING_EM - rounding - 1e-9


# ---------------------------------------------------------------- a table of sixteen columns, printed

i18n.register(
    {
        "test_layout.title": {"en": "Wide report", "es": "Informe ancho", "fr": "Rapport large"},
        "test_layout.table": {"en": "Funds by window", "es": "Fondos por ventanilla", "fr": "Fonds par guichet"},
        "test_layout.item": {"en": "Item", "es": "Concepto", "fr": "Poste"},
        "test_layout.line": {
            "en": "Cash receipts made available (net of the administrative agent fee)",
            "es": "Ingresos en efectivo disponibles (deducida la comisión del agente administrativo)",
            "fr": "Encaissements mis à disposition (nets de la commission de l'agent administratif)",
        },
    }
)
WINDOWS = tuple(
    Name(
        f"Window {n} for labour mobility",
        f"Ventanilla {n} de movilidad laboral",
        f"Guichet {n} de mobilité",
        f"W{n:02d}",
    )
    for n in range(1, 16)
)


def wide_report() -> Report:
    columns = (
        Column("item", Label("test_layout.item"), ColumnKind.TEXT),
        *(Column(w.code, w, ColumnKind.MONEY) for w in WINDOWS),
    )
    lines = [
        Row((Label("test_layout.line"), *(Amount(1_234_567_890 + n * i, "USD") for i in range(15))), level=1)
        for n in range(3)
    ]
    total = Row((Label("test_layout.item"), *(Amount(-98_765_432_10, "USD") for _ in range(15))), RowStyle.TOTAL)
    rows = (*lines, total)
    return Report(
        name="funds-available",
        title=Label("test_layout.title"),
        currency="USD",
        generated_at=datetime(2026, 12, 3, 9, 41, tzinfo=UTC),
        ledger_head="ab" * 32,
        date_from=None,
        date_to=date(2026, 12, 3),
        tables=(Table("funds", Label("test_layout.table"), columns, rows),),
    )


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_a_table_too_wide_for_any_page_is_printed_in_parts_inside_the_page(locale: str) -> None:
    report = wide_report()
    printed = read(render.to_pdf(report, locale))
    assert outside_printable_area(printed) == []
    assert overlapping_characters(printed) == []
    assert set(page_sizes(printed)) == {"landscape"}
    parts = printed.tables
    assert len(parts) >= 2
    labels = squeezed(i18n.text(Label("test_layout.item"), locale))
    for part in parts:  # every part repeats the row labels
        assert squeezed(part.headers[0]) == labels
        assert squeezed(part.rows[0][0]) == squeezed(i18n.text(Label("test_layout.line"), locale))
    headers = [squeezed(h) for part in parts for h in part.headers[1:]]
    assert headers == [squeezed(i18n.name(w, locale)) for w in WINDOWS]  # every column once, in order
    text = printed.text()
    assert re.search(r"(part|partie) 2 (of|sur) \d", spaced(text))
    figure = i18n.figure(Amount(-98_765_432_10, "USD"), locale)
    assert parse_decimal(figure, locale=CLDR[locale], strict=True) == Decimal("-98765432.10")


# ---------------------------------------------------------------- names, figures and words for the locale


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
def test_names_countries_figures_rates_and_percentages_for_the_locale(locale: str) -> None:
    window = Name(
        "Preventing irregular migration", "Prevenir la migración irregular", "Prévenir la migration irrégulière", "IRR"
    )
    assert i18n.name(window, locale) == f"IRR \u2013 {window.words(locale)}"
    assert i18n.territory(Territory("SEN"), locale) == Locale.parse(CLDR[locale]).territories["SN"]
    assert i18n.territory(Territory("XKX"), locale) in ("XKX", Locale.parse(CLDR[locale]).territories.get("XK"))
    assert i18n.territory(Territory("ZZZ"), locale) == "ZZZ"  # not a country CLDR knows: the code as it is
    # money with the currency's decimals (JPY none, KWD three), no currency sign
    assert parse_decimal(i18n.figure(Amount(123456, "JPY"), locale), locale=CLDR[locale], strict=True) == 123456
    kwd = i18n.figure(Amount(1234567, "KWD"), locale)
    assert parse_decimal(kwd, locale=CLDR[locale], strict=True) == Decimal("1234.567")
    assert "KWD" not in kwd and "KD" not in kwd
    rate = i18n.rate(Rate(Decimal("1.142430")), locale)
    assert parse_decimal(rate, locale=CLDR[locale], strict=True) == Decimal("1.142430") and len(rate) == 8
    shown = i18n.percent(Ratio(Decimal("0.4567")), locale)
    suffix = re.sub(r"[0-9]", "", format_percent(1, locale=CLDR[locale]))
    assert shown.endswith(suffix) and parse_decimal(shown[: -len(suffix)], locale=CLDR[locale]) == Decimal("45.7")
    assert i18n.percent(Ratio(None), locale) == "\u2013"


def long_date(day: date, locale: str) -> str:
    return format_date(day, "long", locale=CLDR[locale])


def test_a_label_writes_its_dates_and_rates_for_the_locale() -> None:
    i18n.register(
        {
            "test_layout.dated": {
                "en": "at {day}, rate {rate}",
                "es": "al {day}, tipo {rate}",
                "fr": "au {day}, cours {rate}",
            }
        }
    )
    label = Label.of("test_layout.dated", day=date(2025, 12, 31), rate=Rate(Decimal("0.006650")))
    day = date(2025, 12, 31)
    assert long_date(day, "en") == "31 December 2025"  # British English, as the United Nations write it
    assert i18n.text(label, "en") == f"at {long_date(day, 'en')}, rate 0.006650"
    assert i18n.text(label, "es") == f"al {long_date(day, 'es')}, tipo 0,006650"
    assert i18n.text(label, "fr") == f"au {long_date(day, 'fr')}, cours 0,006650"


def test_the_footer_reads_as_a_sentence_in_each_language() -> None:
    report = wide_report()
    day = long_date(date(2026, 12, 3), "en")
    assert render.footer_text(report, "en").split("\n")[0] == (
        f"Period: from inception to {day} · Generated on {day} at 09:41 UTC"
    )
    day = long_date(date(2026, 12, 3), "es")
    assert render.footer_text(report, "es").split("\n")[0] == (
        f"Período: desde el inicio hasta el {day} · Generado el {day} a las 09:41 UTC"
    )
    day = long_date(date(2026, 12, 3), "fr")
    assert render.footer_text(report, "fr").split("\n")[0] == (
        f"Période\u00a0: depuis la création jusqu'au {day} · Généré le {day} à 09:41 UTC"
    )
    assert render.footer_text(report, "fr").split("\n")[1] == f"Tête de la chaîne du grand livre\u00a0: {'ab' * 32}"
