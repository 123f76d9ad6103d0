"""Every report of two facilities printed whole, in en, es and fr: read back from the PDF's own text positions.

The facilities: the generated reporting facility (``tests/reports_support.py``: the six windows, the pooled
fund, twelve members and three donors) with long names added through the API (a donor whose name runs to
two lines and holds a word longer than any column, two windows renamed at length in every language), and
the demo (``fundapp demo``, read on the day it is loaded). Each report is rendered once per module through
the HTTP API as JSON, HTML and PDF in every locale (``rendered``); the tests then read each PDF with
pdfplumber (``tests/pdf_support.py``) and check, per report and locale:

- no character lies outside the printable area of its page, and no two texts of a line are drawn over
  each other (a figure running into its neighbour);
- every column header of every table of the JSON report is printed as a table header, and every row's
  label as a table cell, so no column and no row is lost; the HTML page has the same headers;
- the funds-available table prints every window, the pooled fund and the Total.

Rendering does not depend on the database, so this module runs on SQLite (the figures are checked against
both backends elsewhere). Set ``FUNDAPP_TEST_PDF_DIR`` to keep the PDFs, e.g. to look at their pages with
``pdftoppm -png -r 60``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from litestar.testing import TestClient

from fundapp import cli
from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.models import Role
from tests.conftest import TEST_ENV, make_settings
from tests.pdf_support import (
    PrintedDocument,
    outside_printable_area,
    overlapping_characters,
    page_sizes,
    read,
    squeezed,
)
from tests.reports_support import FACILITY_NOW, FacilityFacts
from tests.support import Actor, Api, DatabaseProbe, demo_day

LOCALES = ("en", "es", "fr")
REPORTS = ("sources-and-uses", "contributor", "financial-statements", "funds-available", "window-portfolio")
FACILITIES = ("generated", "demo")
LONG_DONOR = (
    "Fundación Internacional para la Movilidad Laboral Justa, la Protección Social y los Derechos de las "
    "Personas Trabajadoras Migrantes y sus Familias (FIMLJPSDPTMFREGISTRO00000000000000000000000042)"
)
LONG_WINDOWS = {
    "SKL": {
        "name_en": "Migrants' skills development for employment, recognition of prior learning and "
        "portable qualifications across corridors",
        "name_es": "Desarrollo de competencias de los migrantes para el empleo, reconocimiento del "
        "aprendizaje previo y cualificaciones transferibles entre corredores",
        "name_fr": "Développement des compétences des migrants pour l'emploi, reconnaissance des acquis "
        "et qualifications transférables entre corridors",
    },
    "PAR": {
        "name_en": "Partnerships for migration-related goals of the Sustainable Development Agenda",
        "name_es": "Alianzas para los objetivos relacionados con la migración de la Agenda de Desarrollo Sostenible",
        "name_fr": "Partenariats pour les objectifs liés à la migration du Programme de développement durable",
    },
}


@dataclass
class Rendered:
    """One facility's reports: per report and locale, the JSON body, the HTML page and the PDF read back."""

    json: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    html: dict[tuple[str, str], str] = field(default_factory=dict)
    pdf: dict[tuple[str, str], bytes] = field(default_factory=dict)
    printed: dict[tuple[str, str], PrintedDocument] = field(default_factory=dict)

    def document(self, name: str, locale: str) -> PrintedDocument:
        key = (name, locale)
        if key not in self.printed:
            self.printed[key] = read(self.pdf[key])
        return self.printed[key]


def _render(
    client: TestClient[Any], reader: Actor, routes: dict[str, tuple[str, dict[str, str]]], tag: str
) -> Rendered:
    rendered = Rendered()
    keep = os.environ.get("FUNDAPP_TEST_PDF_DIR")
    for name, (path, params) in routes.items():
        for locale in LOCALES:
            for fmt in ("json", "html", "pdf"):
                response = client.get(
                    f"/api/v1/reports{path}", params={**params, "format": fmt, "locale": locale}, headers=reader.headers
                )
                assert response.status_code == 200, (name, locale, fmt, response.text[:300])
                if fmt == "json":
                    rendered.json[(name, locale)] = response.json()
                elif fmt == "html":
                    rendered.html[(name, locale)] = response.text
                else:
                    rendered.pdf[(name, locale)] = response.content
                    if keep:
                        Path(keep).mkdir(parents=True, exist_ok=True)
                        (Path(keep) / f"{tag}_{name}_{locale}.pdf").write_bytes(response.content)
    return rendered


