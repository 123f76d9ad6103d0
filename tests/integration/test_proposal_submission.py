"""What a submission must satisfy (issue acceptance 2), on both backends.

Each rule of ``proposals.rules.submission_problems`` has a case that breaks exactly that rule: the submit
is an ``application/problem+json`` 422 whose ``errors[]`` name that field and rule (and no other), the
submission check (``GET /submission-check``) reports the same, and nothing changes: the proposal stays a
draft of version 0, no version is snapshotted, no transition recorded, no audit event written. The
boundaries that must pass (exactly 7% indirect costs, the call's minimum and maximum grant, shares that sum
to exactly 100, a non-member country endorsed by letter) are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import (
    PDF_BYTES,
    PROPOSAL_TABLES,
    PROPOSALS,
    Api,
    ProposalWorld,
    accepted,
    act,
    assert_problem,
    broken_rules,
    create_call,
    create_organisation,
    create_proposal,
    endorse,
    proposal_state,
    proposal_world,
    upload,
)

pytestmark = pytest.mark.usefixtures("backend")


def amounts(requested: str, budget: list[tuple[str, str]], tranches: list[str]) -> dict[str, Any]:
    """Content changes for a requested amount, budget lines (category, amount) and tranche amounts."""
    return {
        "requested_amount": requested,
        "budget": [{"category": category, "amount": amount} for category, amount in budget],
        "tranches": [
            {"planned_date": f"2026-{7 + 3 * i:02d}-01", "amount": amount, "condition": "none"}
            for i, amount in enumerate(tranches)
        ],
    }


def one_line(amount: str) -> dict[str, Any]:
    return amounts(amount, [("staff", amount)], [amount])


def shares(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"countries": [{"country": c, "share": s} for c, s in pairs]}


@dataclass(frozen=True)
class Case:
    """A draft by an organisation (type, country, due diligence) under a call, its content changed, its
    countries answered (endorsed or declined), and the clock moved on by ``days`` before submitting."""

    call: dict[str, Any] = field(default_factory=dict)
    organisation: tuple[str, str, str] = ("ngo", "MEX", "cleared")
    content: dict[str, Any] = field(default_factory=dict)
    answers: tuple[tuple[str, str], ...] = (("MEX", "endorsed"), ("SEN", "endorsed"))
    days: float = 0


REFUSALS: dict[str, tuple[Case, tuple[str, str]]] = {
    "call not yet open": (
        Case(call={"opens_at": "2026-04-01T00:00:00Z"}),
        ("call_id", "call-open"),
    ),
    "call closed": (
        Case(call={"closes_at": "2026-03-20T00:00:00Z"}, days=5),
        ("call_id", "call-open"),
    ),
    "call closing at this very moment": (
        Case(call={"closes_at": "2026-03-17T09:00:00Z"}, days=1),
        ("call_id", "call-open"),
    ),
    "organisation type not eligible": (
        Case(call={"eligible_types": ["government", "international_organisation"]}),
        ("organisation", "organisation-type-eligible"),
    ),
    "organisation country not eligible": (
        Case(call={"eligible_countries": ["SEN", "PHL"]}),
        ("organisation", "organisation-country-eligible"),
    ),
    "due diligence pending": (
        Case(organisation=("ngo", "MEX", "pending")),
        ("organisation", "due-diligence-cleared"),
    ),
    "due diligence refused": (
        Case(organisation=("ngo", "MEX", "refused")),
        ("organisation", "due-diligence-cleared"),
    ),
    "amount below the minimum grant": (
        Case(content=one_line("49999.99")),
        ("content.requested_amount", "amount-within-call-limits"),
    ),
    "amount above the maximum grant": (
        Case(content=one_line("250000.01")),
        ("content.requested_amount", "amount-within-call-limits"),
    ),
    "budget not summing to the amount requested": (
        Case(
            content=amounts(
                "107000.00",
                [("staff", "60000.00"), ("travel", "40000.00"), ("indirect_support_costs", "6000.00")],
                ["107000.00"],
            )
        ),
        ("content.budget", "budget-sums-to-requested"),
    ),
    "a budget line of zero": (
        Case(content=amounts("107000.00", [("staff", "107000.00"), ("travel", "0.00")], ["107000.00"])),
        ("content.budget", "positive-budget-lines"),
    ),
    "indirect costs a cent above 7% of direct costs": (
        Case(
            content=amounts(
                "107000.01",
                [("staff", "60000.00"), ("travel", "40000.00"), ("indirect_support_costs", "7000.01")],
                ["64200.01", "42800.00"],
            )
        ),
        ("content.budget", "indirect-costs-within-cap"),
    ),
    "indirect costs a cent above 7% of direct costs rounded down": (
        Case(
            content=amounts("10700.11", [("staff", "10000.10"), ("indirect_support_costs", "700.01")], ["10700.11"]),
            call={"min_grant": "10000.00"},
        ),
        ("content.budget", "indirect-costs-within-cap"),
    ),
    "indirect costs only": (
        Case(content=amounts("60000.00", [("indirect_support_costs", "60000.00")], ["60000.00"])),
        ("content.budget", "indirect-costs-within-cap"),
    ),
    "shares summing to 90": (
        Case(content=shares(("MEX", "60"), ("SEN", "30"))),
        ("content.countries", "shares-sum-to-100"),
    ),
    "shares summing to 99.99": (
        Case(
            content=shares(("MEX", "33.33"), ("SEN", "33.33"), ("PHL", "33.33")),
            answers=(("MEX", "endorsed"), ("SEN", "endorsed"), ("PHL", "endorsed")),
        ),
        ("content.countries", "shares-sum-to-100"),
    ),
    "tranches not summing to the amount requested": (
        Case(content={"tranches": [{"planned_date": "2026-07-01", "amount": "100000.00"}]}),
        ("content.tranches", "tranches-sum-to-requested"),
    ),
    "a country not endorsed": (
        Case(answers=(("MEX", "endorsed"),)),
        ("endorsements", "every-country-endorsed"),
    ),
    "a country declined": (
        Case(answers=(("MEX", "endorsed"), ("SEN", "declined"))),
        ("endorsements", "every-country-endorsed"),
    ),
    "a non-member country without its letter": (
        Case(content=shares(("MEX", "60"), ("GTM", "40")), answers=(("MEX", "endorsed"),)),
        ("endorsements", "every-country-endorsed"),
    ),
}

ACCEPTED: dict[str, Case] = {
    "indirect costs exactly 7% of direct costs": Case(),
    "indirect costs of 7% rounded down to the cent": Case(
        content=amounts(
            "10700.10",
            [("staff", "10000.10"), ("indirect_support_costs", "700.00")],
            ["10700.10"],
        ),
        call={"min_grant": "10000.00"},
    ),
    "the minimum grant": Case(content=one_line("50000.00")),
    "the maximum grant": Case(content=one_line("250000.00")),
    "shares of 33.34, 33.33 and 33.33": Case(
        content=shares(("MEX", "33.34"), ("SEN", "33.33"), ("PHL", "33.33")),
        answers=(("MEX", "endorsed"), ("SEN", "endorsed"), ("PHL", "endorsed")),
    ),
    "an eligible government of an eligible country": Case(
        call={"eligible_types": ["government", "ngo"], "eligible_countries": ["MEX"]},
        organisation=("government", "MEX", "cleared"),
    ),
    "a declined endorsement given again as endorsed": Case(
        answers=(("MEX", "endorsed"), ("SEN", "declined"), ("SEN", "endorsed")),
    ),
    "the last second before closing": Case(call={"closes_at": "2026-03-16T09:00:01Z"}),
}


def draft_for(api: Api, world: ProposalWorld, case: Case) -> tuple[int, Any]:
    """The case's draft, answered by its countries; returns its id and the grantee who drafts it."""
    kind, country, due_diligence = case.organisation
    if case.organisation == ("ngo", "MEX", "cleared") and not case.call:
        grantee, call_id = world.grantee, world.call_id
    else:
        organisation_id = create_organisation(
            api, world.admin, f"{kind} of {country}", type=kind, country=country, due_diligence=due_diligence
        )
        grantee = api.create_user(Role.GRANTEE, organisation_id=organisation_id)
        call_id = create_call(api, world.admin, **case.call)["id"]
    pid = int(create_proposal(api, grantee, call_id, **case.content)["id"])
    for country, decision in case.answers:
        accepted(endorse(api, world.delegates[country], pid, country, decision))
    api.clock.advance(days=case.days)
    return pid, grantee


