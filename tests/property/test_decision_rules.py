"""Properties of the members' decisions in governance/rules.py (issue 6, acceptance 1 and the record of 5).

Counting: for any generated electorate (member codes), recusals (possibly naming non-members) and
sequence of ballot events (members outside the electorate, repeated ballots, changes, withdrawals), the
tally of ``count_vote(final_ballots(...))`` matches a reference count written here from scratch (walk the
events, keep the last per member, keep the eligible and non-recused, count; quorum and majorities with
``fractions.Fraction``). No member counts twice, recused members never count and leave the denominator,
and the result depends on the final ballots only, not on their order. The same for the written procedure
(``count_no_objection``) and for consensus (``count_consensus``).

The record: a chain built with ``decision_event_hash`` verifies, and so does a record published from it;
any single tampering (an event's choice, member, reason or data changed, an event removed, two events
swapped, the published tally or roll call changed) is reported, and tampering with an event names it (its
seq, its position, or for a removed last event its hash, which the published chain head still carries).
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance import rules

# A small pool, so that electorates, recusals and voters overlap often; "ZZZ" is never a member.
POOL = ("ARG", "BEN", "CHL", "DZA", "ECU", "FJI", "GHA", "HND", "IND", "JOR", "KEN")
OUTSIDERS = ("ZZZ", "QQQ")
CHOICES = ("yes", "no", "abstain")
START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
TITLE = "Fund the proposal"

codes = st.sampled_from(POOL)
any_codes = st.sampled_from(POOL + OUTSIDERS)
electorates = st.frozensets(codes, max_size=len(POOL))
recusal_sets = st.frozensets(any_codes, max_size=6)
# (member, choice) in chain order; None is a ballot withdrawn (a recusal after voting).
ballot_events = st.lists(
    st.tuples(any_codes, st.one_of(st.sampled_from(CHOICES), st.none())),
    max_size=40,
)
vote_only_events = st.lists(st.tuples(any_codes, st.sampled_from(CHOICES)), max_size=40)
majorities = st.sampled_from(rules.MAJORITIES)
# Random quorum shares: 0 to 1 with up to four places, plus the usual charter shares.
quorums = st.one_of(
    st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("0.51"), Decimal("0.6667"), Decimal("1")]),
    st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n).scaleb(-4)),
)

COUNTING = settings(max_examples=300)
RECORDS = settings(max_examples=150)


# ---------------------------------------------------------------- the reference count


def reference_final(events: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Walk the events; the last word of each member stands (a withdrawal removes its ballot)."""
    last: dict[str, str | None] = {}
    for member, choice in events:
        last[member] = choice
    return {member: choice for member, choice in last.items() if choice is not None}


def needed_for(quorum: Decimal, eligible: int) -> int:
    return math.ceil(Fraction(quorum) * eligible)


def reference_vote(
    members: Iterable[str],
    recused: Iterable[str],
    events: Iterable[tuple[str, str | None]],
    *,
    quorum: Decimal,
    majority: str,
) -> dict[str, Any]:
    member_set, recused_set = set(members), set(recused)
    eligible = {m for m in member_set if m not in recused_set}
    voters = {m: c for m, c in reference_final(events).items() if m in eligible}
    yes = len([m for m, c in voters.items() if c == "yes"])
    no = len([m for m, c in voters.items() if c == "no"])
    abstain = len([m for m, c in voters.items() if c == "abstain"])
    quorum_met = len(eligible) > 0 and Fraction(len(voters)) >= Fraction(quorum) * len(eligible)
    simple = yes > no
    qualified = yes + no > 0 and Fraction(yes, yes + no) >= Fraction(2, 3)
    passed = simple if majority == "simple" else qualified
    return {
        "procedure": "vote",
        "eligible": len(eligible),
        "recused": len(member_set & recused_set),
        "participated": len(voters),
        "quorum_needed": needed_for(quorum, len(eligible)),
        "quorum_met": quorum_met,
        "yes": yes,
        "no": no,
        "abstain": abstain,
        "objections": 0,
        "adopted": quorum_met and passed,
    }


