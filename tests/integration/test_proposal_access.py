"""Who sees and does what with proposals (issue acceptance 3), on both backends.

Four proposals: two organisations' drafts, one in review and one under decision; fourteen callers: the
oversight roles, both organisations' grantees, three delegates, and TAG reviewers in every assignment
status (reviewed, assigned without declaring, conflicted, not assigned). For each caller, proposal and
endpoint the answer is the one the matrix below expects, so nothing answers 2xx unexpectedly: a grantee
never reads another organisation's proposal (404), a reviewer never reads a proposal not assigned to
them, a reviewer with a declared conflict sees nothing of it (not even its attachments), an assigned
reviewer who has not declared sees only the summary (no ``content``); delegates see proposals under
decision and those touching their country; the secretariat and auditors see all. Lists filter the same
way. Writes outside the matrix are refused and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fundapp.core.errors import InvalidInput
from fundapp.core.models import Role
from tests.support import (
    PDF_BYTES,
    PROPOSAL_TABLES,
    PROPOSALS,
    REVIEW_SCORES,
    V1,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    acted,
    assign,
    broken_rules,
    create_proposal,
    declare,
    endorse,
    endorse_by_delegates,
    proposal_content,
    proposal_world,
    submit_review,
    upload,
)

pytestmark = pytest.mark.usefixtures("backend")

PROPOSAL_KEYS = ("own_draft", "other_draft", "in_review", "deciding")
F, S, _ = "full", "summary", None

# What each caller may see of each proposal: the full proposal, its summary only, or nothing (404).
# own_draft (organisation A; MEX, SEN)  other_draft (B; SEN)  in_review (A; MEX, SEN)  deciding (B; SEN)
#                           own_draft  other_draft  in_review  deciding
VISIBILITY: dict[str, tuple[str | None, ...]] = {
    "admin":                (F,         F,           F,         F),
    "auditor":              (F,         F,           F,         F),
    "finance_officer":      (F,         F,           F,         F),
    "finance_approver":     (F,         F,           F,         F),
    "grantee_a":            (F,         _,           F,         _),
    "grantee_b":            (_,         F,           _,         F),
    "delegate_mex":         (F,         _,           F,         F),
    "delegate_sen":         (F,         F,           F,         F),
    "delegate_phl":         (_,         _,           _,         F),
    "reviewer_reviewed":    (_,         _,           F,         F),
    "reviewer_assigned":    (_,         _,           S,         _),
    "reviewer_conflicted":  (_,         _,           _,         _),
    "reviewer_deciding":    (_,         _,           _,         F),
    "reviewer_unassigned":  (_,         _,           _,         _),
}  # fmt: skip
# Who reads a proposal's reviews (all of them, or only their own) among those who see it fully.
READS_ALL_REVIEWS = {"admin", "auditor"}
READS_OWN_REVIEW = {
    ("reviewer_reviewed", "in_review"),
    ("reviewer_reviewed", "deciding"),
    ("reviewer_deciding", "deciding"),
}


@dataclass
class AccessWorld:
    world: ProposalWorld
    actors: dict[str, Actor]
    proposals: dict[str, int]
    attachments: dict[str, int]
    reviews: dict[str, dict[int, int]]  # proposal -> reviewer id -> review id


def sen_only(**changes: Any) -> dict[str, Any]:
    return {"countries": [{"country": "SEN", "share": "100"}], **changes}


@pytest.fixture
def access(api: Api) -> AccessWorld:
    world = proposal_world(api, reviewers=5)
    reviewed, assigned, conflicted, deciding_reviewer, unassigned = world.reviewers
    admin = world.admin
    actors = {
        "admin": admin,
        "auditor": world.auditor,
        "finance_officer": api.create_user(Role.FINANCE_OFFICER),
        "finance_approver": api.create_user(Role.FINANCE_APPROVER),
        "grantee_a": world.grantee,
        "grantee_b": world.other_grantee,
        "delegate_mex": world.delegates["MEX"],
        "delegate_sen": world.delegates["SEN"],
        "delegate_phl": world.delegates["PHL"],
        "reviewer_reviewed": reviewed,
        "reviewer_assigned": assigned,
        "reviewer_conflicted": conflicted,
        "reviewer_deciding": deciding_reviewer,
        "reviewer_unassigned": unassigned,
    }
    assert set(actors) == set(VISIBILITY)
    proposals = {
        "own_draft": create_proposal(api, world.grantee, world.call_id, title="A's draft")["id"],
        "other_draft": create_proposal(api, world.other_grantee, world.call_id, **sen_only(title="B's draft"))["id"],
        "in_review": create_proposal(api, world.grantee, world.call_id, title="A's proposal in review")["id"],
        "deciding": create_proposal(api, world.other_grantee, world.call_id, **sen_only(title="B's deciding"))["id"],
    }
    owner = {"own_draft": world.grantee, "in_review": world.grantee}
    attachments = {
        key: accepted(upload(api, owner.get(key, world.other_grantee), pid, f"{key}.pdf", PDF_BYTES), 201)["id"]
        for key, pid in proposals.items()
    }
    reviews: dict[str, dict[int, int]] = {"in_review": {}, "deciding": {}}

    # In review: one reviewer reviewed, one assigned and silent, one conflicted.
    pid = proposals["in_review"]
    endorse_by_delegates(api, world, pid, "MEX", "SEN")
    acted(api, world.grantee, pid, "submit")
    acted(api, admin, pid, "screen")
    acted(api, admin, pid, "pass")
    accepted(assign(api, admin, pid, reviewed, assigned, conflicted))
    accepted(declare(api, reviewed, pid))
    reviews["in_review"][reviewed.id] = accepted(submit_review(api, reviewed, pid, REVIEW_SCORES[0]), 201)["id"]
    accepted(declare(api, conflicted, pid, conflict=True, reason="Former employee of the applicant."))

    # Under decision: reviewed by two reviewers, recommended and referred.
    pid = proposals["deciding"]
    endorse_by_delegates(api, world, pid, "SEN")
    acted(api, world.other_grantee, pid, "submit")
    acted(api, admin, pid, "screen")
    acted(api, admin, pid, "pass")
    accepted(assign(api, admin, pid, reviewed, deciding_reviewer))
    for reviewer, scores in zip((reviewed, deciding_reviewer), REVIEW_SCORES, strict=True):
        accepted(declare(api, reviewer, pid))
        reviews["deciding"][reviewer.id] = accepted(submit_review(api, reviewer, pid, scores), 201)["id"]
    acted(api, admin, pid, "recommend", "Sound.")
    acted(api, admin, pid, "refer")
    return AccessWorld(world, actors, proposals, attachments, reviews)


def seen(actor: str, proposal: str) -> str | None:
    return VISIBILITY[actor][PROPOSAL_KEYS.index(proposal)]


# ---------------------------------------------------------------- reading one proposal


READS = ("proposal", "history", "endorsements", "submission-check", "attachments", "download", "reviews")


def read(api: Api, access: AccessWorld, actor: str, proposal: str, what: str) -> httpx.Response:
    pid, headers = access.proposals[proposal], access.actors[actor].headers
    path = {
        "proposal": f"{PROPOSALS}/{pid}",
        "download": f"{V1}/attachments/{access.attachments[proposal]}",
    }.get(what, f"{PROPOSALS}/{pid}/{what}")
    return api.client.get(path, headers=headers)


def expected_status(actor: str, proposal: str, what: str) -> int:
    level = seen(actor, proposal)
    if level is None:
        return 404
    if what == "proposal":
        return 200
    if level == S:
        # An undeclared reviewer: the download hides the attachment's existence; the rest name the rule.
        return {"download": 404, "endorsements": 403}.get(what, 403)
    if what == "reviews":
        return 200 if actor in READS_ALL_REVIEWS or (actor, proposal) in READS_OWN_REVIEW else 403
    return 200


def check_read(api: Api, access: AccessWorld, actor: str, proposal: str, what: str) -> str | None:
    """The mismatch with the matrix, described, or None."""
    response = read(api, access, actor, proposal, what)
    want = expected_status(actor, proposal, what)
    if response.status_code != want:
        return f"{actor} GET {what} of {proposal}: {response.status_code}, expected {want}"
    if want != 200:
        return None
    if what == "download":
        return None if response.content == PDF_BYTES else f"{actor} downloads other bytes"
    body = response.json()
    if what == "proposal":
        full = seen(actor, proposal) == F
        if ("content" in body) != full or ("endorsements" in body) != full:
            return f"{actor} reads {proposal} with keys {sorted(body)}"
        if body["id"] != access.proposals[proposal]:
            return f"{actor} reads the wrong proposal"
    if what == "reviews":
        ids = {r["id"] for r in body}
        mine = {
            review
            for reviewer, review in access.reviews.get(proposal, {}).items()
            if reviewer == access.actors[actor].id
        }
        want_ids = set(access.reviews.get(proposal, {}).values()) if actor in READS_ALL_REVIEWS else mine
        if ids != want_ids:
            return f"{actor} reads reviews {ids} of {proposal}, expected {want_ids}"
    return None


def test_every_caller_reads_exactly_what_the_matrix_allows(api: Api, access: AccessWorld) -> None:
    before = api.db.snapshot(*PROPOSAL_TABLES)
    mismatches = [
        problem
        for actor in VISIBILITY
        for proposal in PROPOSAL_KEYS
        for what in READS
        if (problem := check_read(api, access, actor, proposal, what)) is not None
    ]
    assert mismatches == []
    assert api.db.snapshot(*PROPOSAL_TABLES) == before


def test_an_undeclared_reviewer_does_not_read_the_endorsements(api: Api, access: AccessWorld) -> None:
    response = read(api, access, "reviewer_assigned", "in_review", "endorsements")

    assert response.status_code in {403, 404}, response.text


def test_a_conflicted_reviewer_sees_nothing_of_the_proposal(api: Api, access: AccessWorld) -> None:
    reviewer, pid = access.actors["reviewer_conflicted"], access.proposals["in_review"]
    paths = [
        f"{PROPOSALS}/{pid}",
        f"{PROPOSALS}/{pid}/history",
        f"{PROPOSALS}/{pid}/endorsements",
        f"{PROPOSALS}/{pid}/attachments",
        f"{PROPOSALS}/{pid}/reviews",
        f"{PROPOSALS}/{pid}/submission-check",
        f"{V1}/attachments/{access.attachments['in_review']}",
    ]
    for path in paths:
        response = api.client.get(path, headers=reviewer.headers)
        assert response.status_code == 404, (path, response.text)
        assert "A's proposal in review" not in response.text and "%PDF" not in response.text
    listed = accepted(api.client.get(PROPOSALS, headers=reviewer.headers))
    assert listed["items"] == [] and listed["total"] == 0
    # The declaration is made once: no way back to the proposal by declaring again.
    assert declare(api, reviewer, pid).status_code == 409


def test_an_undeclared_reviewer_sees_the_summary_until_declaring(api: Api, access: AccessWorld) -> None:
    reviewer, pid = access.actors["reviewer_assigned"], access.proposals["in_review"]
    summary = accepted(api.client.get(f"{PROPOSALS}/{pid}", headers=reviewer.headers))
    assert "content" not in summary and "consolidated_score" not in summary
    assert summary["title"] == "A's proposal in review"
    assert api.client.get(f"{PROPOSALS}/{pid}/attachments", headers=reviewer.headers).status_code == 403
    early = api.client.post(
        f"{PROPOSALS}/{pid}/reviews",
        json={"scores": {"relevance": {"score": 5}}, "recommendation": "recommend"},
        headers=reviewer.headers,
    )
    assert early.status_code == 409

    accepted(declare(api, reviewer, pid))

    full = accepted(api.client.get(f"{PROPOSALS}/{pid}", headers=reviewer.headers))
    assert full["content"]["title"] == "A's proposal in review"
    download = api.client.get(f"{V1}/attachments/{access.attachments['in_review']}", headers=reviewer.headers)
    assert download.status_code == 200 and download.content == PDF_BYTES


def test_an_anonymous_caller_gets_401_everywhere(api: Api, access: AccessWorld) -> None:
    pid = access.proposals["own_draft"]
    for what in READS:
        path = {"proposal": f"{PROPOSALS}/{pid}", "download": f"{V1}/attachments/{access.attachments['own_draft']}"}
        response = api.client.get(path.get(what, f"{PROPOSALS}/{pid}/{what}"))
        assert response.status_code == 401, (what, response.text)
    assert api.client.get(PROPOSALS).status_code == 401
    assert api.client.post(f"{PROPOSALS}/{pid}/withdraw").status_code == 401


# ---------------------------------------------------------------- lists


COUNTRIES = {"own_draft": {"MEX", "SEN"}, "other_draft": {"SEN"}, "in_review": {"MEX", "SEN"}, "deciding": {"SEN"}}
STATES = {"own_draft": "draft", "other_draft": "draft", "in_review": "in_review", "deciding": "under_decision"}


def listed(api: Api, actor: Actor, **params: Any) -> set[int]:
    page = accepted(api.client.get(PROPOSALS, params={"limit": 200, **params}, headers=actor.headers))
    assert page["total"] == len(page["items"]), page
    assert all("content" not in item for item in page["items"])
    return {item["id"] for item in page["items"]}


def test_every_list_holds_exactly_what_its_caller_may_see(api: Api, access: AccessWorld) -> None:
    org_a, org_b = access.world.organisation_id, access.world.other_organisation_id
    owner = {"own_draft": org_a, "other_draft": org_b, "in_review": org_a, "deciding": org_b}
    filters: list[tuple[dict[str, Any], set[str]]] = [
        ({}, set(PROPOSAL_KEYS)),
        ({"state": "draft"}, {k for k, s in STATES.items() if s == "draft"}),
        ({"state": "under_decision"}, {"deciding"}),
        ({"country": "MEX"}, {k for k, c in COUNTRIES.items() if "MEX" in c}),
        ({"country": "SEN"}, set(PROPOSAL_KEYS)),
        ({"organisation_id": org_a}, {k for k, o in owner.items() if o == org_a}),
        ({"organisation_id": org_b}, {k for k, o in owner.items() if o == org_b}),
        ({"call_id": access.world.call_id}, set(PROPOSAL_KEYS)),
        ({"window": "SKL"}, set(PROPOSAL_KEYS)),
        ({"window": "LMG"}, set()),
    ]
    mismatches = []
    for name, actor in access.actors.items():
        visible = {k for k in PROPOSAL_KEYS if seen(name, k) is not None}
        for params, matching in filters:
            want = {access.proposals[k] for k in visible & matching}
            got = listed(api, actor, **params)
            if got != want:
                mismatches.append(f"{name} {params}: {sorted(got)}, expected {sorted(want)}")
    assert mismatches == []


def test_a_listed_summary_is_what_reading_it_shows(api: Api, access: AccessWorld) -> None:
    for name, actor in access.actors.items():
        page = accepted(api.client.get(PROPOSALS, headers=actor.headers))
        for item in page["items"]:
            one = accepted(api.client.get(f"{PROPOSALS}/{item['id']}", headers=actor.headers))
            assert {k: one[k] for k in item} == item, name


# ---------------------------------------------------------------- writes


def attempt(api: Api, access: AccessWorld, actor: str, proposal: str, what: str) -> httpx.Response:
    pid, who = access.proposals[proposal], access.actors[actor]
    content = proposal_content(**({} if proposal in {"own_draft", "in_review"} else sen_only()))
    if what == "edit":
        content["title"] = {"own_draft": "A's draft", "other_draft": "B's draft"}.get(proposal, content["title"])
        return api.client.put(f"{PROPOSALS}/{pid}", json={"content": content}, headers=who.headers)
    if what == "attach":
        return upload(api, who, pid, "more.pdf", PDF_BYTES)
    if what == "endorse":
        return endorse(api, who, pid, "SEN")
    if what == "assign":
        return assign(api, who, pid, access.actors["reviewer_unassigned"])
    if what == "declare":
        return declare(api, who, pid)
    if what == "review":
        return submit_review(api, who, pid, REVIEW_SCORES[0])
    return api.client.post(f"{PROPOSALS}/{pid}/withdraw", headers=who.headers)


WRITES = ("edit", "attach", "endorse", "assign", "declare", "review", "withdraw")
# The only (caller, proposal, write) triples the API accepts.
ALLOWED = {
    ("grantee_a", "own_draft", "edit"),
    ("grantee_b", "other_draft", "edit"),
    ("grantee_a", "own_draft", "attach"),
    ("grantee_a", "in_review", "attach"),
    ("grantee_b", "other_draft", "attach"),
    ("grantee_b", "deciding", "attach"),
    *(("admin", p, "attach") for p in PROPOSAL_KEYS),
    ("delegate_sen", "own_draft", "endorse"),
    ("delegate_sen", "other_draft", "endorse"),
    ("admin", "in_review", "assign"),
    ("reviewer_assigned", "in_review", "declare"),
    ("grantee_a", "own_draft", "withdraw"),
    ("grantee_b", "other_draft", "withdraw"),
}


def test_no_write_outside_the_matrix_succeeds_or_changes_anything(api: Api, access: AccessWorld) -> None:
    before = api.db.snapshot(*PROPOSAL_TABLES)
    states = api.db.rows("SELECT id, state, version, title, updated_at FROM proposals ORDER BY id")
    unexpected = []
    for actor in VISIBILITY:
        for proposal in PROPOSAL_KEYS:
            for what in WRITES:
                if (actor, proposal, what) in ALLOWED:
                    continue
                response = attempt(api, access, actor, proposal, what)
                if not 400 <= response.status_code < 500:
                    unexpected.append(f"{actor} {what} {proposal}: {response.status_code}")
                elif (
                    # What one may not see, one cannot tell from a missing proposal.
                    seen(actor, proposal) is None
                    and what not in {"assign", "declare", "review"}
                    and response.status_code not in {403, 404}
                ):
                    unexpected.append(f"{actor} {what} {proposal}: {response.status_code} (invisible)")
    assert unexpected == []
    assert api.db.snapshot(*PROPOSAL_TABLES) == before
    assert api.db.rows("SELECT id, state, version, title, updated_at FROM proposals ORDER BY id") == states


def test_every_write_inside_the_matrix_succeeds(api: Api, access: AccessWorld) -> None:
    # Withdrawals last, so the other writes still find the drafts editable.
    for actor, proposal, what in sorted(ALLOWED, key=lambda t: (t[2] == "withdraw", t)):
        response = attempt(api, access, actor, proposal, what)
        assert 200 <= response.status_code < 300, (actor, proposal, what, response.text)


# ---------------------------------------------------------------- bugs found along the way


def test_no_score_is_shown_to_the_applicant_or_other_reviewers_while_in_review(api: Api) -> None:
    world = proposal_world(api, reviewers=2)
    first, second = world.reviewers
    pid = create_proposal(api, world.grantee, world.call_id)["id"]
    endorse_by_delegates(api, world, pid, "MEX", "SEN")
    acted(api, world.grantee, pid, "submit")
    acted(api, world.admin, pid, "screen")
    acted(api, world.admin, pid, "pass")
    accepted(assign(api, world.admin, pid, first, second))
    for reviewer in (first, second):
        accepted(declare(api, reviewer, pid))
    accepted(submit_review(api, first, pid, REVIEW_SCORES[0]), 201)
    # The second reviewer may not read the first one's review...
    assert accepted(api.client.get(f"{PROPOSALS}/{pid}/reviews", headers=second.headers)) == []
    assert api.client.get(f"{PROPOSALS}/{pid}/reviews", headers=world.grantee.headers).status_code == 403

    # ...nor its score through the proposal, and neither may the applicant or a delegate.
    for reader in (second, world.grantee, world.delegates["MEX"]):
        shown = accepted(api.client.get(f"{PROPOSALS}/{pid}", headers=reader.headers))
        assert shown["consolidated_score"] is None, (reader.username, shown["consolidated_score"])


def test_a_grantee_bound_to_no_existing_organisation_cannot_exist(api: Api) -> None:
    """A grantee's organisation must exist: the account is refused (422) before it could ever reach a
    proposal, through the API and the service alike."""
    world = proposal_world(api, reviewers=0)
    body = {
        "username": "orphan-grantee",
        "full_name": "Orphan Grantee",
        "email": "orphan@example.org",
        "password": "a long enough password",
        "roles": ["grantee"],
        "organisation_id": 999,
    }
    before = api.db.snapshot("users", "user_roles", *PROPOSAL_TABLES)

    response = api.client.post(f"{V1}/users", json=body, headers=world.admin.headers)

    assert response.status_code == 422, response.text
    assert ("organisation_id", "organisation-exists") in broken_rules(response.json())
    with pytest.raises(InvalidInput):
        api.create_user(Role.GRANTEE, organisation_id=999)
    assert api.db.snapshot("users", "user_roles", *PROPOSAL_TABLES) == before