@pytest.mark.parametrize("name", list(REFUSALS))
def test_a_submission_breaking_one_rule_is_refused_naming_it(api: Api, name: str) -> None:
    case, expected = REFUSALS[name]
    world = proposal_world(api, reviewers=0)
    pid, grantee = draft_for(api, world, case)
    check = accepted(api.client.get(f"{PROPOSALS}/{pid}/submission-check", headers=grantee.headers))
    assert check["ready"] is False
    assert {(e["field"], e["rule"]) for e in check["errors"]} == {expected}
    before = api.db.snapshot(*PROPOSAL_TABLES)

    body = assert_problem(act(api, grantee, pid, "submit"), 422)

    assert broken_rules(body) == {expected}, body
    assert proposal_state(api, pid) == ("draft", 0)
    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert api.db.scalar("SELECT count(*) FROM proposal_versions WHERE proposal_id = :id", id=pid) == 0
    assert api.db.scalar("SELECT count(*) FROM proposal_transitions WHERE proposal_id = :id", id=pid) == 0
    assert accepted(api.client.get(f"{PROPOSALS}/{pid}/history", headers=grantee.headers)) == []


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_a_submission_on_the_boundary_of_every_rule_is_accepted(api: Api, name: str) -> None:
    world = proposal_world(api, reviewers=0)
    pid, grantee = draft_for(api, world, ACCEPTED[name])
    check = accepted(api.client.get(f"{PROPOSALS}/{pid}/submission-check", headers=grantee.headers))
    assert check == {"ready": True, "errors": []}

    submitted = accepted(act(api, grantee, pid, "submit"))

    assert (submitted["state"], submitted["version"]) == ("submitted", 1)
    assert api.db.scalar("SELECT count(*) FROM proposal_versions WHERE proposal_id = :id", id=pid) == 1