def without_reason(tally: rules.Tally) -> dict[str, object]:
    counted = tally.as_dict()
    del counted["reason"]
    return counted


def vote(
    members: Iterable[str], recused: Iterable[str], events: Iterable[tuple[str, str | None]], **rule: Any
) -> rules.Tally:
    return rules.count_vote(members, recused, rules.final_ballots(events), **rule)


def reorder_keeping_last(events: Sequence[tuple[str, Any]], ranks: Sequence[int]) -> list[tuple[str, Any]]:
    """A permutation of ``events`` (by the random ``ranks``) in which each member's last event stays its
    last: the last event is placed right after the highest-ranked event of its member."""
    last_index = {member: index for index, (member, _) in enumerate(events)}
    top_rank: dict[str, int] = {}
    for index, (member, _) in enumerate(events):
        top_rank[member] = max(top_rank.get(member, -1), ranks[index])

    def key(index: int) -> tuple[int, int]:
        member = events[index][0]
        return (top_rank[member], 1) if last_index[member] == index else (ranks[index], 0)

    return [events[i] for i in sorted(range(len(events)), key=key)]


@st.composite
def permuted_events(
    draw: st.DrawFn, events_strategy: st.SearchStrategy[list[tuple[str, Any]]] = ballot_events
) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    events = draw(events_strategy)
    ranks = draw(st.permutations(range(len(events))))
    return events, reorder_keeping_last(events, ranks)


# ---------------------------------------------------------------- vote


@COUNTING
@given(electorates, recusal_sets, ballot_events, quorums, majorities)
def test_count_vote_matches_the_reference_count(
    members: frozenset[str],
    recused: frozenset[str],
    events: list[tuple[str, str | None]],
    quorum: Decimal,
    majority: str,
) -> None:
    tally = vote(members, recused, events, quorum=quorum, majority=majority)
    assert without_reason(tally) == reference_vote(members, recused, events, quorum=quorum, majority=majority)
    if not tally.quorum_met:
        assert tally.reason.startswith("no quorum")
    elif tally.adopted:
        assert tally.reason.startswith("adopted")
    else:
        assert tally.reason.startswith("not adopted")


@COUNTING
@given(electorates, recusal_sets, ballot_events, quorums, majorities, st.randoms(use_true_random=False))
def test_no_member_counts_twice_and_recused_members_never_count(
    members: frozenset[str],
    recused: frozenset[str],
    events: list[tuple[str, str | None]],
    quorum: Decimal,
    majority: str,
    random: Any,
) -> None:
    tally = vote(members, recused, events, quorum=quorum, majority=majority)
    voters = {m for m, c in reference_final(events).items() if m in members and m not in recused}
    assert tally.yes + tally.no + tally.abstain == tally.participated == len(voters)
    assert tally.eligible == len(members - recused) and tally.recused == len(members & recused)
    assert tally.eligible + tally.recused == len(members), "recused members leave the denominator"
    assert tally.quorum_needed == needed_for(quorum, tally.eligible)

    # Ballots of recused members and of non-members, wherever they fall, change nothing.
    padded: list[tuple[str, str | None]] = list(events)
    for noise in [(m, c) for m in sorted(recused | set(OUTSIDERS)) for c in CHOICES]:
        padded.insert(random.randint(0, len(padded)), noise)
    assert vote(members, recused, padded, quorum=quorum, majority=majority) == tally


@COUNTING
@given(electorates, recusal_sets, permuted_events(), quorums, majorities)
def test_the_outcome_depends_on_the_final_ballots_only(
    members: frozenset[str],
    recused: frozenset[str],
    both: tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]],
    quorum: Decimal,
    majority: str,
) -> None:
    events, reordered = both
    assert rules.final_ballots(reordered) == rules.final_ballots(events)
    tally = vote(members, recused, events, quorum=quorum, majority=majority)
    assert vote(members, recused, reordered, quorum=quorum, majority=majority) == tally
    # Only the final ballots, once each, in any order: the same tally as the whole history.
    finals = list(rules.final_ballots(events).items())
    assert rules.count_vote(members, recused, dict(reversed(finals)), quorum=quorum, majority=majority) == tally


