"""The members' decisions through the HTTP API: funding a proposal by vote, the money guard, the written
procedure, consensus, the effects on members, the register, access refusals and the verifiable record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.decision_support import (
    DECISIONS,
    after_deadline,
    available,
    ballot,
    cast,
    closes_in,
    create_decision,
    fund_window,
    get_decision,
    open_funding,
    recommended_proposal,
    record,
)
from tests.support import (
    V1,
    Api,
    ProposalWorld,
    accepted,
    assert_books_balanced,
    assert_problem,
    broken_rules,
    proposal_state,
    proposal_world,
    run_fundapp,
)

SKL = "SKL"


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    return proposal_world(api)


def skl_id(api: Api) -> int:
    return int(api.db.scalar("SELECT id FROM windows WHERE code = 'SKL'"))


def funded(api: Api, world: ProposalWorld, amount: str = "200000.00") -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    fund_window(api, officer, SKL, amount)


# ---------------------------------------------------------------- funding a proposal by vote


def test_a_funding_decision_adopted_by_vote_approves_the_proposal_and_allocates_the_money(
    api: Api, world: ProposalWorld
) -> None:
    funded(api, world)  # 198,000.00 available in SKL
    proposal_id = recommended_proposal(api, world)
    decision = open_funding(api, world.admin, proposal_id)
    assert decision["status"] == "open" and decision["procedure"] == "vote"
    assert decision["amount"] == {"amount": "107000.00", "currency": "USD"}
    assert decision["tag"]["recommendation"] == "recommended" and decision["tag"]["consolidated_score"] == "3.70"
    assert proposal_state(api, proposal_id)[0] == "under_decision"

    first = cast(api, world.delegates["MEX"], decision["id"], "no")
    changed = cast(api, world.delegates["MEX"], decision["id"], "yes")
    assert changed["replaced"] is True and first["receipt"] != changed["receipt"]
    cast(api, world.delegates["SEN"], decision["id"], "yes")
    cast(api, world.delegates["PHL"], decision["id"], "abstain")

    seen = get_decision(api, world.delegates["SEN"], decision["id"])
    assert seen["tally"] is None, "results stay hidden until the close"
    assert seen["my_ballot"] == "yes" and seen["ballots_cast"] == 3
    assert_problem(api.client.get(f"{DECISIONS}/{decision['id']}/record", headers=world.admin.headers), 409)

    before = available(api, skl_id(api))
    closed = after_deadline(api, world.auditor, decision)
    assert closed["status"] == "closed" and closed["result"] == "adopted", closed
    assert closed["tally"]["yes"] == 2 and closed["tally"]["no"] == 0 and closed["tally"]["abstain"] == 1
    assert closed["tally"]["eligible"] == 3 and closed["tally"]["quorum_met"] is True
    assert proposal_state(api, proposal_id)[0] == "approved"
    assert available(api, skl_id(api)) == before - 10_700_000
    entry = accepted(api.client.get(f"{V1}/ledger/entries/{closed['entry_id']}", headers=world.auditor.headers))
    accounts = {(p["account"], p["amount"]["amount"]) for p in entry["postings"]}
    assert ("8200", "-107000.00") in accounts and ("8300", "107000.00") in accounts
    assert_books_balanced(api, world.auditor)

    published = record(api, world.delegates["PHL"], decision["id"])
    assert [(r["member"], r["choice"]) for r in published["roll_call"]] == [
        ("MEX", "yes"),
        ("PHL", "abstain"),
        ("SEN", "yes"),
    ]
    assert published["chain_head"] == published["events"][-1]["hash"] == closed["chain_head"]
    assert changed["receipt"] in {e["hash"] for e in published["events"]}


def test_a_vote_without_quorum_or_with_a_tie_is_not_adopted_and_rejects_the_proposal(
    api: Api, world: ProposalWorld
) -> None:
    funded(api, world)
    tie = open_funding(api, world.admin, recommended_proposal(api, world))
    cast(api, world.delegates["MEX"], tie["id"], "yes")
    cast(api, world.delegates["SEN"], tie["id"], "no")
    closed = after_deadline(api, world.admin, tie)
    assert closed["result"] == "not_adopted" and "tie" in closed["result_reason"]
    assert proposal_state(api, int(closed["terms"]["proposal_id"]))[0] == "rejected"

    quorumless = open_funding(api, world.admin, recommended_proposal(api, world))
    cast(api, world.delegates["MEX"], quorumless["id"], "yes")  # 1 of 3: quorum is half
    closed = after_deadline(api, world.admin, quorumless)
    assert closed["result"] == "not_adopted" and "no quorum" in closed["result_reason"]
    assert closed["tally"]["quorum_needed"] == 2


# ---------------------------------------------------------------- the money guard


def test_a_funding_decision_cannot_open_when_the_window_is_short(api: Api, world: ProposalWorld) -> None:
    funded(api, world, "100000.00")  # 99,000.00 available; the proposal asks 107,000.00
    proposal_id = recommended_proposal(api, world)
    counts = api.db.snapshot("decisions", "decision_events", "journal_entries")
    response = api.client.post(
        f"{DECISIONS}/",
        json={
            "kind": "fund_proposal",
            "proposal_id": proposal_id,
            "title": "Fund it",
            "text": "Fund the proposal.",
            "closes_at": closes_in(api, days=7),
            "open": True,
        },
        headers=world.admin.headers,
    )
    body = assert_problem(response, 409)
    assert ("amount", "funds-available") in broken_rules(body)
    assert "99,000.00" in body["detail"] or "99000.00" in body["detail"]
    assert api.db.snapshot("decisions", "decision_events", "journal_entries") == counts
    assert proposal_state(api, proposal_id)[0] == "recommended"


def test_two_decisions_each_affordable_alone_adopt_only_one(api: Api, world: ProposalWorld) -> None:
    funded(api, world, "150000.00")  # 148,500.00 available: one grant of 107,000.00, not two
    decisions = [open_funding(api, world.admin, recommended_proposal(api, world)) for _ in range(2)]
    for decision in decisions:
        for code in ("MEX", "SEN"):
            cast(api, world.delegates[code], decision["id"], "yes")
    results = [after_deadline(api, world.admin, d) for d in decisions]
    assert [r["result"] for r in results] == ["adopted", "not_adopted"]
    assert "insufficient funds" in results[1]["result_reason"]
    assert available(api, skl_id(api)) == 14_850_000 - 10_700_000
    assert proposal_state(api, int(results[1]["terms"]["proposal_id"]))[0] == "rejected"


# ---------------------------------------------------------------- TAG link


def test_funding_against_the_tag_needs_a_justification_published_with_the_record(
    api: Api, world: ProposalWorld
) -> None:
    funded(api, world)
    proposal_id = recommended_proposal(api, world, "not_recommended")
    body = {"kind": "fund_proposal", "proposal_id": proposal_id, "open": True}
    refused = assert_problem(
        api.client.post(
            f"{DECISIONS}/",
            json={**body, "title": "t", "text": "t", "closes_at": closes_in(api, days=3)},
            headers=world.admin.headers,
        ),
        422,
    )
    assert ("justification", "justify-against-tag") in broken_rules(refused)
    why = "The members weigh national priorities the TAG did not score."
    decision = open_funding(api, world.admin, proposal_id, justification=why)
    assert decision["tag"] == {"consolidated_score": "3.70", "recommendation": "not_recommended", "justification": why}
    cast(api, world.delegates["MEX"], decision["id"], "yes")
    cast(api, world.delegates["SEN"], decision["id"], "yes")
    after_deadline(api, world.admin, decision)
    assert record(api, world.admin, decision["id"])["decision"]["justification"] == why


# ---------------------------------------------------------------- access


def test_who_may_vote_and_when(api: Api, world: ProposalWorld) -> None:
    funded(api, world)
    decision = open_funding(api, world.admin, recommended_proposal(api, world))
    did = decision["id"]
    mex = world.delegates["MEX"]

    other = assert_problem(ballot(api, mex, did, "yes", member_code="SEN"), 403)
    assert ("member_code", "own-member-only") in broken_rules(other)
    for outsider in (world.grantee, world.reviewers[0], world.admin, world.auditor):
        refused = assert_problem(ballot(api, outsider, did, "yes"), 403)
        assert "member_delegate" in refused["detail"]
    bad = assert_problem(ballot(api, mex, did, "maybe"), 422)
    assert any(field == "choice" for field, _ in broken_rules(bad))

    recusal = accepted(
        api.client.post(
            f"{DECISIONS}/{did}/recusals",
            json={"reason": "Our ministry co-finances this project."},
            headers=world.delegates["SEN"].headers,
        ),
        201,
    )
    assert recusal["member_code"] == "SEN" and recusal["automatic"] is False
    recused = assert_problem(ballot(api, world.delegates["SEN"], did, "yes"), 403)
    assert ("", "recused") in broken_rules(recused) or any(r == "recused" for _, r in broken_rules(recused))

    cast(api, mex, did, "yes")
    cast(api, world.delegates["PHL"], did, "yes")
    after_deadline(api, world.admin, decision)
    late = assert_problem(ballot(api, mex, did, "no"), 409)
    assert "after the close" in late["detail"]
    published = record(api, world.admin, did)
    assert published["recusals"] == [{"member": "SEN", "reason": "Our ministry co-finances this project."}]
    assert published["tally"]["eligible"] == 2 and published["tally"]["recused"] == 1


def test_only_secretariat_admins_create_open_and_close(api: Api, world: ProposalWorld) -> None:
    body = {"kind": "policy", "title": "Policy", "text": "Adopt the policy.", "closes_at": closes_in(api, days=2)}
    for actor in (world.delegates["MEX"], world.auditor, world.grantee):
        assert_problem(api.client.post(f"{DECISIONS}/", json=body, headers=actor.headers), 403)
    draft = create_decision(api, world.admin, kind="policy", procedure="vote")
    assert draft["status"] == "draft"
    assert_problem(ballot(api, world.delegates["MEX"], draft["id"], "yes"), 409)
    assert_problem(api.client.post(f"{DECISIONS}/{draft['id']}/open", headers=world.delegates["MEX"].headers), 403)
    opened = accepted(api.client.post(f"{DECISIONS}/{draft['id']}/open", headers=world.admin.headers))
    assert opened["status"] == "open"
    early = assert_problem(api.client.post(f"{DECISIONS}/{draft['id']}/close", headers=world.admin.headers), 409)
    assert ("", "close-after-deadline") in broken_rules(early)


def test_the_charter_limits_the_procedure(api: Api, world: ProposalWorld) -> None:
    refused = assert_problem(
        api.client.post(
            f"{DECISIONS}/",
            json={
                "kind": "admit_member",
                "member_code": "GHA",
                "tier": "II",
                "joined_on": "2026-04-01",
                "procedure": "no_objection",
                "title": "Admit Ghana",
                "text": "Admit Ghana.",
                "closes_at": closes_in(api, days=7),
            },
            headers=world.admin.headers,
        ),
        422,
    )
    assert ("procedure", "charter-procedure") in broken_rules(refused)
    missing = assert_problem(
        api.client.post(
            f"{DECISIONS}/",
            json={"kind": "set_tier", "title": "t", "text": "t", "closes_at": closes_in(api, days=7)},
            headers=world.admin.headers,
        ),
        422,
    )
    assert {("member_code", "required-for-kind"), ("tier", "required-for-kind")} <= broken_rules(missing)


# ---------------------------------------------------------------- other procedures and kinds


def test_a_written_procedure_without_objection_is_adopted_at_its_deadline(api: Api, world: ProposalWorld) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    fund_window(api, officer, None, "100000.00")  # 99,000.00 pooled
    decision = create_decision(
        api, world.admin, kind="window_allocation", window_code="TEC", amount="50000.00", open=True
    )
    assert decision["procedure"] == "no_objection"
    closed = after_deadline(api, world.admin, decision)
    assert closed["result"] == "adopted" and closed["tally"]["objections"] == 0
    tec = int(api.db.scalar("SELECT id FROM windows WHERE code = 'TEC'"))
    assert available(api, tec) == 5_000_000 and available(api, None) == 9_900_000 - 5_000_000


def test_an_objection_turns_the_written_procedure_into_a_vote(api: Api, world: ProposalWorld) -> None:
    decision = create_decision(
        api,
        world.admin,
        kind="set_tier",
        member_code="SEN",
        tier="I",
        procedure="no_objection",
        open=True,
        closes_at=closes_in(api, days=2),
    )
    no_vote = assert_problem(ballot(api, world.delegates["MEX"], decision["id"], "yes"), 409)
    assert ("", "procedure-vote") in broken_rules(no_vote)
    objected = accepted(
        api.client.post(
            f"{DECISIONS}/{decision['id']}/objections",
            json={"reason": "Tier changes need a full debate."},
            headers=world.delegates["PHL"].headers,
        )
    )
    assert objected["procedure"] == "vote" and objected["closes_at"] > decision["closes_at"]
    for code in ("MEX", "SEN", "PHL"):
        cast(api, world.delegates[code], decision["id"], "yes")
    closed = after_deadline(api, world.admin, objected)
    assert closed["result"] == "adopted"
    member = accepted(api.client.get(f"{V1}/members/SEN", headers=world.admin.headers))
    assert member["tier"] == "I"
    kinds = [e["kind"] for e in record(api, world.admin, decision["id"])["events"]]
    assert kinds == ["opened", "objection", "procedure_changed", "ballot", "ballot", "ballot", "closed"]


def test_consensus_recorded_by_the_chair_admits_a_member(api: Api, world: ProposalWorld) -> None:
    decision = create_decision(
        api,
        world.admin,
        kind="admit_member",
        member_code="GHA",
        tier="II",
        joined_on="2026-04-01",
        procedure="consensus",
        open=True,
    )
    not_present = assert_problem(
        api.client.post(
            f"{DECISIONS}/{decision['id']}/meeting",
            json={"present": ["MEX", "SEN"], "objectors": ["PHL"]},
            headers=world.admin.headers,
        ),
        422,
    )
    assert ("objectors.0", "objector-present") in broken_rules(not_present)
    closed = accepted(
        api.client.post(
            f"{DECISIONS}/{decision['id']}/meeting",
            json={"present": ["MEX", "SEN"], "notes": "Session of 20 March"},
            headers=world.admin.headers,
        )
    )
    assert closed["result"] == "adopted" and closed["tally"]["participated"] == 2
    assert accepted(api.client.get(f"{V1}/members/GHA", headers=world.admin.headers))["tier"] == "II"


def test_the_register_filters_by_kind_status_and_subject(api: Api, world: ProposalWorld) -> None:
    create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    create_decision(api, world.admin, kind="admin_budget", year=2027, amount="250000.00")
    page = accepted(api.client.get(f"{DECISIONS}/", params={"kind": "policy"}, headers=world.delegates["MEX"].headers))
    assert page["total"] == 1 and page["items"][0]["status"] == "open"
    drafts = accepted(api.client.get(f"{DECISIONS}/", params={"status": "draft"}, headers=world.auditor.headers))
    assert [d["subject"] for d in drafts["items"]] == ["budget:2027"]
    assert_problem(api.client.get(f"{DECISIONS}/", headers=world.grantee.headers), 403)


def test_the_register_shows_each_decision_as_its_own_page_does(api: Api, world: ProposalWorld) -> None:
    """The register reads a page's ballots, recusals, the viewer's ballots and windows in one statement
    each (not per decision): every item equals the decision read alone, for a delegate and the secretariat."""
    ids = [create_decision(api, world.admin, kind="policy", procedure="vote", open=True)["id"] for _ in range(3)]
    draft = create_decision(api, world.admin, kind="admin_budget", year=2027, amount="250000.00")["id"]
    cast(api, world.delegates["MEX"], ids[0], "yes")
    cast(api, world.delegates["SEN"], ids[0], "no")
    cast(api, world.delegates["SEN"], ids[2], "abstain")
    accepted(
        api.client.post(
            f"{DECISIONS}/{ids[1]}/recusals",
            json={"reason": "Conflict of interest."},
            headers=world.delegates["PHL"].headers,
        ),
        201,
    )
    for reader in (world.delegates["MEX"], world.delegates["SEN"], world.admin):
        page = accepted(api.client.get(f"{DECISIONS}/", headers=reader.headers))
        listed = {item["id"]: item for item in page["items"]}
        for decision_id in [*ids, draft]:
            assert listed[decision_id] == get_decision(api, reader, decision_id)
    sen = {
        item["id"]: item
        for item in accepted(api.client.get(f"{DECISIONS}/", headers=world.delegates["SEN"].headers))["items"]
    }
    assert [sen[d]["my_ballot"] for d in ids] == ["no", None, "abstain"]
    assert [sen[d]["ballots_cast"] for d in ids] == [2, 0, 1] and sen[draft]["ballots_cast"] is None
    assert [r["member_code"] for r in sen[ids[1]]["recusals"]] == ["PHL"]


# ---------------------------------------------------------------- the verifiable record


def test_a_downloaded_record_verifies_offline_and_tampering_is_named(
    api: Api, world: ProposalWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = create_decision(api, world.admin, kind="policy", procedure="vote", open=True)
    for code, choice in (("MEX", "yes"), ("SEN", "no"), ("PHL", "yes")):
        cast(api, world.delegates[code], decision["id"], choice)
    after_deadline(api, world.admin, decision)
    published = record(api, world.delegates["MEX"], decision["id"])
    path = tmp_path / "record.json"

    def verify(data: dict[str, Any]) -> tuple[int, str]:
        path.write_text(json.dumps(data))
        code, out, _ = run_fundapp(api, monkeypatch, capsys, "governance", "verify-record", str(path))
        return code, out

    code, out = verify(published)
    assert code == 0 and out.startswith("OK"), out

    changed = json.loads(json.dumps(published))
    sen = next(e for e in changed["events"] if e["member"] == "SEN")
    sen["choice"] = "yes"
    code, out = verify(changed)
    assert code == 1 and f"event {sen['seq']}" in out, out

    removed = json.loads(json.dumps(published))
    del removed["events"][2]
    code, out = verify(removed)
    assert code == 1 and "position 3" in out, out

    reordered = json.loads(json.dumps(published))
    reordered["events"][1], reordered["events"][2] = reordered["events"][2], reordered["events"][1]
    code, out = verify(reordered)
    assert code == 1 and "position 2" in out, out

    roll = json.loads(json.dumps(published))
    roll["roll_call"][0]["choice"] = "no"
    code, out = verify(roll)
    assert code == 1 and "roll call for MEX" in out, out


def test_the_scheduler_command_closes_due_decisions(
    api: Api, world: ProposalWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``fundapp governance close-due`` reads the wall clock: the test clock is in March 2026, so a decision
    closing an hour after it is due for the command, one closing a month after the real today is not."""
    from datetime import UTC, datetime, timedelta

    due = create_decision(
        api, world.admin, kind="policy", procedure="vote", open=True, closes_at=closes_in(api, hours=1)
    )
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    later = create_decision(
        api, world.admin, kind="admin_budget", year=2027, amount="1000.00", open=True, closes_at=future
    )
    for code in ("MEX", "SEN"):
        cast(api, world.delegates[code], due["id"], "yes")
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "governance", "close-due")
    assert code == 0 and out.strip() == f"decision {due['id']} (policy): adopted: " + (
        "adopted by 2 yes to 0 no (0 abstaining), qualified majority"
    ), out
    statuses = dict(api.db.rows("SELECT id, status FROM decisions"))
    assert statuses == {due["id"]: "closed", later["id"]: "open"}
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "governance", "close-due")
    assert code == 0 and out.strip() == "no decision is due"


def test_an_amount_with_too_many_decimals_is_refused_naming_the_field(api: Api, world: ProposalWorld) -> None:
    counts = api.db.snapshot("decisions", "decision_events")
    body = {"kind": "window_allocation", "window_code": "TEC", "amount": "100.005", "title": "t", "text": "t"}
    refused = assert_problem(
        api.client.post(
            f"{DECISIONS}/", json={**body, "closes_at": closes_in(api, days=3)}, headers=world.admin.headers
        ),
        422,
    )
    assert ("amount", "excess_precision") in broken_rules(refused)
    assert api.db.snapshot("decisions", "decision_events") == counts
