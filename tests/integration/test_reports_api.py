"""Who reads which report, what a bad request is told, how the locale is chosen, and the command line
that writes the same reports to files; on the generated facility."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import pytest
from pypdf import PdfReader

from fundapp import cli
from fundapp.core.clock import FrozenClock
from fundapp.core.models import Role
from tests.reports_support import FACILITY_NOW, Facility
from tests.support import assert_problem, broken_rules

pytestmark = pytest.mark.usefixtures("backend")

REPORTS = "/api/v1/reports"
FACILITY_WIDE = (
    "/sources-and-uses",
    "/financial-statements?year=2026",
    "/funds-available",
    "/windows/IRR",
)


# ---------------------------------------------------------------- access


def test_a_delegate_reads_its_own_contributor_report_and_not_another(facility: Facility) -> None:
    own = facility.contributor_ids["MEX"]
    response = facility.api.client.get(f"{REPORTS}/contributors/{own}", headers=facility.delegate.headers)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["report"] == "contributor"

    for other in (facility.contributor_ids["DEU"], facility.contributor_ids["Government of Norway"]):
        for fmt in ("json", "pdf"):
            refused = facility.api.client.get(
                f"{REPORTS}/contributors/{other}", params={"format": fmt}, headers=facility.delegate.headers
            )
            body = assert_problem(refused, 403)
            assert "own member" in body["detail"]

    # the secretariat and auditors read every contributor's report
    for reader in (facility.auditor, facility.admin, facility.officer):
        response = facility.api.client.get(
            f"{REPORTS}/contributors/{facility.contributor_ids['DEU']}", headers=reader.headers
        )
        assert response.status_code == 200, response.text[:300]


def test_delegates_read_the_facility_reports_and_grantees_and_reviewers_do_not(facility: Facility) -> None:
    api = facility.api
    grantee = api.create_user(Role.GRANTEE, organisation_id=next(iter(facility.facts.organisation_ids.values())))
    reviewer = api.create_user(Role.TAG_REVIEWER)
    for path in FACILITY_WIDE:
        assert api.client.get(REPORTS + path, headers=facility.delegate.headers).status_code == 200, path
        for outsider in (grantee, reviewer):
            body = assert_problem(api.client.get(REPORTS + path, headers=outsider.headers), 403)
            assert "requires one of the roles" in body["detail"]
        assert_problem(api.client.get(REPORTS + path), 401)
    own = f"{REPORTS}/contributors/{facility.contributor_ids['MEX']}"
    assert_problem(api.client.get(own, headers=grantee.headers), 403)
    # the IATI files are public to every signed-in user
    for name in ("activities", "organisation"):
        response = api.client.get(f"{REPORTS}/iati/{name}.xml", headers=grantee.headers)
        assert response.status_code == 200, response.text[:300]
        assert_problem(api.client.get(f"{REPORTS}/iati/{name}.xml"), 401)


# ---------------------------------------------------------------- refusals

REFUSALS = [
    ("/sources-and-uses", {"format": "xlsx"}, ("format", "one_of")),
    ("/sources-and-uses", {"locale": "de"}, ("locale", "one_of")),
    ("/sources-and-uses", {"date_from": "2026-02-01", "date_to": "2026-01-31"}, ("date_from", "not_after_date_to")),
    ("/sources-and-uses", {"date_to": "2027-01-21"}, ("date_to", "not-in-future")),
    ("/sources-and-uses", {"date_from": "2025-13-01"}, ("date_from", "invalid")),
    ("/funds-available", {"as_of": "2027-01-21"}, ("as_of", "not-in-future")),
    ("/windows/IRR", {"as_of": "2030-01-01"}, ("as_of", "not-in-future")),
    ("/financial-statements", {}, ("year", "missing")),
    ("/financial-statements", {"year": "1899"}, ("year", "out_of_range")),
    ("/financial-statements", {"year": "3000"}, ("year", "out_of_range")),
    ("/financial-statements", {"year": "twenty"}, ("year", "invalid")),
    ("/financial-statements", {"year": "2026", "format": "docx"}, ("format", "one_of")),
]


def test_bad_parameters_are_422_naming_the_field_and_the_rule(facility: Facility) -> None:
    for path, params, rule in REFUSALS:
        response = facility.api.client.get(REPORTS + path, params=params, headers=facility.auditor.headers)
        body = assert_problem(response, 422)
        assert rule in broken_rules(body), (path, params, body)


def test_unknown_contributors_and_windows_are_404(facility: Facility) -> None:
    client, headers = facility.api.client, facility.auditor.headers
    for path in ("/contributors/999999", "/contributors/99999999999", "/windows/NOPE", "/windows/" + "W" * 40):
        assert_problem(client.get(REPORTS + path, headers=headers), 404)
    # a delegate asking for a contributor that does not exist learns no more than that
    assert_problem(client.get(f"{REPORTS}/contributors/999999", headers=facility.delegate.headers), 404)


# ---------------------------------------------------------------- locale


def test_the_locale_comes_from_the_parameter_then_accept_language(facility: Facility) -> None:
    client, headers = facility.api.client, facility.auditor.headers
    url = f"{REPORTS}/funds-available"
    titles = {}
    for language, expected in (
        ("fr-CA,fr;q=0.9,en;q=0.5", "fr"),
        ("es-MX", "es"),
        ("de-DE, es;q=0.4", "es"),
        ("de-DE", "en"),
        ("", "en"),
    ):
        response = client.get(url, headers={**headers, "Accept-Language": language})
        assert response.headers["content-language"] == expected, language
        assert response.json()["locale"] == expected
        titles[expected] = response.json()["title"]
    assert len(set(titles.values())) == 3  # three languages, three titles
    chosen = client.get(url, params={"locale": "es"}, headers={**headers, "Accept-Language": "fr"})
    assert (chosen.headers["content-language"], chosen.json()["title"]) == ("es", titles["es"])


# ---------------------------------------------------------------- the command line

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def fundapp(facility: Facility, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``fundapp ARGS...`` on the facility's database, its clock where the facility's is."""
    settings = facility.api.settings
    for name, value in (
        ("FUNDAPP_DATABASE_URL", settings.database_url),
        ("FUNDAPP_SECRET_KEY", settings.secret_key),
        ("FUNDAPP_VAR_DIR", str(settings.var_dir)),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli, "Clock", lambda: FrozenClock(FACILITY_NOW))

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run