@COUNTING
@given(electorates, recusal_sets, vote_only_events, quorums)
def test_a_qualified_majority_is_a_simple_majority_and_more(
    members: frozenset[str], recused: frozenset[str], events: list[tuple[str, str | None]], quorum: Decimal
) -> None:
    simple = vote(members, recused, events, quorum=quorum, majority="simple")
    qualified = vote(members, recused, events, quorum=quorum, majority="qualified")
    assert not qualified.adopted or simple.adopted
    if simple.yes == simple.no:
        assert not simple.adopted and not qualified.adopted, "a tie fails"


@COUNTING
@given(st.integers(min_value=0, max_value=500), quorums)
def test_quorum_needed_is_the_smallest_sufficient_number(eligible: int, quorum: Decimal) -> None:
    needed = rules.quorum_needed(eligible, quorum)
    assert Fraction(needed) >= Fraction(quorum) * eligible
    assert needed == 0 or Fraction(needed - 1) < Fraction(quorum) * eligible


# ---------------------------------------------------------------- the written procedure and consensus


def reference_no_objection(members: Iterable[str], recused: Iterable[str], objectors: Iterable[str]) -> dict[str, Any]:
    member_set, recused_set = set(members), set(recused)
    eligible = member_set - recused_set
    objections = len({o for o in objectors if o in eligible})
    return {
        "procedure": "no_objection",
        "eligible": len(eligible),
        "recused": len(member_set & recused_set),
        "participated": len(eligible),
        "objections": objections,
        "adopted": bool(eligible) and objections == 0,
    }


def reference_consensus(
    members: Iterable[str], recused: Iterable[str], present: Iterable[str], objectors: Iterable[str], quorum: Decimal
) -> dict[str, Any]:
    member_set, recused_set = set(members), set(recused)
    eligible = member_set - recused_set
    attending = {p for p in present if p in eligible}
    objections = len({o for o in objectors if o in attending})
    quorum_met = bool(eligible) and Fraction(len(attending)) >= Fraction(quorum) * len(eligible)
    return {
        "procedure": "consensus",
        "eligible": len(eligible),
        "recused": len(member_set & recused_set),
        "participated": len(attending),
        "quorum_needed": needed_for(quorum, len(eligible)),
        "quorum_met": quorum_met,
        "objections": objections,
        "adopted": quorum_met and objections == 0,
    }


def picked(tally: rules.Tally, fields: Iterable[str]) -> dict[str, Any]:
    counted = tally.as_dict()
    return {name: counted[name] for name in fields}


objector_lists = st.lists(any_codes, max_size=12)


@COUNTING
@given(electorates, recusal_sets, objector_lists, st.randoms(use_true_random=False))
def test_count_no_objection_matches_the_reference(
    members: frozenset[str], recused: frozenset[str], objectors: list[str], random: Any
) -> None:
    tally = rules.count_no_objection(members, recused, objectors)
    expected = reference_no_objection(members, recused, objectors)
    assert picked(tally, expected) == expected
    assert tally.yes == tally.no == tally.abstain == 0
    assert tally.eligible + tally.recused == len(members)
    # Order and repetition of the objections do not matter; objections of recused members or outsiders
    # never count.
    shuffled = objectors + objectors
    random.shuffle(shuffled)
    assert rules.count_no_objection(members, recused, shuffled) == tally
    noise = sorted(recused | set(OUTSIDERS))
    assert rules.count_no_objection(members, recused, noise + objectors) == tally


@COUNTING
@given(
    electorates,
    recusal_sets,
    st.lists(any_codes, max_size=14),
    objector_lists,
    quorums,
    st.randoms(use_true_random=False),
)
def test_count_consensus_matches_the_reference(
    members: frozenset[str],
    recused: frozenset[str],
    present: list[str],
    objectors: list[str],
    quorum: Decimal,
    random: Any,
) -> None:
    tally = rules.count_consensus(members, recused, present, objectors, quorum=quorum)
    expected = reference_consensus(members, recused, present, objectors, quorum)
    assert picked(tally, expected) == expected
    assert tally.eligible + tally.recused == len(members)
    again_present, again_objectors = present * 2, objectors * 2
    random.shuffle(again_present)
    random.shuffle(again_objectors)
    assert rules.count_consensus(members, recused, again_present, again_objectors, quorum=quorum) == tally
    # A recused member or an outsider, present or objecting, changes nothing.
    noise = sorted(recused | set(OUTSIDERS))
    assert rules.count_consensus(members, recused, noise + present, noise + objectors, quorum=quorum) == tally


