"""Helpers for the grants suites: a facility with money in the SKL window, finance staff, proposals the TAG
recommended, their adoption by the members (``adopt_funding``), and the checks that a grant's statement
equals what the ledger holds for the grant dimension.

``adopt_funding`` puts the proposal to the members through the decision API and closes the decision; like
everything else here it goes through the HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from fundapp.core.models import Role
from ledger import chart
from tests.support import (
    LEDGER,
    V1,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    add_contributor,
    advance,
    assert_books_balanced,
    create_proposal,
    proposal_state,
    proposal_world,
)

GRANTS = f"{V1}/grants"
DISBURSEMENTS = f"{V1}/disbursements"
# Every table a grant operation may touch; a refusal leaves all their row counts (and audit_events) as they were.
GRANT_TABLES = (
    "grants",
    "grant_tranches",
    "disbursements",
    "grant_reports",
    "grant_refunds",
    "grant_requests",
    "journal_entries",
    "postings",
)
BUDGETARY = (chart.RESOURCES_RECEIVED, chart.AVAILABLE, chart.ALLOCATED, chart.COMMITTED, chart.DISBURSED)


@dataclass
class GrantWorld:
    """The proposal world (admin, grantees of two organisations, delegates, reviewers, auditor), plus two
    finance officers, three finance approvers, one user holding both finance roles, and money in SKL."""

    world: ProposalWorld
    officer: Actor
    officer2: Actor
    approvers: list[Actor]
    dual: Actor
    window_id: int

    @property
    def admin(self) -> Actor:
        return self.world.admin

    @property
    def grantee(self) -> Actor:
        return self.world.grantee

    @property
    def auditor(self) -> Actor:
        return self.world.auditor


def grant_world(api: Api, *, fund: str = "1000000.00") -> GrantWorld:
    world = proposal_world(api, reviewers=2)
    officer = api.create_user(Role.FINANCE_OFFICER)
    gw = GrantWorld(
        world=world,
        officer=officer,
        officer2=api.create_user(Role.FINANCE_OFFICER),
        approvers=[api.create_user(Role.FINANCE_APPROVER) for _ in range(3)],
        dual=api.legacy_dual_user(),
        window_id=int(accepted(api.client.get(f"{V1}/windows/SKL", headers=officer.headers))["id"]),
    )
    if fund:
        fund_window(api, officer, "SKL", fund)
    return gw


def fund_window(api: Api, officer: Actor, window_code: str, amount: str) -> None:
    """A donor pledges ``amount`` USD earmarked to the window and pays it: the net of the administrative-agent
    fee becomes available in the window."""
    donor = add_contributor(api, officer, f"Donor for {window_code} {amount}")
    pledge = accepted(
        api.client.post(
            f"{V1}/pledges",
            json={
                "contributor_id": donor,
                "amount": amount,
                "currency": "USD",
                "signed_on": "2026-03-02",
                "window_code": window_code,
                "instalments": [{"due_on": "2026-03-10", "amount": amount}],
            },
            headers=officer.headers,
        ),
        201,
    )
    accepted(
        api.client.post(
            f"{V1}/contributions",
            json={
                "contributor_id": donor,
                "value_date": "2026-03-10",
                "amount": amount,
                "currency": "USD",
                "instalment_id": pledge["instalments"][0]["id"],
            },
            headers=officer.headers,
        ),
        201,
    )


def recommended_proposal(api: Api, gw: GrantWorld, *, other: bool = False, **content: Any) -> int:
    """A proposal (``proposal_content()`` with these changes) taken through review to recommended."""
    grantee = gw.world.other_grantee if other else gw.world.grantee
    pid = int(create_proposal(api, grantee, gw.world.call_id, **content)["id"])
    advance(api, gw.world, pid, "recommended")
    return pid


def adopt_funding(api: Api, proposal_id: int, admin: Actor, *, decision_id: int | None = None) -> int:
    """The members adopt the funding decision through ``/api/v1/decisions``: opened under the written
    procedure (which the charter allows for funding), closed at its deadline a minute later without
    objection, its close approving the proposal, creating the grant and allocating the money. Returns the
    grant's id. (``decision_id`` is accepted for older callers and ignored: the decision makes its own.)"""
    del decision_id
    body = {
        "kind": "fund_proposal",
        "proposal_id": proposal_id,
        "procedure": "no_objection",
        "title": f"Fund proposal {proposal_id}",
        "text": "The member states approve the grant.",
        "justification": "The members weighed the TAG's review.",
        "closes_at": (api.clock.now() + timedelta(minutes=1)).isoformat(),
        "open": True,
    }
    decision = accepted(api.client.post(f"{V1}/decisions/", json=body, headers=admin.headers), 201)
    api.clock.advance(minutes=1, seconds=1)
    closed = accepted(api.client.get(f"{V1}/decisions/{decision['id']}", headers=admin.headers))
    assert closed["result"] == "adopted", closed
    grant_id = int(api.db.scalar("SELECT id FROM grants WHERE decision_id = :d", d=decision["id"]))
    assert proposal_state(api, proposal_id)[0] == "approved"
    return grant_id


