"""A proposal's workflow through the API, on both backends (issue acceptance 1).

One proposal walks through every state, each step taken by a role that may take it: draft, submitted,
screening, returned (with a reason), edited, submitted again (version 2), screening, in review (reviewers
assigned, one declaring a conflict and replaced, each review recording the version it scored),
recommended (consolidated score and justification stored), referred, under decision, approved by the
members' decision hook ``Proposals.decide``. The other endings (withdrawn from each early state, rejected
at screening, not recommended then declined) have their own tests. After each walk the history
(``GET /history``) and the audit trail (``proposal.<action>`` events on the proposal) match every step,
and every step the table does not declare is a 409 naming the allowed actions, while a declared step
taken by a role that may not take it is a 403.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from proposals import workflow
from tests.support import (
    PROPOSAL_TABLES,
    PROPOSALS,
    REVIEW_SCORES,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    act,
    acted,
    advance,
    assert_problem,
    assign,
    broken_rules,
    create_proposal,
    decide,
    declare,
    endorse_by_delegates,
    proposal_content,
    proposal_state,
    proposal_world,
    submit_review,
)

pytestmark = pytest.mark.usefixtures("backend")

Step = tuple[str, str, str, str, int | None]  # action, from, to, reason, actor id


def history(api: Api, reader: Actor, proposal_id: int) -> list[Step]:
    rows = accepted(api.client.get(f"{PROPOSALS}/{proposal_id}/history", headers=reader.headers))
    return [(r["action"], r["from_state"], r["to_state"], r["reason"], r["actor_id"]) for r in rows]


def audit_trail(api: Api, proposal_id: int) -> list[dict[str, Any]]:
    """The proposal's audit events, oldest first: action, actor, before and after."""
    rows = api.db.rows(
        "SELECT action, actor_id, before, after FROM audit_events "
        "WHERE object_type = 'proposal' AND object_id = :id ORDER BY seq",
        id=str(proposal_id),
    )
    return [
        {"action": r.action, "actor_id": r.actor_id, "before": json.loads(r.before), "after": json.loads(r.after)}
        for r in rows
    ]


def transitions_in_audit(api: Api, proposal_id: int) -> list[Step]:
    """The workflow steps the audit trail records: ``proposal.<action>`` for the table's actions."""
    steps: list[Step] = []
    for event in audit_trail(api, proposal_id):
        action = event["action"].removeprefix("proposal.")
        if action in workflow.ACTIONS:
            after = event["after"]
            steps.append((action, event["before"]["state"], after["state"], after["reason"], event["actor_id"]))
    return steps


def assert_trail(api: Api, world: ProposalWorld, proposal_id: int, expected: list[Step]) -> None:
    """History and audit trail both hold exactly these steps, each declared in the workflow table, each
    starting where the previous one ended; the proposal stands where the last one ended."""
    assert history(api, world.admin, proposal_id) == expected
    assert history(api, world.auditor, proposal_id) == expected
    assert transitions_in_audit(api, proposal_id) == expected
    state = "draft"
    for action, from_state, to_state, _, _ in expected:
        step = workflow.step(from_state, action)
        assert step is not None and step.to == to_state, (action, from_state, to_state)
        assert from_state == state
        state = to_state
    assert proposal_state(api, proposal_id)[0] == state


def assert_illegal(api: Api, actor: Actor, proposal_id: int, action: str, state: str) -> None:
    """An undeclared step: 409 naming the state and the actions this actor could take from it."""
    body = assert_problem(act(api, actor, proposal_id, action, "a reason"), 409)
    assert ("action", "declared-transition") in broken_rules(body), body
    assert body["state"] == state
    assert body["allowed_actions"] == workflow.allowed_actions(state, frozenset(actor.roles))


def assert_forbidden(api: Api, actor: Actor, proposal_id: int, action: str, rule: str = "transition-role") -> None:
    body = assert_problem(act(api, actor, proposal_id, action, "a reason"), 403)
    assert ("", rule) in broken_rules(body), body


# ---------------------------------------------------------------- the whole way


