"""Properties of proposals (issue acceptance 1 and 5), checked with hypothesis.

(a) A state machine fires random workflow actions, endorsements, reviewer assignments, conflict
    declarations, reviews, edits and members' decisions, by random callers (the proposal's grantee,
    another organisation's grantee, the secretariat, TAG reviewers, delegates concerned or not, an
    auditor), at one or two proposals through the API (the decision through ``Proposals.decide``). A
    plain-Python model predicts every answer from ``workflow.TRANSITIONS`` alone (404 when the caller
    may not see the proposal, 409 naming the allowed actions for an undeclared step, 403 for a role the
    step does not name, 422/409 for an unmet guard). After every step: the proposal's state and version
    are the model's; its history holds only steps declared in the table, chained from ``draft``, by
    roles the table names, the last ending in the current state (draft when there is none); the audit
    trail records exactly the same steps.
(b) The consolidated score is the weighted mean of the reviews, exactly, and its text is that mean
    rounded half to even to two decimals, both checked against integer arithmetic; one API example
    checks the stored score on a half-way value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from fundapp.core.errors import Conflict
from fundapp.core.models import Role
from proposals import rules, workflow
from proposals.workflow import State
from tests.support import (
    PROPOSALS,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    act,
    assign,
    create_call,
    create_proposal,
    decide,
    declare,
    endorse,
    proposal_content,
    proposal_world,
    submit_review,
)

# ---------------------------------------------------------------- (a) the workflow machine

CALLERS = (
    "grantee",
    "other_grantee",
    "admin",
    "reviewer0",
    "reviewer1",
    "reviewer2",
    "delegate_mex",
    "delegate_phl",
    "auditor",
)
REASONS = (None, "", "   ", "Because the TAG says so.")
# What a step does, drawn with these weights.
KINDS = (
    *("progress",) * 4,
    *("random_action",) * 3,
    "endorse_by_delegate",
    "reviewer_progress",
    "members_decide",
    "edit",
)
SEEING_REVIEWER = {"assigned", "declared", "reviewed"}


@dataclass
class Model:
    """What the model knows of one proposal (MEX 60%, SEN 40%; the call needs two reviews)."""

    id: int
    state: str = State.DRAFT.value
    version: int = 0
    endorsed: set[str] = field(default_factory=set)
    assignments: dict[int, str] = field(default_factory=dict)  # reviewer index -> status
    reviews: int = 0
    history: list[tuple[str, str, str, int | None]] = field(default_factory=list)  # action, from, to, actor


class ProposalMachine(RuleBasedStateMachine):
    api: ClassVar[Api]
    world: ClassVar[ProposalWorld]

    def __init__(self) -> None:
        super().__init__()
        self.proposals: list[Model] = []
        w = self.world
        self.callers: dict[str, Actor] = {
            "grantee": w.grantee,
            "other_grantee": w.other_grantee,
            "admin": w.admin,
            "reviewer0": w.reviewers[0],
            "reviewer1": w.reviewers[1],
            "reviewer2": w.reviewers[2],
            "delegate_mex": w.delegates["MEX"],
            "delegate_sen": w.delegates["SEN"],
            "delegate_phl": w.delegates["PHL"],
            "auditor": w.auditor,
        }

    # ------------------------------------------------------------ the model's predictions

    def sees(self, caller: str, p: Model) -> bool:
        if caller in {"grantee", "admin", "auditor", "delegate_mex", "delegate_sen"}:
            return True
        if caller.startswith("reviewer"):
            return p.assignments.get(int(caller[-1])) in SEEING_REVIEWER
        if caller == "delegate_phl":
            return p.state in {"under_decision", "approved", "rejected"}
        return False  # another organisation's grantee

    def roles(self, caller: str) -> frozenset[Role]:
        return frozenset(self.callers[caller].roles)

    def expect_act(self, caller: str, p: Model, action: str, reason: str | None) -> int:
        if not self.sees(caller, p):
            return 404
        step = workflow.step(p.state, action)
        if step is None:
            return 409
        if not step.roles & self.roles(caller):
            return 403
        for guard in step.guards:
            if guard == workflow.Guard.REASON and not (reason or "").strip():
                return 422
            if guard == workflow.Guard.SUBMISSION_RULES and p.endorsed != {"MEX", "SEN"}:
                return 422
            if guard == workflow.Guard.REVIEWS_COMPLETE and p.reviews < 2:
                return 409
        return 200

    def move(self, p: Model, action: str, actor_id: int | None) -> None:
        step = workflow.step(p.state, action)
        assert step is not None
        if action == "submit":
            p.version += 1
        p.history.append((action, p.state, step.to.value, actor_id))
        p.state = step.to.value

    def pick(self, data: st.DataObject) -> Model:
        return self.proposals[data.draw(st.integers(0, len(self.proposals) - 1), label="proposal")]

    # ------------------------------------------------------------ rules

    @initialize(endorsed=st.lists(st.sampled_from([("MEX", "SEN"), ("MEX",), ()]), min_size=1, max_size=2))
    def create_proposals(self, endorsed: list[tuple[str, ...]]) -> None:
        """One or two drafts, most often endorsed by both their countries already."""
        for countries in endorsed:
            p = Model(create_proposal(self.api, self.world.grantee, self.world.call_id)["id"])
            for country in countries:
                accepted(endorse(self.api, self.world.delegates[country], p.id, country))
                p.endorsed.add(country)
            self.proposals.append(p)

    @rule(data=st.data(), kind=st.sampled_from(KINDS))
    def one_step(self, data: st.DataObject, kind: str) -> None:
        """One rule drawing what to do (weighted towards moving forward), so that hypothesis's swarm
        testing, which switches rules off, never switches progress off."""
        getattr(self, kind)(data)

    def random_action(self, data: st.DataObject) -> None:
        caller = data.draw(st.sampled_from(CALLERS), label="caller")
        action = data.draw(st.sampled_from(sorted(workflow.ACTIONS)), label="action")
        self.fire(self.pick(data), caller, action, data.draw(st.sampled_from(REASONS), label="reason"))

    def progress(self, data: st.DataObject) -> None:
        """Up to ``count`` steps forward: a step the table declares from the current state, by a caller
        holding one of its roles (guards may still refuse it, which ends the run); before submitting, the
        endorsements still missing; in review, a reviewer's next step until two reviews are in; under
        decision, the members' decision. Withdrawals come only as random actions, so that proposals get
        further."""
        p = self.pick(data)
        for _ in range(data.draw(st.integers(1, 5), label="count")):
            before = (p.state, len(p.history), p.reviews, dict(p.assignments))
            if p.state == State.IN_REVIEW.value and p.reviews < 2:
                reviewer = data.draw(st.integers(0, 2), label="reviewer")
                conflict = data.draw(st.integers(0, 9), label="conflict") == 0
                self.reviewer_step(p, reviewer, conflict)
            elif p.state in workflow.EDITABLE and p.endorsed != {"MEX", "SEN"}:
                country = sorted({"MEX", "SEN"} - p.endorsed)[0]
                accepted(endorse(self.api, self.world.delegates[country], p.id, country))
                p.endorsed.add(country)
            elif p.state == State.UNDER_DECISION.value:
                self.members_decide_on(p, data.draw(st.booleans(), label="approved"))
            else:
                steps = [t for t in workflow.TRANSITIONS if t.state == p.state and t.roles and t.action != "withdraw"]
                if not steps:
                    return
                step = data.draw(st.sampled_from(steps), label="step")
                caller = "grantee" if Role.GRANTEE in step.roles else "admin"
                reasons = REASONS[2:] if workflow.Guard.REASON in step.guards else REASONS
                self.fire(p, caller, step.action, data.draw(st.sampled_from(reasons), label="reason"))
            if (p.state, len(p.history), p.reviews, p.assignments) == before:
                return

    def fire(self, p: Model, caller: str, action: str, reason: str | None) -> None:
        actor = self.callers[caller]
        expected = self.expect_act(caller, p, action, reason)
        response = act(self.api, actor, p.id, action, reason)
        assert response.status_code == expected, (caller, action, p.state, response.text)
        if expected == 409 and workflow.step(p.state, action) is None:
            body = response.json()
            assert body["allowed_actions"] == workflow.allowed_actions(p.state, self.roles(caller))
            assert body["state"] == p.state
        if expected == 200:
            self.move(p, action, actor.id)
            assert response.json()["state"] == p.state

    def endorse_by_delegate(self, data: st.DataObject) -> None:
        p = self.pick(data)
        country = data.draw(st.sampled_from(["MEX", "SEN"]), label="country")
        decision = data.draw(st.sampled_from(["endorsed", "declined"]), label="decision")
        caller = "delegate_mex" if country == "MEX" else "delegate_sen"
        response = endorse(self.api, self.callers[caller], p.id, country, decision)
        editable = p.state in workflow.EDITABLE
        assert response.status_code == (200 if editable else 409), response.text
        if editable:
            (p.endorsed.add if decision == "endorsed" else p.endorsed.discard)(country)

    def reviewer_progress(self, data: st.DataObject) -> None:
        """The next things for this reviewer: assigned by the secretariat, then a declaration (a conflict
        now and then), then a review; each refused where the model says it must be."""
        p = self.pick(data)
        reviewer = data.draw(st.integers(0, 2), label="reviewer")
        for _ in range(data.draw(st.integers(1, 3), label="steps")):
            if not self.reviewer_step(p, reviewer, data.draw(st.integers(0, 9), label="conflict") == 0):
                return

    def reviewer_step(self, p: Model, reviewer: int, conflict: bool) -> bool:
        """One step for the reviewer; whether it was accepted."""
        status = p.assignments.get(reviewer)
        caller = self.callers[f"reviewer{reviewer}"]
        if status is None:
            response = assign(self.api, self.world.admin, p.id, caller)
            ok = p.state == State.IN_REVIEW.value
            assert response.status_code == (200 if ok else 409), response.text
            if ok:
                p.assignments[reviewer] = "assigned"
            return ok
        if status == "assigned":
            reason = "Worked for the applicant." if conflict else ""
            accepted(declare(self.api, caller, p.id, conflict=conflict, reason=reason))
            p.assignments[reviewer] = "conflicted" if conflict else "declared"
            return True
        else:
            response = submit_review(self.api, caller, p.id, {"relevance": 4, "feasibility": 3, "sustainability": 5})
            ok = status == "declared" and p.state == State.IN_REVIEW.value
            assert response.status_code == (201 if ok else 409), response.text
            if ok:
                assert response.json()["version"] == p.version
                p.assignments[reviewer] = "reviewed"
                p.reviews += 1
            return ok

    def members_decide(self, data: st.DataObject) -> None:
        self.members_decide_on(self.pick(data), data.draw(st.booleans(), label="approved"))

    def members_decide_on(self, p: Model, approved: bool) -> None:
        if p.state != State.UNDER_DECISION.value:
            with pytest.raises(Conflict):
                decide(self.api, p.id, approved=approved)
            return
        decide(self.api, p.id, approved=approved)
        self.move(p, "approve" if approved else "decline", None)

    def edit(self, data: st.DataObject) -> None:
        p = self.pick(data)
        caller = data.draw(st.sampled_from(["grantee", "other_grantee", "admin", "delegate_mex"]), label="editor")
        response = self.api.client.put(
            f"{PROPOSALS}/{p.id}", json={"content": proposal_content()}, headers=self.callers[caller].headers
        )
        if caller == "other_grantee":
            expected = 404
        elif caller != "grantee":
            expected = 403
        else:
            expected = 200 if p.state in workflow.EDITABLE else 409
        assert response.status_code == expected, (caller, p.state, response.text)

    # ------------------------------------------------------------ invariants

    @invariant()
    def only_declared_transitions_happened(self) -> None:
        for p in self.proposals:
            row = self.api.db.rows("SELECT state, version FROM proposals WHERE id = :id", id=p.id)[0]
            assert (row.state, row.version) == (p.state, p.version)
            history = accepted(self.api.client.get(f"{PROPOSALS}/{p.id}/history", headers=self.world.admin.headers))
            got = [(h["action"], h["from_state"], h["to_state"], h["actor_id"]) for h in history]
            assert got == p.history
            state = State.DRAFT.value
            for action, from_state, to_state, actor_id in got:
                step = workflow.step(from_state, action)
                assert step is not None and step.to.value == to_state, (action, from_state, to_state)
                assert from_state == state
                if step.roles:
                    actor = next(a for a in self.callers.values() if a.id == actor_id)
                    assert step.roles & set(actor.roles), (action, actor.username)
                else:
                    assert actor_id is None  # the members' decision only
                state = to_state
            assert row.state == (got[-1][2] if got else State.DRAFT.value)
            audited = [
                (r.action.removeprefix("proposal."), json.loads(r.before)["state"], json.loads(r.after)["state"])
                for r in self.api.db.rows(
                    "SELECT action, before, after FROM audit_events WHERE object_type = 'proposal' "
                    "AND object_id = :id ORDER BY seq",
                    id=str(p.id),
                )
                if r.action.removeprefix("proposal.") in workflow.ACTIONS
            ]
            assert audited == [h[:3] for h in got]
            event(f"reached {p.state}")


MACHINE_SETTINGS = {
    "sqlite": settings(
        max_examples=20,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
    "postgresql": settings(
        max_examples=8,
        stateful_step_count=20,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
}


@pytest.mark.usefixtures("backend")
def test_random_actions_by_random_callers_follow_the_workflow_table(api: Api, backend: str) -> None:
    ProposalMachine.api = api
    ProposalMachine.world = proposal_world(api, reviewers=3)

    run_state_machine_as_test(ProposalMachine, settings=MACHINE_SETTINGS[backend])


# ---------------------------------------------------------------- (b) the consolidated score

criterion_keys = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
rubrics = st.lists(st.tuples(criterion_keys, st.integers(1, 100)), min_size=1, max_size=20, unique_by=lambda c: c[0])


@st.composite
def rubric_and_reviews(draw: st.DrawFn) -> tuple[list[tuple[str, int]], list[dict[str, int]]]:
    rubric = draw(rubrics)
    reviews = draw(
        st.lists(st.fixed_dictionaries({key: st.integers(0, 5) for key, _ in rubric}), min_size=1, max_size=10)
    )
    return rubric, reviews


def half_even_hundredths(numerator: int, denominator: int) -> str:
    """numerator/denominator (non-negative) rounded half to even to two decimals, in integers only."""
    quotient, remainder = divmod(numerator * 100, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2 == 1):
        quotient += 1
    return f"{quotient // 100}.{quotient % 100:02d}"


@settings(max_examples=500)
@given(rubric_and_reviews())
def test_the_consolidated_score_is_the_weighted_mean_of_the_reviews(
    case: tuple[list[tuple[str, int]], list[dict[str, int]]],
) -> None:
    rubric, reviews = case
    total_weight = sum(weight for _, weight in rubric)
    # Exactly: the sum over reviews and criteria of score x weight, over (reviews x total weight).
    numerator = sum(review[key] * weight for review in reviews for key, weight in rubric)
    denominator = len(reviews) * total_weight

    consolidated = rules.consolidated_score([rules.weighted_score(review, rubric) for review in reviews])

    assert consolidated.numerator * denominator == numerator * consolidated.denominator
    assert 0 <= consolidated <= 5
    assert rules.score_text(consolidated) == half_even_hundredths(numerator, denominator)
    for review in reviews:
        single = rules.weighted_score(review, rubric)
        assert single * total_weight == sum(review[key] * weight for key, weight in rubric)
    assert rules.consolidated_score([rules.weighted_score(r, rubric) for r in reversed(reviews)]) == consolidated


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_score_text_rounds_half_to_even_to_two_decimals(numerator: int, denominator: int) -> None:
    assert rules.score_text(Fraction(numerator, denominator)) == half_even_hundredths(numerator, denominator)


@pytest.mark.parametrize(
    ("value", "text"),
    [(Fraction(1, 8), "0.12"), (Fraction(3, 8), "0.38"), (Fraction(21, 8), "2.62"), (Fraction(39, 8), "4.88")],
)
def test_half_way_scores_round_to_the_even_hundredth(value: Fraction, text: str) -> None:
    assert rules.score_text(value) == text


def test_consolidating_no_review_is_an_error() -> None:
    with pytest.raises(ValueError, match="no reviews"):
        rules.consolidated_score([])


@pytest.mark.usefixtures("backend")
def test_the_stored_consolidated_score_is_the_rounded_weighted_mean(api: Api) -> None:
    """Weights 1 and 7; reviews weighted 14/8 = 1.75 and 28/8 = 3.5, whose mean 2.625 is stored as "2.62"
    (half to even), never "2.63"."""
    world = proposal_world(api, reviewers=2)
    rubric = [{"key": "design", "label": "Design", "weight": 1}, {"key": "impact", "label": "Impact", "weight": 7}]
    call = create_call(api, world.admin, rubric=rubric, title="Half-way call")
    pid = create_proposal(api, world.grantee, call["id"])["id"]
    for country in ("MEX", "SEN"):
        accepted(endorse(api, world.delegates[country], pid, country))
    accepted(act(api, world.grantee, pid, "submit"))
    accepted(act(api, world.admin, pid, "screen"))
    accepted(act(api, world.admin, pid, "pass"))
    accepted(assign(api, world.admin, pid, *world.reviewers))
    scores = [{"design": 0, "impact": 2}, {"design": 0, "impact": 4}]
    weighted = []
    for reviewer, review in zip(world.reviewers, scores, strict=True):
        accepted(declare(api, reviewer, pid))
        weighted.append(accepted(submit_review(api, reviewer, pid, review), 201)["weighted_score"])
    assert weighted == ["1.75", "3.50"]

    recommended = accepted(act(api, world.admin, pid, "recommend", "Good impact."))

    expected = rules.consolidated_score([Fraction(14, 8), Fraction(28, 8)])
    assert expected == Fraction(21, 8)
    assert recommended["consolidated_score"] == rules.score_text(expected) == "2.62"
    assert api.db.scalar("SELECT consolidated_score FROM proposals WHERE id = :id", id=pid) == "2.62"
    reviews = accepted(api.client.get(f"{PROPOSALS}/{pid}/reviews", headers=world.admin.headers))
    assert [r["weighted_score"] for r in reviews] == weighted
