"""Concurrent approvals on PostgreSQL, where writers really run at the same time (issue acceptance 4).

The grant is set up through the test client; then a second app on the same database runs under uvicorn
(``tests.support.LiveServer``) and the approvals are sent at once with ``httpx.AsyncClient``:

- several approvers approve the same disbursement at once: it is paid exactly once (one 200, the rest 409,
  one journal entry);
- two disbursements of one whole tranche are approved at once, each by several approvers: one is paid, the
  other refused, and the tranche is paid once;
- six disbursements of 20,000.00 against a tranche of 64,200.00 are approved at once: three are paid and
  three refused, so the tranche is never paid over its amount.

No response is a 5xx; both books balance and the grant statement equals the ledger afterwards. SQLite is
skipped: its writers take the database lock at BEGIN (``BEGIN IMMEDIATE``), so they never overlap.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from tests.grants_support import (
    DISBURSEMENTS,
    GrantWorld,
    adopt_funding,
    assert_statement_is_the_ledger,
    grant_world,
    prepare,
    recommended_proposal,
    sign,
)
from tests.support import Actor, Api, DatabaseProbe, LiveServer, LockWatcher, accepted


@pytest.fixture
def world(backend: str, api: Api) -> tuple[GrantWorld, int]:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE: there is no concurrent writer to race")
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    return gw, gid


@pytest.fixture
def server(world: Any, settings: Settings, clock: FrozenClock) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings, clock=clock)) as running:
        yield running


async def approve_all(url: str, requests: list[tuple[Actor, int]]) -> list[httpx.Response]:
    """POST /disbursements/{id}/approve for every (approver, disbursement) at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        start = asyncio.Event()

        async def one(approver: Actor, disbursement_id: int) -> httpx.Response:
            await start.wait()
            return await client.post(f"{DISBURSEMENTS}/{disbursement_id}/approve", headers=approver.headers)

        tasks = [asyncio.create_task(one(a, d)) for a, d in requests]
        await asyncio.sleep(0)
        start.set()
        return list(await asyncio.gather(*tasks))


def race(server: LiveServer, db: DatabaseProbe, requests: list[tuple[Actor, int]]) -> list[httpx.Response]:
    with LockWatcher(db) as watcher:
        responses = asyncio.run(approve_all(server.url, requests))
    assert watcher.most_waiting >= 1, "the approvals did not overlap: nothing ever waited for a lock"
    assert not [r for r in responses if r.status_code >= 500], [r.text for r in responses if r.status_code >= 500]
    return responses


def rules_of(response: httpx.Response) -> set[str]:
    return {e["rule"] for e in response.json().get("errors", [])}


def tranche(db: DatabaseProbe, grant_id: int, number: int) -> tuple[int, int, str]:
    row = db.rows(
        "SELECT amount, paid, status FROM grant_tranches WHERE grant_id = :g AND number = :n", g=grant_id, n=number
    )[0]
    return int(row.amount), int(row.paid), str(row.status)


def test_approvers_approving_one_disbursement_at_once_pay_it_once(
    api: Api, world: tuple[GrantWorld, int], server: LiveServer
) -> None:
    gw, gid = world
    prepared = accepted(prepare(api, gw.officer, gid, 1), 201)
    approvers = [*gw.approvers, gw.dual]
    entries = api.db.count("journal_entries")

    responses = race(server, api.db, [(approvers[n % len(approvers)], prepared["id"]) for n in range(12)])

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 11}, statuses
    assert all(rules_of(r) == {"disbursement-open"} for r in responses if r.status_code == 409)
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["status"] == "approved"
    assert api.db.count("journal_entries") == entries + 1
    assert api.db.scalar("SELECT count(*) FROM journal_entries WHERE source_type = 'grant_disbursement'") == 1
    assert api.db.scalar("SELECT count(*) FROM audit_events WHERE action = 'grant.disbursement.approve'") == 1
    assert tranche(api.db, gid, 1) == (6420000, 6420000, "paid")
    assert_statement_is_the_ledger(api, gw.auditor, gid)


def test_two_disbursements_of_one_tranche_approved_at_once_pay_it_once(
    api: Api, world: tuple[GrantWorld, int], server: LiveServer
) -> None:
    gw, gid = world
    first = accepted(prepare(api, gw.officer, gid, 1), 201)
    second = accepted(prepare(api, gw.officer2, gid, 1), 201)

    # Each approver approves both, all at once: ten requests on two disbursements of one tranche.
    requests = [(approver, d["id"]) for approver in (*gw.approvers, gw.dual, gw.approvers[0]) for d in (first, second)]
    responses = race(server, api.db, requests)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 9}, [r.text for r in responses]
    paid = next(r.json()["id"] for r in responses if r.status_code == 200)
    for request, response in zip(requests, responses, strict=True):
        if response.status_code == 409:
            # The paid one is no longer open; the other would pay the tranche twice.
            assert rules_of(response) == ({"disbursement-open"} if request[1] == paid else {"within-tranche"})
    assert tranche(api.db, gid, 1) == (6420000, 6420000, "paid")
    assert api.db.rows("SELECT status, count(*) FROM disbursements GROUP BY status ORDER BY status") == [
        ("approved", 1),
        ("prepared", 1),
    ]
    found = assert_statement_is_the_ledger(api, gw.auditor, gid)
    assert found["disbursed"]["amount"] == "64200.00"


def test_many_partial_disbursements_approved_at_once_never_pay_over_the_tranche(
    api: Api, world: tuple[GrantWorld, int], server: LiveServer
) -> None:
    gw, gid = world
    parts = [accepted(prepare(api, gw.officer, gid, 1, "20000.00"), 201)["id"] for _ in range(6)]

    responses = race(server, api.db, [(gw.approvers[n % 3], d) for n, d in enumerate(parts)])

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 3, 409: 3}, [r.text for r in responses]
    assert all(rules_of(r) == {"within-tranche"} for r in responses if r.status_code == 409)
    assert tranche(api.db, gid, 1) == (6420000, 6000000, "recognised")
    found = assert_statement_is_the_ledger(api, gw.auditor, gid)
    assert (found["disbursed"]["amount"], found["tranches"][0]["state"]) == ("60000.00", "partly_paid")
