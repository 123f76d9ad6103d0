"""Maker-checker with the charter's second-approver threshold set to 50,000.00 (FUNDAPP_CHARTER_
SECOND_APPROVER_THRESHOLD), on both backends: a transfer above it needs two approvals by two different
approvers of whom neither prepared it, and only the second posts; at or below it one approval posts. A
repeated Idempotency-Key replays the first result without posting again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fundapp.core.config import Settings
from tests.conftest import make_settings
from tests.grants_support import (
    adopt_funding,
    approve,
    assert_statement_is_the_ledger,
    grant_world,
    prepare,
    recommended_proposal,
    sign,
)
from tests.support import Api, accepted, assert_problem, broken_rules

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var", FUNDAPP_CHARTER_SECOND_APPROVER_THRESHOLD="50000")


def test_a_transfer_above_the_threshold_needs_two_different_approvers(api: Api) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    assert accepted(api.client.get(f"/api/v1/grants/{gid}", headers=gw.admin.headers))["approvals_above"] == {
        "amount": "50000.00",
        "currency": "USD",
    }
    prepared = accepted(prepare(api, gw.dual, gid, 1), 201)
    assert (prepared["amount"]["amount"], prepared["approvals_needed"]) == ("64200.00", 2)
    first, second, third = gw.approvers
    entries = api.db.count("journal_entries")

    halfway = accepted(approve(api, first, prepared["id"], key="first"))
    assert (halfway["status"], halfway["approved_by"], halfway["entry_id"]) == (
        "awaiting_second_approval",
        first.id,
        None,
    )
    assert api.db.count("journal_entries") == entries
    assert_statement_is_the_ledger(api, gw.auditor, gid)
    # Replaying the first approval changes nothing; the same approver cannot give the second approval, nor
    # can the preparer (who holds the approver role too).
    assert accepted(approve(api, first, prepared["id"], key="first"))["status"] == "awaiting_second_approval"
    body = assert_problem(approve(api, first, prepared["id"]), 403)
    assert ("disbursement", "second-approver") in broken_rules(body)
    body = assert_problem(approve(api, gw.dual, prepared["id"]), 403)
    assert ("disbursement", "maker-checker") in broken_rules(body)
    # Another approver's request with the first one's key is another request (keys are their sender's):
    # it gives the second approval, never the first approver's answer back.
    done = accepted(approve(api, second, prepared["id"], key="first"))
    assert (done["status"], done["approved_by"], done["second_approved_by"]) == ("approved", first.id, second.id)
    assert api.db.count("journal_entries") == entries + 1
    assert accepted(approve(api, second, prepared["id"], key="first"))["entry_id"] == done["entry_id"]
    assert api.db.count("journal_entries") == entries + 1
    body = assert_problem(approve(api, third, prepared["id"]), 409)
    assert ("disbursement", "disbursement-open") in broken_rules(body)
    found = assert_statement_is_the_ledger(api, gw.auditor, gid)
    assert found["disbursed"]["amount"] == "64200.00"


def test_at_or_below_the_threshold_one_approval_posts(api: Api) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    at = accepted(prepare(api, gw.officer, gid, 1, "50000.00", key="p1"), 201)
    # The same key and body return the first disbursement (200), not a second one.
    replay = prepare(api, gw.officer, gid, 1, "50000.00", key="p1")
    assert (replay.status_code, replay.json()["id"]) == (200, at["id"])
    assert api.db.count("disbursements") == 1
    assert at["approvals_needed"] == 1
    assert accepted(approve(api, gw.approvers[2], at["id"]))["status"] == "approved"
    above = accepted(prepare(api, gw.officer, gid, 1, "14200.00"), 201)
    assert above["approvals_needed"] == 1
    assert_statement_is_the_ledger(api, gw.auditor, gid)