def test_one_proposal_walks_through_every_state(api: Api) -> None:
    world = proposal_world(api, reviewers=3)
    admin, grantee, auditor = world.admin, world.grantee, world.auditor
    first, conflicted, replacement = world.reviewers
    steps: list[Step] = []

    draft = create_proposal(api, grantee, world.call_id)
    pid = draft["id"]
    assert (draft["state"], draft["version"], draft["allowed_actions"]) == ("draft", 0, ["submit", "withdraw"])
    assert_trail(api, world, pid, [])
    endorse_by_delegates(api, world, pid, "MEX", "SEN")

    # Draft: only the grantee of the proposal's organisation submits.
    assert_forbidden(api, admin, pid, "submit")
    assert_forbidden(api, world.delegates["MEX"], pid, "submit")
    assert_problem(act(api, world.other_grantee, pid, "submit"), 404)
    assert_illegal(api, grantee, pid, "screen", "draft")
    assert_illegal(api, admin, pid, "pass", "draft")
    submitted = acted(api, grantee, pid, "submit")
    steps.append(("submit", "draft", "submitted", "", grantee.id))
    assert (submitted["state"], submitted["version"]) == ("submitted", 1)

    # Submitted: the secretariat screens; the grantee may no longer edit.
    assert_forbidden(api, grantee, pid, "screen")
    assert_forbidden(api, auditor, pid, "screen")
    assert_illegal(api, grantee, pid, "submit", "submitted")
    edit = api.client.put(f"{PROPOSALS}/{pid}", json={"content": proposal_content()}, headers=grantee.headers)
    assert ("state", "editable-state") in broken_rules(assert_problem(edit, 409))
    acted(api, admin, pid, "screen")
    steps.append(("screen", "submitted", "screening", "", admin.id))

    # Screening: returned for information, which needs a written reason.
    for blank in (None, "", "   "):
        refused = assert_problem(act(api, admin, pid, "return", blank), 422)
        assert ("reason", "reason-required") in broken_rules(refused)
    assert_forbidden(api, grantee, pid, "return")
    returned = acted(api, admin, pid, "return", "Please detail the job placement partners.")
    steps.append(("return", "screening", "returned", "Please detail the job placement partners.", admin.id))
    assert returned["state"] == "returned"

    # Returned: the grantee edits and submits again, as version 2.
    new_content = proposal_content(title="Skills for returning migrants, with placement partners")
    edited = accepted(api.client.put(f"{PROPOSALS}/{pid}", json={"content": new_content}, headers=grantee.headers))
    assert (edited["state"], edited["version"], edited["title"]) == ("returned", 1, new_content["title"])
    resubmitted = acted(api, grantee, pid, "submit")
    steps.append(("submit", "returned", "submitted", "", grantee.id))
    assert (resubmitted["state"], resubmitted["version"]) == ("submitted", 2)
    versions = api.db.rows(
        "SELECT version, content, submitted_by FROM proposal_versions WHERE proposal_id = :id ORDER BY version", id=pid
    )
    assert [(v.version, json.loads(v.content)["title"], v.submitted_by) for v in versions] == [
        (1, draft["title"], grantee.id),
        (2, new_content["title"], grantee.id),
    ]

    acted(api, admin, pid, "screen")
    steps.append(("screen", "submitted", "screening", "", admin.id))
    acted(api, admin, pid, "pass")
    steps.append(("pass", "screening", "in_review", "", admin.id))

    # In review: a recommendation waits for the required reviews.
    refused = assert_problem(act(api, admin, pid, "recommend", "Early"), 409)
    assert ("reviews", "reviews-complete") in broken_rules(refused)
    accepted(assign(api, admin, pid, first, conflicted))
    assert_forbidden(api, first, pid, "recommend")
    assert "content" not in accepted(api.client.get(f"{PROPOSALS}/{pid}", headers=first.headers))

    # One reviewer declares a conflict: unassigned (the proposal is hidden from them), the declaration kept.
    accepted(declare(api, conflicted, pid, conflict=True, reason="I advised the applicant in 2025."))
    assert_problem(api.client.get(f"{PROPOSALS}/{pid}", headers=conflicted.headers), 404)
    assert api.db.rows(
        "SELECT status, conflict_reason FROM review_assignments WHERE proposal_id = :id AND reviewer_id = :r",
        id=pid,
        r=conflicted.id,
    ) == [("conflicted", "I advised the applicant in 2025.")]
    assert submit_review(api, conflicted, pid, REVIEW_SCORES[0]).status_code == 409
    accepted(assign(api, admin, pid, replacement))

    # The others declare no conflict and review; each review records the version it scored.
    for reviewer, scores in zip((first, replacement), REVIEW_SCORES, strict=True):
        accepted(declare(api, reviewer, pid))
        assert "content" in accepted(api.client.get(f"{PROPOSALS}/{pid}", headers=reviewer.headers))
        review = accepted(submit_review(api, reviewer, pid, scores), 201)
        assert (review["version"], review["reviewer_id"]) == (2, reviewer.id)
    reviews = accepted(api.client.get(f"{PROPOSALS}/{pid}/reviews", headers=admin.headers))
    assert sorted((r["reviewer_id"], r["version"], r["weighted_score"]) for r in reviews) == sorted(
        [(first.id, 2, "4.15"), (replacement.id, 2, "3.25")]
    )
    assert api.db.rows("SELECT DISTINCT version FROM reviews WHERE proposal_id = :id", id=pid) == [(2,)]

    # Recommended: the consolidated score (mean of 4.15 and 3.25) and the justification are stored.
    assert_forbidden(api, grantee, pid, "recommend")
    recommended = acted(api, admin, pid, "recommend", "Strong partners; feasible plan.")
    steps.append(("recommend", "in_review", "recommended", "Strong partners; feasible plan.", admin.id))
    assert (recommended["state"], recommended["consolidated_score"], recommended["tag_justification"]) == (
        "recommended",
        "3.70",
        "Strong partners; feasible plan.",
    )
    assert recommended["tag_recommendation"] == "recommended"
    assert api.db.rows(
        "SELECT consolidated_score, tag_recommendation, tag_justification FROM proposals WHERE id = :id", id=pid
    ) == [("3.70", "recommended", "Strong partners; feasible plan.")]

    # Referred to the members; only their decision (not any role through the API) approves.
    assert_illegal(api, admin, pid, "approve", "recommended")
    acted(api, admin, pid, "refer")
    steps.append(("refer", "recommended", "under_decision", "", admin.id))
    for actor in (admin, grantee, auditor, world.delegates["MEX"]):
        assert_forbidden(api, actor, pid, "approve")
        assert_forbidden(api, actor, pid, "decline")
    decide(api, pid, approved=True, reason="Decision 2026/4 of the member states")
    steps.append(("approve", "under_decision", "approved", "Decision 2026/4 of the member states", None))
    final = accepted(api.client.get(f"{PROPOSALS}/{pid}", headers=grantee.headers))
    assert (final["state"], final["version"], final["allowed_actions"]) == ("approved", 2, [])
    for actor in (admin, grantee):
        for action in ("withdraw", "submit", "refer"):
            assert_illegal(api, actor, pid, action, "approved")

    assert_trail(api, world, pid, steps)
    # The whole audit trail of the proposal: each accepted change once, in order; no refusal left a trace.
    assert [e["action"] for e in audit_trail(api, pid)] == [
        "proposal.create",
        "proposal.endorsement",
        "proposal.endorsement",
        "proposal.submit",
        "proposal.screen",
        "proposal.return",
        "proposal.edit",
        "proposal.submit",
        "proposal.screen",
        "proposal.pass",
        "proposal.assign",
        "proposal.conflict_declaration",
        "proposal.assign",
        "proposal.conflict_declaration",
        "proposal.review",
        "proposal.conflict_declaration",
        "proposal.review",
        "proposal.recommend",
        "proposal.refer",
        "proposal.approve",
    ]
    submits = [e for e in audit_trail(api, pid) if e["action"] == "proposal.submit"]
    assert [e["after"]["version"] for e in submits] == [1, 2]


