"""Every report of the generated facility through the HTTP API, in en, es and fr, as JSON, CSV, HTML and
PDF: the right media type, the words of the locale, and the same figures in every format (the CSV's and
the HTML's figures are the JSON's; the PDF's first page shows the title, a Babel-formatted figure and its
page X of Y footer)."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import httpx
import lxml.etree
import lxml.html
import pytest
from babel.numbers import format_currency
from pypdf import PdfReader

from reports import i18n
from reports.schemas import ReportOut
from tests.reports_support import Facility
from tests.support import line as entry_line
from tests.support import posted

pytestmark = pytest.mark.usefixtures("backend")

REPORTS = "/api/v1/reports"
LOCALES = ("en", "es", "fr")
CLDR = {"en": "en_GB", "es": "es", "fr": "fr"}  # English as the United Nations write it
PAGE_OF = {"en": r"Page 1 of (\d+)", "es": r"Página 1 de (\d+)", "fr": r"Page 1 sur (\d+)"}


def report_routes(facility: Facility) -> dict[str, tuple[str, dict[str, str]]]:
    """Each report's route and parameters on the generated facility (its clock reads 2027-01-20)."""
    return {
        "sources-and-uses": ("/sources-and-uses", {"date_from": "2025-01-01", "date_to": "2025-12-31"}),
        "contributor": (f"/contributors/{facility.contributor_ids['MEX']}", {"as_of": "2026-12-31"}),
        "financial-statements": ("/financial-statements", {"year": "2026"}),
        "funds-available": ("/funds-available", {}),
        "window-portfolio": ("/windows/IRR", {"as_of": "2026-12-31"}),
    }


def spaces_normalised(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f\u2009]+", " ", text)


