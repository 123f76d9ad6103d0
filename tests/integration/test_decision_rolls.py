"""The roll of a decision (issue 17, "Rolls"): the members eligible when it opens are recorded in its opening
event, and the count, the published record and ``fundapp governance verify-record`` agree on that roll,
whatever happens to the membership while the decision is open. Decisions opened before rolls were recorded
keep closing, and records published before keep verifying."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.audit import canonical_json
from fundapp.core.models import Role
from governance import rules
from governance.models import Ballot, Decision, DecisionEvent, Recusal
from tests.conftest import make_settings
from tests.decision_support import (
    DECISIONS,
    after_deadline,
    ballot,
    cast,
    create_decision,
    delegates_for,
    fund_window,
    get_decision,
    recommended_proposal,
    record,
)
from tests.support import (
    V1,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    assert_problem,
    broken_rules,
    proposal_world,
    run_fundapp,
    set_fee,
)

RECORDS = Path(__file__).resolve().parent.parent / "data" / "decision-records"


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    return proposal_world(api)


@pytest.fixture
def verify(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Any]:
    """``fundapp governance verify-record`` on a record: (exit code, what it printed)."""
    path = tmp_path / "record.json"

    def run(published: dict[str, Any]) -> tuple[int, str]:
        path.write_text(json.dumps(published))
        code, out, _ = run_fundapp(api, monkeypatch, capsys, "governance", "verify-record", str(path))
        return code, out

    yield run


def copy(published: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(published))
    return copied


def recuse(api: Api, delegate: Actor, decision_id: int, reason: str) -> Any:
    return api.client.post(f"{DECISIONS}/{decision_id}/recusals", json={"reason": reason}, headers=delegate.headers)


def suspend(api: Api, admin: Actor, code: str) -> None:
    body = {"status": "suspended", "reason": "Suspended by the board."}
    accepted(api.client.patch(f"{V1}/members/{code}", json=body, headers=admin.headers))


def rehash_from(events: list[dict[str, Any]], index: int) -> None:
    """Recompute the hash of ``events[index]`` after an edit (and nothing after it: the link then breaks)."""
    events[index]["hash"] = rules.decision_event_hash(events[index])


# ---------------------------------------------------------------- the vote roll test


def test_the_roll_of_a_vote_is_fixed_when_it_opens(api: Api, world: ProposalWorld, verify: Any) -> None:
    """Two members admitted, another suspended and a third recused while a vote is open: the count, the
    record and the offline verifier agree on the roll at opening, and a tampered roll is named."""
    decision = create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    did = decision["id"]

    newcomers = delegates_for(api, world.admin, ["GHA", "KEN"])  # admitted while the vote is open
    suspend(api, world.admin, "PHL")  # suspended while it is open
    why = "Our ministry drafted this policy."
    accepted(recuse(api, world.delegates["SEN"], did, why), 201)

    counts = api.db.snapshot("decision_events", "ballots")
    for code, delegate in newcomers.items():
        refused = assert_problem(ballot(api, delegate, did, "yes"), 403)
        assert ("member_code", "not-on-roll") in broken_rules(refused), refused
        assert code in refused["detail"] and "roll" in refused["detail"]
    recused = assert_problem(ballot(api, world.delegates["SEN"], did, "yes"), 403)
    assert any(rule == "recused" for _, rule in broken_rules(recused))
    assert api.db.snapshot("decision_events", "ballots") == counts, "a refused ballot changes nothing"

    # On the roll at the opening: a suspension since changes nothing in this vote.
    cast(api, world.delegates["PHL"], did, "yes")
    cast(api, world.delegates["MEX"], did, "yes")

    closed = after_deadline(api, world.admin, decision)
    assert closed["result"] == "adopted", closed["result_reason"]
    assert closed["tally"]["eligible"] == 2 and closed["tally"]["recused"] == 1
    assert closed["tally"]["participated"] == 2

    published = record(api, world.delegates["MEX"], did)
    assert published["roll"] == ["MEX", "PHL", "SEN"] and published["roll_at"] == "opening"
    assert published["recusals"] == [{"member": "SEN", "reason": why}]
    assert published["electorate"] == ["MEX", "PHL"]
    assert published["tally"]["eligible"] == len(published["electorate"])
    events = published["events"]
    assert events[0]["kind"] == "opened" and events[0]["data"]["roll"] == ["MEX", "PHL", "SEN"]
    assert events[-1]["kind"] == "closed"
    assert events[-1]["data"]["roll"] == ["MEX", "PHL", "SEN"]
    assert events[-1]["data"]["recused"] == {"SEN": why}
    assert events[-1]["data"]["electorate"] == ["MEX", "PHL"]

    code, out = verify(published)
    assert code == 0 and out.startswith("OK"), out
    assert "roll of 3 members taken at the opening" in out, out

    added = copy(published)
    added["roll"] = ["GHA", "MEX", "PHL", "SEN"]
    code, out = verify(added)
    assert code == 1 and "roll" in out and "GHA" in out, out

    removed = copy(published)
    removed["roll"] = ["MEX", "SEN"]
    code, out = verify(removed)
    assert code == 1 and "roll" in out and "PHL" in out, out

    # The opening event's roll edited and its hash recomputed: the chain breaks at the next event, and the
    # roll it now states is named against the close's.
    edited = copy(published)
    edited["events"][0]["data"]["roll"] = ["GHA", "MEX", "PHL", "SEN"]
    rehash_from(edited["events"], 0)
    edited["roll"] = edited["events"][0]["data"]["roll"]
    code, out = verify(edited)
    assert code == 1 and "event 2" in out and "roll" in out and "GHA" in out, out

    electorate = copy(published)
    electorate["electorate"] = ["MEX", "PHL", "SEN"]
    code, out = verify(electorate)
    assert code == 1 and "electorate" in out and "SEN" in out, out


def test_a_member_that_withdraws_while_a_vote_is_open_keeps_its_part_in_it(api: Api, world: ProposalWorld) -> None:
    decision = create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    body = {"status": "withdrawn", "reason": "Notice of withdrawal."}
    accepted(api.client.patch(f"{V1}/members/SEN", json=body, headers=world.admin.headers))
    cast(api, world.delegates["SEN"], decision["id"], "no")
    cast(api, world.delegates["MEX"], decision["id"], "yes")
    closed = after_deadline(api, world.admin, decision)
    assert closed["tally"]["eligible"] == 3 and (closed["tally"]["yes"], closed["tally"]["no"]) == (1, 1)
    assert record(api, world.admin, decision["id"])["electorate"] == ["MEX", "PHL", "SEN"]
    # A decision opened after the withdrawal does not have it on its roll.
    later = create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    refused = assert_problem(ballot(api, world.delegates["SEN"], later["id"], "yes"), 403)
    assert ("member_code", "not-on-roll") in broken_rules(refused)


def test_a_roll_cannot_be_changed_in_the_database(api: Api, world: ProposalWorld) -> None:
    decision = create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    rows = api.db.rows("SELECT member_code FROM decision_roll WHERE decision_id = :d ORDER BY 1", d=decision["id"])
    assert [r[0] for r in rows] == ["MEX", "PHL", "SEN"]
    assert api.db.scalar("SELECT roll_size FROM decisions WHERE id = :d", d=decision["id"]) == 3
    for statement in (
        "DELETE FROM decision_roll WHERE member_code = 'PHL'",
        "UPDATE decision_roll SET member_code = 'PHL' WHERE member_code = 'MEX'",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            api.db.execute(statement)
    assert api.db.count("decision_roll") == 3


def test_the_published_electorate_leaves_out_recused_members(api: Api, world: ProposalWorld) -> None:
    decision = create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    accepted(recuse(api, world.delegates["SEN"], decision["id"], "A conflict of interest."), 201)
    cast(api, world.delegates["MEX"], decision["id"], "yes")
    cast(api, world.delegates["PHL"], decision["id"], "no")
    after_deadline(api, world.admin, decision)
    published = record(api, world.admin, decision["id"])
    assert published["electorate"] == ["MEX", "PHL"]
    assert published["tally"]["eligible"] == 2 == len(published["electorate"])


def test_members_off_the_roll_neither_recuse_nor_object_and_are_not_counted(api: Api, world: ProposalWorld) -> None:
    """The written procedure turned into a vote keeps the roll of its opening."""
    decision = create_decision(
        api, world.admin, kind="set_tier", member_code="SEN", tier="I", procedure="no_objection", open=True
    )
    did = decision["id"]
    ghana = delegates_for(api, world.admin, ["GHA"])["GHA"]
    counts = api.db.snapshot("decision_events", "recusals", "ballots")
    objection = api.client.post(f"{DECISIONS}/{did}/objections", json={"reason": "Not now."}, headers=ghana.headers)
    assert ("member_code", "not-on-roll") in broken_rules(assert_problem(objection, 403))
    assert ("member_code", "not-on-roll") in broken_rules(assert_problem(recuse(api, ghana, did, "No."), 403))
    assert api.db.snapshot("decision_events", "recusals", "ballots") == counts

    accepted(
        api.client.post(
            f"{DECISIONS}/{did}/objections", json={"reason": "A debate first."}, headers=world.delegates["PHL"].headers
        )
    )
    assert ("member_code", "not-on-roll") in broken_rules(assert_problem(ballot(api, ghana, did, "no"), 403))
    for code in ("MEX", "SEN"):
        cast(api, world.delegates[code], did, "yes")
    closed = after_deadline(api, world.admin, get_decision(api, world.admin, did))
    assert closed["result"] == "adopted" and closed["tally"]["eligible"] == 3
    assert record(api, world.admin, did)["roll"] == ["MEX", "PHL", "SEN"]


def test_a_consensus_meeting_counts_the_roll_of_the_opening(api: Api, world: ProposalWorld, verify: Any) -> None:
    decision = create_decision(
        api,
        world.admin,
        kind="admit_member",
        member_code="ETH",
        tier="II",
        joined_on="2026-04-01",
        procedure="consensus",
        open=True,
    )
    did = decision["id"]
    delegates_for(api, world.admin, ["GHA"])
    counts = api.db.snapshot("decision_events", "members")
    refused = assert_problem(
        api.client.post(
            f"{DECISIONS}/{did}/meeting", json={"present": ["MEX", "GHA", "SEN"]}, headers=world.admin.headers
        ),
        422,
    )
    assert ("present.1", "not-on-roll") in broken_rules(refused), refused
    assert api.db.snapshot("decision_events", "members") == counts
    closed = accepted(
        api.client.post(f"{DECISIONS}/{did}/meeting", json={"present": ["MEX", "SEN"]}, headers=world.admin.headers)
    )
    assert closed["result"] == "adopted" and closed["tally"]["eligible"] == 3 and closed["tally"]["participated"] == 2
    published = record(api, world.admin, did)
    assert published["roll"] == ["MEX", "PHL", "SEN"] and published["electorate"] == ["MEX", "PHL", "SEN"]
    code, out = verify(published)
    assert code == 0, out


def test_automatic_recusals_come_after_the_roll(api: Api, world: ProposalWorld, tmp_path: Path, verify: Any) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    fund_window(api, officer, "SKL", "200000.00")
    proposal_id = recommended_proposal(api, world)  # its countries: MEX and SEN
    settings = make_settings(
        api.settings.database_url, tmp_path / "charter-var", FUNDAPP_CHARTER_AUTO_RECUSE_BENEFICIARY_MEMBERS="on"
    )
    with TestClient(create_app(settings, clock=api.clock), base_url="http://testserver.local") as client:
        body = {
            "kind": "fund_proposal",
            "proposal_id": proposal_id,
            "title": "Fund it",
            "text": "Fund the proposal.",
            "closes_at": (api.clock.now() + timedelta(days=7)).isoformat(),
            "open": True,
        }
        decision = accepted(client.post(f"{DECISIONS}/", json=body, headers=world.admin.headers), 201)
    assert {r["member_code"] for r in decision["recusals"]} == {"MEX", "SEN"}
    cast(api, world.delegates["PHL"], decision["id"], "yes")
    after_deadline(api, world.admin, decision)
    published = record(api, world.admin, decision["id"])
    kinds = [(e["kind"], e["member"]) for e in published["events"]]
    assert kinds[:3] == [("opened", None), ("recusal", "MEX"), ("recusal", "SEN")]
    assert published["roll"] == ["MEX", "PHL", "SEN"] and published["electorate"] == ["PHL"]
    assert published["tally"]["eligible"] == 1 and published["result"] == "adopted"
    code, out = verify(published)
    assert code == 0, out


def test_a_member_suspended_for_arrears_at_the_opening_is_not_on_the_roll(
    api: Api, world: ProposalWorld, tmp_path: Path
) -> None:
    """With the charter's arrears rule on, a member whose fees are overdue when the decision opens is left off
    its roll; paying afterwards does not put it on."""
    officer = api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, world.admin, 2026, "I", "20000.00")
    set_fee(api, world.admin, 2026, "II", "10000.00")
    fees = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))["created"]
    members = {m["code"]: m for m in accepted(api.client.get(f"{V1}/members", headers=world.admin.headers))["items"]}

    def pay(code: str) -> None:
        fee = next(a for a in fees if a["member_code"] == code)
        body = {
            "contributor_id": members[code]["contributor_id"],
            "value_date": api.clock.now().date().isoformat(),
            "currency": "USD",
            "amount": fee["fee"]["amount"],
            "assessment_id": fee["id"],
        }
        accepted(api.client.post(f"{V1}/contributions", json=body, headers=officer.headers), 201)

    pay("MEX")
    pay("SEN")  # PHL does not pay: its fee falls overdue after 60 days
    api.clock.advance(days=120)
    settings = make_settings(
        api.settings.database_url,
        tmp_path / "charter-var",
        FUNDAPP_CHARTER_ARREARS_SUSPEND_VOTING="on",
        FUNDAPP_CHARTER_ARREARS_YEARS_BEFORE_SUSPENSION="1",
    )
    with TestClient(create_app(settings, clock=api.clock), base_url="http://testserver.local") as charter:
        body = {
            "kind": "policy",
            "procedure": "vote",
            "title": "A policy",
            "text": "Adopt it.",
            "closes_at": (api.clock.now() + timedelta(days=7)).isoformat(),
            "open": True,
        }
        decision = accepted(charter.post(f"{DECISIONS}/", json=body, headers=world.admin.headers), 201)
        pay("PHL")
        refused = assert_problem(
            charter.post(
                f"{DECISIONS}/{decision['id']}/ballots", json={"choice": "yes"}, headers=world.delegates["PHL"].headers
            ),
            403,
        )
        assert ("member_code", "not-on-roll") in broken_rules(refused)
        for code in ("MEX", "SEN"):
            accepted(
                charter.post(
                    f"{DECISIONS}/{decision['id']}/ballots",
                    json={"choice": "yes"},
                    headers=world.delegates[code].headers,
                ),
                201,
            )
    closed = after_deadline(api, world.admin, decision)
    assert closed["tally"]["eligible"] == 2 and closed["result"] == "adopted"
    assert record(api, world.admin, decision["id"])["roll"] == ["MEX", "SEN"]


# ---------------------------------------------------------------- decisions and records from before rolls


def load_record(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDS / name).read_text(encoding="utf-8"))
    return loaded


def moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def restore(api: Api, published: dict[str, Any], *, events: int | None = None) -> int:
    """Write a decision from before rolls into the database, as that code left it: its row and the first
    ``events`` events of its published chain (all by default), with its recusals and current ballots."""
    chain = published["events"][: events or len(published["events"])]
    closed = chain[-1]["kind"] == "closed"
    state = rules.replay(chain)
    decision = published["decision"]
    opened = chain[0]["data"]
    row = {
        "id": decision["id"],
        "kind": decision["kind"],
        "subject": decision["subject"],
        "title": decision["title"],
        "text": decision["text"],
        "terms": canonical_json(opened["terms"]),
        "procedure": state.procedure,
        "quorum": opened["quorum"],
        "majority": opened["majority"],
        "justification": opened["justification"],
        "status": "closed" if closed else "open",
        "opens_at": moment(chain[0]["at"]),
        "closes_at": moment(opened["closes_at"]),
        "closed_at": moment(chain[-1]["at"]) if closed else None,
        "result": published["result"] if closed else None,
        "result_reason": published["result_reason"] if closed else "",
        "tally": canonical_json(published["tally"]) if closed else "",
        "events": len(chain),
        "chain_head": chain[-1]["hash"],
        "created_at": moment(chain[0]["at"]),
    }
    with api.db.engine.begin() as connection:
        connection.execute(Decision.__table__.insert(), [row])  # type: ignore[attr-defined]
        connection.execute(
            DecisionEvent.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "decision_id": e["decision_id"],
                    "seq": e["seq"],
                    "kind": e["kind"],
                    "member_code": e["member"],
                    "choice": e["choice"],
                    "reason": e["reason"],
                    "data": canonical_json(e["data"]),
                    "at": moment(e["at"]),
                    "prev_hash": e["prev_hash"],
                    "hash": e["hash"],
                }
                for e in chain
            ],
        )
        recusals = [e for e in chain if e["kind"] == "recusal"]
        if recusals:
            connection.execute(
                Recusal.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "decision_id": e["decision_id"],
                        "member_code": e["member"],
                        "reason": e["reason"],
                        "automatic": False,
                        "declared_at": moment(e["at"]),
                    }
                    for e in recusals
                ],
            )
        last = {e["member"]: e for e in chain if e["kind"] == "ballot" and e["member"] in state.ballots}
        if last:
            connection.execute(
                Ballot.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "decision_id": e["decision_id"],
                        "member_code": e["member"],
                        "choice": e["choice"],
                        "event_seq": e["seq"],
                        "cast_at": moment(e["at"]),
                    }
                    for e in last.values()
                ],
            )
    if api.db.dialect == "postgresql":
        api.db.execute("SELECT setval(pg_get_serial_sequence('decisions', 'id'), (SELECT max(id) FROM decisions))")
    return int(decision["id"])


def test_records_published_before_rolls_keep_verifying(verify: Any) -> None:
    """Files downloaded from GET /decisions/{id}/record before rolls (format 1: the electorate listed the
    active members at the close, recused ones too; a funding decision's amount in minor units)."""
    for name in ("v1-policy.json", "v1-fund-proposal.json"):
        published = load_record(name)
        code, out = verify(published)
        assert code == 0 and out.startswith("OK"), (name, out)

    # Their summaries are still checked against their events.
    published = load_record("v1-policy.json")
    published["electorate"] = ["MEX", "PHL"]
    code, out = verify(published)
    assert code == 1 and "electorate" in out, out
    funding = load_record("v1-fund-proposal.json")
    funding["decision"]["terms"]["amount"] = 99_000_000
    code, out = verify(funding)
    assert code == 1 and "terms" in out, out


def test_a_decision_closed_before_rolls_publishes_the_members_it_counted(
    api: Api, world: ProposalWorld, verify: Any
) -> None:
    earlier = load_record("v1-policy.json")  # SEN recused; closed counting MEX, PHL and SEN as members
    did = restore(api, earlier)
    published = record(api, world.auditor, did)
    assert published["events"] == earlier["events"], "the chain is published as it was written"
    assert published["roll"] == ["MEX", "PHL", "SEN"] and published["roll_at"] == "close"
    assert published["recusals"] == [{"member": "SEN", "reason": "Our ministry drafted this policy."}]
    assert published["electorate"] == ["MEX", "PHL"]
    assert published["tally"] == earlier["tally"] and published["tally"]["eligible"] == 2
    code, out = verify(published)
    assert code == 0 and out.startswith("OK"), out


def test_a_vote_opened_before_rolls_closes_over_the_members_active_at_its_close(
    api: Api, world: ProposalWorld, verify: Any
) -> None:
    """Its opening recorded no roll, so (as before rolls) any active member may vote and the close counts
    the members active then; the record says the roll was taken at the close."""
    earlier = load_record("v1-policy.json")
    did = restore(api, earlier, events=1)  # opened, nothing else yet
    ghana = delegates_for(api, world.admin, ["GHA"])["GHA"]
    suspend(api, world.admin, "PHL")
    accepted(recuse(api, world.delegates["SEN"], did, "A conflict of interest."), 201)
    refused = assert_problem(ballot(api, world.delegates["PHL"], did, "yes"), 403)
    assert any(rule == "active-member" for _, rule in broken_rules(refused)), refused
    cast(api, ghana, did, "yes")
    cast(api, world.delegates["MEX"], did, "yes")
    closed = after_deadline(api, world.admin, get_decision(api, world.admin, did))
    assert closed["result"] == "adopted" and closed["tally"]["eligible"] == 2
    published = record(api, world.admin, did)
    assert published["roll"] == ["GHA", "MEX", "SEN"] and published["roll_at"] == "close"
    assert published["electorate"] == ["GHA", "MEX"]
    close = published["events"][-1]["data"]
    assert close["roll_at"] == "close" and close["roll"] == ["GHA", "MEX", "SEN"]
    code, out = verify(published)
    assert code == 0 and out.startswith("OK"), out
