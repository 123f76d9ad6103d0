"""Races on the members' decisions (issue 6, acceptance 2 and 3), on PostgreSQL, where writers really run
at the same time.

A second instance of the app (same settings, same injected clock as the ``api`` fixture's) runs under
uvicorn in a background thread; the requests of the race are sent at once by several ``httpx.AsyncClient``
instances. The world (members, delegates, funds, proposals, decisions) is built beforehand through the
``api`` fixture's TestClient.

- Ballots racing the close: 30 members, each changing its ballot several times in two concurrent streams
  from different clients, while the clock passes the deadline and the decision is closed by POST /close
  and by reads (which close a due decision). Afterwards: one current ballot per member, the chain ends with
  its only 'closed' event, every 201 receipt is an event of the chain and every refusal a 409 problem, and
  the stored tally equals a recount of the ballot events.
- Money racing the close: two funding decisions on one window, each affordable alone but not together,
  adopted by their votes, closed at the same time. The test holds the journal's writer lock (the lock the
  close takes before its money check) until PostgreSQL shows both closing transactions waiting for it, so
  the two closes have counted their votes before either checks the funds. Exactly one is adopted; the
  window's available funds (budgetary 8200) never go below zero.

SQLite is skipped: its writers take the database lock at BEGIN (``BEGIN IMMEDIATE``), so two writers never
overlap there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from fundapp.app import create_app
from fundapp.core.audit import timestamp
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.models import Role
from governance import rules
from ledger.service import JOURNAL_CHAIN_LOCK
from tests.decision_support import (
    DECISIONS,
    after_deadline,
    available,
    cast,
    closes_in,
    create_decision,
    delegates_for,
    fund_window,
    member_codes,
    open_funding,
    recommended_proposal,
)
from tests.support import (
    Actor,
    Api,
    DatabaseProbe,
    LiveServer,
    LockWatcher,
    assert_books_balanced,
    assert_problem,
    broken_rules,
    proposal_state,
    proposal_world,
)

MEMBERS = 30
CASTS = 6  # ballots each member tries to cast, each different from its previous one
STREAMS = 2  # concurrent streams of requests per member, each on another client
CLIENTS = 5
CLOSE_AFTER = 2 * MEMBERS  # accepted ballots before the clock passes the deadline


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE: there is no concurrent writer to race")


@pytest.fixture
def live(postgresql_only: None, api: Api, settings: Settings, clock: FrozenClock) -> Iterator[LiveServer]:
    """The app (a second instance, sharing the test's clock and database) under uvicorn."""
    with LiveServer(create_app(settings, clock=clock)) as server:
        yield server


def deadline_of(decision: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(decision["closes_at"].replace("Z", "+00:00"))


def chain(db: DatabaseProbe, decision_id: int) -> list[Any]:
    return db.rows(
        "SELECT seq, kind, member_code, choice, at, hash FROM decision_events WHERE decision_id = :d ORDER BY seq",
        d=decision_id,
    )


def recount(events: list[Any], electorate: int) -> dict[str, int]:
    """The ballot events counted by hand: each member's last ballot in chain order, once."""
    final: dict[str, str] = {}
    for event in events:
        if event.kind == "ballot":
            final[event.member_code] = event.choice
    counts = Counter(final.values())
    return {
        "eligible": electorate,
        "participated": len(final),
        "yes": counts["yes"],
        "no": counts["no"],
        "abstain": counts["abstain"],
    }


# ---------------------------------------------------------------- acceptance 2: ballots racing the close


@dataclass
class Attempt:
    member: str
    choice: str
    status: int
    response: httpx.Response


@dataclass
class VoteRace:
    attempts: list[Attempt]
    closers: list[httpx.Response]
    accepted_before_close: int


def ballot_plan(codes: list[str], seed: int) -> dict[str, list[str]]:
    """For each member, CASTS choices, each different from the one before (every cast changes the ballot)."""
    rnd = random.Random(seed)
    plan: dict[str, list[str]] = {}
    for code in codes:
        choices = [rnd.choice(rules.VOTE_CHOICES)]
        while len(choices) < CASTS:
            choices.append(rnd.choice([c for c in rules.VOTE_CHOICES if c != choices[-1]]))
        plan[code] = choices
    return plan


async def vote_while_closing(
    url: str,
    clock: FrozenClock,
    decision: dict[str, Any],
    delegates: dict[str, Actor],
    plan: dict[str, list[str]],
    admin: Actor,
    auditor: Actor,
) -> VoteRace:
    decision_id = decision["id"]
    ballots_url = f"{DECISIONS}/{decision_id}/ballots"
    attempts: list[Attempt] = []
    accepted = 0
    enough = asyncio.Event()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=120) for _ in range(CLIENTS)]

    async def stream(client: httpx.AsyncClient, code: str, choices: list[str]) -> None:
        nonlocal accepted
        refused = 0
        for choice in choices:
            response = await client.post(ballots_url, json={"choice": choice}, headers=delegates[code].headers)
            attempts.append(Attempt(code, choice, response.status_code, response))
            if response.status_code == 201:
                accepted += 1
                if accepted >= CLOSE_AFTER:
                    enough.set()
            else:
                refused += 1
                if refused >= 2:  # closed for this member: one more try, then stop
                    return

    async def close() -> tuple[int, list[httpx.Response]]:
        await enough.wait()
        clock.advance(seconds=(deadline_of(decision) - clock.now()).total_seconds() + 1)
        seen = accepted
        closers = await asyncio.gather(
            clients[0].post(f"{DECISIONS}/{decision_id}/close", headers=admin.headers),
            clients[1].get(f"{DECISIONS}/{decision_id}", headers=auditor.headers),
            clients[2].get(f"{DECISIONS}/{decision_id}/record", headers=delegates[next(iter(plan))].headers),
            clients[3].get(f"{DECISIONS}/", headers=auditor.headers),
            clients[4].post(f"{DECISIONS}/{decision_id}/close", headers=admin.headers),
        )
        return seen, list(closers)

    try:
        closing = asyncio.create_task(close())
        await asyncio.gather(
            *(
                stream(clients[(index + s) % CLIENTS], code, choices[s::STREAMS])
                for index, (code, choices) in enumerate(plan.items())
                for s in range(STREAMS)
            )
        )
        enough.set()  # every stream is done: close now if it has not happened yet
        seen, closers = await closing
    finally:
        for client in clients:
            await client.aclose()
    return VoteRace(attempts, closers, seen)


