"""Acceptance 2 of issue 21: the funds-available report in the GCFF's layout reproduces the GCFF's published table
of 30 June 2019 (USD millions) when fed its figures, on SQLite and PostgreSQL; and it renders in en, es and fr
as HTML (API and page) and PDF, every line printed inside the page.

The published table rounds each line on its own and is not consistent to the cent when fed round millions
(581.31 transferred + 5.93 pending = 587.24, not 587.25), so the facility is fed exact figures below the cent
of a million that round to every published line:

- contributions: a pledge of 620,780,000.00 signed (earmarked to SKL), 611,674,000.00 of it received (cash
  receipts); a conditional pledge of 75,000,000.00 whose condition is not met (pledges outstanding);
  the charter's administrative-agent fee is nil here, as the trustee's costs are in the administrative budget;
- investment income 10,754,500.00;
- concessional operations (``post_concessional_operations``): concessionality 584,448,000.00 and MDB costs
  600,000.00 in all, of which 579,320,500.00 transferred and 5,727,500.00 pending; a request cancelled after
  part of it was transferred counts its transferred part; one adopted after 30 June and one not adopted do
  not count;
- administrative budget for 2019: 2,200,000.00, of which 2,000,000.00 spent (direct costs), 200,000.00 pending.

So: funds held in trust 611,674,000.00 + 10,754,500.00 - 579,320,500.00 - 2,000,000.00 = 41,108,000.00 (41.11),
pending 5,927,500.00 (5.93), funds available 35,180,500.00 (35.18), total funding decisions 587,248,000.00
(587.25), total potential resources 706,534,500.00 (706.53).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.models import Role
from ledger import Money, chart
from tests.concessional_support import (
    REQUESTS,
    SCORES,
    decided,
    get_request,
    record_agreement,
    request_body,
    submit,
)
from tests.conftest import make_settings
from tests.decision_support import after_deadline, cast, create_decision
from tests.grants_support import prepare, sign
from tests.pdf_support import outside_printable_area, overlapping_characters, read, squeezed
from tests.support import (
    V1,
    Actor,
    Api,
    accepted,
    acted,
    add_contributor,
    admit_member,
    assign,
    create_organisation,
    declare,
    line,
    posted,
)

AS_OF = "2019-06-30"
REPORT = f"{V1}/reports/funds-available-gcff"
WINDOW = "SKL"
PUBLISHED = {
    "contributions": "620.78",
    "pledges_outstanding": "75.00",
    "cash_receipts": "611.67",
    "investment_income": "10.75",
    "total_resources": "706.53",
    "concessionality": "584.45",
    "mdb_costs": "0.60",
    "partner_grants": "0.00",
    "admin_budget": "2.20",
    "total_decisions": "587.25",
    "held_in_trust": "41.11",
    "pending": "5.93",
    "available": "35.18",
}
# The same lines in whole units (the exact figures the fixture is fed).
EXACT = {
    "contributions": "620780000.00",
    "pledges_outstanding": "75000000.00",
    "cash_receipts": "611674000.00",
    "investment_income": "10754500.00",
    "total_resources": "706534500.00",
    "concessionality": "584448000.00",
    "mdb_costs": "600000.00",
    "partner_grants": "0.00",
    "admin_budget": "2200000.00",
    "total_decisions": "587248000.00",
    "held_in_trust": "41108000.00",
    "pending": "5927500.00",
    "available": "35180500.00",
}
# In the order of the table's rows, without its two headings.
ORDER = list(EXACT)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2019, 1, 7, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No administrative-agent fee on deposits: the GCFF's trustee is paid from the administrative budget.
    return make_settings(database_url, tmp_path / "var", FUNDAPP_CHARTER_ADMIN_AGENT_FEE_RATE="0")


@dataclass
class Gcff:
    api: Api
    admin: Actor
    officer: Actor
    reader: Actor


# ---------------------------------------------------------------- the fixture through the public services


def _pledge(api: Api, officer: Actor, contributor_id: int, amount: str, **extra: Any) -> dict[str, Any]:
    body = {
        "contributor_id": contributor_id,
        "currency": "USD",
        "amount": amount,
        "signed_on": "2019-01-07",
        "window_code": WINDOW,
        "instalments": [{"due_on": "2019-03-31", "amount": amount}],
        **extra,
    }
    pledge: dict[str, Any] = accepted(api.client.post(f"{V1}/pledges", json=body, headers=officer.headers), 201)
    return pledge


@pytest.fixture
def gcff(api: Api) -> Gcff:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    reader = api.create_user(Role.AUDITOR)
    for code in ("DEU", "NLD", "GBR"):
        admit_member(api, admin, code, "I", joined_on="2018-01-01")

    # Supporting contributions: a signed pledge, most of it received; a conditional pledge not yet firm.
    firm = _pledge(api, officer, add_contributor(api, officer, "Supporting country A"), "620780000.00")
    _pledge(
        api,
        officer,
        add_contributor(api, officer, "Supporting country B"),
        "75000000.00",
        conditional=True,
        condition="Subject to the parliament's appropriation for 2020",
    )
    body = {
        "contributor_id": firm["contributor_id"],
        "value_date": "2019-01-07",
        "currency": "USD",
        "amount": "611674000.00",
        "instalment_id": firm["instalments"][0]["id"],
    }
    accepted(api.client.post(f"{V1}/contributions", json=body, headers=officer.headers), 201)

    # The administrative budget for 2019, adopted under the written procedure.
    decision = create_decision(
        api,
        admin,
        kind="admin_budget",
        year=2019,
        amount="2200000.00",
        procedure="no_objection",
        open=True,
        closes_at="2019-01-14T09:00:00Z",
    )
    assert after_deadline(api, reader, decision)["result"] == "adopted"

    post_concessional_operations(api, admin, officer)
    api.clock.advance(seconds=(datetime(2019, 7, 20, 9, 0, tzinfo=UTC) - api.clock.now()).total_seconds())
    # The secretariat's spending of it (maker-checker manual entry).
    posted(
        api,
        officer,
        line(chart.SECRETARIAT_DIRECT_COSTS, "2000000.00"),
        line(chart.CASH, "-2000000.00"),
        entry_date="2019-06-14",
        description="Secretariat direct costs, first half of 2019",
    )
    return Gcff(api, admin, officer, reader)


# ---------------------------------------------------------------- the concessional operations, through the services


@dataclass(frozen=True)
class Operation:
    """A financing request and what happens to it, on the days its steps are taken (the clock moves there):
    adopted on ``adopted`` (never when None: the members vote it down), then the trustee's commitment, the
    board approval and the effectiveness on ``agreement``, its tranches transferred on their days, cancelled
    on ``cancelled``. ``loan`` is the loan (USD) whose concessionality at Jordan's and Lebanon's terms (GCFF
    group A: 7% and 15%; 25 years, 5 of grace, semi-annual, market 2.5% + 1.2%, concessional 1%) is exactly
    ``concessionality`` (the calculator rounds once, to the cent: 0.14218 of the loan)."""

    title: str
    country: str
    loan: str
    concessionality: int  # minor units, USD: what the calculator computes for ``loan``
    agency_costs: int
    adopted: date | None
    transfers: tuple[tuple[date, int], ...] = ()
    cancelled: date | None = None
    agreement: date | None = None
    board_approved: date | None = None


OPERATIONS = (
    Operation(
        "Jordan: water and energy",
        "JOR",
        "1677320299.34",
        400_000_000_00,
        300_000_00,
        date(2019, 2, 4),
        ((date(2019, 3, 15), 200_000_000_00), (date(2019, 5, 15), 200_300_000_00)),
        agreement=date(2019, 2, 20),
    ),
    Operation(
        "Lebanon: roads and employment",
        "LBN",
        "628995112.24",
        150_000_000_00,
        200_000_00,
        date(2019, 2, 4),
        ((date(2019, 4, 1), 146_472_500_00),),
        agreement=date(2019, 3, 1),
    ),
    Operation(
        "Jordan: municipal services",
        "JOR",
        "209665037.40",
        50_000_000_00,
        0,
        date(2019, 3, 4),
        ((date(2019, 4, 10), 32_548_000_00),),
        cancelled=date(2019, 5, 20),
        agreement=date(2019, 3, 20),
    ),
    Operation(
        "Jordan: education",
        "JOR",
        "7967271.41",
        1_900_000_00,
        100_000_00,
        date(2019, 6, 3),
        board_approved=date(2019, 6, 10),
    ),
    # Adopted after the report's date, and one the members did not adopt: neither counts on 30 June.
    Operation("Lebanon: water supply", "LBN", "20966503.73", 5_000_000_00, 50_000_00, date(2019, 7, 10)),
    Operation("Lebanon: housing", "LBN", "41928814.17", 9_999_000_00, 0, None),
)
INCOME = (date(2019, 1, 1), date(2019, 6, 30), "10754500.00")  # the period's interest on the trustee's cash
LAST_STEP = date(2019, 7, 10)


def _day(api: Api, day: date) -> None:
    """Move the facility's clock forward to 09:00 UTC of ``day`` (never back)."""
    moment = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    if moment > api.clock.now():
        api.clock.advance(seconds=(moment - api.clock.now()).total_seconds())


