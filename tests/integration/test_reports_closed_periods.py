"""Closed periods are final (issue 8, acceptance 5): once the months through a report's last day are closed,
its JSON and CSV are byte-identical whenever they are generated, whatever happens later.

On the generated facility (both backends) the months of 2025 are closed through the API; the reports of
2025 are rendered in every locale; then later activity goes through the API (a deposit, a grantee's report
accepted, the transfer it releases, a returned proposal edited and resubmitted, a manual entry, a window
renamed) and the clock moves on; the same reports rendered again must be the same bytes. Reports of the
open period are rendered around the same activity and must change, so the comparison can fail.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

import pytest

from fundapp.core.db import Database
from fundapp.core.models import Role
from reports import contributors, funds_available, portfolio, render, sources_uses, statements
from reports.document import Amount, Name, Report
from reports.service import ReportContext, report_context
from tests.reports_support import FACILITY_NOW, RETURNED_PROPOSAL, SEED, Facility, proposal_content
from tests.support import LEDGER, V1, accepted, line, posted

pytestmark = pytest.mark.usefixtures("backend")

CLOSED_YEAR_END = date(2025, 12, 31)
OPEN_YEAR_END = date(2026, 12, 31)
LOCALES = ("en", "es", "fr")
Builder = Callable[[ReportContext], Awaitable[Report]]


def closed_reports(facility: Facility) -> dict[str, Builder]:
    """The reports of 2025, each named for the comparison."""
    germany = facility.contributor_ids["DEU"]
    britain = facility.contributor_ids["GBR"]
    day = CLOSED_YEAR_END
    return {
        "sources-and-uses": lambda ctx: sources_uses.build(ctx, date_from=date(2025, 1, 1), date_to=day),
        "sources-and-uses-inception": lambda ctx: sources_uses.build(ctx, date_from=None, date_to=day),
        "funds-available": lambda ctx: funds_available.build(ctx, as_of=day),
        "contributor-DEU": lambda ctx: contributors.build(ctx, germany, as_of=day),
        "contributor-GBR": lambda ctx: contributors.build(ctx, britain, as_of=day),
        "portfolio-LMG": lambda ctx: portfolio.build(ctx, "LMG", as_of=day),
        "portfolio-TEC": lambda ctx: portfolio.build(ctx, "TEC", as_of=day),
        "financial-statements": lambda ctx: statements.build(ctx, year=2025),
    }


def open_reports(facility: Facility, today: date) -> dict[str, Builder]:
    """Reports whose last month is open: the later activity must show in them."""
    germany = facility.contributor_ids["DEU"]
    return {
        "sources-and-uses-2026": lambda ctx: sources_uses.build(ctx, date_from=date(2026, 1, 1), date_to=OPEN_YEAR_END),
        "funds-available-2026": lambda ctx: funds_available.build(ctx, as_of=OPEN_YEAR_END),
        "contributor-DEU-2026": lambda ctx: contributors.build(ctx, germany, as_of=OPEN_YEAR_END),
        "portfolio-LMG-today": lambda ctx: portfolio.build(ctx, "LMG", as_of=today),
        "portfolio-TEC-today": lambda ctx: portfolio.build(ctx, "TEC", as_of=today),
    }


def generate(facility: Facility, now: datetime, builders: dict[str, Builder]) -> dict[str, Report]:
    async def work(database: Database) -> dict[str, Report]:
        async with database.session() as session:
            ctx = await report_context(session, facility.api.settings, now)
            return {name: await builder(ctx) for name, builder in builders.items()}

    return facility.api.db.run(work)


def rendered(reports: dict[str, Report]) -> dict[str, bytes]:
    """Every report as JSON (keys sorted) and CSV in every locale, as the bytes a client would receive."""
    found: dict[str, bytes] = {}
    for name, report in reports.items():
        for locale in LOCALES:
            text = json.dumps(render.to_json(report, locale), sort_keys=True, ensure_ascii=False)
            found[f"{name}.{locale}.json"] = text.encode()
            found[f"{name}.{locale}.csv"] = render.to_csv(report, locale).encode()
    return found


def close_2025(facility: Facility) -> None:
    for month in range(1, 13):
        period = f"2025-{month:02d}"
        closed = accepted(
            facility.api.client.post(f"{LEDGER}/periods/{period}/close", headers=facility.officer.headers)
        )
        assert closed["status"] == "closed", closed


def later_activity(facility: Facility, *, revise_budget: bool = False) -> None:
    """What happens after 2025 is closed, through the API, dated in the open months of 2026 and 2027; with
    ``revise_budget``, the members also revise the 2025 administrative budget."""
    api, officer, admin = facility.api, facility.officer, facility.admin
    germany = facility.contributor_ids["DEU"]

    # A deposit on 28 December 2026 settling part of an instalment of a pledge Germany signed in 2025.
    unpaid = api.db.rows(
        "SELECT i.id, p.currency FROM pledge_instalments i JOIN pledges p ON p.id = i.pledge_id "
        "WHERE p.contributor_id = :c AND p.signed_on <= :d AND i.amount > "
        "(SELECT coalesce(sum(c.applied), 0) FROM contributions c WHERE c.instalment_id = i.id) ORDER BY i.id",
        c=germany,
        d=CLOSED_YEAR_END,
    )
    assert unpaid, "the facility leaves one of Germany's 2025 instalments unpaid"
    instalment_id, currency = unpaid[0]
    body = {
        "contributor_id": germany,
        "value_date": "2026-12-28",
        "currency": currency,
        "amount": "100000.00",
        "instalment_id": instalment_id,
        "reference": "late instalment",
    }
    accepted(
        api.client.post(f"{V1}/contributions", json=body, headers={**officer.headers, "Idempotency-Key": "late-1"}), 201
    )

    # The grantee of a 2025 grant reports; its acceptance recognises the conditional tranche, which is paid.
    grant_id = facility.grant_ids["Remittance price transparency"]
    organisation_id = int(api.db.scalar("SELECT organisation_id FROM grants WHERE id = :g", g=grant_id))
    grantee = api.create_user(Role.GRANTEE, organisation_id=organisation_id)
    report_id = int(
        api.db.scalar(
            "SELECT id FROM grant_reports WHERE grant_id = :g AND status = 'due' ORDER BY number LIMIT 1", g=grant_id
        )
    )
    submission = {
        "report_id": report_id,
        "narrative": "Price comparison tool live in two corridors.",
        "expenditure": [
            {"category": "staff", "amount": "60000.00"},
            {"category": "travel", "amount": "20000.00"},
            {"category": "indirect_support_costs", "amount": "5000.00"},
        ],
    }
    accepted(api.client.post(f"{V1}/grants/{grant_id}/reports", json=submission, headers=grantee.headers))
    accepted(
        api.client.post(
            f"{V1}/grants/{grant_id}/reports/{report_id}/accept", json={"note": "Accepted."}, headers=admin.headers
        )
    )
    tranche = int(
        api.db.scalar(
            "SELECT number FROM grant_tranches WHERE grant_id = :g AND status = 'recognised' ORDER BY number LIMIT 1",
            g=grant_id,
        )
    )
    prepared = accepted(
        api.client.post(
            f"{V1}/grants/{grant_id}/disbursements",
            json={"tranche": tranche, "reference": "T-late"},
            headers=officer.headers,
        ),
        201,
    )
    paid = accepted(api.client.post(f"{V1}/disbursements/{prepared['id']}/approve", headers=facility.approver.headers))
    assert paid["status"] == "approved", paid

    # The proposal returned in November 2025 is edited (a larger request) and submitted again.
    title, _window, day, _amount, months = RETURNED_PROPOSAL
    proposal_id = facility.facts.proposal_ids[title]
    author = api.create_user(
        Role.GRANTEE,
        organisation_id=int(api.db.scalar("SELECT organisation_id FROM proposals WHERE id = :p", p=proposal_id)),
    )
    content = proposal_content(random.Random(SEED + 1), title, "175000.00", months, day)
    accepted(api.client.put(f"{V1}/proposals/{proposal_id}", json={"content": content}, headers=author.headers))
    accepted(api.client.post(f"{V1}/proposals/{proposal_id}/submit", headers=author.headers))

    if revise_budget:
        revise_2025_budget(facility)

    # A manual entry at the end of 2026, a window renamed and a new one opened.
    posted(
        api,
        officer,
        line("5400", "1250.00"),
        line("1100", "-1250.00"),
        entry_date="2026-12-30",
        description="Bank charges, late advice",
    )
    renamed = {
        "name_en": "Labour migration governance (renamed)",
        "name_es": "Gobernanza de la migración laboral (nuevo nombre)",
        "name_fr": "Gouvernance de la migration de main-d'œuvre (nouveau nom)",
    }
    accepted(api.client.patch(f"{V1}/windows/LMG", json=renamed, headers=admin.headers))
    window = {
        "code": "CLM",
        "name_en": "Climate mobility",
        "name_es": "Movilidad climática",
        "name_fr": "Mobilité climatique",
    }
    accepted(api.client.post(f"{V1}/windows/", json=window, headers=admin.headers), 201)


def revise_2025_budget(facility: Facility) -> None:
    """The members revise the 2025 administrative budget in 2027 (a decision under the written procedure)."""
    api, admin = facility.api, facility.admin
    closes_at = api.clock.now() + timedelta(hours=1)
    decision = accepted(
        api.client.post(
            f"{V1}/decisions/",
            json={
                "kind": "admin_budget",
                "year": 2025,
                "amount": "425000.00",
                "title": "Budget 2025, revised",
                "text": "As proposed.",
                "procedure": "no_objection",
                "closes_at": closes_at.isoformat(),
                "open": True,
            },
            headers=admin.headers,
        ),
        201,
    )
    api.clock.advance(hours=2)
    closed = accepted(api.client.post(f"{V1}/decisions/{decision['id']}/close", headers=admin.headers))
    assert closed["result"] == "adopted", closed
    assert api.db.scalar("SELECT amount FROM admin_budgets WHERE year = 2025") == 42_500_000


def test_a_closed_period_s_reports_are_byte_identical_after_later_activity(facility: Facility) -> None:
    api = facility.api
    close_2025(facility)
    closing_head = api.db.scalar("SELECT closing_chain_head FROM ledger_periods WHERE id = '2025-12'")

    first_closed = generate(facility, FACILITY_NOW, closed_reports(facility))
    first_open = generate(facility, FACILITY_NOW, open_reports(facility, FACILITY_NOW.date()))
    for name, report in first_closed.items():
        assert report.closed and report.ledger_head == closing_head, name
    for name, report in first_open.items():
        assert not report.closed, name
    # The returned proposal stood at the end of 2025 as returned, with what it had asked for then.
    states = first_closed["portfolio-LMG"].table("by_state")
    returned = next(r for r in states.rows if getattr(r.cells[0], "key", "") == "portfolio.state.returned")
    assert returned.cells[1] == 1 and render.json_cell(returned.cells[2], "en")["amount"] == RETURNED_PROPOSAL[3]

    later_activity(facility)
    api.clock.advance(days=45)
    later = api.clock.now()
    second_closed = generate(facility, later, closed_reports(facility))
    second_open = generate(facility, later, open_reports(facility, later.date()))

    before, after = rendered(first_closed), rendered(second_closed)
    assert sorted(before) == sorted(after)
    assert [key for key in before if after[key] != before[key]] == []
    # The open period's reports move, each of them, in their figures (not only their generation time).
    for name, report in second_open.items():
        assert report.tables != first_open[name].tables, name
    # And they move by what happened: the resubmitted proposal, the renamed window, the report's expenditure.
    states = second_open["portfolio-LMG-today"].table("by_state")
    submitted = next(r for r in states.rows if getattr(r.cells[0], "key", "") == "portfolio.state.submitted")
    assert submitted.cells[1] == 2  # the facility's own submitted proposal of 2026, and this one
    # Renamed in every language: today's report says the new names, the closed one those it was printed with.
    renamed_now, named_then = second_open["portfolio-LMG-today"].subject, second_closed["portfolio-LMG"].subject
    assert isinstance(renamed_now, Name) and isinstance(named_then, Name)
    assert "(renamed)" in renamed_now.en and "(nuevo nombre)" in renamed_now.es and "(nouveau nom)" in renamed_now.fr
    assert not any("(" in words for words in (named_then.en, named_then.es, named_then.fr)), named_then
    # The window opened in 2027 is a column of today's table only.
    today = generate(facility, later, {"today": lambda ctx: funds_available.build(ctx, as_of=later.date())})
    assert "CLM" in [c.key for c in today["today"].table("funds").columns]
    assert "CLM" not in [c.key for c in second_open["funds-available-2026"].table("funds").columns]
    spent = second_open["portfolio-TEC-today"].table("figures")
    assert spent != first_open["portfolio-TEC-today"].table("figures")


def test_a_budget_revised_later_and_a_mid_year_day_leave_closed_reports_final(facility: Facility) -> None:
    """The administrative budget a closed report shows is the one adopted by its last day (funds available)
    or by the close of its year (the statements' budget comparison), not a later revision; a report as of a
    day inside the closed months is final as well."""
    close_2025(facility)
    mid_year = date(2025, 6, 30)

    def builders() -> dict[str, Builder]:
        return {
            "funds-available": lambda ctx: funds_available.build(ctx, as_of=CLOSED_YEAR_END),
            "funds-available-mid-year": lambda ctx: funds_available.build(ctx, as_of=mid_year),
            "portfolio-IRR": lambda ctx: portfolio.build(ctx, "IRR", as_of=mid_year),
            "sources-and-uses": lambda ctx: sources_uses.build(ctx, date_from=None, date_to=mid_year),
            "financial-statements": lambda ctx: statements.build(ctx, year=2025),
        }

    first = generate(facility, FACILITY_NOW, builders())
    budget = cell_of(first["funds-available"], "funds_available.admin_budget")
    assert budget == facility.api.db.scalar("SELECT amount FROM admin_budgets WHERE year = 2025") > 0
    later_activity(facility, revise_budget=True)
    facility.api.clock.advance(days=10)
    second = generate(facility, facility.api.clock.now() + timedelta(hours=1), builders())
    assert all(r.closed for r in second.values())
    assert rendered(first) == rendered(second)


def cell_of(report: Report, key: str) -> int:
    """The total column's amount of the funds-available row with this label."""
    table = report.table("funds")
    row = next(r for r in table.rows if getattr(r.cells[0], "key", "") == key)
    amount = row.cells[table.column("total")]
    assert isinstance(amount, Amount)
    return amount.minor