def test_a_submission_breaking_many_rules_names_them_all(api: Api) -> None:
    world = proposal_world(api, reviewers=0)
    set_pending = create_organisation(api, world.admin, "Pending NGO", country="PHL", due_diligence="pending")
    grantee = api.create_user(Role.GRANTEE, organisation_id=set_pending)
    call_id = create_call(api, world.admin, eligible_types=["government"], eligible_countries=["MEX"])["id"]
    content = {
        **amounts("300000.00", [("staff", "1000.00"), ("indirect_support_costs", "500.00")], ["1.00"]),
        **shares(("MEX", "50"), ("SEN", "40")),
    }
    pid = create_proposal(api, grantee, call_id, **content)["id"]
    api.clock.advance(days=120)
    before = api.db.snapshot(*PROPOSAL_TABLES)

    body = assert_problem(act(api, grantee, pid, "submit"), 422)

    assert broken_rules(body) == {
        ("call_id", "call-open"),
        ("organisation", "organisation-type-eligible"),
        ("organisation", "organisation-country-eligible"),
        ("organisation", "due-diligence-cleared"),
        ("content.requested_amount", "amount-within-call-limits"),
        ("content.budget", "budget-sums-to-requested"),
        ("content.budget", "indirect-costs-within-cap"),
        ("content.countries", "shares-sum-to-100"),
        ("content.tranches", "tranches-sum-to-requested"),
        ("endorsements", "every-country-endorsed"),
    }
    assert proposal_state(api, pid) == ("draft", 0)
    assert api.db.snapshot(*PROPOSAL_TABLES) == before


def test_a_resubmission_is_checked_again(api: Api) -> None:
    """Returned for information, the proposal must still pass every rule (here: the call has closed)."""
    world = proposal_world(api, reviewers=0, closes_at="2026-03-20T00:00:00Z")
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    for country in ("MEX", "SEN"):
        accepted(endorse(api, world.delegates[country], pid, country))
    accepted(act(api, world.grantee, pid, "submit"))
    accepted(act(api, world.admin, pid, "screen"))
    accepted(act(api, world.admin, pid, "return", "Add the partners' letters."))
    api.clock.advance(days=5)
    before = api.db.snapshot(*PROPOSAL_TABLES)

    body = assert_problem(act(api, world.grantee, pid, "submit"), 422)

    assert broken_rules(body) == {("call_id", "call-open")}
    assert proposal_state(api, pid) == ("returned", 1)
    assert api.db.snapshot(*PROPOSAL_TABLES) == before


