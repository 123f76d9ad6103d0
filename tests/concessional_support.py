"""Helpers for the concessional suites: a facility with money in the SKL window (``grant_world``), an
implementation support agency (the World Bank) and its user, Jordan added as a benefitting country by
decision, a financing request's body, and the request driven through screening, the TAG's review and the
members' decision, all through the HTTP API.

The request's figures (``request_body()``): a loan of 3,000,000.00 USD over 10 years, first repayment after
2.5 years, 16 semi-annual repayments (equal principal); market terms 3.5% + 1.5%, concessional terms 3.5% -
2.0%; Jordan (GCFF group A) is measured at the OECD DAC's LMIC terms, 7% and 15%: the grant element goes
from 9.2100% to 26.3417%, the concessionality is 513,950.21, leverage 5.84; with the agency's costs of
6,049.79 the grant is 520,000.00 in three tranches (200,000, 200,000, 120,000).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from fundapp.core.models import Role
from tests.grants_support import GRANT_TABLES, GrantWorld, disburse, grant_world, keyed, sign
from tests.support import V1, Actor, Api, accepted, acted, assign, create_organisation, declare

REQUESTS = f"{V1}/concessional/requests"
AGENCIES = f"{V1}/concessional/agencies"
DECISIONS = f"{V1}/decisions"
PROPOSALS = f"{V1}/proposals"
CONCESSIONALITY = "513950.21"
GRANT = "520000.00"
# Every table a concessional command may touch; a refusal leaves all their row counts as they were.
CONCESSIONAL_TABLES = (
    *GRANT_TABLES,
    "financing_requests",
    "proposals",
    "proposal_versions",
    "proposal_transitions",
    "endorsements",
    "calls",
    "decisions",
    "audit_events",
)
SCORES = (
    {"development_impact": 5, "concessionality": 4, "agency_capacity": 4},
    {"development_impact": 4, "concessionality": 4, "agency_capacity": 3},
)


@dataclass
class ConcessionalWorld:
    grants: GrantWorld
    agency_id: int
    agency: Actor  # the World Bank's user (a grantee of the agency)

    @property
    def admin(self) -> Actor:
        return self.grants.admin


def decided(api: Api, admin: Actor, **body: Any) -> dict[str, Any]:
    """A decision opened under the written procedure, closed a minute later without objection."""
    payload = {
        "procedure": "no_objection",
        "title": f"{body['kind']} decision",
        "text": "The member states decide.",
        "justification": "The members weighed the review.",
        "closes_at": (api.clock.now() + timedelta(minutes=1)).isoformat(),
        "open": True,
        **body,
    }
    decision = accepted(api.client.post(f"{DECISIONS}/", json=payload, headers=admin.headers), 201)
    api.clock.advance(minutes=1, seconds=1)
    closed: dict[str, Any] = accepted(api.client.get(f"{DECISIONS}/{decision['id']}", headers=admin.headers))
    return closed


def concessional_world(api: Api, *, fund: str = "1000000.00", agreement: bool = True) -> ConcessionalWorld:
    gw = grant_world(api, fund=fund)
    agency_id = create_organisation(api, gw.admin, "World Bank", type="implementation_support_agency", country="USA")
    agency = api.create_user(Role.GRANTEE, organisation_id=agency_id)
    added = decided(api, gw.admin, kind="add_country", country="JOR", group="gcff_a")
    assert added["result"] == "adopted", added
    if agreement:
        record_agreement(api, gw.admin, agency_id)
    return ConcessionalWorld(gw, agency_id, agency)


def procedures_agreement(api: Api, admin: Actor, organisation_id: int, **body: Any) -> httpx.Response:
    payload = {"agreed_on": api.clock.now().date().isoformat(), "document": "FPA-WB-2026", **body}
    return api.client.post(f"{AGENCIES}/{organisation_id}/procedures-agreement", json=payload, headers=admin.headers)


def record_agreement(api: Api, admin: Actor, organisation_id: int) -> None:
    accepted(procedures_agreement(api, admin, organisation_id))


def request_body(**changes: Any) -> dict[str, Any]:
    return {
        "window_code": "SKL",
        "country": "JOR",
        "title": "Jordan economic opportunities for refugees and host communities",
        "description": "Jobs and skills for refugees and Jordanians.",
        "results": "30,000 work permits; 10,000 people trained",
        "endorsement_reference": "MOPIC/2026/114",
        "endorsed_on": "2026-03-02",
        "loan_amount": "3000000.00",
        "loan_currency": "USD",
        "maturity_months": 120,
        "grace_months": 30,
        "repayments_per_year": 2,
        "method": "equal_principal",
        "market_base_rate": "0.035",
        "market_spread": "0.015",
        "concessional_base_rate": "0.035",
        "concessional_spread": "-0.02",
        "agency_costs": "6049.79",
        "tranches": [
            {"planned_date": "2026-06-01", "amount": "200000.00"},
            {"planned_date": "2026-12-01", "amount": "200000.00"},
            {"planned_date": "2027-06-01", "amount": "120000.00"},
        ],
        **changes,
    }


def create_request(api: Api, agency: Actor, **changes: Any) -> httpx.Response:
    return api.client.post(f"{REQUESTS}/", json=request_body(**changes), headers=agency.headers)


def submit(api: Api, agency: Actor, request_id: int) -> httpx.Response:
    return api.client.post(f"{REQUESTS}/{request_id}/submit", headers=agency.headers)


def reviewed_request(api: Api, cw: ConcessionalWorld, **changes: Any) -> dict[str, Any]:
    """A request drafted, submitted, screened, reviewed by two TAG reviewers and recommended."""
    request = accepted(create_request(api, cw.agency, **changes), 201)
    submitted = accepted(submit(api, cw.agency, request["id"]))
    pid = int(submitted["proposal_id"])
    world = cw.grants.world
    acted(api, world.admin, pid, "screen")
    acted(api, world.admin, pid, "pass")
    accepted(assign(api, world.admin, pid, *world.reviewers[:2]))
    for reviewer, scores in zip(world.reviewers[:2], SCORES, strict=True):
        accepted(declare(api, reviewer, pid))
        body = {
            "scores": {key: {"score": score, "comment": f"{key}: {score}"} for key, score in scores.items()},
            "recommendation": "recommend",
        }
        accepted(api.client.post(f"{PROPOSALS}/{pid}/reviews", json=body, headers=reviewer.headers), 201)
    acted(api, world.admin, pid, "recommend", "Strong leverage, clear results.")
    return get_request(api, cw.agency, int(request["id"]))


def get_request(api: Api, reader: Actor, request_id: int) -> dict[str, Any]:
    found: dict[str, Any] = accepted(api.client.get(f"{REQUESTS}/{request_id}", headers=reader.headers))
    return found


def adopt(api: Api, cw: ConcessionalWorld, request_id: int) -> dict[str, Any]:
    closed = decided(api, cw.admin, kind="concessional_financing", request_id=request_id)
    assert closed["result"] == "adopted", closed
    return closed


def balance(api: Api, account: str, **dims: int) -> int:
    """The sum of the postings of ``account`` (minor units, USD) under these dimensions."""
    conditions = "".join(f" AND p.{name} = :{name}" for name in dims)
    value = api.db.scalar(
        "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        f"WHERE a.code = :account{conditions}",
        account=account,
        **dims,
    )
    return int(value)


def entries_of(api: Api, source_type: str) -> int:
    return int(api.db.scalar("SELECT count(*) FROM journal_entries WHERE source_type = :s", s=source_type))


def counts(api: Api) -> dict[str, int]:
    return {table: int(api.db.scalar(f"SELECT count(*) FROM {table}")) for table in CONCESSIONAL_TABLES}


def refund_received(
    api: Api, officer: Actor, request_id: int, amount: str, key: str | None = None, **body: Any
) -> httpx.Response:
    payload = {
        "amount": amount,
        "currency": "USD",
        "received_on": api.clock.now().date().isoformat(),
        "reference": "WB refund",
        **body,
    }
    return api.client.post(f"{REQUESTS}/{request_id}/refund-received", json=payload, headers=keyed(officer, key))


def cancelled_after_transfers(api: Api, cw: ConcessionalWorld) -> tuple[int, int]:
    """A request adopted, its agreement signed, its loan effective, tranches 1 and 2 (400,000.00) transferred
    by maker and checker, then cancelled by the members: 400,000.00 due from the agency (1300).
    Returns (request id, grant id)."""
    request_id = int(reviewed_request(api, cw)["id"])
    adopt(api, cw, request_id)
    grant_id = int(get_request(api, cw.agency, request_id)["grant_id"])
    accepted(sign(api, cw.admin, grant_id))
    today = api.clock.now().date().isoformat()
    for step, body in (
        ("board-approval", {"approved_on": today}),
        ("effectiveness", {"signed_on": today, "effective_on": today}),
    ):
        accepted(api.client.post(f"{REQUESTS}/{request_id}/{step}", json=body, headers=cw.agency.headers))
    for tranche in (1, 2):
        disburse(api, cw.grants, grant_id, tranche)
    cancelled = decided(api, cw.admin, kind="cancel_concessional", request_id=request_id)
    assert cancelled["result"] == "adopted", cancelled
    return request_id, grant_id