# ---------------------------------------------------------------- requests


def keyed(actor: Actor, key: str | None) -> dict[str, str]:
    return {**actor.headers, **({"Idempotency-Key": key} if key else {})}


def statement(api: Api, reader: Actor, grant_id: int) -> dict[str, Any]:
    body: dict[str, Any] = accepted(api.client.get(f"{GRANTS}/{grant_id}", headers=reader.headers))
    return body


def sign(api: Api, admin: Actor, grant_id: int, key: str | None = None, **body: Any) -> httpx.Response:
    payload = {"signed_on": api.clock.now().date().isoformat(), "reference": "GA-2026-001", **body}
    return api.client.post(f"{GRANTS}/{grant_id}/agreement", json=payload, headers=keyed(admin, key))


def prepare(
    api: Api, officer: Actor, grant_id: int, tranche: int, amount: str | None = None, key: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"tranche": tranche, **({"amount": amount} if amount is not None else {})}
    return api.client.post(f"{GRANTS}/{grant_id}/disbursements", json=body, headers=keyed(officer, key))


def approve(api: Api, approver: Actor, disbursement_id: int, key: str | None = None) -> httpx.Response:
    return api.client.post(f"{DISBURSEMENTS}/{disbursement_id}/approve", headers=keyed(approver, key))


def reject(api: Api, approver: Actor, disbursement_id: int, reason: str = "Wrong bank details") -> httpx.Response:
    return api.client.post(
        f"{DISBURSEMENTS}/{disbursement_id}/reject", json={"reason": reason}, headers=approver.headers
    )


def disburse(api: Api, gw: GrantWorld, grant_id: int, tranche: int, amount: str | None = None) -> dict[str, Any]:
    """The first officer prepares, the first approver approves; both must be accepted."""
    prepared = accepted(prepare(api, gw.officer, grant_id, tranche, amount), 201)
    paid: dict[str, Any] = accepted(approve(api, gw.approvers[0], prepared["id"]))
    assert paid["status"] == "approved", paid
    return paid