def test_ballots_racing_the_close_are_counted_once_or_refused(
    live: LiveServer, api: Api, db: DatabaseProbe, clock: FrozenClock
) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    auditor = api.create_user(Role.AUDITOR)
    codes = member_codes(MEMBERS)
    delegates = delegates_for(api, admin, codes)
    decision = create_decision(
        api, admin, kind="policy", procedure="vote", open=True, closes_at=closes_in(api, hours=1)
    )
    decision_id = int(decision["id"])
    deadline = deadline_of(decision)
    plan = ballot_plan(codes, seed=decision_id)

    with LockWatcher(db) as watcher:
        race = asyncio.run(vote_while_closing(live.url, clock, decision, delegates, plan, admin, auditor))

    assert watcher.most_waiting >= 2, "the requests did not overlap: nothing ever waited for a lock"
    assert race.accepted_before_close >= CLOSE_AFTER, "the clock passed the deadline before enough ballots"

    # Every attempt was accepted (201 with a receipt) or refused (409 problem+json: closed); nothing else.
    statuses = Counter(a.status for a in race.attempts)
    assert set(statuses) <= {201, 409}, {a.status: a.response.text[:300] for a in race.attempts if a.status >= 500}
    assert statuses[409] > 0, "no ballot raced the close"
    for attempt in race.attempts:
        if attempt.status == 409:
            body = assert_problem(attempt.response, 409)
            assert ("", "decision-open") in broken_rules(body), body
            assert "after the close" in body["detail"], body
    for response in race.closers:
        assert response.status_code == 200, response.text[:500]

    # The chain: gap-free, opened first, one 'closed' event and it is the last; ballots before the deadline.
    events = chain(db, decision_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.kind for e in events]
    assert kinds[0] == "opened" and kinds[-1] == "closed" and kinds.count("closed") == 1, Counter(kinds)
    assert set(kinds[1:-1]) <= {"ballot"}
    ballot_events = [e for e in events if e.kind == "ballot"]
    assert all(e.at < deadline for e in ballot_events), "a ballot was accepted after the deadline"
    assert events[-1].at >= deadline

    # Every receipt is its event of the chain, and every ballot event was answered with its receipt.
    receipts = {
        (r["seq"], r["member_code"], r["choice"], r["receipt"])
        for r in (a.response.json() for a in race.attempts if a.status == 201)
    }
    assert len(receipts) == statuses[201]
    assert receipts == {(e.seq, e.member_code, e.choice, e.hash) for e in ballot_events}
    for attempt in race.attempts:
        if attempt.status == 201:
            assert attempt.response.json()["member_code"] == attempt.member
            assert attempt.response.json()["choice"] == attempt.choice

    # One current ballot per member: its last ballot event in the chain, none for the silent.
    current = db.rows(
        "SELECT member_code, choice, event_seq FROM ballots WHERE decision_id = :d ORDER BY member_code",
        d=decision_id,
    )
    per_member = Counter(row.member_code for row in current)
    assert all(n == 1 for n in per_member.values()), per_member
    last: dict[str, Any] = {}
    for event in ballot_events:
        last[event.member_code] = event
    assert {row.member_code: (row.choice, row.event_seq) for row in current} == {
        code: (event.choice, event.seq) for code, event in last.items()
    }

    # The stored tally, the record's and the close event's all equal a recount of the ballot events.
    stored = db.rows("SELECT status, result, tally, chain_head FROM decisions WHERE id = :d", d=decision_id)[0]
    assert stored.status == "closed" and stored.chain_head == events[-1].hash
    tally = json.loads(stored.tally)
    hand = recount(events, MEMBERS)
    assert {name: tally[name] for name in hand} == hand
    published = api.client.get(f"{DECISIONS}/{decision_id}/record", headers=auditor.headers).json()
    assert published["tally"] == tally
    replayed = rules.replay(published["events"]).tally()
    assert replayed is not None and replayed.as_dict() == tally
    assert rules.verify_record(published) == []
    assert published["result"] == stored.result == ("adopted" if tally["adopted"] else "not_adopted")
    assert len(published["roll_call"]) == len(last)
    closes = db.scalar(
        "SELECT count(*) FROM audit_events WHERE action = 'decision.close' AND object_id = :d", d=str(decision_id)
    )
    assert closes == 1, "the decision was closed more than once"