# ---------------------------------------------------------------- the other endings


def to_state(api: Api, world: ProposalWorld, proposal_id: int, state: str) -> list[Step]:
    """Bring a fresh draft to an early state; returns the steps taken."""
    grantee, admin = world.grantee, world.admin
    if state == "draft":
        return []
    endorse_by_delegates(api, world, proposal_id, "MEX", "SEN")
    path: list[tuple[Actor, str, str, str]] = [
        (grantee, "submit", "draft", "submitted"),
        (admin, "screen", "submitted", "screening"),
        (admin, "return", "screening", "returned"),
    ]
    taken: list[Step] = []
    for actor, action, from_state, to in path:
        reason = "Clarify the budget." if action == "return" else ""
        acted(api, actor, proposal_id, action, reason or None)
        taken.append((action, from_state, to, reason, actor.id))
        if to == state:
            return taken
    raise AssertionError(state)


@pytest.mark.parametrize("state", ["draft", "submitted", "screening", "returned"])
def test_the_grantee_withdraws_from_each_early_state(api: Api, state: str) -> None:
    world = proposal_world(api, reviewers=0)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    steps = to_state(api, world, pid, state)
    assert proposal_state(api, pid)[0] == state

    before = api.db.snapshot(*PROPOSAL_TABLES)
    assert_problem(act(api, world.other_grantee, pid, "withdraw"), 404)
    for actor in (world.admin, world.auditor, world.delegates["SEN"]):
        assert_forbidden(api, actor, pid, "withdraw")
    assert api.db.snapshot(*PROPOSAL_TABLES) == before

    withdrawn = acted(api, world.grantee, pid, "withdraw", "We found other funding.")
    steps.append(("withdraw", state, "withdrawn", "We found other funding.", world.grantee.id))
    assert (withdrawn["state"], withdrawn["allowed_actions"]) == ("withdrawn", [])
    for action in ("submit", "screen", "withdraw"):
        assert_illegal(api, world.grantee, pid, action, "withdrawn")
    assert_trail(api, world, pid, steps)