# ---------------------------------------------------------------- the verifiable record


@dataclass(frozen=True)
class Action:
    kind: str  # ballot, recusal or objection
    member: str
    choice: str | None = None
    reason: str = ""


def stamp(n: int) -> str:
    return (START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_chain(
    decision_id: int,
    procedure: str,
    quorum: Decimal,
    majority: str,
    members: frozenset[str],
    actions: Sequence[Action],
    meeting: tuple[list[str], list[str]] | None,
    *,
    roll: bool = True,
) -> list[dict[str, Any]]:
    """The events of a decision as the service writes them: opened (with its roll, ``members``), the members'
    actions, (a meeting), closed with the recount; each linked to the previous by its hash. Without ``roll``,
    as before rolls were recorded: the opening states no roll and the close lists ``members`` as the
    members active then."""
    events: list[dict[str, Any]] = []

    def add(
        kind: str, *, member: str | None = None, choice: str | None = None, reason: str = "", data: Any = None
    ) -> None:
        event: dict[str, Any] = {
            "decision_id": decision_id,
            "seq": len(events) + 1,
            "kind": kind,
            "member": member,
            "choice": choice,
            "reason": reason,
            "data": data or {},
            "at": stamp(len(events)),
            "prev_hash": events[-1]["hash"] if events else rules.GENESIS,
        }
        event["hash"] = rules.decision_event_hash(event)
        events.append(event)

    if roll:
        amount = {"amount": "107000.00", "currency": "USD"}
        terms: dict[str, Any] = {"proposal_id": 12, "window_id": 3, "amount": amount}
    else:
        terms = {"proposal_id": 12, "window_id": 3, "amount": 10_700_000, "currency": "USD"}
    opened = {"procedure": procedure, "quorum": str(quorum), "majority": majority, "title": TITLE, "terms": terms}
    if roll:
        opened["roll"] = sorted(members)
    add("opened", data=opened)
    for action in actions:
        add(action.kind, member=action.member, choice=action.choice, reason=action.reason, data={})
    if meeting is not None:
        present, objectors = meeting
        add("meeting", reason="Session", data={"present": sorted(set(present)), "objectors": sorted(set(objectors))})
    state = rules.replay(events)
    tally = rules.Replayed(
        state.procedure,
        state.quorum,
        state.majority,
        state.recusals,
        state.ballots,
        state.objectors,
        state.present,
        members,
        None,
    ).tally()
    assert tally is not None
    result = "adopted" if tally.adopted else "not_adopted"
    if roll:
        recused = {m: r for m, r in sorted(state.recusals.items()) if m in members}
        add(
            "closed",
            data={
                "roll": sorted(members),
                "roll_at": "opening",
                "recused": recused,
                "electorate": sorted(members - set(recused)),
                "tally": tally.as_dict(),
                "result": result,
                "reason": tally.reason,
            },
        )
    else:
        add(
            "closed",
            data={"members": sorted(members), "tally": tally.as_dict(), "result": result, "reason": tally.reason},
        )
    return events


def publish(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The record as the API publishes it (the fields verify_record reads), after a JSON round trip."""
    state = rules.replay(events)
    tally = state.tally()
    assert tally is not None and state.closed is not None
    record = {
        "format": rules.RECORD_FORMAT,
        # As the API publishes it: the decision's fields are those of its opening event.
        "decision": {
            "id": events[0]["decision_id"],
            **{k: events[0]["data"].get(k) for k in ("kind", "subject", "title", "text", "terms", "justification")},
            "opens_at": events[0]["at"],
            "closes_at": events[0]["data"].get("closes_at"),
        },
        "rules": {"procedure": state.procedure, "quorum": str(state.quorum), "majority": state.majority},
        "roll_call": [{"member": m, "choice": c, "at": at} for m, (c, at) in sorted(state.ballots.items())],
        "roll": sorted(state.members or ()),
        "roll_at": state.roll_at,
        "recusals": [{"member": m, "reason": r} for m, r in sorted(state.recusals.items())],
        "electorate": sorted(state.electorate or ()),
        "tally": tally.as_dict(),
        "result": state.closed["result"],
        "result_reason": state.closed["reason"],
        "events": events,
        "chain_head": rules.chain_head(events),
    }
    loaded: dict[str, Any] = json.loads(json.dumps(record))
    return loaded


reasons = st.sampled_from(["", "Conflict of interest.", "We need a debate.", "Ministry co-finances it."])


@st.composite
def decision_chains(draw: st.DrawFn, roll: bool | None = None) -> list[dict[str, Any]]:
    """A decision's chain as the service writes it: with a roll fixed at the opening (only its members act,
    none after recusing), or (``roll`` False) as before rolls, where an outsider's action is in the chain and
    simply not counted."""
    with_roll = draw(st.booleans()) if roll is None else roll
    procedure = draw(st.sampled_from(("vote", "vote", "no_objection", "consensus")))
    members = draw(st.frozensets(codes, min_size=1))
    actor = st.sampled_from(sorted(members) + ([] if with_roll else list(OUTSIDERS[:1])))
    kinds = {"vote": ["ballot", "ballot", "ballot", "recusal"], "no_objection": ["objection", "recusal"]}
    actions = []
    recused: set[str] = set()
    for _ in range(draw(st.integers(min_value=0, max_value=25 if procedure == "vote" else 6))):
        kind = draw(st.sampled_from(kinds.get(procedure, ["recusal"])))
        member = draw(actor)
        if with_roll and member in recused:
            continue  # refused by the service: never in a chain
        if kind == "ballot":
            actions.append(Action("ballot", member, draw(st.sampled_from(CHOICES))))
        else:
            actions.append(Action(kind, member, None, draw(reasons)))
            recused |= {member} if kind == "recusal" else set()
    meeting = None
    if procedure == "consensus":
        present = draw(st.lists(actor, max_size=len(members) + 1))
        meeting = (present, draw(st.lists(st.sampled_from(present), max_size=2)) if present else [])
    return build_chain(
        draw(st.integers(min_value=1, max_value=10_000)),
        procedure,
        draw(quorums),
        draw(majorities),
        members,
        actions,
        meeting,
        roll=with_roll,
    )


@RECORDS
@given(decision_chains())
def test_a_chain_built_with_the_event_hash_verifies_and_so_does_its_record(events: list[dict[str, Any]]) -> None:
    assert rules.verify_chain(events) == []
    assert rules.verify_chain(events, events[0]["decision_id"]) == []
    record = publish(events)
    assert rules.verify_record(record) == []
    state = rules.replay(record["events"])
    assert state.closed is not None and state.closed["tally"] == record["tally"]
    # The roll call has one row per member, each that member's last ballot.
    members = [row["member"] for row in record["roll_call"]]
    assert len(members) == len(set(members))


def names_event(problem: str, *, seq: int | None = None, position: int | None = None, digest: str = "") -> bool:
    patterns = []
    if seq is not None:
        patterns.append(rf"\bevent {seq}\b")
    if position is not None:
        patterns.append(rf"\bposition {position}\b")
    if digest:
        patterns.append(re.escape(digest))
    return any(re.search(pattern, problem) for pattern in patterns)


EVENT_TAMPERING = ("choice", "member", "reason", "data", "at", "delete", "swap")


@RECORDS
@given(decision_chains(), st.sampled_from(EVENT_TAMPERING), st.data())
def test_tampering_with_one_event_is_reported_and_names_the_event(
    events: list[dict[str, Any]], tampering: str, data: st.DataObject
) -> None:
    record = publish(events)
    published = record["events"]
    count = len(published)
    index = data.draw(st.integers(min_value=0, max_value=count - 1), label="index")
    target = published[index]
    seq, position, digest = target["seq"], index + 1, ""
    if tampering == "choice":
        ballots = [i for i, e in enumerate(published) if e["kind"] == "ballot"]
        if not ballots:
            tampering = "reason"
        else:
            index = data.draw(st.sampled_from(ballots), label="ballot")
            target, seq, position = published[index], published[index]["seq"], index + 1
            target["choice"] = data.draw(st.sampled_from([c for c in CHOICES if c != target["choice"]]))
    if tampering == "member":
        target["member"] = data.draw(st.sampled_from([c for c in (*POOL, None) if c != target["member"]]))
    elif tampering == "reason":
        target["reason"] = target["reason"] + " (amended)"
    elif tampering == "data":
        target["data"] = {**target["data"], "note": "added later"}
    elif tampering == "at":
        target["at"] = stamp(10_000)
    elif tampering == "delete":
        digest = target["hash"]
        del published[index]
    elif tampering == "swap":
        other = data.draw(st.integers(min_value=0, max_value=count - 1).filter(lambda i: i != index), label="other")
        first = min(index, other)
        published[index], published[other] = published[other], published[index]
        seq, position = None, first + 1

    problems = rules.verify_record(record)
    assert problems, f"{tampering} of event at position {position} went unnoticed"
    assert names_event(problems[0], seq=seq, position=position, digest=digest), (tampering, position, problems)


@RECORDS
@given(decision_chains(), st.data())
def test_changing_the_published_tally_is_reported(events: list[dict[str, Any]], data: st.DataObject) -> None:
    record = publish(events)
    field = data.draw(st.sampled_from(sorted(record["tally"])), label="field")
    value = record["tally"][field]
    if isinstance(value, bool):
        record["tally"][field] = not value
    elif isinstance(value, int):
        record["tally"][field] = value + data.draw(st.sampled_from([-1, 1, 2]))
    else:
        record["tally"][field] = value + "!"
    problems = rules.verify_record(record)
    assert problems and any(p.startswith("tally") for p in problems), problems


ROLL_CALL_TAMPERING = ("choice", "at", "member", "remove", "add")


@RECORDS
@given(decision_chains(), st.sampled_from(ROLL_CALL_TAMPERING), st.data())
def test_changing_the_published_roll_call_is_reported(
    events: list[dict[str, Any]], tampering: str, data: st.DataObject
) -> None:
    record = publish(events)
    roll_call = record["roll_call"]
    voted = {row["member"] for row in roll_call}
    if not roll_call or tampering == "add":
        newcomer = data.draw(st.sampled_from([c for c in (*POOL, *OUTSIDERS) if c not in voted]))
        roll_call.append({"member": newcomer, "choice": data.draw(st.sampled_from(CHOICES)), "at": stamp(1)})
        named = newcomer
    else:
        row = data.draw(st.sampled_from(roll_call), label="row")
        named = row["member"]
        if tampering == "choice":
            row["choice"] = data.draw(st.sampled_from([c for c in CHOICES if c != row["choice"]]))
        elif tampering == "at":
            row["at"] = stamp(10_000)
        elif tampering == "member":
            row["member"] = data.draw(st.sampled_from([c for c in (*POOL, *OUTSIDERS) if c not in voted]))
        else:
            roll_call.remove(row)
    problems = rules.verify_record(record)
    assert any(f"roll call for {named}" in p for p in problems), problems


@RECORDS
@given(decision_chains(), st.data())
def test_changing_the_published_recusals_or_result_is_reported(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    record = publish(events)
    what = data.draw(st.sampled_from(["recusal added", "recusal removed", "recusal reason", "result"]))
    if what == "result" or (what != "recusal added" and not record["recusals"]):
        record["result"] = "not_adopted" if record["result"] == "adopted" else "adopted"
        expected = "result"
    elif what == "recusal added":
        recused = {r["member"] for r in record["recusals"]}
        newcomer = data.draw(st.sampled_from([c for c in POOL if c not in recused]))
        record["recusals"].append({"member": newcomer, "reason": "said later"})
        expected = "recusals"
    elif what == "recusal removed":
        record["recusals"].pop(data.draw(st.integers(0, len(record["recusals"]) - 1)))
        expected = "recusals"
    else:
        row = data.draw(st.sampled_from(record["recusals"]))
        row["reason"] += " (amended)"
        expected = "recusals"
    problems = rules.verify_record(record)
    assert any(p.startswith(expected) for p in problems), problems


# ---------------------------------------------------------------- what the verifier leaves unchecked


def _small_record() -> dict[str, Any]:
    members = frozenset({"ARG", "BEN", "CHL"})
    actions = [
        Action("ballot", "ARG", "no"),
        Action("ballot", "BEN", "yes"),
        Action("ballot", "ARG", "yes"),
        Action("recusal", "CHL", None, "Conflict of interest."),
    ]
    return publish(build_chain(7, "vote", Decimal("0.5"), "simple", members, actions, None))


def test_the_small_record_verifies() -> None:
    record = _small_record()
    assert rules.verify_record(record) == []
    assert record["result"] == "adopted"
    assert [(r["member"], r["choice"]) for r in record["roll_call"]] == [("ARG", "yes"), ("BEN", "yes")]


def _duplicate_roll_call_row(record: dict[str, Any]) -> None:
    # ARG listed twice, first with a "no" it never cast as its final ballot.
    record["roll_call"].insert(0, {**record["roll_call"][0], "choice": "no"})


def _junk_roll_call_row(record: dict[str, Any]) -> None:
    record["roll_call"].append("CHL voted no")


def _roll_call_replaced(record: dict[str, Any]) -> None:
    record["roll_call"] = {"ARG": "no", "BEN": "no"}


def _duplicate_recusal_row(record: dict[str, Any]) -> None:
    record["recusals"].insert(0, {"member": "CHL", "reason": "No reason given."})


def _result_reason_changed(record: dict[str, Any]) -> None:
    record["result_reason"] = "not adopted: 0 yes to 2 no (0 abstaining), simple majority required"


def _electorate_changed(record: dict[str, Any]) -> None:
    record["electorate"] = ["ARG", "BEN", "CHL"]  # CHL recused


def _roll_changed(record: dict[str, Any]) -> None:
    record["roll"] = ["ARG", "BEN"]


def _roll_at_changed(record: dict[str, Any]) -> None:
    record["roll_at"] = "close"


def _close_recused_changed(record: dict[str, Any]) -> None:
    # The close event's statement of the recused, re-hashed as if written so: the recount disagrees.
    events = record["events"]
    events[-1]["data"]["recused"] = {}
    events[-1]["hash"] = rules.decision_event_hash(events[-1])
    record["chain_head"] = events[-1]["hash"]


def _rules_changed(record: dict[str, Any]) -> None:
    record["rules"]["majority"] = "qualified"


def _terms_changed(record: dict[str, Any]) -> None:
    record["decision"]["terms"]["amount"] = 99_000_000


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            _duplicate_roll_call_row,
            id="roll-call-member-listed-twice",
        ),
        pytest.param(
            _junk_roll_call_row,
            id="roll-call-row-not-an-object",
        ),
        pytest.param(
            _roll_call_replaced,
            id="roll-call-not-a-list",
        ),
        pytest.param(
            _duplicate_recusal_row,
            id="recusal-listed-twice",
        ),
        pytest.param(
            _result_reason_changed,
            id="result-reason",
        ),
        pytest.param(
            _electorate_changed,
            id="electorate",
        ),
        pytest.param(
            _roll_changed,
            id="roll",
        ),
        pytest.param(
            _roll_at_changed,
            id="roll-at",
        ),
        pytest.param(
            _close_recused_changed,
            id="close-recused",
        ),
        pytest.param(
            _rules_changed,
            id="rules",
        ),
        pytest.param(
            _terms_changed,
            id="decision-terms",
        ),
    ],
)
def test_every_published_summary_is_checked_against_the_events(tamper: Any) -> None:
    record = _small_record()
    tamper(record)
    assert rules.verify_record(record) != [], "the tampered record verifies as OK"


def test_the_published_tally_equals_a_recount_written_here() -> None:
    """The close event's tally of the small record, recounted by the reference above."""
    record = _small_record()
    events = [(e["member"], e["choice"]) for e in record["events"] if e["kind"] == "ballot"]
    expected = reference_vote({"ARG", "BEN", "CHL"}, {"CHL"}, events, quorum=Decimal("0.5"), majority="simple")
    tally = copy.deepcopy(record["tally"])
    del tally["reason"]
    assert tally == expected


# ---------------------------------------------------------------- the roll (issue 17)


def rehash(events: list[dict[str, Any]], index: int) -> None:
    events[index]["hash"] = rules.decision_event_hash(events[index])


@RECORDS
@given(decision_chains(roll=False))
def test_a_record_published_before_rolls_verifies_in_either_format(events: list[dict[str, Any]]) -> None:
    """A decision opened before rolls: its close listed the members active then. Format 1 published them as
    the electorate (recused members too); format 2 publishes them as the roll, taken at the close."""
    current = publish(events)
    assert current["roll_at"] == "close"
    assert rules.verify_record(current) == []
    earlier = {k: v for k, v in current.items() if k not in ("roll", "roll_at")}
    earlier["format"] = rules.RECORD_FORMAT_1
    earlier["electorate"] = sorted(events[-1]["data"]["members"])
    assert rules.verify_record(earlier) == []


@RECORDS
@given(decision_chains(roll=True), st.data())
def test_changing_the_published_roll_is_reported_naming_the_member(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    record = publish(events)
    roll = record["roll"]
    outside = [c for c in (*POOL, *OUTSIDERS) if c not in roll]
    if outside and (len(roll) == 1 or data.draw(st.booleans())):
        named = data.draw(st.sampled_from(outside))
        record["roll"] = sorted([*roll, named])
    else:
        named = data.draw(st.sampled_from(roll))
        record["roll"] = [c for c in roll if c != named]
    problems = rules.verify_record(record)
    assert any(p.startswith("roll") and named in p for p in problems), problems


@RECORDS
@given(decision_chains(roll=True), st.data())
def test_rewriting_the_roll_of_the_opening_breaks_the_chain_and_is_named(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    record = publish(events)
    opening = record["events"][0]
    roll = opening["data"]["roll"]
    outside = [c for c in POOL if c not in roll]
    named = data.draw(st.sampled_from(outside)) if outside else roll[0]
    opening["data"]["roll"] = sorted({*roll, named} if outside else set(roll) - {named})
    rehash(record["events"], 0)
    record["roll"] = opening["data"]["roll"]
    problems = rules.verify_record(record)
    assert problems and names_event(problems[0], seq=2), problems
    assert any(p.startswith("roll") and named in p for p in problems), problems


@RECORDS
@given(decision_chains(roll=True), st.sampled_from(["outsider", "recused"]), st.data())
def test_a_ballot_by_a_member_off_the_electorate_is_named_even_in_a_linked_chain(
    events: list[dict[str, Any]], who: str, data: st.DataObject
) -> None:
    """A chain the service never writes (a ballot by a member not on the roll, or after its recusal), hashed
    and linked as if it had: the verifier names the event."""
    opening = events[0]["data"]
    recusals = [e["member"] for e in events if e["kind"] == "recusal"]
    if who == "recused" and recusals:
        member = data.draw(st.sampled_from(recusals))
    else:
        member = data.draw(st.sampled_from([c for c in (*POOL, *OUTSIDERS) if c not in opening["roll"]]))
    actions = [
        Action(e["kind"], e["member"], e["choice"], e["reason"])
        for e in events
        if e["kind"] in ("ballot", "objection", "recusal")
    ]
    actions.append(Action("ballot", member, "yes"))
    procedure = "vote"
    forged = build_chain(
        events[0]["decision_id"],
        procedure,
        Decimal(opening["quorum"]),
        opening["majority"],
        frozenset(opening["roll"]),
        actions,
        None,
    )
    seq = len(actions) + 1
    problems = rules.verify_record(publish(forged))
    assert any(names_event(p, seq=seq) and member in p for p in problems), problems
