"""One grant from adoption to closure through the API, on both backends (issue acceptance 1).

A proposal the TAG recommended is adopted by the members (``adopt_funding``), which creates the grant and
allocates its amount. The secretariat records the signed agreement; a finance officer prepares the first
tranche and a different finance approver approves it; the grantee's progress report is accepted, which
recognises the conditional second tranche; most of it is disbursed; the grantee refunds part; the final
report is accepted; the secretariat closes the grant, releasing what was committed and not paid back to
the window. After every step both books balance, the window's budgetary book reconciles, and the grant
statement equals the ledger's balances for the grant dimension, naming the entries behind each figure.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.grants_support import (
    GRANTS,
    accept_report,
    adopt_funding,
    approve,
    assert_statement_is_the_ledger,
    assert_window_reconciles,
    close,
    disburse,
    figure,
    grant_world,
    ledger_balances,
    prepare,
    recommended_proposal,
    refund,
    reports,
    sign,
    statement,
    submit_report,
)
from tests.support import Api, accepted, assert_money_one_shape, assert_problem, audit_events, broken_rules

pytestmark = pytest.mark.usefixtures("backend")


def amounts(found: dict[str, Any], *names: str) -> tuple[str, ...]:
    return tuple(found[n]["amount"] for n in names)


def test_a_grant_from_adoption_to_closure(api: Api) -> None:
    gw = grant_world(api)
    admin, auditor, grantee, officer = gw.admin, gw.auditor, gw.grantee, gw.officer
    approver = gw.approvers[0]
    available_before = ledger_balances(api, auditor, window_id=gw.window_id)["8200"]
    assert available_before == Decimal("990000.00")  # 1,000,000.00 less the 1% administrative-agent fee

    # Adoption: the grant exists, awaiting its agreement, with the amount allocated.
    pid = recommended_proposal(api, gw)
    gid = adopt_funding(api, pid, admin)
    created = assert_statement_is_the_ledger(api, auditor, gid)
    assert created["status"] == "awaiting_agreement"
    assert (created["proposal_id"], created["organisation_id"], created["window_code"]) == (
        pid,
        gw.world.organisation_id,
        "SKL",
    )
    assert created["amount"] == {"amount": "107000.00", "currency": "USD"}
    assert amounts(created, "allocated", "committed", "disbursed", "remaining") == (
        "107000.00",
        "0.00",
        "0.00",
        "107000.00",
    )
    assert created["isc_rate"] == "0.0700"
    assert (created["start_date"], created["end_date"]) == ("2026-03-16", "2028-03-16")
    assert [(t["number"], t["amount"]["amount"], t["condition"], t["state"]) for t in created["tranches"]] == [
        (1, "64200.00", "none", "pending"),
        (2, "42800.00", "progress_report", "pending"),
    ]
    schedule = reports(api, grantee, gid)
    assert [(r["kind"], r["period_start"], r["period_end"], r["due_on"], r["status"]) for r in schedule] == [
        ("progress", "2026-03-16", "2027-03-16", "2027-04-15", "due"),
        ("final", "2026-03-16", "2028-03-16", "2028-06-14", "due"),
    ]
    progress_id, final_id = (r["id"] for r in schedule)
    assert assert_window_reconciles(api, auditor, gw.window_id)["8200"] == Decimal("883000.00")

    # A transfer waits for the agreement.
    assert ("status", "grant-active") in broken_rules(assert_problem(prepare(api, officer, gid, 1), 409))

    # Agreement: committed, and the unconditional first tranche recognised (expense and grants payable).
    signed = accepted(sign(api, admin, gid, key="agreement-1", reference="GA-2026-014"))
    assert signed["status"] == "active"
    assert signed["agreement"]["reference"] == "GA-2026-014"
    again = accepted(sign(api, admin, gid, key="agreement-1", reference="GA-2026-014"))
    assert again["agreement"]["entry_id"] == signed["agreement"]["entry_id"]
    signed = assert_statement_is_the_ledger(api, auditor, gid)
    assert amounts(signed, "allocated", "committed", "recognised", "payable") == (
        "0.00",
        "107000.00",
        "64200.00",
        "64200.00",
    )
    assert [t["state"] for t in signed["tranches"]] == ["recognised", "pending"]
    assert signed["tranches"][0]["recognised_entry_id"] == signed["agreement"]["entry_id"]

    # First tranche: prepared by a finance officer, approved by a different finance approver.
    prepared = accepted(prepare(api, officer, gid, 1, key="t1"), 201)
    assert (prepared["status"], prepared["amount"]["amount"], prepared["approvals_needed"]) == (
        "prepared",
        "64200.00",
        1,
    )
    assert assert_statement_is_the_ledger(api, auditor, gid)["disbursed"]["amount"] == "0.00"
    paid = accepted(approve(api, approver, prepared["id"], key="t1-approval"))
    assert (paid["status"], paid["approved_by"], paid["prepared_by"]) == ("approved", approver.id, officer.id)
    assert accepted(approve(api, approver, prepared["id"], key="t1-approval"))["entry_id"] == paid["entry_id"]
    first = assert_statement_is_the_ledger(api, auditor, gid)
    assert amounts(first, "committed", "disbursed", "payable", "remaining") == (
        "42800.00",
        "64200.00",
        "0.00",
        "42800.00",
    )
    assert first["disbursed"]["entry_ids"] == [paid["entry_id"]]
    assert first["tranches"][0]["state"] == "paid"
    assert first["tranches"][0]["entry_ids"] == [signed["agreement"]["entry_id"], paid["entry_id"]]

    # The second tranche waits for an accepted progress report.
    assert ("tranche", "condition-met") in broken_rules(assert_problem(prepare(api, officer, gid, 2), 409))
    spent = {"staff": "30000.00", "travel": "18000.00", "indirect_support_costs": "3360.00"}
    submitted = accepted(submit_report(api, grantee, gid, progress_id, spent))
    assert (submitted["status"], submitted["expenditure_total"]["amount"]) == ("submitted", "51360.00")
    accepted_report = accepted(accept_report(api, admin, gid, progress_id, key="report-1"))
    assert (accepted_report["status"], accepted_report["recognised_tranche"]) == ("accepted", 2)
    reported = assert_statement_is_the_ledger(api, auditor, gid)
    assert reported["tranches"][1]["state"] == "recognised"
    assert reported["tranches"][1]["met_by_report_id"] == progress_id
    assert amounts(reported, "recognised", "payable", "reported_expenditure") == ("107000.00", "42800.00", "51360.00")
    assert reported["delivery_rate"] == "0.8000"

    # Second tranche: 40,000.00 of its 42,800.00 transferred.
    second = disburse(api, gw, gid, 2, "40000.00")
    partly = assert_statement_is_the_ledger(api, auditor, gid)
    assert partly["tranches"][1]["state"] == "partly_paid"
    assert amounts(partly, "committed", "disbursed", "payable") == ("2800.00", "104200.00", "2800.00")
    assert partly["disbursed"]["entry_ids"] == [paid["entry_id"], second["entry_id"]]

    # A partial refund: cash back, expense reduced, the budget back to the window's available funds.
    back = accepted(refund(api, officer, gid, "5000.00", key="refund-1"), 201)
    assert accepted(refund(api, officer, gid, "5000.00", key="refund-1"))["id"] == back["id"]
    refunded = assert_statement_is_the_ledger(api, auditor, gid)
    assert amounts(refunded, "disbursed", "refunded", "recognised") == ("104200.00", "5000.00", "102000.00")
    assert refunded["refunded"]["entry_ids"] == [back["entry_id"]]
    assert refunded["delivery_rate"] == "0.5177"  # 51,360.00 / (104,200.00 - 5,000.00) = 0.51774...

    # The final report, then closure: the 2,800.00 committed and not paid goes back to the window.
    assert ("status", "final-report-accepted") in broken_rules(assert_problem(close(api, admin, gid), 409))
    final_spent = {"staff": "58000.00", "travel": "34000.00", "indirect_support_costs": "6440.00"}
    accepted(submit_report(api, grantee, gid, final_id, final_spent))
    final = accepted(accept_report(api, admin, gid, final_id))
    assert (final["status"], final["recognised_tranche"]) == ("accepted", None)
    closed = accepted(close(api, admin, gid, key="close-1"))
    assert accepted(close(api, admin, gid, key="close-1"))["close_entry_id"] == closed["close_entry_id"]
    closed = assert_statement_is_the_ledger(api, auditor, gid)
    assert closed["status"] == "closed"
    assert amounts(closed, "allocated", "committed", "payable", "remaining", "recognised") == (
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "99200.00",
    )
    assert figure(closed, "recognised") == figure(closed, "disbursed") - figure(closed, "refunded")
    assert [t["state"] for t in closed["tranches"]] == ["paid", "released"]
    assert closed["reported_expenditure"]["amount"] == "98440.00"
    window = assert_window_reconciles(api, auditor, gw.window_id)
    assert window["8200"] == available_before - Decimal("107000.00") + Decimal("5000.00") + Decimal("2800.00")

    # A closed grant moves no more money.
    assert ("status", "grant-closed") in broken_rules(assert_problem(refund(api, officer, gid, "1.00"), 409))
    assert ("status", "grant-closed") in broken_rules(assert_problem(prepare(api, officer, gid, 2), 409))

    # Every step is in the audit log.
    actions = [e["action"] for e in reversed(audit_events(api, auditor)) if e["action"].startswith("grant.")]
    assert actions == [
        "grant.create",
        "grant.agreement",
        "grant.disbursement.prepare",
        "grant.disbursement.approve",
        "grant.report.submit",
        "grant.report.accept",
        "grant.tranche.recognise",
        "grant.disbursement.prepare",
        "grant.disbursement.approve",
        "grant.refund",
        "grant.report.submit",
        "grant.report.accept",
        "grant.close",
    ]
    # Money in their summaries, and in the reports as answered, is one shape (issue 17).
    assert_money_one_shape(audit_events(api, auditor))
    assert_money_one_shape(reports(api, auditor, gid))
    first = next(e for e in audit_events(api, auditor) if e["action"] == "grant.create")
    assert json.loads(first["after"])["amount"] == {"amount": "107000.00", "currency": "USD"}


def test_overdue_reports_are_flagged(api: Api) -> None:
    """A report whose due date passed without an acceptable submission is overdue, on the report, on the
    grant and in the list filter."""
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    assert statement(api, gw.admin, gid)["overdue_reports"] == 0
    api.clock.advance(days=(date(2027, 4, 16) - date(2026, 3, 16)).days)
    progress = reports(api, gw.grantee, gid)[0]
    assert (progress["status"], progress["overdue"]) == ("due", True)
    assert statement(api, gw.grantee, gid)["overdue_reports"] == 1
    listed = accepted(api.client.get(GRANTS, params={"overdue": "true"}, headers=gw.admin.headers))
    assert [g["id"] for g in listed["items"]] == [gid]
    accepted(submit_report(api, gw.grantee, gid, progress["id"], {"staff": "1000.00"}))
    assert reports(api, gw.grantee, gid)[0]["overdue"] is False
    listed = accepted(api.client.get(GRANTS, params={"overdue": "true"}, headers=gw.admin.headers))
    assert listed["items"] == []