@pytest.mark.parametrize("state", ["in_review", "recommended", "under_decision"])
def test_no_withdrawal_once_in_review(api: Api, state: str) -> None:
    world = proposal_world(api, reviewers=2)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    advance(api, world, pid, state)

    assert_illegal(api, world.grantee, pid, "withdraw", state)
    assert proposal_state(api, pid)[0] == state


def test_the_secretariat_rejects_at_screening_with_a_reason(api: Api) -> None:
    world = proposal_world(api, reviewers=0)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    steps = to_state(api, world, pid, "submitted")
    assert_illegal(api, world.admin, pid, "reject", "submitted")
    acted(api, world.admin, pid, "screen")
    steps.append(("screen", "submitted", "screening", "", world.admin.id))

    assert ("reason", "reason-required") in broken_rules(assert_problem(act(api, world.admin, pid, "reject"), 422))
    assert_forbidden(api, world.grantee, pid, "reject")
    rejected = acted(api, world.admin, pid, "reject", "Outside the window's theme.")
    steps.append(("reject", "screening", "rejected", "Outside the window's theme.", world.admin.id))

    assert rejected["state"] == "rejected"
    for action in ("submit", "withdraw", "screen", "pass"):
        assert_illegal(api, world.admin, pid, action, "rejected")
        assert_illegal(api, world.grantee, pid, action, "rejected")
    assert_trail(api, world, pid, steps)


