"""Documents a donor can hand on, through the HTTP API on the generated facility (its clock reads 2027-01-20):
wide tables printed whole, names in the reader's language, figures formatted for the locale with the
currency said once, statement titles with their date, a footer that reads as a sentence, a place to sign
the financial statements, interim statements for the year under way and none for a year not begun, and
one charset in every ``Content-Type``.

Words the reader sees are compared with Babel's own output (dates, territory names, number symbols), never
with typed French or Spanish figures. English is written as the United Nations write it: CLDR's British
English ("31 December 2025").
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import lxml.html
import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import NumberFormatError, format_percent, parse_decimal

from tests.pdf_support import outside_printable_area, overlapping_characters, read, squeezed
from tests.reports_support import FACILITY_NOW, Facility
from tests.support import assert_problem, broken_rules, line, posted

pytestmark = pytest.mark.usefixtures("backend")

REPORTS = "/api/v1/reports"
LOCALES = ("en", "es", "fr")
CLDR = {"en": "en_GB", "es": "es", "fr": "fr"}  # the CLDR locale that writes each report locale
STATEMENTS_2025 = ("/financial-statements", {"year": "2025"})


def get(facility: Facility, path: str, params: dict[str, str], fmt: str, locale: str) -> httpx.Response:
    response = facility.api.client.get(
        REPORTS + path, params={**params, "format": fmt, "locale": locale}, headers=facility.auditor.headers
    )
    assert response.status_code == 200, response.text[:500]
    return response


def report(facility: Facility, path: str, params: dict[str, str], locale: str) -> dict[str, Any]:
    body: dict[str, Any] = get(facility, path, params, "json", locale).json()
    return body


def table(body: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in body["tables"] if t["key"] == key)
    return found


def spaced(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f\u2009]+", " ", text).strip()


def long_date(day: date, locale: str) -> str:
    return format_date(day, "long", locale=CLDR[locale])


def figures(cells: set[str], locale: str) -> set[Decimal]:
    """The cells that are numbers written for ``locale``, as numbers."""
    found = set()
    for cell in cells:
        try:
            found.add(parse_decimal(cell, locale=CLDR[locale], strict=True))
        except NumberFormatError:
            continue
    return found


def windows(facility: Facility) -> dict[str, dict[str, str]]:
    """Each window's names as the records hold them, by code."""
    listed = facility.api.client.get("/api/v1/windows", headers=facility.auditor.headers)
    assert listed.status_code == 200, listed.text[:300]
    return {w["code"]: w["names"] for w in listed.json()}


# ---------------------------------------------------------------- wide tables


@pytest.mark.parametrize(
    ("path", "params", "locale", "key"),
    [
        ("/funds-available", {}, "fr", "funds"),
        ("/sources-and-uses", {"date_from": "2025-01-01", "date_to": "2025-12-31"}, "es", "by_window"),
        ("/financial-statements", {"year": "2026"}, "fr", "budget_comparison"),
    ],
    ids=["funds-available-fr", "sources-and-uses-by-window-es", "budget-comparison-fr"],
)
def test_a_wide_table_is_printed_whole_inside_the_page(
    facility: Facility, path: str, params: dict[str, str], locale: str, key: str
) -> None:
    """Every column of the table is printed (its header among the PDF's table headers) and no character of
    the document lies outside the printable area or over another."""
    columns = [c["label"] for c in table(report(facility, path, params, locale), key)["columns"]]
    printed = read(get(facility, path, params, "pdf", locale).content)
    assert outside_printable_area(printed) == []
    assert overlapping_characters(printed) == []
    headers = printed.header_cells
    missing = [label for label in columns if not any(squeezed(label) in header for header in headers)]
    assert missing == [], f"columns not printed: {missing}"


def test_funds_available_prints_every_window_the_pooled_fund_and_the_total(facility: Facility) -> None:
    body = report(facility, "/funds-available", {}, "en")
    names = windows(facility)
    labels = [c["label"] for c in table(body, "funds")["columns"]]
    assert len(labels) == 1 + len(names) + 2
    printed = read(get(facility, "/funds-available", {}, "pdf", "en").content)
    headers = printed.header_cells
    for code, words in names.items():
        assert any(squeezed(words["en"]) in header and code in header for header in headers), code
    assert any(squeezed("Pooled fund") in header for header in headers)
    assert any(header.startswith("Total") for header in headers)
    # The total of the funds available is printed: the last cell of its row.
    available = next(r for r in table(body, "funds")["rows"] if r["style"] == "total")["cells"][-1]["amount"]
    assert Decimal(available) in figures(printed.body_cells, "en")