def _usd(minor: int) -> str:
    return str(Money.from_minor(minor, "USD").amount)


def _approved(api: Api, approvers: tuple[Actor, Actor], path: str) -> dict[str, Any]:
    """Approve by one finance approver, and by the second when the charter asks for two."""
    done: dict[str, Any] = accepted(api.client.post(path, headers=approvers[0].headers))
    if done["status"] != "approved":
        done = accepted(api.client.post(path, headers=approvers[1].headers))
    assert done["status"] == "approved", done
    return done


def post_concessional_operations(api: Api, admin: Actor, officer: Actor) -> None:
    """The concessional operations and the investment income through the services, as an MDB, the
    secretariat, the TAG, the members and the trustee's finance staff would make them, the clock moving
    through 2019: the World Bank (an implementation support agency with its financial procedures agreement)
    requests each operation's concessionality for Jordan or Lebanon (both added by the members' decision),
    the secretariat screens it, two TAG reviewers declare their conflicts and score it, the members adopt it
    (a ``concessional_financing`` decision) or vote it down; the trustee commits it, the agency records the
    board approval and the effectiveness, a finance officer prepares each tranche and an approver approves
    it; one operation is cancelled by the members after a transfer (its untransferred part released, the
    transferred part counted and a refund due from the agency). The interest earned in the first half of 2019
    is recorded by the officer and posted on approval by a second person.

    Nothing is written directly: every figure of the table comes from the services."""
    agency_id = create_organisation(api, admin, "World Bank", type="implementation_support_agency", country="USA")
    agency = api.create_user(Role.GRANTEE, organisation_id=agency_id)
    reviewers = [api.create_user(Role.TAG_REVIEWER) for _ in SCORES]
    approvers = (api.create_user(Role.FINANCE_APPROVER), api.create_user(Role.FINANCE_APPROVER))
    delegate = api.create_user(Role.MEMBER_DELEGATE, member_code="DEU")
    record_agreement(api, admin, agency_id)
    for code in ("JOR", "LBN"):
        assert decided(api, admin, kind="add_country", country=code, group="gcff_a")["result"] == "adopted"

    requests: dict[str, int] = {}
    for op in OPERATIONS:
        tranches = [*op.transfers]
        grant = op.concessionality + op.agency_costs
        if sum(amount for _, amount in tranches) < grant:
            tranches.append((date(2019, 12, 1), grant - sum(amount for _, amount in tranches)))
        body = request_body(
            country=op.country,
            title=op.title,
            endorsed_on="2019-01-10",
            loan_amount=op.loan,
            maturity_months=300,
            grace_months=60,
            market_base_rate="0.025",
            market_spread="0.012",
            concessional_base_rate="0.01",
            concessional_spread="0",
            agency_costs=_usd(op.agency_costs),
            tranches=[{"planned_date": day.isoformat(), "amount": _usd(amount)} for day, amount in tranches],
        )
        request = accepted(api.client.post(f"{REQUESTS}/", json=body, headers=agency.headers), 201)
        assert request["concessionality"]["amount"] == _usd(op.concessionality), request
        requests[op.title] = int(request["id"])
        pid = int(accepted(submit(api, agency, request["id"]))["proposal_id"])
        acted(api, admin, pid, "screen")
        acted(api, admin, pid, "pass")
        accepted(assign(api, admin, pid, *reviewers))
        for reviewer, scores in zip(reviewers, SCORES, strict=True):
            accepted(declare(api, reviewer, pid))
            review = {key: {"score": score, "comment": key} for key, score in scores.items()}
            body = {"scores": review, "recommendation": "recommend"}
            accepted(api.client.post(f"{V1}/proposals/{pid}/reviews", json=body, headers=reviewer.headers), 201)
        acted(api, admin, pid, "recommend", "Clear results.")

    # The members' vote against one of them.
    (refused,) = [op for op in OPERATIONS if op.adopted is None]
    decision = create_decision(
        api, admin, kind="concessional_financing", request_id=requests[refused.title], procedure="vote", open=True
    )
    cast(api, delegate, decision["id"], "no")
    assert after_deadline(api, delegate, decision)["result"] != "adopted"

    # Every other step, day by day.
    steps: list[tuple[date, int, str, Operation, int]] = []
    for op in OPERATIONS:
        if op.adopted is not None:
            steps.append((op.adopted, 0, "adopt", op, 0))
        if op.agreement is not None:
            steps.append((op.agreement, 1, "commit", op, 0))
        if op.board_approved is not None:
            steps.append((op.board_approved, 1, "board", op, 0))
        steps.extend((day, 2, "transfer", op, number) for number, (day, _) in enumerate(op.transfers, 1))
        if op.cancelled is not None:
            steps.append((op.cancelled, 3, "cancel", op, 0))
    steps.append((INCOME[1] + timedelta(days=1), 4, "income", OPERATIONS[0], 0))
    grants: dict[str, int] = {}
    for day, _, what, op, number in sorted(steps, key=lambda s: (s[0], s[1], s[2])):
        _day(api, day)
        request_id, today = requests[op.title], day.isoformat()
        path = f"{REQUESTS}/{request_id}"
        if what == "adopt":
            closed = decided(api, admin, kind="concessional_financing", request_id=request_id)
            assert closed["result"] == "adopted", closed
            grants[op.title] = int(get_request(api, agency, request_id)["grant_id"])
        elif what == "commit":
            accepted(sign(api, admin, grants[op.title]))
            accepted(api.client.post(f"{path}/board-approval", json={"approved_on": today}, headers=agency.headers))
            body = {"signed_on": today, "effective_on": today}
            accepted(api.client.post(f"{path}/effectiveness", json=body, headers=agency.headers))
        elif what == "board":
            accepted(api.client.post(f"{path}/board-approval", json={"approved_on": today}, headers=agency.headers))
        elif what == "transfer":
            prepared = accepted(prepare(api, officer, grants[op.title], number), 201)
            _approved(api, approvers, f"{V1}/disbursements/{prepared['id']}/approve")
        elif what == "cancel":
            closed = decided(api, admin, kind="cancel_concessional", request_id=request_id)
            assert closed["result"] == "adopted", closed
        else:
            start, end, amount = INCOME
            body = {
                "currency": "USD",
                "amount": amount,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "bank_reference": "Trustee's statement, first half of 2019",
            }
            income = accepted(api.client.post(f"{V1}/investment-income/", json=body, headers=officer.headers), 202)
            _approved(api, approvers, f"{V1}/investment-income/{income['id']}/approve")