def reports(api: Api, reader: Actor, grant_id: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = accepted(api.client.get(f"{GRANTS}/{grant_id}/reports", headers=reader.headers))
    return found


def report_body(report_id: int, expenditure: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "narrative": "Trainers hired; the first cohort of returnees trained and placed.",
        "indicators": [
            {"outcome": "Returning migrants find decent work", "indicator": "Returnees placed in jobs", "value": "120"}
        ],
        "expenditure": [{"category": c, "amount": a} for c, a in (expenditure or {}).items()],
        **extra,
    }


def submit_report(
    api: Api, grantee: Actor, grant_id: int, report_id: int, expenditure: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    return api.client.post(
        f"{GRANTS}/{grant_id}/reports", json=report_body(report_id, expenditure, **extra), headers=grantee.headers
    )


def accept_report(
    api: Api, admin: Actor, grant_id: int, report_id: int, key: str | None = None, note: str = ""
) -> httpx.Response:
    return api.client.post(
        f"{GRANTS}/{grant_id}/reports/{report_id}/accept", json={"note": note}, headers=keyed(admin, key)
    )


def refund(
    api: Api, officer: Actor, grant_id: int, amount: str, key: str | None = None, received_on: str | None = None
) -> httpx.Response:
    body = {"amount": amount, "received_on": received_on or api.clock.now().date().isoformat(), "reference": "RF-1"}
    return api.client.post(f"{GRANTS}/{grant_id}/refunds", json=body, headers=keyed(officer, key))


def close(api: Api, admin: Actor, grant_id: int, key: str | None = None) -> httpx.Response:
    return api.client.post(
        f"{GRANTS}/{grant_id}/close", json={"reason": "Project completed"}, headers=keyed(admin, key)
    )


# ---------------------------------------------------------------- what the ledger says


def ledger_balances(api: Api, reader: Actor, **dimension: int) -> dict[str, Decimal]:
    """Balances per account (reporting currency) for one dimension value (``grant_id=`` or ``window_id=``)."""
    rows = accepted(
        api.client.get(f"{LEDGER}/balances", params={"group_by": "account", **dimension}, headers=reader.headers)
    )
    return {r["key"]["account"]: Decimal(r["reporting_amount"]["amount"]) for r in rows}


def ledger_entry_ids(api: Api, reader: Actor, grant_id: int, account: str) -> set[int]:
    page = accepted(
        api.client.get(
            f"{LEDGER}/entries",
            params={"grant_id": grant_id, "account": account, "limit": 500},
            headers=reader.headers,
        )
    )
    return {int(e["id"]) for e in page["items"]}


def figure(found: dict[str, Any], name: str) -> Decimal:
    return Decimal(found[name]["amount"])


def assert_statement_is_the_ledger(api: Api, reader: Actor, grant_id: int) -> dict[str, Any]:
    """The grant statement equals the ledger's balances for the grant dimension, figure by figure, and names
    exactly the entries behind each; both books balance; the grant's window reconciles in the budgetary
    book. Returns the statement."""
    found = statement(api, reader, grant_id)
    ledger = ledger_balances(api, reader, grant_id=grant_id)
    get = lambda account: ledger.get(account, Decimal(0))  # noqa: E731
    assert figure(found, "allocated") == get(chart.ALLOCATED), (found["allocated"], ledger)
    assert figure(found, "committed") == get(chart.COMMITTED), (found["committed"], ledger)
    assert figure(found, "recognised") == get(chart.TRANSFERS_TO_PARTNERS), (found["recognised"], ledger)
    assert figure(found, "payable") == -get(chart.GRANTS_PAYABLE), (found["payable"], ledger)
    assert figure(found, "disbursed") - figure(found, "refunded") == get(chart.DISBURSED), (found, ledger)
    assert figure(found, "refunded") - figure(found, "disbursed") == get(chart.CASH), (found, ledger)
    assert figure(found, "remaining") == get(chart.ALLOCATED) + get(chart.COMMITTED)
    # Available funds belong to the window, not to the grant: nothing is posted there under the grant.
    assert get(chart.AVAILABLE) == 0
    for name, account in (
        ("allocated", chart.ALLOCATED),
        ("committed", chart.COMMITTED),
        ("recognised", chart.TRANSFERS_TO_PARTNERS),
        ("payable", chart.GRANTS_PAYABLE),
    ):
        assert set(found[name]["entry_ids"]) == ledger_entry_ids(api, reader, grant_id, account), name
    assert set(found["disbursed"]["entry_ids"]) | set(found["refunded"]["entry_ids"]) == ledger_entry_ids(
        api, reader, grant_id, chart.DISBURSED
    )
    assert set(found["remaining"]["entry_ids"]) == ledger_entry_ids(
        api, reader, grant_id, chart.ALLOCATED
    ) | ledger_entry_ids(api, reader, grant_id, chart.COMMITTED)
    paid = sum(Decimal(t["paid"]["amount"]) for t in found["tranches"])
    assert paid == figure(found, "disbursed")
    assert_books_balanced(api, reader)
    assert_window_reconciles(api, reader, int(found_window_id(api, reader, found)))
    return found


def found_window_id(api: Api, reader: Actor, found: dict[str, Any]) -> int:
    return int(accepted(api.client.get(f"{V1}/windows/{found['window_code']}", headers=reader.headers))["id"])


def assert_window_reconciles(api: Api, reader: Actor, window_id: int) -> dict[str, Decimal]:
    """In the budgetary book, what the window received equals what is available, allocated, committed and
    disbursed in it; none of these is negative. Returns the window's budgetary balances."""
    found = ledger_balances(api, reader, window_id=window_id)
    budget = {a: found.get(a, Decimal(0)) for a in BUDGETARY}
    assert -budget[chart.RESOURCES_RECEIVED] == sum(budget[a] for a in BUDGETARY[1:]), budget
    assert all(budget[a] >= 0 for a in BUDGETARY[1:]), budget
    return budget
