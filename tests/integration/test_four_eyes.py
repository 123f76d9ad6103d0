"""Four eyes on the books, through the HTTP API on SQLite and PostgreSQL: a manual entry or a reversal is
prepared by a finance officer with its reason and posted only when a finance approver who did not prepare it
approves it (two different approvers above the charter's threshold); an entry a domain owns is corrected
through its domain, never reversed by itself.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from fundapp.core import audit
from fundapp.core.errors import PermissionDenied
from fundapp.core.models import Role
from ledger.requests import EntryRequests
from ledger.service import Ledger
from tests.support import (
    LEDGER,
    V1,
    Api,
    accepted,
    add_contributor,
    approved,
    approvers,
    assert_refused,
    audit_events,
    ledger_state,
    line,
    post_entry,
    posted,
    prepare_reversal,
)

pytestmark = pytest.mark.usefixtures("backend")

# Above the charter's threshold (USD 1,000,000 by default): two approvers.
LARGE = (line("5100", "5000000.00"), line("1100", "-5000000.00"))


def approve(api: Api, request_id: int, approver: Any) -> Any:
    return api.client.post(f"{LEDGER}/entry-requests/{request_id}/approve", headers=approver.headers)


def test_a_manual_entry_waits_for_a_second_person_and_is_posted_as_prepared(api: Api) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    before = ledger_state(api)
    prepared = post_entry(api, fo, line("5400", "12.50"), line("1100", "-12.50"), reason="Bank charges, March")
    assert prepared.status_code == 202, prepared.text
    request = prepared.json()
    assert (request["status"], request["approvals_needed"], request["approvals"]) == ("pending", 1, 0)
    assert request["reason"] == "Bank charges, March"
    assert request["size"] == {"amount": "12.50", "currency": "USD"}
    assert [(x["account"], x["amount"]["amount"]) for x in request["lines"]] == [("5400", "12.50"), ("1100", "-12.50")]
    # Nothing is in the books until it is approved (preparing opens the month, as posting would).
    assert api.db.count("journal_entries") == api.db.count("postings") == 0
    assert ledger_state(api)["head"] == before["head"]
    waiting = accepted(api.client.get(f"{LEDGER}/entry-requests", params={"status": "pending"}, headers=fo.headers))
    assert [r["id"] for r in waiting["items"]] == [request["id"]]

    checker = approvers(api)[0]
    done = accepted(approve(api, request["id"], checker))
    assert (done["status"], done["approved_by"], done["approvals"]) == ("approved", checker.id, 1)
    entry = done["entry"]
    assert entry["id"] == done["entry_id"]
    assert [(p["account"], p["amount"]["amount"]) for p in entry["postings"]] == [("5400", "12.50"), ("1100", "-12.50")]
    assert (entry["source_type"], entry["posted_by"]) == ("manual", checker.id)
    auditor = api.create_user(Role.AUDITOR)
    actions = [e["action"] for e in audit_events(api, auditor, object_type="entry_request")]
    assert sorted(actions) == ["ledger.request.approve", "ledger.request.prepare"]
    # Approved once: a second approval changes nothing.
    with_entry = ledger_state(api)
    assert_refused(
        approve(api, request["id"], approvers(api)[1]), 409, "conflict", field="status", rule="request-pending"
    )
    assert ledger_state(api) == with_entry


def test_above_the_threshold_two_different_approvers_post_it(api: Api) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    first, second = approvers(api)
    prepared = post_entry(api, fo, *LARGE, reason="Consultancy for the evaluation, contract 2026-14")
    request = accepted(prepared, 202)
    assert (request["approvals_needed"], request["size"]["amount"]) == (2, "5000000.00")
    halfway = accepted(approve(api, request["id"], first))
    assert (halfway["status"], halfway["approvals"], halfway["entry"]) == ("pending", 1, None)
    assert halfway["first_approved_by"] == first.id
    assert api.db.count("journal_entries") == 0
    state = ledger_state(api)
    assert_refused(
        approve(api, request["id"], first), 403, "permission-denied", field="request", rule="second-approver"
    )
    assert ledger_state(api) == state
    done = accepted(approve(api, request["id"], second))
    assert (done["status"], done["approved_by"], done["approvals"]) == ("approved", second.id, 2)
    assert api.db.count("journal_entries") == 1


def test_exactly_the_threshold_needs_one_approver(api: Api) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    threshold = f"{api.settings.charter.second_approver_threshold:.2f}"
    request = accepted(post_entry(api, fo, line("5100", threshold), line("1100", f"-{threshold}")), 202)
    assert request["approvals_needed"] == 1
    above = str(Decimal(threshold) + Decimal("0.01"))
    assert accepted(post_entry(api, fo, line("5100", above), line("1100", f"-{above}")), 202)["approvals_needed"] == 2


def test_a_rejected_request_posts_nothing_and_stays_rejected(api: Api) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    checker = approvers(api)[0]
    request = accepted(post_entry(api, fo, *LARGE, reason="Consultancy"), 202)
    response = api.client.post(
        f"{LEDGER}/entry-requests/{request['id']}/reject", json={"reason": ""}, headers=checker.headers
    )
    assert_refused(response, 422, "validation-failed", field="reason")
    rejected = accepted(
        api.client.post(
            f"{LEDGER}/entry-requests/{request['id']}/reject",
            json={"reason": "No contract attached"},
            headers=checker.headers,
        )
    )
    assert (rejected["status"], rejected["rejected_by"], rejected["rejection_reason"]) == (
        "rejected",
        checker.id,
        "No contract attached",
    )
    state = ledger_state(api)
    assert_refused(
        approve(api, request["id"], approvers(api)[1]), 409, "conflict", field="status", rule="request-pending"
    )
    assert ledger_state(api) == state
    assert api.db.count("journal_entries") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [({"reason": ""}, "reason"), ({"reason": "  "}, "reason"), ({}, "reason"), ({"reason": "x" * 2001}, "reason")],
)
def test_a_manual_entry_or_a_reversal_without_its_reason_is_refused(api: Api, body: dict[str, Any], field: str) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    entry = posted(api, fo, line("5400", "1.00"), line("1100", "-1.00"))
    state = ledger_state(api)
    entry_body = {"entry_date": "2026-03-10", "description": "No reason", "lines": list(LARGE), **body}
    response = api.client.post(f"{LEDGER}/entries", json=entry_body, headers=fo.headers)
    assert_refused(response, 422, "validation-failed", field=field)
    response = api.client.post(f"{LEDGER}/entries/{entry['id']}/reverse", json=body, headers=fo.headers)
    assert_refused(response, 422, "validation-failed", field=field)
    assert ledger_state(api) == state


def test_a_reversal_of_a_manual_entry_is_approved_like_an_entry(api: Api) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    entry = posted(api, fo, line("5400", "40.00"), line("1100", "-40.00"))
    prepared = prepare_reversal(api, fo, entry["id"], reason="Charged twice by the bank")
    request = accepted(prepared, 202)
    assert (request["kind"], request["reverses_id"], request["size"]["amount"]) == ("reversal", entry["id"], "40.00")
    reversal = approved(api, prepared)
    assert reversal["reverses_id"] == entry["id"]
    assert api.db.scalar("SELECT status FROM entry_requests WHERE id = :i", i=request["id"]) == "approved"


def test_a_deposit_is_corrected_through_its_domain_never_reversed_by_itself(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    fo = api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    deposit = accepted(
        api.client.post(
            f"{V1}/contributions",
            json={"contributor_id": donor, "value_date": "2026-03-05", "amount": "100000.00", "currency": "USD"},
            headers=fo.headers,
        ),
        201,
    )
    state = ledger_state(api)
    response = prepare_reversal(api, fo, deposit["entry_id"], reason="Wrong donor")
    body = assert_refused(response, 409, "conflict", field="entry_id", rule="domain-correction")
    assert "contribution" in body["detail"]
    assert ledger_state(api) == state
    assert api.db.count("entry_requests") == 0


def test_the_database_refuses_a_preparer_as_approver(api: Api) -> None:
    """The CHECK constraints hold even for a write that bypasses the service."""
    fo = api.create_user(Role.FINANCE_OFFICER)
    request = accepted(post_entry(api, fo, line("5400", "1.00"), line("1100", "-1.00")), 202)
    for column in ("approved_by", "first_approved_by", "rejected_by"):
        with pytest.raises(IntegrityError):
            api.db.execute(f"UPDATE entry_requests SET {column} = prepared_by WHERE id = :i", i=request["id"])
    assert api.db.scalar("SELECT approved_by FROM entry_requests WHERE id = :i", i=request["id"]) is None


def test_the_service_refuses_the_preparer_as_approver_whatever_the_roles(api: Api) -> None:
    """The rule is the service's own, not only the roles': whoever prepared a request cannot approve it."""
    fo = api.create_user(Role.FINANCE_OFFICER)
    request = accepted(post_entry(api, fo, line("5400", "1.00"), line("1100", "-1.00")), 202)

    async def approve_as_preparer(database: Any) -> None:
        async with database.session() as session:
            ledger = Ledger(
                session,
                reporting_currency=api.settings.reporting_currency,
                actor=audit.Actor(fo.id, fo.username),
                now=datetime(2026, 3, 16, 12, tzinfo=UTC),
            )
            requests = EntryRequests(ledger, threshold=api.settings.charter.second_approver_threshold)
            await requests.approve(request["id"])

    with pytest.raises(PermissionDenied) as refused:
        api.db.run(approve_as_preparer)
    assert refused.value.errors[0].rule == "maker-checker"
    assert api.db.count("journal_entries") == 0


def test_two_approvals_at_once_post_one_entry(api: Api) -> None:
    """Both approvers press approve together: one posts the entry, the other is told it is approved."""
    fo = api.create_user(Role.FINANCE_OFFICER)
    request = accepted(post_entry(api, fo, line("5400", "3.00"), line("1100", "-3.00")), 202)
    checkers = approvers(api)

    async def both(database: Any) -> list[Any]:
        async def one(approver: Any) -> Any:
            async with database.session() as session:
                ledger = Ledger(
                    session,
                    reporting_currency=api.settings.reporting_currency,
                    actor=audit.Actor(approver.id, approver.username),
                    now=datetime(2026, 3, 16, 12, tzinfo=UTC),
                )
                try:
                    done = await EntryRequests(ledger, threshold=Decimal(10**9)).approve(request["id"])
                    await session.commit()
                    return done[1]
                except Exception as exc:  # noqa: BLE001 - the loser's refusal, whatever it is, is compared below
                    return exc

        return list(await asyncio.gather(*(one(a) for a in checkers)))

    results = api.db.run(both)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1, results
    assert api.db.count("journal_entries") == 1