def _with_long_names(client: TestClient[Any], facts: FacilityFacts) -> int:
    """Long names through the API: a donor (with a deposit earmarked to a window) and two windows renamed in
    every language. Returns the donor's id."""

    def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {facts.tokens[username][1]}"}

    donor = client.post(
        "/api/v1/contributors", json={"kind": "foundation", "name": LONG_DONOR}, headers=headers("admin")
    )
    assert donor.status_code == 201, donor.text[:300]
    donor_id = int(donor.json()["id"])
    deposit = client.post(
        "/api/v1/contributions",
        json={"contributor_id": donor_id, "value_date": "2027-01-12", "currency": "EUR", "amount": "987654.32"},
        headers={**headers("officer"), "Idempotency-Key": "layout-long-donor"},
    )
    assert deposit.status_code == 201, deposit.text[:300]
    for code, names in LONG_WINDOWS.items():
        renamed = client.patch(f"/api/v1/windows/{code}", json=names, headers=headers("admin"))
        assert renamed.status_code == 200, renamed.text[:300]
    return donor_id


@pytest.fixture(scope="module")
def generated(
    facility_sqlite_template: tuple[Path, FacilityFacts], tmp_path_factory: pytest.TempPathFactory
) -> Rendered:
    template, facts = facility_sqlite_template
    folder = tmp_path_factory.mktemp("layout-generated")
    shutil.copyfile(template, folder / "facility.sqlite3")
    settings = make_settings(f"sqlite+aiosqlite:///{folder / 'facility.sqlite3'}", folder / "var")
    with TestClient(
        create_app(settings, clock=FrozenClock(FACILITY_NOW)), base_url="http://testserver.local"
    ) as client:
        donor = _with_long_names(client, facts)
        _, token, roles = facts.tokens["auditor"]
        auditor = Actor(0, "auditor", roles, token)
        routes = {
            "sources-and-uses": ("/sources-and-uses", {"date_from": "2026-01-01", "date_to": "2026-12-31"}),
            "contributor": (f"/contributors/{donor}", {}),
            "financial-statements": ("/financial-statements", {"year": "2026"}),
            "funds-available": ("/funds-available", {}),
            "window-portfolio": ("/windows/SKL", {"as_of": "2026-12-31"}),
        }
        # The contributor report of a member with pledges in its own currency, besides the long-named donor.
        rendered = _render(client, auditor, routes, "generated")
        member = _render(
            client, auditor, {"contributor": (f"/contributors/{facts.contributor_ids['DEU']}", {})}, "generated-deu"
        )
        rendered.json.update({("contributor-member", k[1]): v for k, v in member.json.items()})
        rendered.html.update({("contributor-member", k[1]): v for k, v in member.html.items()})
        rendered.pdf.update({("contributor-member", k[1]): v for k, v in member.pdf.items()})
        return rendered


