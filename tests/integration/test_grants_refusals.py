"""Every refusal of a grant operation is a problem+json 4xx naming its field and rule, and changes nothing:
no row, no journal entry, no audit event, no status (issue acceptance 5). The database itself refuses an
approval by the disbursement's preparer and a tranche paid over its amount (acceptance 3: PostgreSQL, and
SQLite too, since both enforce CHECK constraints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fundapp.core.models import Role
from tests.grants_support import (
    DISBURSEMENTS,
    GRANT_TABLES,
    GRANTS,
    GrantWorld,
    accept_report,
    adopt_funding,
    approve,
    assert_statement_is_the_ledger,
    close,
    disburse,
    grant_world,
    prepare,
    recommended_proposal,
    refund,
    reject,
    reports,
    sign,
    submit_report,
)
from tests.support import Api, accepted, assert_problem, broken_rules, set_due_diligence

pytestmark = pytest.mark.usefixtures("backend")


def state(api: Api) -> dict[str, Any]:
    """What a refusal must leave as it was: row counts (with audit events), the journal's head, and every
    status and payment of grants, tranches, disbursements and reports."""
    return {
        "counts": api.db.snapshot(*GRANT_TABLES),
        "head": api.db.scalar("SELECT max(id) FROM journal_entries"),
        "grants": api.db.rows("SELECT id, status, agreement_entry_id, close_entry_id FROM grants ORDER BY id"),
        "tranches": api.db.rows("SELECT id, status, paid FROM grant_tranches ORDER BY id"),
        "disbursements": api.db.rows(
            "SELECT id, status, approved_by, second_approved_by, rejected_by, entry_id FROM disbursements ORDER BY id"
        ),
        "reports": api.db.rows("SELECT id, status, expenditure_total FROM grant_reports ORDER BY id"),
    }


def refused(
    api: Api, request: Callable[[], httpx.Response], status: int, field: str | None = None, rule: str | None = None
) -> dict[str, Any]:
    """The request is refused with this status (and, when given, names this field and rule); nothing changed."""
    before = state(api)
    body = assert_problem(request(), status)
    if rule is not None:
        assert (field, rule) in broken_rules(body), body
    assert state(api) == before
    return body


@pytest.fixture
def active(api: Api) -> tuple[GrantWorld, int]:
    """A grant whose agreement is signed: tranche 1 (64,200.00, no condition) recognised, tranche 2
    (42,800.00) waiting for an accepted progress report."""
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    return gw, gid


def test_a_transfer_over_the_tranche_is_refused(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "64200.01"), 422, "amount", "within-tranche")
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "0.00"), 422, "amount", "positive-amount")
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "-5.00"), 422, "amount", "positive-amount")
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "10.001"), 422, "amount", "excess_precision")
    refused(api, lambda: prepare(api, gw.officer, gid, 3), 404, "tranche", "tranche-exists")
    disburse(api, gw, gid, 1, "60000.00")
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "4200.01"), 422, "amount", "within-tranche")
    disburse(api, gw, gid, 1)  # the rest: 4,200.00
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "0.01"), 409, "tranche", "tranche-unpaid")
    assert_statement_is_the_ledger(api, gw.auditor, gid)


def test_a_tranche_is_never_paid_twice(api: Api, active: tuple[GrantWorld, int]) -> None:
    """Two transfers prepared for the whole tranche: the approval of the second, after the first was paid,
    is refused (and the tranche stays paid once); the approver then rejects it."""
    gw, gid = active
    first = accepted(prepare(api, gw.officer, gid, 1), 201)
    second = accepted(prepare(api, gw.officer2, gid, 1), 201)
    accepted(approve(api, gw.approvers[0], first["id"]))
    refused(api, lambda: approve(api, gw.approvers[1], second["id"]), 409, "disbursement", "within-tranche")
    refused(api, lambda: approve(api, gw.approvers[1], first["id"]), 409, "disbursement", "disbursement-open")
    assert accepted(reject(api, gw.approvers[1], second["id"]))["status"] == "rejected"
    refused(api, lambda: approve(api, gw.approvers[2], second["id"]), 409, "disbursement", "disbursement-open")
    found = assert_statement_is_the_ledger(api, gw.auditor, gid)
    assert found["tranches"][0]["paid"]["amount"] == "64200.00"
    assert found["disbursed"]["amount"] == "64200.00"


def test_a_conditional_tranche_waits_for_an_accepted_report(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    refused(api, lambda: prepare(api, gw.officer, gid, 2), 409, "tranche", "condition-met")
    progress = reports(api, gw.grantee, gid)[0]
    accepted(submit_report(api, gw.grantee, gid, progress["id"], {"staff": "100.00"}))
    refused(api, lambda: prepare(api, gw.officer, gid, 2), 409, "tranche", "condition-met")  # submitted only
    returned = api.client.post(
        f"{GRANTS}/{gid}/reports/{progress['id']}/return",
        json={"reason": "Add the placement figures"},
        headers=gw.admin.headers,
    )
    assert accepted(returned)["status"] == "returned"
    refused(api, lambda: accept_report(api, gw.admin, gid, progress["id"]), 409, "report", "report-submitted")
    refused(api, lambda: prepare(api, gw.officer, gid, 2), 409, "tranche", "condition-met")
    accepted(submit_report(api, gw.grantee, gid, progress["id"], {"staff": "200.00"}))
    accepted(accept_report(api, gw.admin, gid, progress["id"]))
    assert accepted(prepare(api, gw.officer, gid, 2), 201)["amount"]["amount"] == "42800.00"


def test_nobody_approves_or_rejects_what_they_prepared(api: Api, active: tuple[GrantWorld, int]) -> None:
    """A user with both finance roles prepares; approving or rejecting it is refused (403, maker-checker);
    a finance officer without the approver role cannot approve at all."""
    gw, gid = active
    own = accepted(prepare(api, gw.dual, gid, 1, "1000.00"), 201)
    refused(api, lambda: approve(api, gw.dual, own["id"]), 403, "disbursement", "maker-checker")
    refused(api, lambda: reject(api, gw.dual, own["id"]), 403, "disbursement", "maker-checker")
    body = refused(api, lambda: approve(api, gw.officer, own["id"]), 403)
    assert "finance_approver" in body["detail"]
    assert accepted(approve(api, gw.approvers[0], own["id"]))["approved_by"] == gw.approvers[0].id
    # The dual user may approve what someone else prepared.
    other = accepted(prepare(api, gw.officer, gid, 1, "1000.00"), 201)
    assert accepted(approve(api, gw.dual, other["id"]))["approved_by"] == gw.dual.id


def test_due_diligence_must_be_cleared_to_prepare_and_to_approve(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    ready = accepted(prepare(api, gw.officer, gid, 1, "1000.00"), 201)
    set_due_diligence(api, gw.admin, gw.world.organisation_id, "pending")
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "1000.00"), 409, "organisation", "due-diligence-cleared")
    refused(api, lambda: approve(api, gw.approvers[0], ready["id"]), 409, "organisation", "due-diligence-cleared")
    set_due_diligence(api, gw.admin, gw.world.organisation_id, "cleared")
    assert accepted(approve(api, gw.approvers[0], ready["id"]))["status"] == "approved"


def test_a_closed_or_suspended_grant_moves_no_money(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    ready = accepted(prepare(api, gw.officer, gid, 1, "1000.00"), 201)
    suspend = api.client.post(f"{GRANTS}/{gid}/suspend", json={"reason": "Audit finding"}, headers=gw.admin.headers)
    assert accepted(suspend)["status"] == "suspended"
    refused(api, lambda: prepare(api, gw.officer, gid, 1, "1000.00"), 409, "status", "grant-active")
    refused(api, lambda: approve(api, gw.approvers[0], ready["id"]), 409, "status", "grant-active")
    resume = api.client.post(f"{GRANTS}/{gid}/resume", json={"reason": "Resolved"}, headers=gw.admin.headers)
    assert accepted(resume)["status"] == "active"
    accepted(approve(api, gw.approvers[0], ready["id"]))

    # Closure waits for the final report and for every pending transfer to be decided.
    pending = accepted(prepare(api, gw.officer, gid, 1, "1000.00"), 201)
    refused(api, lambda: close(api, gw.admin, gid), 409, "status", "final-report-accepted")
    final = reports(api, gw.grantee, gid)[-1]
    accepted(submit_report(api, gw.grantee, gid, final["id"], {"staff": "900.00"}))
    accepted(accept_report(api, gw.admin, gid, final["id"]))
    refused(api, lambda: close(api, gw.admin, gid), 409, "status", "no-pending-disbursements")
    accepted(reject(api, gw.approvers[1], pending["id"]))
    accepted(close(api, gw.admin, gid))

    refused(api, lambda: prepare(api, gw.officer, gid, 1, "1000.00"), 409, "status", "grant-closed")
    refused(api, lambda: approve(api, gw.approvers[0], pending["id"]), 409, "disbursement", "disbursement-open")
    refused(api, lambda: refund(api, gw.officer, gid, "10.00"), 409, "status", "grant-closed")
    refused(api, lambda: close(api, gw.admin, gid), 409, "status", "grant-closed")
    refused(api, lambda: sign(api, gw.admin, gid), 409, "status", "grant-closed")
    progress = reports(api, gw.grantee, gid)[0]
    refused(api, lambda: submit_report(api, gw.grantee, gid, progress["id"]), 409, "status", "grant-closed")
    assert_statement_is_the_ledger(api, gw.auditor, gid)


def test_agreement_refusals(api: Api) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    refused(api, lambda: sign(api, gw.admin, gid, signed_on="2026-03-17"), 422, "signed_on", "not-in-future")
    refused(api, lambda: sign(api, gw.admin, gid, signed_on="2026-03-15"), 422, "signed_on", "after-decision")
    refused(api, lambda: sign(api, gw.officer, gid), 403)
    refused(api, lambda: refund(api, gw.officer, gid, "1.00"), 409, "status", "grant-active")
    progress = reports(api, gw.grantee, gid)[0]
    refused(api, lambda: submit_report(api, gw.grantee, gid, progress["id"]), 409, "status", "grant-active")
    accepted(sign(api, gw.admin, gid, key="sign"))
    refused(api, lambda: sign(api, gw.admin, gid), 409, "status", "grant-active")
    refused(
        api,
        lambda: sign(api, gw.admin, gid, key="sign", reference="another"),
        409,
        "Idempotency-Key",
        "idempotency-same-payload",
    )


def test_refund_refusals(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    refused(api, lambda: refund(api, gw.officer, gid, "0.01"), 422, "amount", "within-disbursed")
    disburse(api, gw, gid, 1, "1000.00")
    refused(api, lambda: refund(api, gw.officer, gid, "1000.01"), 422, "amount", "within-disbursed")
    refused(api, lambda: refund(api, gw.officer, gid, "0.00"), 422, "amount", "positive-amount")
    refused(api, lambda: refund(api, gw.officer, gid, "1.001"), 422, "amount", "excess_precision")
    refused(
        api, lambda: refund(api, gw.officer, gid, "1.00", received_on="2026-03-17"), 422, "received_on", "not-in-future"
    )
    refused(api, lambda: refund(api, gw.grantee, gid, "1.00"), 403)
    accepted(refund(api, gw.officer, gid, "600.00", key="r1"), 201)
    refused(api, lambda: refund(api, gw.officer, gid, "400.01"), 422, "amount", "within-disbursed")
    refused(
        api,
        lambda: refund(api, gw.officer, gid, "300.00", key="r1"),
        409,
        "Idempotency-Key",
        "idempotency-same-payload",
    )
    refused(
        api,
        lambda: prepare(api, gw.officer, gid, 1, "10.00", key="r1"),
        409,
        "Idempotency-Key",
        "idempotency-same-payload",
    )
    accepted(refund(api, gw.approvers[0], gid, "400.00"), 201)
    assert_statement_is_the_ledger(api, gw.auditor, gid)


def test_report_refusals(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    progress, final = reports(api, gw.grantee, gid)
    pid = progress["id"]
    refused(
        api,
        lambda: submit_report(
            api, gw.grantee, gid, pid, indicators=[{"outcome": "Other", "indicator": "Jobs", "value": "3"}]
        ),
        422,
        "indicators.0",
        "indicator-in-results-framework",
    )
    refused(
        api,
        lambda: submit_report(api, gw.grantee, gid, pid, {"equipment": "5.00"}),
        422,
        "expenditure",
        "category-in-budget",
    )
    refused(
        api, lambda: submit_report(api, gw.grantee, gid, pid, {"staff": "-5.00"}), 422, "expenditure", "non-negative"
    )
    refused(
        api,
        lambda: submit_report(api, gw.grantee, gid, pid, {"staff": "5.001"}),
        422,
        "expenditure.0.amount",
        "excess_precision",
    )
    refused(api, lambda: submit_report(api, gw.grantee, gid, 999_999), 404, "report_id", "report-exists")
    refused(api, lambda: accept_report(api, gw.admin, gid, pid), 409, "report", "report-submitted")
    accepted(submit_report(api, gw.grantee, gid, pid, {"staff": "5000.00", "travel": "100.00"}))
    refused(api, lambda: submit_report(api, gw.grantee, gid, pid), 409, "report_id", "report-open")
    refused(api, lambda: accept_report(api, gw.grantee, gid, pid), 403)
    accepted(accept_report(api, gw.admin, gid, pid))
    # Expenditure is cumulative: the final report never says less than the accepted progress report.
    refused(
        api,
        lambda: submit_report(api, gw.grantee, gid, final["id"], {"staff": "4999.99"}),
        422,
        "expenditure",
        "cumulative-expenditure",
    )
    accepted(submit_report(api, gw.grantee, gid, final["id"], {"staff": "5000.00", "travel": "100.00"}))
    # A return needs its reason.
    returned = api.client.post(
        f"{GRANTS}/{gid}/reports/{final['id']}/return", json={"reason": ""}, headers=gw.admin.headers
    )
    assert ("reason", "string_too_short") in broken_rules(assert_problem(returned, 422))


def test_an_unknown_grant_or_disbursement_is_404(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, _ = active
    for path in (f"{GRANTS}/999999", f"{GRANTS}/0", f"{DISBURSEMENTS}/999999", f"{GRANTS}/99999999999"):
        assert_problem(api.client.get(path, headers=gw.admin.headers), 404)
    refused(api, lambda: approve(api, gw.approvers[0], 999_999), 404)
    refused(api, lambda: prepare(api, gw.officer, 999_999, 1), 404)
    listed = api.client.get(GRANTS, params={"status": "lost"}, headers=gw.admin.headers)
    assert ("status", "known-status") in broken_rules(assert_problem(listed, 422))


def test_the_database_refuses_a_disbursement_approved_by_its_preparer(api: Api, active: tuple[GrantWorld, int]) -> None:
    """Raw SQL, bypassing the service: an approver equal to the preparer (first or second approval), and a
    tranche paid over its amount, are refused by CHECK constraints."""
    gw, gid = active
    prepared = accepted(prepare(api, gw.officer, gid, 1, "1000.00"), 201)
    for sql in (
        "UPDATE disbursements SET approved_by = prepared_by, status = 'approved' WHERE id = :id",
        "UPDATE disbursements SET approved_by = :other, second_approved_by = prepared_by WHERE id = :id",
        "UPDATE disbursements SET approved_by = :other, second_approved_by = :other WHERE id = :id",
        "UPDATE disbursements SET rejected_by = prepared_by, status = 'rejected' WHERE id = :id",
    ):
        with pytest.raises(sa.exc.IntegrityError, match=r"(?i)check"):
            api.db.execute(sql, id=prepared["id"], other=gw.approvers[0].id)
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)check"):
        api.db.execute(
            "INSERT INTO disbursements (grant_id, tranche_id, amount, currency, status, reference, prepared_by, "
            "prepared_at, approved_by, rejection_reason) SELECT grant_id, tranche_id, amount, currency, 'approved', "
            "'', prepared_by, prepared_at, prepared_by, '' FROM disbursements WHERE id = :id",
            id=prepared["id"],
        )
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)check"):
        api.db.execute("UPDATE grant_tranches SET paid = amount + 1 WHERE grant_id = :g AND number = 1", g=gid)
    row = api.db.rows("SELECT status, approved_by FROM disbursements WHERE id = :id", id=prepared["id"])
    assert row == [("prepared", None)]
    # Through the service it is refused before reaching the database, by another approver it is accepted.
    assert_problem(approve(api, gw.officer, prepared["id"]), 403)
    assert accepted(approve(api, gw.approvers[0], prepared["id"]))["status"] == "approved"


def test_roles_that_may_not_act_get_403(api: Api, active: tuple[GrantWorld, int]) -> None:
    gw, gid = active
    delegate = gw.world.delegates["MEX"]
    refused(api, lambda: prepare(api, gw.grantee, gid, 1), 403)
    refused(api, lambda: prepare(api, gw.approvers[0], gid, 1), 403)
    refused(api, lambda: prepare(api, gw.auditor, gid, 1), 403)
    refused(api, lambda: close(api, gw.officer, gid), 403)
    refused(api, lambda: sign(api, delegate, gid), 403)
    progress = reports(api, gw.grantee, gid)[0]
    refused(api, lambda: submit_report(api, gw.admin, gid, progress["id"]), 403)
    auditor_only = api.create_user(Role.AUDITOR)
    refused(api, lambda: refund(api, auditor_only, gid, "1.00"), 403)


def test_a_report_below_one_accepted_since_it_was_submitted_is_not_accepted(
    api: Api, active: tuple[GrantWorld, int]
) -> None:
    """Both reports submitted; the final one (more expenditure) accepted first: accepting the progress
    report, which says less, would make the cumulative expenditure go down, so it is refused until returned
    and updated."""
    gw, gid = active
    progress, final = reports(api, gw.grantee, gid)
    accepted(submit_report(api, gw.grantee, gid, progress["id"], {"staff": "1000.00"}))
    accepted(submit_report(api, gw.grantee, gid, final["id"], {"staff": "3000.00"}))
    accepted(accept_report(api, gw.admin, gid, final["id"]))
    refused(
        api, lambda: accept_report(api, gw.admin, gid, progress["id"]), 422, "expenditure", "cumulative-expenditure"
    )
    returned = api.client.post(
        f"{GRANTS}/{gid}/reports/{progress['id']}/return", json={"reason": "Update"}, headers=gw.admin.headers
    )
    accepted(returned)
    accepted(submit_report(api, gw.grantee, gid, progress["id"], {"staff": "3000.00", "travel": "10.00"}))
    accepted(accept_report(api, gw.admin, gid, progress["id"]))
    found = assert_statement_is_the_ledger(api, gw.auditor, gid)
    assert (found["reported_expenditure"]["amount"], found["expenditure_report_id"]) == ("3010.00", progress["id"])
