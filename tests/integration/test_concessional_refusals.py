"""Every refusal of concessional financing is problem+json naming the field and the rule, and writes nothing
(issue 21, acceptance 5): the row counts of every table a concessional command touches (the journal and
the audit log included) are as they were."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.concessional_support import (
    REQUESTS,
    ConcessionalWorld,
    adopt,
    concessional_world,
    counts,
    create_request,
    procedures_agreement,
    reviewed_request,
    submit,
)
from tests.support import Api, accepted, assert_problem, broken_rules, create_organisation


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
