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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from concessional import FinancingRequest, LoanStatus, RepaymentMethod
from fundapp.core.audit import Actor as AuditActor
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.db import Database
from fundapp.core.models import Role
from ledger import Ledger, Line, Money, chart
from ledger.types import EntryDraft
from proposals.models import Proposal
from tests.conftest import make_settings
from tests.decision_support import after_deadline, create_decision
from tests.pdf_support import outside_printable_area, overlapping_characters, read, squeezed
from tests.support import (
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    admit_member,
    create_call,
    create_organisation,
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
    post_concessional_operations(api, admin)
    return Gcff(api, admin, officer, reader)


# ---------------------------------------------------------------- the part other services will replace


@dataclass(frozen=True)
class Operation:
    """A financing request as the concessional services will leave it: adopted on ``adopted`` (or never),
    its grant's agreement, transfers and cancellation."""

    title: str
    status: LoanStatus
    concessionality: int  # minor units, USD
    agency_costs: int
    adopted: date | None
    transfers: tuple[tuple[date, int], ...] = ()
    cancelled: date | None = None
    agreement: date | None = None


OPERATIONS = (
    Operation(
        "Jordan: water and energy",
        LoanStatus.EFFECTIVE,
        400_000_000_00,
        300_000_00,
        date(2019, 2, 4),
        ((date(2019, 3, 15), 200_000_000_00), (date(2019, 5, 15), 200_300_000_00)),
        agreement=date(2019, 2, 20),
    ),
    Operation(
        "Lebanon: roads and employment",
        LoanStatus.EFFECTIVE,
        150_000_000_00,
        200_000_00,
        date(2019, 2, 4),
        ((date(2019, 4, 1), 146_472_500_00),),
        agreement=date(2019, 3, 1),
    ),
    Operation(
        "Colombia: migrants' health",
        LoanStatus.CANCELLED,
        50_000_000_00,
        0,
        date(2019, 3, 4),
        ((date(2019, 4, 10), 32_548_000_00),),
        cancelled=date(2019, 5, 20),
        agreement=date(2019, 3, 20),
    ),
    Operation("Jordan: education", LoanStatus.BOARD_APPROVED, 1_900_000_00, 100_000_00, date(2019, 6, 3)),
    # Adopted after the report's date, and one never adopted: neither counts on 30 June.
    Operation("Lebanon: municipal services", LoanStatus.APPROVED, 5_000_000_00, 50_000_00, date(2019, 7, 10)),
    Operation("Ecuador: housing", LoanStatus.NOT_APPROVED, 9_999_000_00, 0, None),
)
FIRST_GRANT_ID = 9001  # no grant row: the concessional services will make the grants


def post_concessional_operations(api: Api, admin: Actor) -> None:
    """The concessional operations and the investment income, posted through the ledger service with the
    conventions of issue 21 (adoption 8200 -> 8300 ``concessional_decision``; the grant's agreement 8300 ->
    8400 and its transfers 8400 -> 8500 as a grant's; a cancellation's release back to 8200,
    ``concessional_release``; investment income 1100 / 4200 with its budgetary lines, ``investment_income``)
    and the ``financing_requests`` rows inserted directly. The concessional services, once built, replace
    this function: the report reads only the ledger and ``financing_requests``."""
    agency = create_organisation(api, admin, "World Bank", type="implementation_support_agency", country="USA")
    call = create_call(
        api,
        admin,
        window_code=WINDOW,
        title="Concessional financing requests",
        opens_at="2019-01-01T00:00:00Z",
        closes_at="2019-12-31T00:00:00Z",
        envelope="1000000000.00",
        min_grant="1.00",
        max_grant="1000000000.00",
    )
    window_id = int(api.db.scalar("SELECT id FROM windows WHERE code = :code", code=WINDOW))
    now = api.clock.now()

    async def work(database: Database) -> None:
        async with database.session() as session:
            ledger = Ledger(session, reporting_currency="USD", actor=AuditActor(admin.id, admin.username), now=now)

            async def post(day: date, what: str, source_type: str, key: str, *lines: Line) -> None:
                await ledger.post(EntryDraft(day, what, tuple(lines), source_type, None, f"gcff-test:{key}"))

            def usd(minor: int) -> Money:
                return Money.from_minor(minor, "USD")

            income = 10_754_500_00
            await post(
                date(2019, 6, 28),
                "Investment income, first half of 2019",
                "investment_income",
                "income",
                Line(chart.CASH, usd(income)),
                Line(chart.INVESTMENT_INCOME, usd(-income), window_id=window_id),
                Line(chart.AVAILABLE, usd(income), window_id=window_id),
                Line(chart.RESOURCES_RECEIVED, usd(-income), window_id=window_id),
            )
            for n, op in enumerate(OPERATIONS):
                grant = FIRST_GRANT_ID + n
                await _post_operation(post, usd, op, grant, window_id)
                proposal = Proposal(
                    organisation_id=agency,
                    call_id=int(call["id"]),
                    window_id=window_id,
                    state="approved" if op.adopted else "rejected",
                    title=op.title,
                    requested=op.concessionality + op.agency_costs,
                    gender_marker=1,
                    content="{}",
                    created_at=now,
                    updated_at=now,
                )
                session.add(proposal)
                await session.flush()
                session.add(_request(op, proposal.id or 0, agency, window_id, grant, now))
            await session.commit()

    api.db.run(work)


async def _post_operation(post: Any, usd: Any, op: Operation, grant: int, window_id: int) -> None:
    if op.adopted is None:
        return
    amount = op.concessionality + op.agency_costs
    dims = {"window_id": window_id, "grant_id": grant}
    await post(
        op.adopted,
        f"Concessional financing adopted: {op.title}",
        "concessional_decision",
        f"{grant}:adopted",
        Line(chart.ALLOCATED, usd(amount), **dims),
        Line(chart.AVAILABLE, usd(-amount), window_id=window_id),
    )
    if op.agreement is None:
        return
    await post(
        op.agreement,
        f"Agreement with the agency: {op.title}",
        "grant_agreement",
        f"{grant}:agreement",
        Line(chart.COMMITTED, usd(amount), **dims),
        Line(chart.ALLOCATED, usd(-amount), **dims),
        Line(chart.TRANSFERS_TO_PARTNERS, usd(amount), **dims),
        Line(chart.GRANTS_PAYABLE, usd(-amount), **dims),
    )
    paid = 0
    for number, (day, transfer) in enumerate(op.transfers):
        paid += transfer
        await post(
            day,
            f"Transfer to the agency: {op.title}",
            "grant_disbursement",
            f"{grant}:transfer:{number}",
            Line(chart.DISBURSED, usd(transfer), **dims),
            Line(chart.COMMITTED, usd(-transfer), **dims),
            Line(chart.GRANTS_PAYABLE, usd(transfer), **dims),
            Line(chart.CASH, usd(-transfer), **dims),
        )
    if op.cancelled is not None:
        rest = amount - paid
        await post(
            op.cancelled,
            f"Cancelled, the untransferred amount released: {op.title}",
            "concessional_release",
            f"{grant}:release",
            Line(chart.AVAILABLE, usd(rest), window_id=window_id),
            Line(chart.COMMITTED, usd(-rest), **dims),
            Line(chart.GRANTS_PAYABLE, usd(rest), **dims),
            Line(chart.TRANSFERS_TO_PARTNERS, usd(-rest), **dims),
        )


def _request(
    op: Operation, proposal_id: int, agency: int, window_id: int, grant: int, now: datetime
) -> FinancingRequest:
    return FinancingRequest(
        proposal_id=proposal_id,
        agency_id=agency,
        window_id=window_id,
        country="JOR",
        title=op.title,
        loan_amount=op.concessionality * 10 or 1,
        loan_currency="USD",
        maturity_months=300,
        grace_months=60,
        repayments_per_year=2,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        market_base_rate="0.025",
        market_spread="0.012",
        concessional_base_rate="0.01",
        concessional_spread="0.0",
        concessionality=op.concessionality,
        agency_costs=op.agency_costs,
        status=op.status,
        grant_id=grant if op.adopted else None,
        cancelled_on=op.cancelled,
        created_at=now,
        updated_at=now,
    )


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


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
def test_html_and_pdf_in_every_locale(gcff: Gcff, locale: str) -> None:
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