def test_not_recommended_is_referred_with_a_reason_and_declined(api: Api) -> None:
    world = proposal_world(api, reviewers=2)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    advance(api, world, pid, "in_review")
    accepted(assign(api, world.admin, pid, *world.reviewers))
    for reviewer, scores in zip(world.reviewers, REVIEW_SCORES, strict=True):
        accepted(declare(api, reviewer, pid))
        accepted(submit_review(api, reviewer, pid, scores, "do_not_recommend"), 201)

    refused = assert_problem(act(api, world.admin, pid, "not_recommend"), 422)
    assert ("reason", "reason-required") in broken_rules(refused)
    not_recommended = acted(api, world.admin, pid, "not_recommend", "Sustainability not shown.")
    assert (not_recommended["state"], not_recommended["tag_recommendation"]) == ("not_recommended", "not_recommended")
    assert (not_recommended["consolidated_score"], not_recommended["tag_justification"]) == (
        "3.70",
        "Sustainability not shown.",
    )

    # Referring a proposal the TAG did not recommend needs the secretariat's reason.
    assert ("reason", "reason-required") in broken_rules(assert_problem(act(api, world.admin, pid, "refer"), 422))
    assert_forbidden(api, world.grantee, pid, "refer")
    acted(api, world.admin, pid, "refer", "Members asked to see every proposal from MEX.")
    decide(api, pid, approved=False, reason="Declined by the member states")

    assert proposal_state(api, pid) == ("rejected", 1)
    assert [s[:3] for s in history(api, world.admin, pid)] == [
        ("submit", "draft", "submitted"),
        ("screen", "submitted", "screening"),
        ("pass", "screening", "in_review"),
        ("not_recommend", "in_review", "not_recommended"),
        ("refer", "not_recommended", "under_decision"),
        ("decline", "under_decision", "rejected"),
    ]
    assert history(api, world.admin, pid) == transitions_in_audit(api, pid)
    assert_trail(api, world, pid, history(api, world.admin, pid))


def test_the_decision_hook_refuses_a_proposal_not_under_decision(api: Api) -> None:
    from fundapp.core.errors import Conflict

    world = proposal_world(api, reviewers=2)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    advance(api, world, pid, "recommended")
    before = api.db.snapshot(*PROPOSAL_TABLES)

    with pytest.raises(Conflict):
        decide(api, pid, approved=True)

    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert proposal_state(api, pid)[0] == "recommended"


# ---------------------------------------------------------------- every step the table does not allow


def proposals_in_every_state(api: Api, world: ProposalWorld) -> dict[str, int]:
    """One proposal of the world's grantee in each of the eleven states."""
    made: dict[str, int] = {}
    for state in ("draft", "submitted", "screening", "returned", "withdrawn", "rejected"):
        pid = create_proposal(api, world.grantee, world.call_id)["id"]
        base = {"withdrawn": "draft", "rejected": "screening"}.get(state, state)
        to_state(api, world, pid, base)
        if state == "withdrawn":
            acted(api, world.grantee, pid, "withdraw")
        elif state == "rejected":
            acted(api, world.admin, pid, "reject", "Out of scope.")
        made[state] = pid
    for state in ("in_review", "recommended", "not_recommended", "under_decision", "approved"):
        pid = create_proposal(api, world.grantee, world.call_id)["id"]
        advance(api, world, pid, "under_decision" if state == "approved" else state)
        if state == "approved":
            decide(api, pid, approved=True)
        made[state] = pid
    assert {s: proposal_state(api, p)[0] for s, p in made.items()} == {s: s for s in made}
    assert set(made) == {s.value for s in workflow.State}
    return made


def test_undeclared_steps_are_409_and_unentitled_roles_403(api: Api) -> None:
    world = proposal_world(api, reviewers=2)
    made = proposals_in_every_state(api, world)
    actors = [world.grantee, world.admin, world.auditor, world.delegates["MEX"]]
    before = api.db.snapshot(*PROPOSAL_TABLES)
    states = {pid: proposal_state(api, pid) for pid in made.values()}

    for state, pid in made.items():
        for action in sorted(workflow.ACTIONS):
            step = workflow.step(state, action)
            for actor in actors:
                if step is None:
                    assert_illegal(api, actor, pid, action, state)
                elif not step.roles & set(actor.roles):
                    assert_forbidden(api, actor, pid, action)

    # An action the workflow does not know at all is refused before anything is looked up.
    unknown = assert_problem(act(api, world.admin, made["submitted"], "approve_all"), 422)
    assert ("action", "known-action") in broken_rules(unknown)

    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert {pid: proposal_state(api, pid) for pid in made.values()} == states
