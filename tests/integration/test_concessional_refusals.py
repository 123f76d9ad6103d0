"""Every refusal of concessional financing is problem+json naming the field and the rule, and writes nothing
(issue 21, acceptance 5): the row counts of every table a concessional command touches (the journal and
the audit log included) are as they were."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.concessional_support import (
    PROPOSALS,
    REQUESTS,
    ConcessionalWorld,
    adopt,
    cancelled_after_transfers,
    concessional_world,
    counts,
    create_request,
    get_request,
    procedures_agreement,
    refund_received,
    request_body,
    reviewed_request,
    submit,
)
from tests.support import Api, accepted, acted, assert_problem, broken_rules, create_organisation, proposal_state


@pytest.fixture
def cw(api: Api) -> ConcessionalWorld:
    return concessional_world(api)


def refused(api: Api, response: httpx.Response, status: int, field: str, rule: str, seen: dict[str, int]) -> None:
    body = assert_problem(response, status)
    assert (field, rule) in broken_rules(body), body
    assert counts(api) == seen


def test_drafts_refused_name_field_and_rule(api: Api, cw: ConcessionalWorld) -> None:
    seen = counts(api)
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"country": "LBN"}, 409, "country", "country-eligible"),
        ({"loan_currency": "EUR"}, 422, "loan_currency", "loan-currency"),
        ({"grace_months": 35}, 422, "grace_months", "schedule-adds-up"),
        ({"grace_months": 130}, 422, "grace_months", "grace-within-maturity"),
        ({"repayments_per_year": 3}, 422, "repayments_per_year", "known-frequency"),
        ({"window_code": "NOPE"}, 404, "window_code", "window-exists"),
    ]
    for changes, status, field, rule in cases:
        refused(api, create_request(api, cw.agency, **changes), status, field, rule, seen)


def test_only_a_cleared_agency_writes_requests(api: Api, cw: ConcessionalWorld) -> None:
    ngo = api.create_user(Role.GRANTEE, organisation_id=cw.grants.world.organisation_id)
    seen = counts(api)
    refused(api, create_request(api, ngo), 409, "organisation", "agency-type", seen)
    pending = create_organisation(api, cw.admin, "EBRD", type="implementation_support_agency", due_diligence="pending")
    user = api.create_user(Role.GRANTEE, organisation_id=pending)
    seen = counts(api)
    refused(api, create_request(api, user), 409, "organisation", "due-diligence-cleared", seen)


def test_procedures_agreement_refusals(api: Api, cw: ConcessionalWorld) -> None:
    seen = counts(api)
    ngo = cw.grants.world.organisation_id
    refused(api, procedures_agreement(api, cw.admin, ngo), 409, "organisation_id", "agency-type", seen)
    pending = create_organisation(api, cw.admin, "IsDB", type="implementation_support_agency", due_diligence="pending")
    seen = counts(api)
    refused(api, procedures_agreement(api, cw.admin, pending), 409, "organisation_id", "due-diligence-cleared", seen)
    later = "2030-01-01"
    refused(
        api, procedures_agreement(api, cw.admin, cw.agency_id, agreed_on=later), 422, "agreed_on", "not-in-future", seen
    )


def test_submission_refused_below_the_threshold(api: Api, cw: ConcessionalWorld) -> None:
    # Concessional terms of 3.5% + 1.0% give a grant element of about 11%, below Jordan's 15%.
    draft = accepted(create_request(api, cw.agency, concessional_spread="0.01"), 201)
    assert draft["meets_threshold"] is False
    seen = counts(api)
    refused(api, submit(api, cw.agency, draft["id"]), 422, "concessional_spread", "grant-element-threshold", seen)


def test_submission_refused_when_tranches_do_not_sum_or_no_endorsement(api: Api, cw: ConcessionalWorld) -> None:
    draft = accepted(
        create_request(api, cw.agency, tranches=[{"planned_date": "2026-06-01", "amount": "100000.00"}]), 201
    )
    seen = counts(api)
    refused(api, submit(api, cw.agency, draft["id"]), 422, "tranches", "tranches-sum-to-grant", seen)
    other = accepted(create_request(api, cw.agency, endorsement_reference=""), 201)
    seen = counts(api)
    refused(api, submit(api, cw.agency, other["id"]), 422, "endorsement_reference", "country-endorsement", seen)


def test_loan_steps_out_of_order_or_in_the_future(api: Api, cw: ConcessionalWorld) -> None:
    request = reviewed_request(api, cw)
    rid = int(request["id"])
    seen = counts(api)
    today = api.clock.now().date().isoformat()
    effective = {"signed_on": today, "effective_on": today}
    refused(
        api,
        api.client.post(f"{REQUESTS}/{rid}/effectiveness", json=effective, headers=cw.agency.headers),
        409,
        "status",
        "loan-board-approved",
        seen,
    )
    adopt(api, cw, rid)
    seen = counts(api)
    refused(
        api,
        api.client.post(
            f"{REQUESTS}/{rid}/board-approval", json={"approved_on": "2030-01-01"}, headers=cw.agency.headers
        ),
        422,
        "approved_on",
        "not-in-future",
        seen,
    )


def test_decisions_refused_name_field_and_rule(api: Api, cw: ConcessionalWorld) -> None:
    draft = accepted(create_request(api, cw.agency), 201)
    seen = counts(api)
    body = {
        "kind": "concessional_financing",
        "request_id": draft["id"],
        "title": "Too early",
        "text": "Not yet reviewed.",
        "closes_at": "2026-04-30T00:00:00Z",
    }
    response = api.client.post("/api/v1/decisions/", json=body, headers=cw.admin.headers)
    refused(api, response, 409, "request_id", "request-submitted", seen)
    cancel = {**body, "kind": "cancel_concessional"}
    response = api.client.post("/api/v1/decisions/", json=cancel, headers=cw.admin.headers)
    refused(api, response, 409, "request_id", "operation-adopted", seen)


def test_refund_received_refusals(api: Api) -> None:
    cw = concessional_world(api, fund="2000000.00")
    officer = cw.grants.officer
    adopted = reviewed_request(api, cw)
    adopt(api, cw, int(adopted["id"]))
    seen = counts(api)
    # Not cancelled: nothing is due.
    refused(api, refund_received(api, officer, int(adopted["id"]), "100.00"), 409, "status", "refund-due", seen)
    request_id, _ = cancelled_after_transfers(api, cw)
    cancelled_on = api.clock.now().date()
    api.clock.advance(days=2)
    seen = counts(api)
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"amount": "400000.01"}, 422, "amount", "within-refund-due"),
        ({"amount": "0.00"}, 422, "amount", "positive-amount"),
        ({"currency": "EUR"}, 422, "currency", "refund-currency"),
        ({"received_on": "2030-01-01"}, 422, "received_on", "not-in-future"),
        ({"received_on": (cancelled_on - timedelta(days=1)).isoformat()}, 422, "received_on", "after-cancellation"),
    ]
    for changes, status, field, rule in cases:
        body = {"amount": "100.00", **changes}
        amount = str(body.pop("amount"))
        refused(api, refund_received(api, officer, request_id, amount, **body), status, field, rule, seen)
    # Only finance records it; the agency may not.
    body = assert_problem(refund_received(api, cw.agency, request_id, "100.00"), 403)
    assert counts(api) == seen, body
    # A key used again with another body.
    accepted(refund_received(api, officer, request_id, "100.00", key="k1"), 201)
    seen = counts(api)
    response = refund_received(api, officer, request_id, "200.00", key="k1")
    refused(api, response, 409, "Idempotency-Key", "idempotency-same-payload", seen)


def test_withdrawal_and_rejection_follow_into_the_request(api: Api, cw: ConcessionalWorld) -> None:
    world = cw.grants.world
    draft = accepted(create_request(api, cw.agency), 201)
    withdrawn = accepted(api.client.post(f"{REQUESTS}/{draft['id']}/withdraw", headers=cw.agency.headers))
    assert withdrawn["status"] == "withdrawn" and withdrawn["proposal_state"] == "withdrawn"
    # Submitted, then withdrawn through the proposal's own action: the request follows.
    other = accepted(create_request(api, cw.agency), 201)
    accepted(submit(api, cw.agency, other["id"]))
    acted(api, cw.agency, int(other["proposal_id"]), "withdraw")
    assert get_request(api, cw.agency, int(other["id"]))["status"] == "withdrawn"
    # Rejected at screening: not approved.
    third = accepted(create_request(api, cw.agency), 201)
    accepted(submit(api, cw.agency, third["id"]))
    pid = int(third["proposal_id"])
    acted(api, world.admin, pid, "screen")
    acted(api, world.admin, pid, "reject", "Outside the window's scope.")
    assert get_request(api, cw.agency, int(third["id"]))["status"] == "not_approved"
    assert proposal_state(api, pid)[0] == "rejected"
    # In the TAG's review, or decided: no withdrawal.
    reviewed = reviewed_request(api, cw)
    seen = counts(api)
    response = api.client.post(f"{REQUESTS}/{reviewed['id']}/withdraw", headers=cw.agency.headers)
    refused(api, response, 409, "status", "withdrawable-state", seen)
    response = api.client.post(f"{REQUESTS}/{withdrawn['id']}/withdraw", headers=cw.agency.headers)
    refused(api, response, 409, "status", "withdrawable-state", seen)


def test_the_proposal_of_a_request_is_edited_through_the_request(api: Api, cw: ConcessionalWorld) -> None:
    draft = accepted(create_request(api, cw.agency), 201)
    pid = int(draft["proposal_id"])
    content = json.loads(str(api.db.scalar("SELECT content FROM proposals WHERE id = :id", id=pid)))
    seen = counts(api)
    response = api.client.put(f"{PROPOSALS}/{pid}", json={"content": content}, headers=cw.agency.headers)
    refused(api, response, 409, "proposal_id", "edit-through-financing-request", seen)
    # The request's own edit still rewrites its proposal.
    edited = accepted(
        api.client.put(
            f"{REQUESTS}/{draft['id']}", json=request_body(title="Jordan jobs compact"), headers=cw.agency.headers
        )
    )
    assert edited["title"] == "Jordan jobs compact"
    stored = json.loads(str(api.db.scalar("SELECT content FROM proposals WHERE id = :id", id=pid)))
    assert stored["title"] == "Jordan jobs compact"