# ---------------------------------------------------------------- acceptance 3: money racing the close


@contextlib.contextmanager
def journal_lock_held(db: DatabaseProbe) -> Iterator[Any]:
    """Hold the journal's writer lock (session-level) on a connection of the test's own."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": JOURNAL_CHAIN_LOCK})
        conn.commit()
        try:
            yield conn
        finally:
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.commit()


def waiting_for_journal(db: DatabaseProbe) -> int:
    return int(
        db.scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid::bigint = :k "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            k=JOURNAL_CHAIN_LOCK,
        )
    )


async def close_together(
    url: str, db: DatabaseProbe, requests: list[tuple[str, str, dict[str, str]]]
) -> tuple[int, list[httpx.Response]]:
    """Send the requests at once while the test holds the journal's lock; release it only when every one
    of them waits for it (so their checks of the funds race). Returns (most seen waiting, responses)."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=120) for _ in requests]
    waiting = 0
    try:
        with journal_lock_held(db) as holder:
            tasks = [
                asyncio.create_task(client.request(method, path, headers=headers))
                for client, (method, path, headers) in zip(clients, requests, strict=True)
            ]
            give_up = time.monotonic() + 120
            while waiting < len(requests) and time.monotonic() < give_up:
                if any(task.done() for task in tasks):
                    break  # answered without waiting for the lock: the assertions below say what happened
                await asyncio.sleep(0.02)
                waiting = max(waiting, waiting_for_journal(db))
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": JOURNAL_CHAIN_LOCK})
            holder.commit()
            responses = list(await asyncio.gather(*tasks))
    finally:
        for client in clients:
            await client.aclose()
    return waiting, responses