# ---------------------------------------------------------------- the report


def lines_of(body: dict[str, Any]) -> dict[str, str]:
    """The report's figures by line, in the table's order (headings left out)."""
    (table,) = body["tables"]
    figures = [row["cells"][1] for row in table["rows"] if row["style"] != "heading"]
    return {name: cell["amount"] for name, cell in zip(ORDER, figures, strict=True)}


def get(api: Api, reader: Actor, **params: str) -> Any:
    response = api.client.get(REPORT, params={"as_of": AS_OF, **params}, headers=reader.headers)
    assert response.status_code == 200, response.text
    return response


def test_the_published_table_of_30_june_2019_to_the_cent(gcff: Gcff) -> None:
    body = get(gcff.api, gcff.reader, unit="millions").json()
    assert lines_of(body) == PUBLISHED
    assert body["parameters"] == {"as_of": AS_OF, "unit": "millions"}
    assert {row["cells"][1]["unit"] for row in body["tables"][0]["rows"] if row["cells"][1]} == {"millions"}

    whole = get(gcff.api, gcff.reader).json()
    assert lines_of(whole) == EXACT
    # The lines read from one selection of the ledger name their entries.
    (table,) = whole["tables"]
    links = {row["cells"][0]: row["cells"][1]["entries"] for row in table["rows"] if row["cells"][1]}
    assert links["Funds held in trust"] == f"{V1}/ledger/entries?account=1100&date_to={AS_OF}"
    assert links["Pledges outstanding"] == f"{V1}/ledger/entries?account=2300&date_to={AS_OF}"


