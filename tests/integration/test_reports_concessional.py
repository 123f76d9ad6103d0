"""The concessional portfolio, the contributor report's concessional operations and their IATI activities, on
both backends (``reports/concessional.py``, ``reports/contributors.py``, ``reports/iati.py``).

Two sets of data. :func:`concessional_operations_without_services` makes three operations of two agencies,
with loans in two currencies (which the services' test helpers do not offer yet): grants taken through the
real funding decision, agreement and transfer API, to which it attaches financing requests and a refund
receivable by the ledger conventions of issue 21; it is the one function to swap for the services' calls.
The last test makes one operation through the concessional services themselves (request, review, adoption,
agreement, board approval, effectiveness, a transfer, cancellation) and checks every report after it.

Checked: every figure of the portfolio equals the ledger's balances for the operation's grant (transferred
8500, pending 8300 + 8400, refunds receivable 1300), the agencies' subtotals add up to the total, the grant
element and the leverage are shown; the contributor report names the operations apart from its ordinary
grants, with its part of the concessionality; the IATI file validates against the 2.03 schema with each
operation's activity (the agency implementing, the loan's country, finance type 110, the loan as a co-funded
related activity with finance type 421); the HTML and the PDF render in en, es and fr, every character of the
PDF inside the printable area.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select
from sqlmodel import col

from concessional import FinancingRequest, LoanStatus, RepaymentMethod
from fundapp.core.audit import Actor as AuditActor
from fundapp.core.db import Database
from ledger import Ledger, Line, Money, chart
from ledger.types import EntryDraft
from proposals import Grant
from reports import iati
from reports.service import report_context
from tests.grants_support import GrantWorld, adopt_funding, disburse, grant_world, recommended_proposal, sign
from tests.integration.test_reports_iati import ORG, by_identifier, flows, minor, total, validated
from tests.pdf_support import outside_printable_area, overlapping_characters, read, squeezed
from tests.support import V1, Api, accepted

pytestmark = pytest.mark.usefixtures("backend")

REPORT = f"{V1}/reports/concessional-portfolio"
EXTENSION = "{urn:fundapp:iati-extension:1}loan"


@dataclass
class ConcessionalWorld:
    gw: GrantWorld
    grants: dict[str, int]  # operation's key -> its grant
    requests: dict[str, int]  # operation's key -> its financing request
    ordinary_grant: int
    donor_id: int


# The operations: agency, country, loan (minor units, currency), concessionality and agency costs (minor
# units of USD; they add up to the grant of 107,000.00), grant element before and after, leverage, status.
OPERATIONS: dict[str, dict[str, Any]] = {
    "jordan": {
        "title": "Jordan Economic Opportunities",
        "country": "JOR",
        "loan": (30_000_000_000, "USD"),
        "amounts": (10_000_000, 700_000),
        "ge": ("12.7487", "35.1020"),
        "leverage": "3000.00",
        "status": LoanStatus.EFFECTIVE,
    },
    "colombia": {
        "title": "Colombia Migrant Integration",
        "country": "COL",
        "loan": (5_000_000_000, "EUR"),
        "amounts": (10_200_000, 500_000),
        "ge": ("10.5000", "36.2500"),
        "leverage": "490.20",
        "status": LoanStatus.BOARD_APPROVED,
    },
    "lebanon": {
        "title": "Lebanon Health Resilience",
        "country": "LBN",
        "loan": (2_000_000_000, "USD"),
        "amounts": (10_000_000, 700_000),
        "ge": ("14.0000", "35.0000"),
        "leverage": "200.00",
        "status": LoanStatus.APPROVED,
    },
}
REFUND_DUE = 1_000_000  # 10,000.00 USD owed back by the World Bank on the Jordan operation


def concessional_operations_without_services(api: Api) -> ConcessionalWorld:
    """Concessional operations made as the concessional services will make them, until they exist: the
    grants through the real funding decision, agreement and transfer API (Jordan signed and its first
    tranche transferred, Colombia signed, Lebanon adopted only), each organisation turned into an
    implementation support agency (the World Bank for Jordan and Colombia, the Islamic Development Bank for
    Lebanon), a ``financing_requests`` row per operation naming its grant, and a refund receivable (Dr 1300 /
    Cr 5100, ``concessional_refund_due``, grant dimension) on Jordan. An ordinary grant stays ordinary."""
    gw = grant_world(api)
    grants = {}
    for key in OPERATIONS:
        proposal_id = recommended_proposal(api, gw, other=key == "lebanon", title=OPERATIONS[key]["title"])
        grants[key] = adopt_funding(api, proposal_id, gw.admin)
    ordinary = adopt_funding(api, recommended_proposal(api, gw, other=True, title="Ordinary grant"), gw.admin)
    for key in ("jordan", "colombia"):
        accepted(sign(api, gw.admin, grants[key]))
    disburse(api, gw, grants["jordan"], 1)
    world_bank = gw.world.organisation_id
    isdb = int(api.db.scalar("SELECT organisation_id FROM grants WHERE id = :g", g=ordinary)) + 1000
    api.db.execute(
        "INSERT INTO organisations (id, name, type, country, registration, due_diligence, due_diligence_note, "
        "procedures_agreement_document, created_at) SELECT :id, 'Islamic Development Bank', "
        "'implementation_support_agency', 'SAU', '', 'cleared', '', 'FPA-IsDB', created_at FROM organisations "
        "WHERE id = :other",
        id=isdb,
        other=world_bank,
    )
    api.db.execute(
        "UPDATE organisations SET name = 'World Bank', type = 'implementation_support_agency' WHERE id = :id",
        id=world_bank,
    )
    api.db.execute("UPDATE grants SET organisation_id = :o WHERE id = :g", o=isdb, g=grants["lebanon"])
    api.db.execute(
        "UPDATE proposals SET organisation_id = :o WHERE id = (SELECT proposal_id FROM grants WHERE id = :g)",
        o=isdb,
        g=grants["lebanon"],
    )
    today = api.clock.now().date()
    requests = api.db.run(lambda database: _attach_requests(api, database, grants, world_bank, isdb, today))
    donor = int(api.db.scalar("SELECT id FROM contributors WHERE name = 'Donor for SKL 1000000.00'"))
    return ConcessionalWorld(gw, grants, requests, ordinary, donor)


async def _attach_requests(
    api: Api, database: Database, grants: dict[str, int], world_bank: int, isdb: int, today: date
) -> dict[str, int]:
    """The financing requests of the operations and the refund receivable (see the function above)."""
    found: dict[str, int] = {}
    async with database.session() as session:
        for key, spec in OPERATIONS.items():
            grant_id = grants[key]
            proposal_id, decision_id, window_id = (
                await session.execute(
                    select(col(Grant.proposal_id), col(Grant.decision_id), col(Grant.window_id)).where(
                        col(Grant.id) == grant_id
                    )
                )
            ).one()
            status: LoanStatus = spec["status"]
            request = FinancingRequest(
                proposal_id=proposal_id,
                agency_id=isdb if key == "lebanon" else world_bank,
                window_id=window_id,
                country=spec["country"],
                title=spec["title"],
                description=f"{spec['title']}: concessional financing of the agency's loan.",
                loan_amount=spec["loan"][0],
                loan_currency=spec["loan"][1],
                maturity_months=120,
                grace_months=30,
                repayments_per_year=2,
                method=RepaymentMethod.EQUAL_PRINCIPAL,
                market_base_rate="0.025",
                market_spread="0.0115",
                concessional_base_rate="0.01",
                concessional_spread="0",
                discount_rate="0.05",
                threshold="35",
                grant_element_before=spec["ge"][0],
                grant_element_after=spec["ge"][1],
                leverage=spec["leverage"],
                concessionality=spec["amounts"][0],
                agency_costs=spec["amounts"][1],
                status=status,
                decision_id=decision_id,
                grant_id=grant_id,
                board_approved_on=today - timedelta(days=1) if status is not LoanStatus.APPROVED else None,
                signed_on=today if status is LoanStatus.EFFECTIVE else None,
                effective_on=today if status is LoanStatus.EFFECTIVE else None,
                created_at=api.clock.now(),
                updated_at=api.clock.now(),
            )
            session.add(request)
            await session.flush()
            assert request.id is not None
            found[key] = request.id
        ledger = Ledger(session, reporting_currency="USD", actor=AuditActor(None, "test"), now=api.clock.now())
        due = Money.from_minor(REFUND_DUE, "USD")
        await ledger.post(
            EntryDraft(
                today,
                "Refund due from the World Bank: Jordan loan partly cancelled after a transfer",
                (
                    Line(chart.REFUNDS_RECEIVABLE, due, grant_id=grants["jordan"]),
                    Line(chart.TRANSFERS_TO_PARTNERS, -due, grant_id=grants["jordan"]),
                ),
                "concessional_refund_due",
            )
        )
        await session.commit()
    return found


@pytest.fixture
def cw(api: Api) -> ConcessionalWorld:
    return concessional_operations_without_services(api)


# ---------------------------------------------------------------- helpers


def report(api: Api, cw: ConcessionalWorld, fmt: str = "json", locale: str = "en", path: str = REPORT) -> Any:
    response = api.client.get(path, params={"format": fmt, "locale": locale}, headers=cw.gw.auditor.headers)
    assert response.status_code == 200, response.text
    return response.json() if fmt == "json" else response


def table(body: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in body["tables"] if t["key"] == key)


def cells(found: dict[str, Any], style: str = "line") -> list[dict[str, Any]]:
    names = [c["key"] for c in found["columns"]]
    return [dict(zip(names, row["cells"], strict=True)) for row in found["rows"] if row["style"] == style]


def cents(cell: dict[str, Any] | None) -> int:
    return 0 if cell is None else int(Decimal(cell["amount"]) * 100)


def ledger_balance(api: Api, grant_id: int, *accounts: str) -> int:
    codes = ", ".join(f"'{a}'" for a in accounts)
    found = api.db.scalar(
        "SELECT SUM(p.reporting_amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        f"WHERE a.code IN ({codes}) AND p.grant_id = :g",
        g=grant_id,
    )
    return int(found or 0)


# ---------------------------------------------------------------- the portfolio


def test_the_portfolio_is_the_ledger_by_operation_with_subtotals_and_a_total(api: Api, cw: ConcessionalWorld) -> None:
    body = report(api, cw)
    cash = table(body, "cash")
    by_title = {row["operation"]: row for row in cells(cash)}
    assert set(by_title) == {spec["title"] for spec in OPERATIONS.values()}
    for key, spec in OPERATIONS.items():
        row, grant_id = by_title[spec["title"]], cw.grants[key]
        assert cents(row["transferred"]) == ledger_balance(api, grant_id, chart.DISBURSED)
        assert cents(row["pending"]) == ledger_balance(api, grant_id, chart.ALLOCATED, chart.COMMITTED)
        assert cents(row["refunds"]) == ledger_balance(api, grant_id, chart.REFUNDS_RECEIVABLE)
        assert f"grant_id={grant_id}" in row["transferred"]["entries"]
    jordan = by_title["Jordan Economic Opportunities"]
    assert cents(jordan["transferred"]) == 6_420_000 and cents(jordan["refunds"]) == REFUND_DUE
    assert jordan["status"] == "Loan effective" and jordan["effective_on"] == api.clock.now().date().isoformat()
    assert by_title["Lebanon Health Resilience"]["status"] == "Approved, pending cash transfer"
    assert cents(by_title["Lebanon Health Resilience"]["pending"]) == 10_700_000

    for found in (cash, table(body, "terms")):
        lines, subtotals, (grand,) = cells(found), cells(found, "subtotal"), cells(found, "total")
        headings = [row["cells"][0] for row in found["rows"] if row["style"] == "heading"]
        assert headings == ["Islamic Development Bank", "World Bank"]
        assert [s["operation"] for s in subtotals] == ["Subtotal Islamic Development Bank", "Subtotal World Bank"]
        money = [c["key"] for c in found["columns"] if c["kind"] == "money" and c["key"] != "loan"]
        for name in money:
            assert sum(cents(s[name]) for s in subtotals) == cents(grand[name]) == sum(cents(r[name]) for r in lines)

    terms = table(body, "terms")
    rows = {row["operation"]: row for row in cells(terms)}
    jordan_terms = rows["Jordan Economic Opportunities"]
    assert jordan_terms["ge_before"] == "0.127487" and jordan_terms["ge_after"] == "0.351020"
    assert jordan_terms["leverage"] == "3000.00" and jordan_terms["country"] == "Jordan"
    assert jordan_terms["loan"] == {"amount": "300000000.00", "currency": "USD", "entries": None}
    assert cents(jordan_terms["concessionality"]) == 10_000_000 and cents(jordan_terms["agency_costs"]) == 700_000
    subtotals = {s["operation"]: s for s in cells(terms, "subtotal")}
    # The World Bank's loans are in USD and EUR: no loan subtotal, no leverage; the IsDB's are all USD.
    assert subtotals["Subtotal World Bank"]["loan"] is None and subtotals["Subtotal World Bank"]["leverage"] is None
    assert subtotals["Subtotal Islamic Development Bank"]["leverage"] == "200.00"


def test_the_portfolio_as_of_a_day_before_the_operations_is_empty(api: Api, cw: ConcessionalWorld) -> None:
    yesterday = (api.clock.now().date() - timedelta(days=40)).isoformat()
    response = api.client.get(REPORT, params={"as_of": yesterday}, headers=cw.gw.auditor.headers)
    body = accepted(response)
    assert [row["style"] for row in table(body, "cash")["rows"]] == ["total"]


# ---------------------------------------------------------------- the contributor report


def test_the_contributor_report_names_the_operations_its_money_financed(api: Api, cw: ConcessionalWorld) -> None:
    body = report(api, cw, path=f"{V1}/reports/contributors/{cw.donor_id}")
    operations = {row["operation"]: row for row in cells(table(body, "concessional"))}
    assert set(operations) == {spec["title"] for spec in OPERATIONS.values()}
    jordan = operations["Jordan Economic Opportunities"]
    assert jordan["agency"] == "World Bank" and jordan["country"] == "Jordan"
    assert jordan["loan"]["amount"] == "300000000.00" and cents(jordan["concessionality"]) == 10_000_000
    # The only contributor to the window: all of it is its share.
    assert jordan["share"] == "1.000000" and cents(jordan["its_concessionality"]) == 10_000_000
    assert operations["Lebanon Health Resilience"]["agency"] == "Islamic Development Bank"
    ordinary = [row["grant"] for row in cells(table(body, "financed"))]
    assert ordinary == ["Ordinary grant"]


# ---------------------------------------------------------------- IATI


def test_each_operation_is_an_iati_activity_with_its_loan_related(api: Api, cw: ConcessionalWorld) -> None:
    async def work(database: Database) -> bytes:
        async with database.session() as session:
            return await iati.activities(await report_context(session, api.settings, api.clock.now()))

    root = validated(api.db.run(work), "iati-activities-schema.xsd")
    activities = by_identifier(root)
    for key, spec in OPERATIONS.items():
        activity = activities[f"{ORG}-GRANT-{cw.grants[key]}"]
        implementing = activity.find("participating-org[@role='4']")
        agency = "Islamic Development Bank" if key == "lebanon" else "World Bank"
        assert implementing.findtext("narrative") == agency and implementing.get("type") == "40"
        (country,) = activity.findall("recipient-country")
        assert country.get("code") == {"JOR": "JO", "COL": "CO", "LBN": "LB"}[spec["country"]]
        assert country.get("percentage") == "100"
        assert activity.find("default-finance-type").get("code") == "110"
        related = activity.find("related-activity[@type='4']")
        assert related.get("ref") == f"{ORG}-LOAN-{cw.requests[key]}"
        loan = related.find(EXTENSION)
        assert loan.get("finance-type") == "421" and loan.get("currency") == spec["loan"][1]
        other = activity.find("description[@type='4']")
        assert "421" in other.findtext("narrative[@{http://www.w3.org/XML/1998/namespace}lang='en']")
        assert {n.get("{http://www.w3.org/XML/1998/namespace}lang") for n in other} == {"en", "es", "fr"}
    jordan = activities[f"{ORG}-GRANT-{cw.grants['jordan']}"]
    assert total(flows(jordan, "3")) == ledger_balance(api, cw.grants["jordan"], chart.DISBURSED)
    assert total(flows(jordan, "2")) == 10_700_000
    assert flows(activities[f"{ORG}-GRANT-{cw.grants['lebanon']}"], "2") == []
    assert minor(jordan.find("budget/value")) > 0
    ordinary = activities[f"{ORG}-GRANT-{cw.ordinary_grant}"]
    assert ordinary.find("related-activity[@type='4']") is None


# ---------------------------------------------------------------- HTML and PDF in three languages

WORDS = {
    "en": ("Concessional portfolio", "Grant element before", "Subtotal World Bank"),
    "es": ("Cartera de financiación en condiciones favorables", "Elemento de donación antes", "Subtotal World Bank"),
    "fr": ("Portefeuille de financements concessionnels", "Élément-don avant", "Sous-total World Bank"),
}


@pytest.mark.parametrize("locale", ["en", "es", "fr"])
def test_the_portfolio_renders_as_html_and_pdf_in_each_language(api: Api, cw: ConcessionalWorld, locale: str) -> None:
    page = lxml.html.document_fromstring(report(api, cw, "html", locale).text)
    text = squeezed(page.text_content())
    for words in WORDS[locale]:
        assert squeezed(words) in text, words
    printed = read(report(api, cw, "pdf", locale).content)
    assert outside_printable_area(printed) == []
    assert overlapping_characters(printed) == []
    everything = squeezed(printed.text())
    for words in (
        WORDS[locale][0],
        WORDS[locale][2],
        "JordanEconomicOpportunities",
        "300,000,000.00" if locale == "en" else "300",
    ):
        assert squeezed(words) in everything, words
    headers = printed.header_cells
    body = report(api, cw, "json", locale)
    for found in body["tables"]:
        for column in found["columns"]:
            assert any(squeezed(column["label"]) in header for header in headers), column["label"]
    assert squeezed(WORDS[locale][1]) in headers
    # Wide: the loans' table is printed on a landscape page (or in parts), never squeezed onto a portrait one.
    assert all(page.width > page.height for page in printed.pages)


def test_the_reports_page_lists_and_shows_the_portfolio(api: Api, cw: ConcessionalWorld) -> None:
    from tests.integration.test_pages_reports import sign_in

    sign_in(api.client, cw.gw.auditor)
    api.client.get("/language/es?next=/app")
    index = api.client.get("/app/reports")
    assert 'href="/app/reports/concessional-portfolio"' in index.text
    shown = api.client.get("/app/reports/concessional-portfolio")
    assert shown.status_code == 200
    assert (
        "Cartera de financiación en condiciones favorables" in lxml.html.document_fromstring(shown.text).text_content()
    )


# ---------------------------------------------------------------- through the concessional services


def test_an_operation_made_by_the_services_is_in_every_report(api: Api) -> None:
    """The World Bank's Jordan request through the real services (``tests/concessional_support.py``):
    adopted, committed, effective, one tranche transferred, then cancelled (the refund due from the agency).
    After each step the portfolio's figures are the ledger's, the contributor report names the operation and
    the IATI file is valid with its loan related."""
    from tests.concessional_support import adopt, concessional_world, decided, reviewed_request
    from tests.grants_support import approve, prepare

    cw = concessional_world(api)
    request_id = int(reviewed_request(api, cw)["id"])
    adopt(api, cw, request_id)
    grant_id = int(api.db.scalar("SELECT grant_id FROM financing_requests WHERE id = :r", r=request_id))
    accepted(sign(api, cw.admin, grant_id))
    today = api.clock.now().date().isoformat()
    path = f"{V1}/concessional/requests/{request_id}"
    accepted(api.client.post(f"{path}/board-approval", json={"approved_on": today}, headers=cw.agency.headers))
    body = {"signed_on": today, "effective_on": today}
    accepted(api.client.post(f"{path}/effectiveness", json=body, headers=cw.agency.headers))
    prepared = accepted(prepare(api, cw.grants.officer, grant_id, 1), 201)
    accepted(approve(api, cw.grants.approvers[0], prepared["id"]))
    reader = cw.grants.auditor
    donor = int(api.db.scalar("SELECT id FROM contributors WHERE name = 'Donor for SKL 1000000.00'"))

    def check(status: str) -> None:
        found = accepted(api.client.get(REPORT, headers=reader.headers))
        (row,) = cells(table(found, "cash"))
        assert row["status"] == status
        assert cents(row["transferred"]) == ledger_balance(api, grant_id, chart.DISBURSED) == 20_000_000
        assert cents(row["pending"]) == ledger_balance(api, grant_id, chart.ALLOCATED, chart.COMMITTED)
        assert cents(row["refunds"]) == ledger_balance(api, grant_id, chart.REFUNDS_RECEIVABLE)
        (terms,) = cells(table(found, "terms"))
        assert (terms["ge_before"], terms["ge_after"], terms["leverage"]) == ("0.092100", "0.263417", "5.84")
        assert cents(terms["concessionality"]) == 51_395_021 and terms["country"] == "Jordan"
        contributor = accepted(api.client.get(f"{V1}/reports/contributors/{donor}", headers=reader.headers))
        (operation,) = cells(table(contributor, "concessional"))
        assert operation["agency"] == "World Bank" and cents(operation["its_concessionality"]) == 51_395_021

        async def work(database: Database) -> bytes:
            async with database.session() as session:
                return await iati.activities(await report_context(session, api.settings, api.clock.now()))

        activity = by_identifier(validated(api.db.run(work), "iati-activities-schema.xsd"))[f"{ORG}-GRANT-{grant_id}"]
        assert activity.find("related-activity[@type='4']").get("ref") == f"{ORG}-LOAN-{request_id}"
        assert total(flows(activity, "3")) == 20_000_000

    check("Loan effective")
    assert decided(api, cw.admin, kind="cancel_concessional", request_id=request_id)["result"] == "adopted"
    check("Cancelled")
    assert ledger_balance(api, grant_id, chart.REFUNDS_RECEIVABLE) == 20_000_000