def running_balances(db: DatabaseProbe, window_id: int) -> list[int]:
    """The window's budgetary 8200 balance after each journal entry, in posting order."""
    rows = db.rows(
        "SELECT p.entry_id, sum(p.amount) AS amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE a.code = '8200' AND p.window_id = :w GROUP BY p.entry_id ORDER BY p.entry_id",
        w=window_id,
    )
    balances, total = [], 0
    for row in rows:
        total += int(row.amount)
        balances.append(total)
    return balances


@pytest.mark.parametrize("trigger", ["close-and-close", "close-and-read"])
def test_two_funding_decisions_closing_together_never_overspend_the_window(
    live: LiveServer, api: Api, db: DatabaseProbe, clock: FrozenClock, trigger: str
) -> None:
    world = proposal_world(api)
    officer = api.create_user(Role.FINANCE_OFFICER)
    fund_window(api, officer, "SKL", "150000.00")  # 148,500.00 available: one grant of 107,000.00, not two
    window_id = int(api.db.scalar("SELECT id FROM windows WHERE code = 'SKL'"))
    funds = available(api, window_id)
    assert funds == 14_850_000
    decisions = [open_funding(api, world.admin, recommended_proposal(api, world)) for _ in range(2)]
    amount = 10_700_000
    assert all(d["amount"] == {"amount": "107000.00", "currency": "USD"} for d in decisions)
    assert funds >= amount and funds < 2 * amount, "each affordable alone, not both"
    for decision in decisions:
        for code in ("MEX", "SEN"):  # 2 of 3 eligible: quorum, and a majority
            cast(api, world.delegates[code], decision["id"], "yes")
    deadline = max(deadline_of(d) for d in decisions)
    clock.advance(seconds=(deadline - clock.now()).total_seconds() + 1)

    first, second = (int(d["id"]) for d in decisions)
    admin = world.admin.headers
    requests = [("POST", f"{DECISIONS}/{first}/close", admin)]
    if trigger == "close-and-close":
        requests.append(("POST", f"{DECISIONS}/{second}/close", admin))
    else:  # a read of a due decision closes it
        requests.append(("GET", f"{DECISIONS}/{second}", world.delegates["PHL"].headers))
    waiting, responses = asyncio.run(close_together(live.url, db, requests))

    assert [r.status_code for r in responses] == [200, 200], [r.text[:500] for r in responses]
    assert waiting == 2, f"only {waiting} of the two closes waited for the journal's lock: they did not race"

    closed = {int(r.json()["id"]): r.json() for r in responses}
    assert all(d["status"] == "closed" for d in closed.values())
    results = Counter(d["result"] for d in closed.values())
    assert results == {"adopted": 1, "not_adopted": 1}, closed
    adopted = next(d for d in closed.values() if d["result"] == "adopted")
    refused = next(d for d in closed.values() if d["result"] == "not_adopted")
    assert "insufficient funds" in refused["result_reason"], refused["result_reason"]
    assert refused["tally"]["adopted"] is True, "the members adopted both; the money guard refused one"
    assert refused["entry_id"] is None and adopted["entry_id"] is not None

    balances = running_balances(db, window_id)
    assert min(balances) >= 0, balances
    assert balances[-1] == available(api, window_id) == funds - amount
    assert db.scalar("SELECT count(*) FROM journal_entries WHERE source_type = 'funding_decision'") == 1
    assert proposal_state(api, int(adopted["terms"]["proposal_id"]))[0] == "approved"
    assert proposal_state(api, int(refused["terms"]["proposal_id"]))[0] == "rejected"
    assert_books_balanced(api, world.auditor)

    for decision_id in closed:
        published = api.client.get(f"{DECISIONS}/{decision_id}/record", headers=world.auditor.headers).json()
        assert rules.verify_record(published) == [], decision_id
        assert published["events"][-1]["kind"] == "closed"
    per_decision: dict[int, list[str]] = defaultdict(list)
    for row in db.rows("SELECT object_id, action FROM audit_events WHERE action = 'decision.close'"):
        per_decision[int(row.object_id)].append(row.action)
    assert {d: len(actions) for d, actions in per_decision.items()} == {first: 1, second: 1}


