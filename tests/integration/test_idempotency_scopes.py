"""Idempotency keys are scoped per user and operation (issue: keys were one global space): a manual entry
sent with a key the system derives (``grant-disbursement:N``) never blocks that disbursement; another user
sending finance's key gets its own result, never finance's; on SQLite and PostgreSQL, through the API."""

from __future__ import annotations

from typing import Any

import pytest

from fundapp.core.models import Role
from tests.grants_support import adopt_funding, approve, grant_world, prepare, recommended_proposal, sign
from tests.support import V1, Actor, Api, accepted, add_contributor, approved, line, post_entry

pytestmark = pytest.mark.usefixtures("backend")


def deposit(api: Api, actor: Actor, donor: int, key: str, amount: str = "100.00") -> Any:
    body = {
        "contributor_id": donor,
        "value_date": api.clock.now().date().isoformat(),
        "amount": amount,
        "currency": "USD",
    }
    return api.client.post(f"{V1}/contributions", json=body, headers={**actor.headers, "Idempotency-Key": key})


def test_a_manual_entry_keyed_like_a_disbursement_never_blocks_it(api: Api) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    # The next disbursement's id, and the key the system will post its entry under.
    next_id = int(api.db.scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM disbursements"))
    system_key = f"grant-disbursement:{next_id}"
    entry = approved(
        api, post_entry(api, gw.officer, line("5400", "1.00"), line("1100", "-1.00"), idempotency_key=system_key)
    )
    assert entry["idempotency_key"] != system_key  # the posted entry carries the request's own system key
    prepared = accepted(prepare(api, gw.officer, gid, 1), 201)
    assert prepared["id"] == next_id
    paid = accepted(approve(api, gw.approvers[0], prepared["id"]))
    assert paid["status"] == "approved"
    assert api.db.scalar("SELECT count(*) FROM journal_entries WHERE idempotency_key = :k", k=system_key) == 1


def test_another_user_sending_finances_key_never_gets_finances_contribution(api: Api) -> None:
    finance = api.create_user(Role.FINANCE_OFFICER)
    other = api.create_user(Role.FINANCE_APPROVER)  # may record contributions too
    donor = add_contributor(api, finance, "Government of Norway", country="NOR")
    first = accepted(deposit(api, finance, donor, "bank-2026-0042"), 201)
    assert first["idempotency_key"] == "bank-2026-0042"
    # Finance's own replay: the first contribution.
    assert accepted(deposit(api, finance, donor, "bank-2026-0042"))["id"] == first["id"]
    # Another user with the same key: its own request (another body is not refused either).
    theirs = accepted(deposit(api, other, donor, "bank-2026-0042", "250.00"), 201)
    assert theirs["id"] != first["id"]
    assert (theirs["amount"]["amount"], theirs["idempotency_key"]) == ("250.00", "bank-2026-0042")
    assert api.db.count("contributions") == 2


def test_another_user_sending_a_disbursement_key_prepares_its_own(api: Api) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    first = accepted(prepare(api, gw.officer, gid, 1, key="transfer-1"), 201)
    assert accepted(prepare(api, gw.officer, gid, 1, key="transfer-1"))["id"] == first["id"]  # replay: 200
    # Another officer's same key is another request: its own transfer, never the first officer's.
    theirs = accepted(prepare(api, gw.officer2, gid, 1, key="transfer-1"), 201)
    assert (theirs["id"], theirs["prepared_by"]) != (first["id"], gw.officer.id)
    assert theirs["prepared_by"] == gw.officer2.id
    assert api.db.count("disbursements") == 2