# ---------------------------------------------------------------- names in the reader's language


@pytest.mark.parametrize("locale", ["es", "fr"])
def test_windows_are_named_in_the_readers_language(facility: Facility, locale: str) -> None:
    names = windows(facility)
    funds = table(report(facility, "/funds-available", {}, locale), "funds")
    labels = [c["label"] for c in funds["columns"]]
    for code, words in names.items():
        assert f"{code} \u2013 {words[locale]}" in labels, (code, labels)
        assert words["en"] not in " ".join(labels) or words["en"] == words[locale]

    by_window = table(report(facility, "/sources-and-uses", {}, locale), "by_window")
    firsts = [row["cells"][0] for row in by_window["rows"]]
    for code, words in names.items():
        assert f"{code} \u2013 {words[locale]}" in firsts

    portfolio = report(facility, "/windows/IRR", {"as_of": "2026-12-31"}, locale)
    assert portfolio["subject"] == f"IRR \u2013 {names['IRR'][locale]}"

    csv_text = get(facility, "/funds-available", {}, "csv", locale).text
    assert all(words[locale] in csv_text for words in names.values())


@pytest.mark.parametrize("locale", LOCALES)
def test_member_states_and_countries_have_their_cldr_names(facility: Facility, locale: str) -> None:
    territories = Locale.parse(locale).territories
    mexico = report(facility, f"/contributors/{facility.contributor_ids['MEX']}", {"as_of": "2026-12-31"}, locale)
    assert mexico["subject"] == territories["MX"]

    contributors = table(report(facility, "/sources-and-uses", {}, locale), "by_contributor")
    named = [row["cells"][0] for row in contributors["rows"]]
    for alpha2 in ("DE", "CH", "SE", "JP", "GB", "MX", "SN", "PH", "MA", "GT", "BD", "EC"):
        assert territories[alpha2] in named, (alpha2, named)
    assert "Government of Norway" in named  # a donor's name is its own, in every language

    countries = table(report(facility, "/windows/IRR", {"as_of": "2026-12-31"}, locale), "by_country")
    firsts = [row["cells"][0] for row in countries["rows"] if row["style"] != "total"]
    assert firsts and all(name in territories.values() for name in firsts), firsts
    page = lxml.html.document_fromstring(get(facility, "/windows/IRR", {"as_of": "2026-12-31"}, "html", locale).text)
    shown = page.xpath("//section[@id='table-by_country']//tbody/tr/td[1]/text()")
    assert not [text for text in shown if re.fullmatch(r"[A-Z]{3}", text.strip())]


# ---------------------------------------------------------------- figures formatted for the locale


def percent_suffix(locale: str) -> str:
    """What Babel writes after the digits of a percentage in ``locale`` ("%", or a no-break space and %)."""
    return re.sub(r"[0-9]", "", format_percent(1, locale=locale))


