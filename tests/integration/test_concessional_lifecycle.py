"""A concessional operation end to end, on SQLite and PostgreSQL (issue 21, acceptance 3): the World Bank's
request for Jordan computed, submitted, screened, reviewed by the TAG and adopted by the members (the grant
to the agency and the allocation 8200 -> 8300); the trustee's commitment refused until the agency's financial
procedures agreement exists; transfers refused before the loan is effective (409 ``loan-effective``, nothing
written); board approval and effectiveness; two tranches transferred by a finance officer and a different
approver; a restructuring that reduces the loan and releases the difference to the window; a cancellation
after the transfers that releases the rest and records the refund due from the agency. Both books balance
after every step."""

from __future__ import annotations

from ledger import chart
from tests.concessional_support import (
    CONCESSIONALITY,
    GRANT,
    ConcessionalWorld,
    adopt,
    balance,
    concessional_world,
    counts,
    decided,
    entries_of,
    get_request,
    procedures_agreement,
    reviewed_request,
)
from tests.grants_support import approve, prepare, sign, statement
from tests.support import Api, accepted, assert_books_balanced, assert_problem, broken_rules, proposal_state

REQUESTS = "/api/v1/concessional/requests"


def _balanced(api: Api, cw: ConcessionalWorld) -> None:
    assert_books_balanced(api, cw.grants.officer)


def _adopted(api: Api, cw: ConcessionalWorld) -> tuple[int, int]:
    request = reviewed_request(api, cw)
    assert request["status"] == "in_review"
    assert request["concessionality"] == {"amount": CONCESSIONALITY, "currency": "USD"}
    assert (request["grant_element_before"], request["grant_element_after"]) == ("9.2100", "26.3417")
    assert (request["leverage"], request["discount_rate"], request["threshold"]) == ("5.84", "0.07", "0.15")
    assert request["meets_threshold"] is True
    window = cw.grants.window_id
    before = balance(api, chart.AVAILABLE, window_id=window)
    decision = adopt(api, cw, int(request["id"]))
    assert decision["terms"]["country"] == "JOR" and decision["terms"]["agency"] == "World Bank"
    adopted = get_request(api, cw.agency, int(request["id"]))
    assert adopted["status"] == "approved" and adopted["decision_id"] == decision["id"]
    grant_id = int(adopted["grant_id"])
    assert proposal_state(api, int(adopted["proposal_id"]))[0] == "approved"
    assert balance(api, chart.AVAILABLE, window_id=window) == before - 52_000_000
    assert balance(api, chart.ALLOCATED, window_id=window, grant_id=grant_id) == 52_000_000
    assert entries_of(api, "concessional_decision") == 1
    assert statement(api, cw.admin, grant_id)["amount"]["amount"] == GRANT
    _balanced(api, cw)
    return int(request["id"]), grant_id


def test_a_concessional_operation_from_request_to_cancellation(api: Api) -> None:
    cw = concessional_world(api, agreement=False)
    request_id, grant_id = _adopted(api, cw)

    # The trustee's commitment waits for the agency's financial procedures agreement.
    seen = counts(api)
    refused = assert_problem(sign(api, cw.admin, grant_id), 409)
    assert ("organisation", "procedures-agreement") in broken_rules(refused)
    assert counts(api) == seen
    accepted(procedures_agreement(api, cw.admin, cw.agency_id))
    accepted(sign(api, cw.admin, grant_id))
    assert balance(api, chart.COMMITTED, window_id=cw.grants.window_id, grant_id=grant_id) == 52_000_000
    _balanced(api, cw)

    # No transfer before the loan is effective.
    seen = counts(api)
    refused = assert_problem(prepare(api, cw.grants.officer, grant_id, 1), 409)
    assert ("effective_on", "loan-effective") in broken_rules(refused)
    assert counts(api) == seen

    today = api.clock.now().date().isoformat()
    board = accepted(
        api.client.post(
            f"{REQUESTS}/{request_id}/board-approval", json={"approved_on": today}, headers=cw.agency.headers
        )
    )
    assert board["status"] == "board_approved"
    effective = accepted(
        api.client.post(
            f"{REQUESTS}/{request_id}/effectiveness",
            json={"signed_on": today, "effective_on": today},
            headers=cw.agency.headers,
        )
    )
    assert effective["status"] == "effective"

    # Two tranches, each prepared by an officer and approved by a different approver.
    for tranche in (1, 2):
        prepared = accepted(prepare(api, cw.grants.officer, grant_id, tranche), 201)
        paid = accepted(approve(api, cw.grants.approvers[0], prepared["id"]))
        assert paid["status"] == "approved" and paid["approved_by"] != paid["prepared_by"]
        _balanced(api, cw)
    assert balance(api, chart.DISBURSED, window_id=cw.grants.window_id, grant_id=grant_id) == 40_000_000

    # A restructuring: a smaller loan, the difference back to the window.
    window_before = balance(api, chart.AVAILABLE, window_id=cw.grants.window_id)
    restructured = decided(
        api, cw.admin, kind="restructure_concessional", request_id=request_id, loan_amount="2700000.00"
    )
    assert restructured["result"] == "adopted", restructured
    after = get_request(api, cw.agency, request_id)
    new_grant = round(float(after["grant_amount"]["amount"]) * 100)
    assert after["loan_amount"]["amount"] == "2700000.00" and new_grant < 52_000_000
    released = 52_000_000 - new_grant
    assert balance(api, chart.AVAILABLE, window_id=cw.grants.window_id) == window_before + released
    assert statement(api, cw.admin, grant_id)["amount"]["amount"] == after["grant_amount"]["amount"]
    assert entries_of(api, "concessional_release") == 1
    _balanced(api, cw)

    # A cancellation after the transfers: the rest released, the refund due from the agency.
    window_before = balance(api, chart.AVAILABLE, window_id=cw.grants.window_id)
    cancelled = decided(api, cw.admin, kind="cancel_concessional", request_id=request_id)
    assert cancelled["result"] == "adopted", cancelled
    final = get_request(api, cw.agency, request_id)
    assert final["status"] == "cancelled" and final["cancelled_on"] == api.clock.now().date().isoformat()
    assert balance(api, chart.AVAILABLE, window_id=cw.grants.window_id) == window_before + new_grant - 40_000_000
    assert balance(api, chart.REFUNDS_RECEIVABLE, window_id=cw.grants.window_id, grant_id=grant_id) == 40_000_000
    assert balance(api, chart.COMMITTED, window_id=cw.grants.window_id, grant_id=grant_id) == 0
    assert entries_of(api, "concessional_refund_due") == 1
    assert statement(api, cw.admin, grant_id)["status"] == "closed"
    _balanced(api, cw)