@pytest.fixture(scope="module")
def demo(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    folder = tmp_path_factory.mktemp("layout-demo")
    shutil.copyfile(sqlite_template, folder / "demo.sqlite3")
    url = f"sqlite+aiosqlite:///{folder / 'demo.sqlite3'}"
    settings = make_settings(url, folder / "var")
    with pytest.MonkeyPatch.context() as env:
        for name, value in {**TEST_ENV, "FUNDAPP_DATABASE_URL": url, "FUNDAPP_VAR_DIR": str(folder / "var")}.items():
            env.setenv(name, value)
        clock = FrozenClock(demo_day())  # today, or FUNDAPP_TEST_DEMO_DAY: the demo's story ends before it
        assert cli.main(["demo"], clock=clock) == 0
    probe = DatabaseProbe(settings)
    today = clock.now()
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver.local") as client:
        reader = Api(client, probe, settings, clock).create_user(Role.AUDITOR)
        contributor = probe.scalar(
            "SELECT contributor_id FROM pledges GROUP BY contributor_id ORDER BY count(*) DESC, contributor_id LIMIT 1"
        )
        window = probe.scalar(
            "SELECT w.code FROM grants g JOIN windows w ON w.id = g.window_id "
            "GROUP BY w.code ORDER BY count(*) DESC, w.code LIMIT 1"
        )
        routes = {
            "sources-and-uses": ("/sources-and-uses", {"date_from": f"{today.year - 1}-01-01"}),
            "contributor": (f"/contributors/{contributor}", {}),
            "financial-statements": ("/financial-statements", {"year": str(today.year)}),
            "funds-available": ("/funds-available", {}),
            "window-portfolio": (f"/windows/{window}", {}),
        }
        yield _render(client, reader, routes, "demo")
    probe.close()


def cases() -> list[Any]:
    """(facility, report, locale) for every report each facility prints."""
    names = {"generated": (*REPORTS, "contributor-member"), "demo": REPORTS}
    return [
        pytest.param(facility, name, locale, id=f"{facility}-{name}-{locale}")
        for facility in FACILITIES
        for name in names[facility]
        for locale in LOCALES
    ]


def facility_of(request: pytest.FixtureRequest, facility: str) -> Rendered:
    found: Rendered = request.getfixturevalue(facility)
    return found


@pytest.mark.parametrize(("facility", "name", "locale"), cases())
def test_every_character_lies_inside_the_printable_area(
    request: pytest.FixtureRequest, facility: str, name: str, locale: str
) -> None:
    printed = facility_of(request, facility).document(name, locale)
    assert outside_printable_area(printed) == []
    assert overlapping_characters(printed) == []


@pytest.mark.parametrize(("facility", "name", "locale"), cases())
def test_every_column_and_row_of_the_report_is_printed(
    request: pytest.FixtureRequest, facility: str, name: str, locale: str
) -> None:
    rendered = facility_of(request, facility)
    body, printed = rendered.json[(name, locale)], rendered.document(name, locale)
    headers, cells = printed.header_cells, printed.body_cells
    page = lxml.html.document_fromstring(rendered.html[(name, locale)])
    for table in body["tables"]:
        shown = [squeezed(th.text_content()) for th in page.xpath(f"//section[@id='table-{table['key']}']//thead//th")]
        for column in table["columns"]:
            label = squeezed(column["label"])
            assert any(label in header for header in headers), (table["key"], column["label"], sorted(headers))
            assert any(label in header for header in shown), (table["key"], column["label"])
        for row in table["rows"]:
            first = row["cells"][0]
            if isinstance(first, str) and first:
                assert squeezed(first) in cells, (table["key"], first)
    assert len(printed.tables) >= len(body["tables"])


@pytest.mark.parametrize("facility", FACILITIES)
@pytest.mark.parametrize("locale", LOCALES)
def test_funds_available_prints_every_window_the_pooled_fund_and_the_total(
    request: pytest.FixtureRequest, facility: str, locale: str
) -> None:
    rendered = facility_of(request, facility)
    body = rendered.json[("funds-available", locale)]
    columns = next(t for t in body["tables"] if t["key"] == "funds")["columns"]
    assert [c["key"] for c in columns][-2:] == ["pooled", "total"]
    assert len(columns) >= 1 + 6 + 2  # the item, the six windows, the pooled fund and the total
    printed = rendered.document("funds-available", locale)
    funds = [t for t in printed.tables if any(squeezed(columns[-1]["label"]) in h for h in map(squeezed, t.headers))]
    assert funds, "the Total column is not printed"
    printed_headers = {squeezed(h) for t in printed.tables for h in t.headers}
    for column in columns:
        assert any(squeezed(column["label"]) in h for h in printed_headers), column["label"]
    # A table as wide as this one is printed on a landscape page.
    assert "landscape" in page_sizes(printed)


def test_the_long_names_are_printed_whole(generated: Rendered) -> None:
    for locale in LOCALES:
        document = generated.document("contributor", locale)
        assert squeezed(LONG_DONOR) in squeezed(document.text())
        printed_headers = {squeezed(h) for t in generated.document("funds-available", locale).tables for h in t.headers}
        for code, names in LONG_WINDOWS.items():
            assert any(squeezed(f"{code} \u2013 {names[f'name_{locale}']}") in h for h in printed_headers), code
