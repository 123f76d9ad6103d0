"""A funding race on PostgreSQL (issue 21, acceptance 4): two concessional financing decisions and one grant
decision on the same window, adopted by the members and closed at the same moment, while the window holds
enough for one concessional grant (520,000.00) but not for any two of the three. The test holds the journal's
writer lock (which every money close takes before its money guard) until all three closes wait for it, as
tests/integration/test_decision_races.py does for two funding decisions. Never more is allocated than the
window had: its budgetary 8200 balance never goes below zero, after any entry.

SQLite is skipped: its writers take the database lock at BEGIN, so two writers never overlap there.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fundapp.core.clock import FrozenClock
from tests.concessional_support import concessional_world, reviewed_request
from tests.decision_support import DECISIONS, available
from tests.grants_support import recommended_proposal
from tests.integration.test_decision_races import (  # noqa: F401 - fixtures, registered by being imported
    close_together,
    live,
    postgresql_only,
    running_balances,
)
from tests.support import Api, DatabaseProbe, LiveServer, accepted, assert_books_balanced


def _open(api: Api, admin_headers: dict[str, str], **body: object) -> dict[str, object]:
    payload = {
        "procedure": "no_objection",
        "title": f"{body['kind']} in the race",
        "text": "The member states decide.",
        "justification": "The members weighed the review.",
        "closes_at": (api.clock.now() + timedelta(minutes=5)).isoformat(),
        "open": True,
        **body,
    }
    opened: dict[str, object] = accepted(api.client.post(f"{DECISIONS}/", json=payload, headers=admin_headers), 201)
    return opened


def test_two_concessional_and_one_grant_decision_never_overspend_the_window(
    live: LiveServer,  # noqa: F811
    api: Api,
    db: DatabaseProbe,
    clock: FrozenClock,
) -> None:
    cw = concessional_world(api, fund="600000.00")  # 594,000.00 available in SKL
    window_id = cw.grants.window_id
    funds = available(api, window_id)
    assert funds == 59_400_000
    first = reviewed_request(api, cw)
    second = reviewed_request(api, cw)
    proposal = recommended_proposal(api, cw.grants)
    admin = cw.admin.headers
    decisions = [
        _open(api, admin, kind="concessional_financing", request_id=first["id"]),
        _open(api, admin, kind="concessional_financing", request_id=second["id"]),
        _open(api, admin, kind="fund_proposal", proposal_id=proposal),
    ]
    clock.advance(minutes=5, seconds=1)
    requests = [("POST", f"{DECISIONS}/{d['id']}/close", admin) for d in decisions]
    waiting, responses = asyncio.run(close_together(live.url, db, requests))

    assert [r.status_code for r in responses] == [200, 200, 200], [r.text[:500] for r in responses]
    assert waiting == 3, f"only {waiting} of the three closes waited for the journal's lock: they did not race"
    closed = [r.json() for r in responses]
    adopted = [d for d in closed if d["result"] == "adopted"]
    assert len(adopted) >= 1
    for refused in (d for d in closed if d["result"] != "adopted"):
        assert "insufficient funds" in refused["result_reason"], refused
        assert refused["entry_id"] is None
    spent = sum(round(float(d["amount"]["amount"]) * 100) for d in adopted)
    assert spent <= funds
    balances = running_balances(db, window_id)
    assert min(balances) >= 0, balances
    assert available(api, window_id) == funds - spent
    allocated = db.scalar(
        "SELECT count(*) FROM journal_entries WHERE source_type IN ('concessional_decision', 'funding_decision')"
    )
    assert allocated == len(adopted)
    approved = db.scalar("SELECT count(*) FROM financing_requests WHERE status = 'approved'")
    assert approved == sum(1 for d in adopted if d["kind"] == "concessional_financing")
    assert_books_balanced(api, cw.grants.auditor)