def test_a_later_date_counts_what_happened_since(gcff: Gcff) -> None:
    later = lines_of(get(gcff.api, gcff.reader, as_of="2019-07-19").json())
    assert later["concessionality"] == "589448000.00"  # the operation adopted on 10 July
    assert later["mdb_costs"] == "650000.00"
    assert later["pending"] == "10977500.00"
    assert later["held_in_trust"] == EXACT["held_in_trust"]
    assert later["available"] == "30130500.00"


def test_csv_says_the_unit_and_a_wrong_unit_is_refused(gcff: Gcff) -> None:
    text = get(gcff.api, gcff.reader, unit="millions", format="csv").text
    assert "\r\n,parameter,0,unit,millions\r\n" in text
    assert "gcff,total,0,Funds available,35.18,USD\r\n" in text
    refused = gcff.api.client.get(REPORT, params={"unit": "billions"}, headers=gcff.reader.headers)
    assert refused.status_code == 422
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [("unit", "one_of")]


WORDS = {
    "en": ("Pledges outstanding", "Funds available", "Amounts in millions of US dollars (USD)", "35.18", "706.53"),
    "es": (
        "Promesas de contribución pendientes",
        "Fondos disponibles",
        "Importes en millones de dólares estadounidenses (USD)",
        "35,18",
        "706,53",
    ),
    "fr": (
        "Annonces de contributions en attente",
        "Fonds disponibles",
        "Montants en millions de dollars des États-Unis (USD)",
        "35,18",
        "706,53",
    ),
}