# ---------------------------------------------------------------- a ballot waiting while the chain moves

ROW_LOCK_WAITS = "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')"


def test_a_ballot_waiting_while_the_chain_moves_is_written_after_that_move_not_over_it(
    live: LiveServer, api: Api, db: DatabaseProbe, clock: FrozenClock
) -> None:
    """Another transaction holds the decision's row and moves its chain (another member's ballot) while a
    ballot arrives: the ballot must wait for it and be written after that move (next in the chain, the
    chain intact, every ballot in the roll call), never on the head it would have found before."""
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    auditor = api.create_user(Role.AUDITOR)
    delegates = delegates_for(api, admin, ["MEX", "SEN", "PHL"])
    decision = create_decision(
        api, admin, kind="policy", procedure="vote", open=True, closes_at=closes_in(api, hours=1)
    )
    decision_id = int(decision["id"])
    first = cast(api, delegates["MEX"], decision_id, "yes")

    async def race() -> tuple[httpx.Response, int]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            with db.engine.connect() as holder:
                # Hold the decision's row, as a ballot does from its write to its commit.
                head = holder.execute(
                    text("SELECT events, chain_head FROM decisions WHERE id = :d FOR UPDATE"), {"d": decision_id}
                ).one()
                sent = asyncio.create_task(
                    client.post(
                        f"{DECISIONS}/{decision_id}/ballots",
                        json={"choice": "no"},
                        headers=delegates["SEN"].headers,
                    )
                )
                deadline = time.monotonic() + 30
                while not db.scalar(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')"
                ):
                    assert time.monotonic() < deadline, "SEN's ballot never waited for the decision's row"
                    assert not sent.done(), sent.result().text if sent.done() else ""
                    await asyncio.sleep(0.01)
                # SEN's ballot waits for the decision's row: PHL's ballot moves the chain first.
                seq = int(head.events) + 1
                at = clock.now()
                event = {
                    "decision_id": decision_id,
                    "seq": seq,
                    "kind": "ballot",
                    "member": "PHL",
                    "choice": "abstain",
                    "reason": "",
                    "data": {},
                    "at": timestamp(at),
                    "prev_hash": head.chain_head,
                }
                digest = rules.decision_event_hash(event)
                holder.execute(
                    text(
                        "INSERT INTO decision_events (decision_id, seq, kind, member_code, choice, reason, data, at,"
                        " cast_by, prev_hash, hash) VALUES (:d, :seq, 'ballot', 'PHL', 'abstain', '', '{}', :at,"
                        " NULL, :prev, :hash)"
                    ),
                    {"d": decision_id, "seq": seq, "at": at, "prev": head.chain_head, "hash": digest},
                )
                holder.execute(
                    text("UPDATE decisions SET events = :seq, chain_head = :hash WHERE id = :d"),
                    {"d": decision_id, "seq": seq, "hash": digest},
                )
                holder.execute(
                    text(
                        "INSERT INTO ballots (decision_id, member_code, choice, event_seq, cast_by, cast_at)"
                        " VALUES (:d, 'PHL', 'abstain', :seq, NULL, :at)"
                    ),
                    {"d": decision_id, "seq": seq, "at": at},
                )
                holder.commit()
            return await sent, seq

    response, moved_to = asyncio.run(race())
    assert response.status_code == 201, response.text
    assert response.json()["seq"] == moved_to + 1 == first["seq"] + 2
    assert [e.seq for e in chain(db, decision_id)] == list(range(1, moved_to + 2))

    closed = after_deadline(api, auditor, decision)
    assert closed["status"] == "closed"
    published = api.client.get(f"{DECISIONS}/{decision_id}/record", headers=auditor.headers).json()
    assert rules.verify_record(published) == []
    assert {(r["member"], r["choice"]) for r in published["roll_call"]} == {
        ("MEX", "yes"),
        ("SEN", "no"),
        ("PHL", "abstain"),
    }
