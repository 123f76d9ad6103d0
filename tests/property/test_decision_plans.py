"""Properties of the decision kinds' table (governance/kinds.py), of the per-kind schemas of ``DecisionCreate``,
and of the pure planners of a ballot and a close (governance/rules.py). No database.

- The table: every ``DecisionKind`` has exactly one entry, with its own schema and a charter rule of its
  name; the money kinds (guarded at the open and the close) are exactly the kinds with a money effect.
- The schemas: for any kind and any set of terms given, the refusals name each term the kind needs and
  lacks (``required-for-kind``) and each term it takes none of (``not-for-kind``), by the field's own name
  and in the words the one flat schema's hand checks used.
- A ballot's plan is the chain's next link; chains of planned events verify.
- A close's plan: the tally sums to the ballots counted, and the outcome follows the charter's rule
  (quorum, then majority), refused whenever the funds fall short or the effect can no longer apply.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fundapp.core.audit import timestamp
from fundapp.core.config import CharterSettings
from governance import rules
from governance.kinds import KINDS, MONEY_KINDS, FundsSource, kind_spec
from governance.models import DecisionKind, DecisionResult
from governance.schemas import DECISION_SCHEMAS, TERM_FIELDS, DecisionCreate, terms_needed

# What each kind needs, as the hand checks listed it before the per-kind schemas.
NEEDS = {
    DecisionKind.FUND_PROPOSAL: ("proposal_id",),
    DecisionKind.ADMIT_MEMBER: ("member_code", "tier", "joined_on"),
    DecisionKind.SET_TIER: ("member_code", "tier"),
    DecisionKind.FEE_SCHEDULE: ("tier", "year", "currency", "amount"),  # in the order of TERM_FIELDS
    DecisionKind.ADMIN_BUDGET: ("year", "amount"),
    DecisionKind.WINDOW_ALLOCATION: ("window_code", "amount"),
    DecisionKind.POLICY: (),
    DecisionKind.ADD_COUNTRY: ("country", "group"),
    DecisionKind.REMOVE_COUNTRY: ("country", "reason"),
    DecisionKind.SET_COUNTRY_GROUP: ("country", "group"),
    # A restructuring's new loan amount and terms are optional (one of them at least: the handler checks).
    DecisionKind.CONCESSIONAL_FINANCING: ("request_id",),
    DecisionKind.CANCEL_CONCESSIONAL: ("request_id",),
    DecisionKind.RESTRUCTURE_CONCESSIONAL: ("request_id",),
}
# A valid value of each term (valid for every kind that takes it).
VALID = {
    "proposal_id": 7,
    "member_code": "GHA",
    "tier": "II",
    "joined_on": "2026-04-01",
    "window_code": "TEC",
    "year": 2027,
    "currency": "USD",
    "amount": "1000.00",
    "country": "JOR",
    "group": "gcff_a",
    "reason": "The crisis is over.",
    "request_id": 7,
}
COMMON = {"title": "A decision", "text": "As proposed.", "closes_at": "2026-05-01T12:00:00Z"}

# ---------------------------------------------------------------- the table


def test_every_kind_has_exactly_one_entry_of_its_own() -> None:
    assert list(KINDS) == list(DecisionKind)
    charter = CharterSettings()
    for kind, spec in KINDS.items():
        assert spec.kind == kind and kind_spec(kind.value) is spec
        assert spec.schema is DECISION_SCHEMAS[kind]
        assert spec.schema.model_fields["kind"].annotation is not DecisionKind  # a Literal of the kind
        assert charter.decision_rule(spec.charter_rule).kind == kind.value


def test_the_money_kinds_are_the_kinds_with_a_money_effect() -> None:
    with_money = {kind.value for kind, spec in KINDS.items() if spec.money is not None}
    assert (
        with_money
        == MONEY_KINDS
        == {
            "fund_proposal",
            "window_allocation",
            "concessional_financing",
            "restructure_concessional",
        }
    )
    assert KINDS[DecisionKind.FUND_PROPOSAL].money.source == FundsSource.WINDOW  # type: ignore[union-attr]
    assert KINDS[DecisionKind.WINDOW_ALLOCATION].money.source == FundsSource.POOLED  # type: ignore[union-attr]
    # Only a funding decision speaks to its proposal; only a policy may be pending beside another.
    assert {k for k, s in KINDS.items() if s.on_proposal} == {
        DecisionKind.FUND_PROPOSAL,
        DecisionKind.CONCESSIONAL_FINANCING,
    }
    assert {k for k, s in KINDS.items() if not s.one_per_subject} == {DecisionKind.POLICY}


def test_each_schema_takes_the_terms_its_kind_needs() -> None:
    for kind in DecisionKind:
        assert terms_needed(kind) == NEEDS[kind]


# ---------------------------------------------------------------- the schemas


@settings(max_examples=300)
@given(
    st.sampled_from(list(DecisionKind)), st.sets(st.sampled_from(TERM_FIELDS)), st.sets(st.sampled_from(TERM_FIELDS))
)
def test_refusals_name_the_terms_a_kind_lacks_and_takes_none_of(
    kind: DecisionKind, given_terms: set[str], nulls: set[str]
) -> None:
    body: dict[str, Any] = {"kind": kind.value, **COMMON}
    body |= {name: VALID[name] for name in given_terms}
    body |= {name: None for name in nulls - given_terms}  # a term given as null is a term not given
    needed = set(NEEDS[kind])
    expected = [
        (name, "required-for-kind", f"a {kind.value} decision needs {name}")
        if name in needed
        else (name, "not-for-kind", f"a {kind.value} decision takes no {name}")
        for name in TERM_FIELDS
        if (name in needed) != (name in given_terms)
    ]
    try:
        made = DecisionCreate.model_validate(body)
    except ValidationError as refused:
        found = [(".".join(str(p) for p in e["loc"]), e["type"], e["msg"]) for e in refused.errors()]
        assert found == expected
    else:
        assert expected == []
        assert made.root.kind == kind and type(made.root) is DECISION_SCHEMAS[kind]


@given(st.one_of(st.none(), st.text(max_size=12), st.integers()))
def test_a_missing_or_unknown_kind_is_named_on_kind(kind: object) -> None:
    body = dict(COMMON) if kind is None else {"kind": kind, **COMMON}
    if isinstance(kind, str) and kind in {k.value for k in DecisionKind}:
        return
    try:
        DecisionCreate.model_validate(body)
    except ValidationError as refused:
        errors = refused.errors()
        assert [e["loc"] for e in errors] == [("kind",)]
        assert errors[0]["type"] == ("missing" if kind is None else "enum")
    else:
        raise AssertionError("an unknown kind was accepted")


# ---------------------------------------------------------------- the ballot's plan

START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
POOL = ("ARG", "BEN", "CHL", "DZA", "ECU", "FJI", "GHA")
CHOICES = ("yes", "no", "abstain")


def published(values: dict[str, Any]) -> dict[str, Any]:
    """A planned event as the record publishes it."""
    return {
        "decision_id": values["decision_id"],
        "seq": values["seq"],
        "kind": values["kind"],
        "member": values["member_code"],
        "choice": values["choice"],
        "reason": values["reason"],
        "data": json.loads(values["data"]),
        "at": timestamp(values["at"]),
        "prev_hash": values["prev_hash"],
        "hash": values["hash"],
    }


# (kind, member, choice) after the opening; "recusal" and "ballot_withdrawn" carry no choice.
actions = st.lists(
    st.one_of(
        st.tuples(st.just("ballot"), st.sampled_from(POOL), st.sampled_from(CHOICES)),
        st.tuples(st.sampled_from(["recusal", "ballot_withdrawn"]), st.sampled_from(POOL), st.none()),
    ),
    max_size=30,
)
rules_of_charter = st.tuples(
    st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("0.51"), Decimal("0.6667"), Decimal("1")]),
    st.sampled_from(rules.MAJORITIES),
)


def chain(roll: frozenset[str], quorum: Decimal, majority: str, steps: list[Any]) -> list[dict[str, Any]]:
    """A vote's chain planned link by link: the opening, then each member action (ballots through
    ``plan_ballot``, with the member's standing choice as the facts would give it)."""
    opened = {"procedure": "vote", "quorum": str(quorum), "majority": majority, "roll": sorted(roll)}
    events = [rules.next_event(1, 0, "", "opened", at=START, cast_by=1, data=opened)]
    standing: dict[str, str] = {}
    for n, (kind, member, choice) in enumerate(steps, start=1):
        at, head = START + timedelta(minutes=n), events[-1]["hash"]
        if kind == "ballot":
            plan = rules.plan_ballot(
                1, len(events), head, member=member, choice=choice, current=standing.get(member), at=at, cast_by=2
            )
            assert plan.replaced == (member in standing)
            events.append(plan.event)
            standing[member] = choice
        else:
            events.append(rules.next_event(1, len(events), head, kind, at=at, cast_by=2, member=member))
            standing.pop(member, None)
    return events