def test_html_and_pdf_in_every_locale(gcff: Gcff) -> None:
    # One facility for the three languages: it is built through the services, a few seconds each time.
    for locale in ("en", "es", "fr"):
        _html_and_pdf(gcff, locale)


def _html_and_pdf(gcff: Gcff, locale: str) -> None:
    api = gcff.api
    html = get(api, gcff.reader, unit="millions", format="html", locale=locale).text
    for words in WORDS[locale]:
        assert words in html
    body = get(api, gcff.reader, unit="millions", format="json", locale=locale).json()
    labels = [row["cells"][0] for row in body["tables"][0]["rows"]]

    pdf = get(api, gcff.reader, unit="millions", format="pdf", locale=locale).content
    keep = os.environ.get("FUNDAPP_TEST_PDF_DIR")
    if keep:
        Path(keep, f"gcff_{locale}.pdf").write_bytes(pdf)
        Path(keep, f"gcff_{locale}.html").write_text(html, encoding="utf-8")
    printed = read(pdf)
    assert outside_printable_area(printed) == []
    assert overlapping_characters(printed) == []
    cells = {squeezed(cell) for cell in printed.body_cells}
    assert {squeezed(label) for label in labels} <= cells
    assert {squeezed(v) for v in PUBLISHED.values() if v != "0.00"} <= {
        squeezed(c.replace(",", ".")) for c in printed.body_cells
    }
    assert squeezed(WORDS[locale][2]) in squeezed(printed.text())


def test_the_reports_page_shows_it(gcff: Gcff) -> None:
    api = gcff.api
    api.login(gcff.reader.username)
    index = api.client.get("/app/reports/")
    assert index.status_code == 200
    assert "/app/reports/funds-available-gcff?unit=millions" in index.text
    page = api.client.get("/app/reports/funds-available-gcff", params={"as_of": AS_OF, "unit": "millions"})
    assert page.status_code == 200, page.text
    assert "35.18" in page.text and "587.25" in page.text
    assert "unit=millions" in page.text  # the downloads keep the unit
