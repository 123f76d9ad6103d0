"""Issue 21, acceptance 3, end to end through the HTTP API on SQLite and PostgreSQL: Jordan added as a
benefitting country by a vote of the members; the World Bank's request computed (the calculator's figures),
submitted, screened, reviewed by the TAG (conflicts of interest declared, the rubric) and adopted by a
``concessional_financing`` decision; transfers refused before the loan is effective (409 naming the field and
the rule, nothing written); board approval and effectiveness; two tranches transferred, each prepared by a
finance officer and approved by a different person; a restructuring decision that reduces the loan and
releases the difference to the window.

After every step :func:`assert_reports_agree` checks that both books balance and that the reports agree with
each other and with the ledger: funds available (per fund), funds available in the GCFF's layout, the
concessional portfolio, sources and uses, both contributors' reports and the IATI file (valid against the
2.03 schemas). ``test_concessional_lifecycle.py`` covers the agreement's refusal and the cancellation;
``test_reports_concessional.py`` the reports' layouts and languages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from fundapp.core.models import Role
from ledger import chart
from tests.concessional_support import (
    CONCESSIONALITY,
    GRANT,
    REQUESTS,
    SCORES,
    ConcessionalWorld,
    adopt,
    counts,
    create_request,
    decided,
    get_request,
    record_agreement,
)
from tests.decision_support import after_deadline, cast, create_decision
from tests.grants_support import approve, fund_window, grant_world, prepare, sign
from tests.integration.test_reports_iati import ORG, by_identifier, flows, total, validated
from tests.support import (
    V1,
    Actor,
    Api,
    accepted,
    acted,
    assert_books_balanced,
    assert_problem,
    assign,
    broken_rules,
    create_organisation,
    declare,
)

pytestmark = pytest.mark.usefixtures("backend")
REPORTS = f"{V1}/reports"
CALCULATOR = f"{V1}/concessional/calculator"
PENDING = (chart.ALLOCATED, chart.COMMITTED)


@dataclass
class Operation:
    """The scenario's people and what the reports are checked against (the request, once there is one)."""

    reader: Actor  # an auditor: reads every report
    agency: Actor  # the World Bank's user: reads its own request, even a draft
    donors: list[int]
    request_id: int | None = None
    steps: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the ledger, read directly


def cents(cell: Any) -> int:
    """A report's money cell (or a MoneyOut) in minor units."""
    return 0 if cell is None else int(Decimal(cell["amount"]).scaleb(2))


def ledger(api: Api, *accounts: str, **dims: int) -> int:
    """The balance of ``accounts`` (minor units of USD) under these dimensions."""
    codes = ", ".join(f"'{a}'" for a in accounts)
    conditions = "".join(f" AND p.{name} = :{name}" for name in dims)
    value = api.db.scalar(
        "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        f"WHERE a.code IN ({codes}){conditions}",
        **dims,
    )
    return int(value)


def available_by_fund(api: Api) -> dict[str, int]:
    """8200 by window code ("pooled" for the pooled fund)."""
    rows = api.db.rows(
        "SELECT w.code, sum(p.amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "LEFT JOIN windows w ON w.id = p.window_id WHERE a.code = :code GROUP BY w.code",
        code=chart.AVAILABLE,
    )
    return {code or "pooled": int(amount) for code, amount in rows}


def pending_of_every_grant(api: Api) -> int:
    return int(
        api.db.scalar(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE a.code IN (:allocated, :committed) AND p.grant_id IS NOT NULL",
            allocated=chart.ALLOCATED,
            committed=chart.COMMITTED,
        )
    )


# ---------------------------------------------------------------- the reports


def report(api: Api, reader: Actor, path: str) -> dict[str, Any]:
    body: dict[str, Any] = accepted(api.client.get(f"{REPORTS}/{path}", headers=reader.headers))
    return body


def rows(body: dict[str, Any], key: str, style: str | None = "line", *, shown: bool = True) -> list[dict[str, Any]]:
    """A table's rows as dicts by column key (of one style, or all of them); ``shown=False``: a table the
    report leaves out when it would be empty."""
    found = next((t for t in body["tables"] if t["key"] == key), None)
    if found is None:
        assert not shown, f"no table {key}"
        return []
    names = [c["key"] for c in found["columns"]]
    return [
        dict(zip(names, row["cells"], strict=True)) for row in found["rows"] if style is None or row["style"] == style
    ]