def fetch(facility: Facility, path: str, params: dict[str, str], fmt: str, locale: str) -> httpx.Response:
    response = facility.api.client.get(
        REPORTS + path, params={**params, "format": fmt, "locale": locale}, headers=facility.auditor.headers
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-language"] == locale
    assert re.fullmatch(r"[0-9a-f]{64}", response.headers["x-ledger-head"])
    return response


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def title_in(locale: str, english: str) -> str:
    """The report title's words in ``locale``, found in the catalogue by its English words."""
    keys = [key for key, words in i18n.catalogue().items() if words["en"] == english]
    assert keys, f"no label reads {english!r}"
    return i18n.catalogue()[keys[0]][locale]


def money_cells(body: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """Per table row, its (amount, currency) pairs, in order."""
    return [
        [(c["amount"], c["currency"]) for c in row["cells"] if isinstance(c, dict)]
        for table in body["tables"]
        for row in table["rows"]
    ]


def csv_money_cells(text: str, body: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """The same pairs read from the CSV: a money column is two fields, the amount and its currency."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    found = []
    for table in body["tables"]:
        lines = [r for r in rows if r[0] == table["key"] and r[1] not in ("title", "header")]
        assert len(lines) == len(table["rows"])
        for line, row in zip(lines, table["rows"], strict=True):
            fields = line[3:]
            pairs, position = [], 0
            for column in table["columns"]:
                if column["kind"] == "money":
                    if fields[position + 1]:  # a currency: money (a money column may hold a ratio too)
                        Decimal(fields[position])  # a plain number
                        pairs.append((fields[position], fields[position + 1]))
                    position += 2
                else:
                    position += 1
            assert position == len(fields)
            assert (line[1], int(line[2])) == (row["style"], row["level"])
            found.append(pairs)
    return found


def check_report_in_every_format(
    facility: Facility, name: str, path: str, params: dict[str, str], pdf_locales: tuple[str, ...]
) -> None:
    english = fetch(facility, path, params, "json", "en").json()
    for locale in LOCALES:
        body = fetch(facility, path, params, "json", locale).json()
        ReportOut.model_validate(body)
        assert (body["report"], body["locale"]) == (name, locale)
        assert body["title"] == title_in(locale, english["title"])
        assert money_cells(body) == money_cells(english)  # the figures do not depend on the language
        assert any(money_cells(body)), "a report without a single money figure"

        response = fetch(facility, path, params, "csv", locale)
        assert media_type(response) == "text/csv"
        assert response.headers["content-disposition"].startswith(f'attachment; filename="{name}_')
        assert response.headers["content-disposition"].endswith(f'_{locale}.csv"')
        assert csv_money_cells(response.text, body) == money_cells(body)
        first = next(csv.reader(io.StringIO(response.text)))
        assert first == [i18n.catalogue()[f"render.csv.{w}"][locale] for w in ("table", "row", "level", "values")]

        response = fetch(facility, path, params, "html", locale)
        assert media_type(response) == "text/html"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        page = lxml.html.document_fromstring(response.text)
        assert page.get("lang") == locale
        assert page.xpath("string(//h1)") == body["title"]
        assert len(page.xpath("//tbody/tr")) == sum(len(t["rows"]) for t in body["tables"])
        assert [h.text_content() for h in page.xpath("//section[@class='report-table']/h2")] == [
            t["title"] for t in body["tables"]
        ]

        if locale in pdf_locales:
            response = fetch(facility, path, params, "pdf", locale)
            assert media_type(response) == "application/pdf"
            assert response.headers["content-disposition"].endswith(f'_{locale}.pdf"')
            pdf = PdfReader(io.BytesIO(response.content))
            first_page = spaces_normalised(pdf.pages[0].extract_text())
            assert spaces_normalised(body["title"]) in first_page
            amount, currency = next(pair for row in money_cells(body) for pair in row)
            # A figure without its currency (the table says it once), with the currency's decimals.
            figure = format_currency(Decimal(amount), currency, format="#,##0.00", locale=CLDR[locale])
            assert spaces_normalised(figure) in first_page, (figure, first_page[:800])
            pages = re.search(PAGE_OF[locale], first_page)
            assert pages is not None and int(pages.group(1)) == len(pdf.pages)
            assert response.headers["x-ledger-head"] in first_page.replace(" ", "")


@pytest.mark.parametrize(
    "name", ["sources-and-uses", "contributor", "financial-statements", "funds-available", "window-portfolio"]
)
def test_every_report_in_every_locale_and_format(facility: Facility, backend: str, name: str) -> None:
    path, params = report_routes(facility)[name]
    # PDF rendering does not depend on the database: every locale on SQLite, one on PostgreSQL.
    pdf_locales = LOCALES if backend == "sqlite" else (LOCALES[len(name) % 3],)
    check_report_in_every_format(facility, name, path, params, pdf_locales)


def test_the_accept_header_chooses_the_format_when_no_parameter_does(facility: Facility) -> None:
    path, params = report_routes(facility)["funds-available"]
    client, headers = facility.api.client, facility.auditor.headers
    url = REPORTS + path
    assert media_type(client.get(url, params=params, headers={**headers, "Accept": "text/csv"})) == "text/csv"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert media_type(client.get(url, params=params, headers={**headers, "Accept": browser})) == "text/html"
    pdf = client.get(url, params=params, headers={**headers, "Accept": "application/pdf"})
    assert (media_type(pdf), pdf.content[:5]) == ("application/pdf", b"%PDF-")
    assert media_type(client.get(url, params=params, headers={**headers, "Accept": "*/*"})) == "application/json"
    # the parameter wins over the header
    both = client.get(url, params={**params, "format": "json"}, headers={**headers, "Accept": "text/csv"})
    assert media_type(both) == "application/json"
    assert "Accept" in both.headers["vary"]


def test_a_closed_period_is_the_same_bytes_before_and_after_later_entries(facility: Facility) -> None:
    """Once 2025's months are closed, a later entry moves the journal's head but not the 2025 report's JSON
    or CSV: they carry the head of the close and no generation time."""
    client, officer = facility.api.client, facility.officer.headers
    for month in range(1, 13):
        closed = client.post(f"/api/v1/ledger/periods/2025-{month:02d}/close", headers=officer)
        assert closed.status_code == 200, closed.text[:300]
    path, params = report_routes(facility)["sources-and-uses"]
    before = {fmt: fetch(facility, path, params, fmt, "es") for fmt in ("json", "csv")}
    body = before["json"].json()
    assert (body["closed"], body["generated_at"]) == (True, None)
    journal_head = client.get("/api/v1/ledger/verify", headers=facility.auditor.headers).json()["head"]
    posted(
        facility.api,
        facility.officer,
        entry_line("5400", "35.00"),
        entry_line("1100", "-35.00"),
        entry_date="2027-01-15",
        description="Bank charges, January 2027",
    )
    assert client.get("/api/v1/ledger/verify", headers=facility.auditor.headers).json()["head"] != journal_head
    for fmt, earlier in before.items():
        later = fetch(facility, path, params, fmt, "es")
        assert later.content == earlier.content
        assert later.headers["x-ledger-head"] == earlier.headers["x-ledger-head"] == body["ledger_head"]
    # the same report to date is not closed: it shows the new head and when it was made
    to_date = fetch(facility, path, {}, "json", "es").json()
    assert (to_date["closed"], to_date["ledger_head"]) == (
        False,
        client.get("/api/v1/ledger/verify", headers=facility.auditor.headers).json()["head"],
    )
    assert to_date["generated_at"] is not None


EVIL = (
    '=HYPERLINK("file:///etc/passwd")<script>alert(1)</script></style><img src="file:///etc/passwd">'
    " url(http://evil.example/x.png)"
)


def test_a_malicious_contributor_name_is_plain_text_in_every_format(facility: Facility) -> None:
    """A donor named with HTML, a closing style tag, a CSS url() and file links: the JSON gives it as it is,
    the CSV neutralises it, the HTML escapes it (nothing reaches a stylesheet) and the PDF prints it as text
    with no link and nothing fetched for it."""
    client = facility.api.client
    created = client.post(
        "/api/v1/contributors", json={"kind": "foundation", "name": EVIL}, headers=facility.admin.headers
    )
    assert created.status_code == 201, created.text[:300]
    donor = created.json()["id"]
    deposit = client.post(
        "/api/v1/contributions",
        json={"contributor_id": donor, "value_date": "2027-01-10", "currency": "USD", "amount": "5000.00"},
        headers={**facility.officer.headers, "Idempotency-Key": "malicious-name-deposit"},
    )
    assert deposit.status_code == 201, deposit.text[:300]
    path, params = f"/contributors/{donor}", {}

    assert fetch(facility, path, params, "json", "en").json()["subject"] == EVIL

    rows = list(csv.reader(io.StringIO(fetch(facility, path, params, "csv", "en").text, newline="")))
    assert ["", "subject", "0", "'" + EVIL] in rows
    facility_rows = csv.reader(io.StringIO(fetch(facility, "/sources-and-uses", {}, "csv", "fr").text, newline=""))
    named = [r for r in facility_rows if any(EVIL in cell for cell in r)]
    assert named and all("'" + EVIL in r for r in named)

    page = fetch(facility, path, params, "html", "es").text
    tree = lxml.html.document_fromstring(page)
    assert tree.xpath("//script | //img") == []
    assert tree.xpath("string(//p[@class='subject'])") == EVIL
    for style in tree.xpath("//style"):
        assert "url(" not in style.text and "evil.example" not in style.text

    pdf = fetch(facility, path, params, "pdf", "fr").content
    first_page = spaces_normalised(PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    assert EVIL.replace(" ", "") in first_page.replace(" ", "")  # a long name may wrap at a slash
    assert b"/URI" not in pdf and b"root:" not in pdf


def test_the_iati_files_are_xml(facility: Facility) -> None:
    for name, root_tag in (("activities", "iati-activities"), ("organisation", "iati-organisations")):
        response = facility.api.client.get(f"{REPORTS}/iati/{name}.xml", headers=facility.delegate.headers)
        assert response.status_code == 200, response.text[:500]
        assert media_type(response) == "application/xml"
        root = lxml.etree.fromstring(response.content)
        assert (root.tag, root.get("version")) == (root_tag, "2.03")