@settings(max_examples=200)
@given(st.frozensets(st.sampled_from(POOL), min_size=1), rules_of_charter, actions)
def test_planned_links_make_a_chain_that_verifies(roll: frozenset[str], charter: Any, steps: list[Any]) -> None:
    quorum, majority = charter
    events = chain(roll, quorum, majority, steps)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["prev_hash"] == rules.GENESIS
    assert rules.verify_chain([published(e) for e in events], 1) == []


# ---------------------------------------------------------------- the close's plan


@settings(max_examples=300)
@given(
    st.frozensets(st.sampled_from(POOL), min_size=1),
    rules_of_charter,
    actions,
    st.one_of(st.none(), st.just("the window has USD 0.00 available")),
    st.one_of(st.none(), st.just("GHA is already a member")),
)
def test_the_close_counts_the_ballots_and_follows_the_charter(
    roll: frozenset[str], charter: Any, steps: list[Any], short: str | None, problem: str | None
) -> None:
    quorum, majority = charter
    state = rules.replay([published(e) for e in chain(roll, quorum, majority, steps)])
    tally = state.tally()
    assert tally is not None
    electorate = roll - set(state.recusals)
    counted = {m: c for m, (c, _) in state.ballots.items() if m in electorate}
    # The tally sums to the ballots cast (and counted).
    assert tally.yes + tally.no + tally.abstain == tally.participated == len(counted)
    assert tally.eligible == len(electorate)
    # The outcome follows the charter's rule: a quorum of the electorate, then its majority.
    needed = math.ceil(Fraction(quorum) * len(electorate))
    quorum_met = bool(electorate) and len(counted) >= needed
    yes, no = tally.yes, tally.no
    passed = yes > no if majority == "simple" else yes > 0 and 3 * yes >= 2 * (yes + no)
    assert tally.adopted == (quorum_met and passed)
    adopted, reason = rules.close_outcome(tally, short=short, problem=problem)
    assert adopted == (tally.adopted and short is None and problem is None)
    if tally.adopted and short:
        assert reason == f"not adopted: insufficient funds at the close: {short}"
    plan = rules.plan_close(state, tally, adopted=adopted, reason=reason)
    assert plan.result == (DecisionResult.ADOPTED if adopted else DecisionResult.NOT_ADOPTED).value
    assert plan.event_data["tally"] == plan.tally == tally.as_dict()
    assert plan.event_data["result"] == plan.result and plan.event_data["reason"] == reason
    assert plan.event_data["roll"] == sorted(roll) and plan.event_data["electorate"] == sorted(electorate)