def by_item(body: dict[str, Any], key: str, column: str) -> dict[str, int]:
    """A table's money column by the row's first cell (headings and ratios left out)."""
    return {row["item"]: cents(row[column]) for row in rows(body, key, None) if isinstance(row[column], dict)}


def assert_reports_agree(api: Api, op: Operation) -> None:
    """Both books balance, and every report agrees with the ledger and with the others (module docstring)."""
    assert_books_balanced(api, op.reader)
    request = None if op.request_id is None else get_request(api, op.agency, op.request_id)
    grant_id = None if request is None or request["grant_id"] is None else int(request["grant_id"])
    concessionality = agency_costs = 0
    if grant_id is not None:
        assert request is not None
        concessionality, agency_costs = cents(request["concessionality"]), cents(request["agency_costs"])
    transferred = 0 if grant_id is None else ledger(api, chart.DISBURSED, grant_id=grant_id)
    pending = 0 if grant_id is None else ledger(api, *PENDING, grant_id=grant_id)
    cash = ledger(api, chart.CASH)

    # Funds available: each fund's line is its 8200 balance, the total their sum.
    funds = rows(report(api, op.reader, "funds-available"), "funds", "total")
    (line,) = [row for row in funds if row["item"] == "Funds available for decisions"]
    available = available_by_fund(api)
    for code, cell in line.items():
        if code == "item":
            continue
        expected = sum(available.values()) if code == "total" else available.get(code, 0)
        assert cents(cell) == expected, (code, op.steps[-1])

    # The GCFF's layout: the operation's concessionality and costs, cash and pending as the ledger holds them.
    gcff = by_item(report(api, op.reader, "funds-available-gcff"), "gcff", "amount")
    assert gcff["Concessionality"] == concessionality and gcff["MDB costs"] == agency_costs, op.steps[-1]
    assert gcff["Grants to implementing partners"] == 0 and gcff["Administrative budget"] == 0
    assert gcff["Total funding decisions"] == concessionality + agency_costs
    assert gcff["Funds held in trust"] == cash
    assert gcff["Approved amounts pending cash transfer"] == pending_of_every_grant(api) == pending
    assert gcff["Funds available"] == cash - pending
    assert gcff["Cash receipts"] == gcff["Contributions"]  # every pledge is paid

    # The concessional portfolio: the operation's figures are its grant's and its request's.
    portfolio = report(api, op.reader, "concessional-portfolio")
    operations, terms = rows(portfolio, "cash"), rows(portfolio, "terms")
    if grant_id is None:
        assert operations == [] and terms == []
    else:
        assert request is not None
        ((row,), (term,)) = operations, terms
        assert row["operation"] == term["operation"] == request["title"]
        assert cents(row["transferred"]) == transferred and cents(row["pending"]) == pending
        assert cents(row["refunds"]) == 0
        assert cents(term["concessionality"]) == concessionality and cents(term["agency_costs"]) == agency_costs
        assert cents(term["loan"]) == cents(request["loan_amount"])
        assert Decimal(term["ge_before"]) * 100 == Decimal(request["grant_element_before"])
        assert Decimal(term["ge_after"]) * 100 == Decimal(request["grant_element_after"])
        assert term["leverage"] == request["leverage"] and term["country"] == "Jordan"

    # Sources and uses: the transfers to partners are the operation's, the balance is the trustee's cash.
    uses = report(api, op.reader, "sources-and-uses")
    summary = by_item(uses, "summary", "inception")
    assert summary["Transfers to implementing partners"] == transferred
    assert summary["Balance with the facility"] == cash == gcff["Funds held in trust"]
    (skl,) = [row for row in rows(uses, "by_window") if row["window"].startswith("SKL")]
    assert cents(skl["transfers_inception"]) == transferred
    partners = [(r["organisation"], cents(r["net_transfers"])) for r in rows(uses, "by_organisation", None)]
    operation = (
        [] if request is None or grant_id is None else [("World Bank", transferred), (request["title"], transferred)]
    )
    assert partners == [*operation, ("Total", transferred)]

    # The contributors' reports name the operation; their shares sum to its concessionality.
    shares = parts = Decimal(0)
    for donor in op.donors:
        named = rows(report(api, op.reader, f"contributors/{donor}"), "concessional", shown=grant_id is not None)
        if grant_id is None:
            assert named == []
            continue
        assert request is not None
        (mine,) = named
        assert (mine["operation"], mine["agency"], mine["country"]) == (request["title"], "World Bank", "Jordan")
        assert cents(mine["concessionality"]) == concessionality
        shares += Decimal(mine["share"])
        parts += cents(mine["its_concessionality"])
    if grant_id is not None:
        assert parts == concessionality and abs(shares - 1) <= Decimal("0.000001") * len(op.donors)

    # IATI: the file is valid against the official schemas; the operation is an activity with its loan.
    response = api.client.get(f"{REPORTS}/iati/activities.xml", headers=op.reader.headers)
    assert response.status_code == 200, response.text
    activities = by_identifier(validated(response.content, "iati-activities-schema.xsd"))
    if grant_id is not None:
        activity = activities[f"{ORG}-GRANT-{grant_id}"]
        assert activity.find("related-activity[@type='4']").get("ref") == f"{ORG}-LOAN-{op.request_id}"
        assert activity.find("default-finance-type").get("code") == "110"
        assert total(flows(activity, "3")) == transferred