@pytest.mark.parametrize("locale", LOCALES)
def test_rates_percentages_and_money_are_formatted_for_the_locale(facility: Facility, locale: str) -> None:
    body = report(facility, "/financial-statements", {"year": "2026"}, locale)
    page = lxml.html.document_fromstring(get(facility, "/financial-statements", {"year": "2026"}, "html", locale).text)

    rates = table(body, "exchange_rates")
    shown = [
        [td.text_content() for td in tr.xpath("td")]
        for tr in page.xpath("//section[@id='table-exchange_rates']//tbody/tr")
    ]
    assert len(shown) == len(rates["rows"]) > 0
    rate_columns = [i for i, c in enumerate(rates["columns"]) if c["key"].endswith("_rate")]
    for row, cells in zip(rates["rows"], shown, strict=True):
        for i in rate_columns:
            assert parse_decimal(cells[i], locale=locale, strict=True) == Decimal(row["cells"][i]), cells[i]

    budget = table(body, "budget_comparison")
    shown = [
        [td.text_content() for td in tr.xpath("td")]
        for tr in page.xpath("//section[@id='table-budget_comparison']//tbody/tr")
    ]
    used = next(i for i, c in enumerate(budget["columns"]) if c["kind"] == "percent")
    for row, cells in zip(budget["rows"], shown, strict=True):
        if row["cells"][used] is None:
            continue
        suffix = percent_suffix(locale)
        assert cells[used].endswith(suffix), cells[used]
        figure = parse_decimal(cells[used][: -len(suffix)], locale=locale, strict=True)
        assert figure == (Decimal(row["cells"][used]) * 100).quantize(Decimal("0.1"))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_currency_is_said_once_per_table_not_in_every_cell(facility: Facility, locale: str) -> None:
    path, params = "/sources-and-uses", {"date_from": "2025-01-01", "date_to": "2025-12-31"}
    body = report(facility, path, params, locale)
    page = lxml.html.document_fromstring(get(facility, path, params, "html", locale).text)
    for t in body["tables"]:
        section = page.xpath(f"//section[@id='table-{t['key']}']")[0]
        money = [i for i, c in enumerate(t["columns"]) if c["kind"] == "money"]
        rows = section.xpath(".//tbody/tr")
        assert len(rows) == len(t["rows"])
        for row, tr in zip(t["rows"], rows, strict=True):
            cells = [td.text_content().strip() for td in tr.xpath("td")]
            for i in money:
                cell = row["cells"][i]
                if isinstance(cell, dict):
                    assert parse_decimal(cells[i], locale=locale, strict=True) == Decimal(cell["amount"]), cells[i]
        cells_text = " ".join(td.text_content() for td in section.xpath(".//tbody//td"))
        assert "USD" not in cells_text and "$" not in cells_text
        heading = " ".join(e.text_content() for e in section.xpath(".//h2 | .//caption | .//p | .//thead"))
        assert heading.count("USD") == 1, heading


# ---------------------------------------------------------------- titles, footer, certification


@pytest.mark.parametrize("locale", LOCALES)
def test_statement_titles_carry_their_date(facility: Facility, locale: str) -> None:
    titles = {t["key"]: t["title"] for t in report(facility, *STATEMENTS_2025, locale)["tables"]}
    day = long_date(date(2025, 12, 31), locale)
    for key in ("financial_position", "financial_performance", "changes_in_net_assets", "cash_flow"):
        assert day in titles[key], titles[key]
    if locale == "en":
        assert titles["financial_position"] == "Statement of financial position as at 31 December 2025"
        assert (
            titles["financial_performance"] == "Statement of financial performance for the year ended 31 December 2025"
        )


FOOTERS = {
    "en": "Period: {start} to {end} · Generated on {day} at 09:00 UTC",
    "es": "Período: del {start} al {end} · Generado el {day} a las 09:00 UTC",
    "fr": "Période : du {start} au {end} · Généré le {day} à 09:00 UTC",
}
GENERATED = {"en": "Generated on", "es": "Generado el", "fr": "Généré le"}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_footer_reads_as_a_sentence_with_the_time_zone(facility: Facility, backend: str, locale: str) -> None:
    if backend != "sqlite" and locale != "fr":
        pytest.skip("the PDF does not depend on the database: one locale on PostgreSQL")
    path, params = "/sources-and-uses", {"date_from": "2025-01-01", "date_to": "2025-12-31"}
    expected = FOOTERS[locale].format(
        start=long_date(date(2025, 1, 1), locale),
        end=long_date(date(2025, 12, 31), locale),
        day=long_date(FACILITY_NOW.date(), locale),
    )
    printed = read(get(facility, path, params, "pdf", locale).content)
    for page in printed.pages:
        assert spaced(expected) in spaced(page.text), page.text[-400:]
    # the first page's details use the same words as the footer
    page = lxml.html.document_fromstring(get(facility, path, params, "html", locale).text)
    details = spaced(page.xpath("string(//dl[@class='meta'])"))
    assert GENERATED[locale] in details
    assert spaced(expected.split(" · ")[1].removeprefix(GENERATED[locale]).strip()) in details