# ---------------------------------------------------------------- who endorses


def test_a_non_member_country_is_endorsed_by_the_secretariat_with_its_letter(api: Api) -> None:
    world = proposal_world(api, reviewers=0)
    pid = create_proposal(api, world.grantee, world.call_id, **shares(("MEX", "60"), ("GTM", "40")))["id"]
    accepted(endorse(api, world.delegates["MEX"], pid, "MEX"))

    # Without a letter, with a letter of another proposal, or by anyone but the secretariat: refused.
    no_letter = assert_problem(endorse(api, world.admin, pid, "GTM"), 422)
    assert ("letter_attachment_id", "letter-required") in broken_rules(no_letter)
    other = create_proposal(api, world.grantee, world.call_id)["id"]
    foreign_letter = accepted(upload(api, world.grantee, other, "letter.pdf", PDF_BYTES), 201)["id"]
    before = api.db.snapshot(*PROPOSAL_TABLES)
    wrong = assert_problem(endorse(api, world.admin, pid, "GTM", letter_attachment_id=foreign_letter), 422)
    assert ("letter_attachment_id", "letter-required") in broken_rules(wrong)
    letter = accepted(upload(api, world.grantee, pid, "GTM endorsement.pdf", PDF_BYTES), 201)["id"]
    after_upload = api.db.snapshot(*PROPOSAL_TABLES)
    for outsider in (world.delegates["MEX"], world.grantee, world.auditor):
        assert endorse(api, outsider, pid, "GTM", letter_attachment_id=letter).status_code == 403
    assert api.db.snapshot(*PROPOSAL_TABLES) == after_upload
    assert after_upload["attachments"] == before["attachments"] + 1

    accepted(endorse(api, world.admin, pid, "GTM", letter_attachment_id=letter))
    submitted = accepted(act(api, world.grantee, pid, "submit"))
    assert submitted["state"] == "submitted"
    endorsements = {e["country"]: e for e in submitted["endorsements"]}
    assert endorsements["GTM"]["letter_attachment_id"] == letter
    assert endorsements["GTM"]["recorded_by"] == world.admin.id


def test_a_member_country_is_endorsed_only_by_its_own_delegate(api: Api) -> None:
    world = proposal_world(api, reviewers=0)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    before = api.db.snapshot(*PROPOSAL_TABLES)

    for outsider in (world.delegates["SEN"], world.admin):
        body = assert_problem(endorse(api, outsider, pid, "MEX"), 403)
        assert ("", "member-endorses-itself") in broken_rules(body)
    for outsider in (world.grantee, world.auditor):
        assert_problem(endorse(api, outsider, pid, "MEX"), 403)
    # A delegate of a country the draft does not concern does not even see it.
    assert_problem(endorse(api, world.delegates["PHL"], pid, "MEX"), 404)
    assert_problem(endorse(api, world.delegates["PHL"], pid, "PHL"), 404)
    not_concerned = assert_problem(endorse(api, world.admin, pid, "PHL"), 422)
    assert ("country", "country-concerned") in broken_rules(not_concerned)

    assert api.db.snapshot(*PROPOSAL_TABLES) == before


def test_endorsements_are_given_before_submission_only(api: Api) -> None:
    world = proposal_world(api, reviewers=0)
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    for country in ("MEX", "SEN"):
        accepted(endorse(api, world.delegates[country], pid, country))
    accepted(act(api, world.grantee, pid, "submit"))
    before = api.db.snapshot(*PROPOSAL_TABLES)

    body = assert_problem(endorse(api, world.delegates["SEN"], pid, "SEN", "declined"), 409)

    assert ("state", "endorse-before-submission") in broken_rules(body)
    assert api.db.snapshot(*PROPOSAL_TABLES) == before