def step(api: Api, op: Operation, name: str) -> None:
    op.steps.append(name)
    assert_reports_agree(api, op)


# ---------------------------------------------------------------- the scenario


def calculated(api: Api, reader: Actor, request: dict[str, Any], country: dict[str, Any]) -> dict[str, Any]:
    """The calculator's answer for the request's terms at the country's discount rate and threshold."""
    names = ("maturity_months", "grace_months", "repayments_per_year", "method")
    rates = ("market_base_rate", "market_spread", "concessional_base_rate", "concessional_spread")
    body = {
        "loan_amount": request["loan_amount"]["amount"],
        "currency": request["loan_amount"]["currency"],
        **{name: request[name] for name in (*names, *rates)},
        "discount_rate": country["discount_rate"],
        "threshold": country["threshold"],
    }
    found: dict[str, Any] = accepted(api.client.post(CALCULATOR, json=body, headers=reader.headers))
    return found


def same_figures(request: dict[str, Any], calculator: dict[str, Any]) -> None:
    for name in ("grant_element_before", "grant_element_after", "leverage", "concessionality", "meets_threshold"):
        assert request[name] == calculator[name], name
    assert (request["discount_rate"], request["threshold"]) == (calculator["discount_rate"], calculator["threshold"])


def test_a_concessional_operation_through_every_report(api: Api) -> None:
    gw = grant_world(api)
    fund_window(api, gw.officer, "SKL", "500000.00")  # a second donor: the operation's shares are split
    donors = [int(i) for (i,) in api.db.rows("SELECT id FROM contributors WHERE name LIKE 'Donor for SKL%'")]
    assert len(donors) == 2
    agency_id = create_organisation(api, gw.admin, "World Bank", type="implementation_support_agency", country="USA")
    op = Operation(gw.auditor, api.create_user(Role.GRANTEE, organisation_id=agency_id), donors)
    record_agreement(api, gw.admin, agency_id)
    step(api, op, "funded")

    # Jordan becomes a benefitting country by a vote of the members, closed when the deadline passes.
    opened = create_decision(api, gw.admin, open=True, kind="add_country", country="JOR", group="gcff_a")
    assert opened["procedure"] == "vote", opened
    for delegate in gw.world.delegates.values():
        cast(api, delegate, opened["id"], "yes")
    assert after_deadline(api, gw.auditor, opened)["result"] == "adopted"
    jordan = accepted(api.client.get(f"{V1}/countries/JOR", headers=op.agency.headers))
    assert (jordan["group"], jordan["discount_rate"], jordan["threshold"]) == ("gcff_a", "0.07", "0.15")
    step(api, op, "country added")

    # The World Bank's request, computed as the calculator computes it.
    draft = accepted(create_request(api, op.agency), 201)
    op.request_id = int(draft["id"])
    assert draft["status"] == "draft"
    same_figures(draft, calculated(api, op.agency, draft, jordan))
    assert draft["concessionality"] == {"amount": CONCESSIONALITY, "currency": "USD"}
    assert (draft["grant_element_before"], draft["grant_element_after"], draft["leverage"]) == (
        "9.2100",
        "26.3417",
        "5.84",
    )
    assert draft["grant_amount"] == {"amount": GRANT, "currency": "USD"} and draft["meets_threshold"] is True
    step(api, op, "drafted")

    # Submitted, screened, reviewed by two TAG reviewers (each declares no conflict first) and recommended.
    pid = int(accepted(api.client.post(f"{REQUESTS}/{op.request_id}/submit", headers=op.agency.headers))["proposal_id"])
    step(api, op, "submitted")
    acted(api, gw.admin, pid, "screen")
    acted(api, gw.admin, pid, "pass")
    step(api, op, "screened")
    reviewers = gw.world.reviewers[:2]
    accepted(assign(api, gw.admin, pid, *reviewers))
    for reviewer, scores in zip(reviewers, SCORES, strict=True):
        assert_problem(
            api.client.post(f"{V1}/proposals/{pid}/reviews", json=review(scores), headers=reviewer.headers), 409
        )
        accepted(declare(api, reviewer, pid))
        accepted(api.client.post(f"{V1}/proposals/{pid}/reviews", json=review(scores), headers=reviewer.headers), 201)
    acted(api, gw.admin, pid, "recommend", "Strong leverage, clear results.")
    assert get_request(api, op.agency, op.request_id)["status"] == "in_review"
    step(api, op, "reviewed")

    # Adopted by the members: the grant to the agency, allocated from the window.
    window = gw.window_id
    before = ledger(api, chart.AVAILABLE, window_id=window)
    decision = adopt(api, ConcessionalWorld(gw, agency_id, op.agency), op.request_id)
    request = get_request(api, op.agency, op.request_id)
    grant_id = int(request["grant_id"])
    assert request["status"] == "approved" and request["decision_id"] == decision["id"]
    assert ledger(api, chart.AVAILABLE, window_id=window) == before - 52_000_000
    step(api, op, "adopted")

    # Transfers refused before the loan is effective: committed, then board approved; nothing written.
    accepted(sign(api, gw.admin, grant_id))
    step(api, op, "committed")
    path = f"{REQUESTS}/{op.request_id}"
    today = api.clock.now().date().isoformat()
    for then in ("committed", "board approved"):
        if then == "board approved":
            approved = api.client.post(f"{path}/board-approval", json={"approved_on": today}, headers=op.agency.headers)
            assert accepted(approved)["status"] == "board_approved"
        seen = counts(api)
        refused = assert_problem(prepare(api, gw.officer, grant_id, 1), 409)
        assert ("effective_on", "loan-effective") in broken_rules(refused), refused
        assert counts(api) == seen
        step(api, op, f"refused when {then}")

    effective = {"signed_on": today, "effective_on": today}
    assert accepted(api.client.post(f"{path}/effectiveness", json=effective, headers=op.agency.headers))["status"] == (
        "effective"
    )
    step(api, op, "effective")

    # Two tranches, each prepared by a finance officer and approved by someone else.
    for tranche in (1, 2):
        prepared = accepted(prepare(api, gw.officer, grant_id, tranche), 201)
        step(api, op, f"tranche {tranche} prepared")
        paid = accepted(approve(api, gw.approvers[0], prepared["id"]))
        assert paid["status"] == "approved" and paid["approved_by"] != paid["prepared_by"]
        step(api, op, f"tranche {tranche} transferred")
    assert ledger(api, chart.DISBURSED, grant_id=grant_id) == 40_000_000

    # A restructuring: a smaller loan, its concessionality computed again, the difference back to the window.
    before = ledger(api, chart.AVAILABLE, window_id=window)
    restructured = decided(
        api, gw.admin, kind="restructure_concessional", request_id=op.request_id, loan_amount="2700000.00"
    )
    assert restructured["result"] == "adopted", restructured
    after = get_request(api, op.agency, op.request_id)
    assert after["loan_amount"]["amount"] == "2700000.00"
    same_figures(after, calculated(api, op.agency, after, jordan))
    grant = cents(after["concessionality"]) + cents(after["agency_costs"])
    assert cents(after["grant_amount"]) == grant < 52_000_000
    assert ledger(api, chart.AVAILABLE, window_id=window) == before + 52_000_000 - grant
    assert ledger(api, *PENDING, grant_id=grant_id) == grant - 40_000_000
    step(api, op, "restructured")


def review(scores: dict[str, int]) -> dict[str, Any]:
    return {
        "scores": {key: {"score": score, "comment": f"{key}: {score}"} for key, score in scores.items()},
        "recommendation": "recommend",
    }