CERTIFICATION = {
    "en": ("Prepared by", "Reviewed by", "Signature", "Date"),
    "es": ("Preparado por", "Revisado por", "Firma", "Fecha"),
    "fr": ("Préparé par", "Révisé par", "Signature", "Date"),
}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_financial_statements_have_a_place_to_certify_them(facility: Facility, locale: str) -> None:
    page = lxml.html.document_fromstring(get(facility, *STATEMENTS_2025, "html", locale).text)
    block = page.xpath("//section[contains(@class, 'certification')]")
    assert len(block) == 1
    words = spaced(block[0].text_content())
    for word in CERTIFICATION[locale]:
        assert word in words, words
    other = lxml.html.document_fromstring(get(facility, "/funds-available", {}, "html", locale).text)
    assert other.xpath("//section[contains(@class, 'certification')]") == []


def test_the_certification_block_is_printed_on_the_statements(facility: Facility) -> None:
    printed = read(get(facility, *STATEMENTS_2025, "pdf", "es").content)
    last = spaced(printed.pages[-1].text)
    for word in CERTIFICATION["es"]:
        assert word in last


# ---------------------------------------------------------------- the year under way and years to come


@pytest.mark.parametrize("year", ["2028", "2030"])
def test_statements_of_a_year_not_begun_are_refused(facility: Facility, year: str) -> None:
    response = facility.api.client.get(
        f"{REPORTS}/financial-statements", params={"year": year}, headers=facility.auditor.headers
    )
    body = assert_problem(response, 422)
    assert broken_rules(body) == {("year", "not-in-future")}
    assert year in body["detail"]


def test_statements_of_the_current_year_are_interim_up_to_today(facility: Facility) -> None:
    today = FACILITY_NOW.date()
    posted(
        facility.api,
        facility.officer,
        line("5300", "1234.56"),
        line("1100", "-1234.56"),
        entry_date="2027-01-15",
        description="Secretariat direct costs, January 2027",
    )
    for locale in LOCALES:
        body = report(facility, "/financial-statements", {"year": "2027"}, locale)
        assert (body["date_from"], body["date_to"]) == ("2027-01-01", today.isoformat())
        assert body["parameters"]["interim"] == "true"
        day = long_date(today, locale)
        titles = {t["key"]: t["title"] for t in body["tables"]}
        assert day in titles["financial_position"]
        assert day in titles["financial_performance"]
        assert body["notes"][0]["title"] and day in " ".join(body["notes"][0]["paragraphs"])
    english = report(facility, "/financial-statements", {"year": "2027"}, "en")
    assert english["title"] == "Interim financial statements"
    assert english["notes"][0]["title"] == "Interim financial statements"
    performance = table(english, "financial_performance")
    costs = next(r for r in performance["rows"] if r["cells"][0] == "Secretariat direct costs")
    uses = report(facility, "/sources-and-uses", {"date_from": "2027-01-01"}, "en")
    summary = next(r for r in table(uses, "summary")["rows"] if r["cells"][0] == "Direct costs of the secretariat")
    assert costs["cells"][1]["amount"] == summary["cells"][1]["amount"] == "1234.56"
    # the year before is final in its own column, beside it
    assert [c["label"] for c in performance["columns"]][1:] == ["2027 (interim)", "2026"]


# ---------------------------------------------------------------- one charset


def test_every_text_response_names_its_charset_once(facility: Facility) -> None:
    client, auditor = facility.api.client, facility.auditor.headers
    responses = {
        "csv": get(facility, "/funds-available", {}, "csv", "en"),
        "html": get(facility, "/funds-available", {}, "html", "en"),
        "json": get(facility, "/funds-available", {}, "json", "en"),
        "hledger": client.get("/api/v1/exports/journal.hledger", headers=auditor),
        "schema": client.get("/schema"),
        "openapi": client.get("/schema/openapi.json"),
    }
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text[:300])
        content_type = response.headers["content-type"]
        assert content_type.lower().count("charset") <= 1, (name, content_type)
        if name in ("csv", "html", "hledger", "schema"):
            assert content_type.lower().count("charset=utf-8") == 1, (name, content_type)