def test_the_command_line_writes_the_same_reports_as_the_api(facility: Facility, fundapp: Run, tmp_path) -> None:
    target = tmp_path / "sources.csv"
    code, _, err = fundapp(
        "report", "sources-and-uses", "--from", "2025-01-01", "--to", "2025-12-31", "--format", "csv",
        "--locale", "es", "-o", str(target),
    )  # fmt: skip
    assert code == 0, err
    api = facility.api.client.get(
        f"{REPORTS}/sources-and-uses",
        params={"date_from": "2025-01-01", "date_to": "2025-12-31", "format": "csv", "locale": "es"},
        headers=facility.auditor.headers,
    )
    assert target.read_bytes() == api.content
    assert next(csv.reader(io.StringIO(target.read_text(encoding="utf-8")))) == ["tabla", "fila", "nivel", "valores"]

    pdf_path = tmp_path / "statements.pdf"
    code, _, err = fundapp(
        "report", "financial-statements", "--year", "2026", "--format", "pdf", "--locale", "fr", "-o", str(pdf_path)
    )
    assert code == 0, err
    title = facility.api.client.get(
        f"{REPORTS}/financial-statements", params={"year": "2026", "locale": "fr"}, headers=facility.auditor.headers
    ).json()["title"]
    first_page = PdfReader(pdf_path).pages[0].extract_text()
    assert " ".join(title.split()) in " ".join(first_page.split())

    code, out, err = fundapp("report", "contributor", "--contributor", str(facility.contributor_ids["MEX"]))
    assert code == 0, err
    assert '"report":"contributor"' in out

    code, out, err = fundapp("report", "iati-organisation")
    assert code == 0, err
    assert out.startswith("<?xml")


def test_the_command_line_refuses_what_the_api_refuses(fundapp: Run, tmp_path) -> None:
    target = tmp_path / "never.csv"
    code, _, err = fundapp(
        "report", "sources-and-uses", "--from", "2026-02-01", "--to", "2026-01-31", "-o", str(target)
    )
    assert (code, "date_from" in err) == (1, True)
    code, _, err = fundapp("report", "contributor", "-o", str(target))
    assert (code, "contributor" in err) == (1, True)
    code, _, err = fundapp("report", "contributor", "--contributor", "999999", "-o", str(target))
    assert (code, "999999" in err) == (1, True)
    code, _, err = fundapp("report", "financial-statements", "--year", "1800", "-o", str(target))
    assert (code, "year" in err) == (1, True)
    code, _, err = fundapp("report", "iati-activities", "--format", "pdf", "-o", str(target))
    assert (code, "XML" in err) == (2, True)
    assert not target.exists()


def test_the_command_line_period_stands_for_the_dates_of_each_report(facility: Facility, fundapp: Run) -> None:
    """``--period`` as the issue writes it: a year, a quarter, a month or two days, mapped to each report's
    own parameters; the same bytes as the explicit options."""
    pairs = [
        (
            ("sources-and-uses", "--period", "2025-Q2"),
            ("sources-and-uses", "--from", "2025-04-01", "--to", "2025-06-30"),
        ),
        (("sources-and-uses", "--period", "..2025-06-30"), ("sources-and-uses", "--to", "2025-06-30")),
        (("financial-statements", "--period", "2025"), ("financial-statements", "--year", "2025")),
        (("funds-available", "--period", "2025-11"), ("funds-available", "--as-of", "2025-11-30")),
    ]
    for with_period, explicit in pairs:
        code, by_period, err = fundapp("report", *with_period, "--format", "csv")
        assert code == 0, err
        code, by_dates, err = fundapp("report", *explicit, "--format", "csv")
        assert code == 0, err
        assert by_period == by_dates, with_period
    code, _, err = fundapp("report", "financial-statements", "--period", "2025-Q1")
    assert (code, "calendar_year" in err or "one calendar year" in err) == (1, True)
    code, _, err = fundapp("report", "sources-and-uses", "--period", "last year")
    assert (code, "2025-Q2" in err) == (1, True)
    code, _, err = fundapp("report", "sources-and-uses", "--period", "2025", "--to", "2025-03-01")
    assert code == 2 and "--period" in err
