"""Delegates deciding through the pages, on both backends (issue 18, acceptance 1 and 4 through HTTP; the same
journeys run in a real browser in tests/browser): a ballot cast, changed and withdrawn with its receipt, the
receipt found in the record after the close; a recused member and one of another member told why and offered
no button; a ballot after the deadline refused with its reason; a form error beside its field with the input
kept; the page and the API agreeing on the tally, the roll and the result; the dashboard and the statement."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.models import Role
from governance.rules import verify_record
from tests.conftest import make_settings
from tests.decision_support import (
    DECISIONS,
    available,
    closes_in,
    fund_window,
    open_funding,
    recommended_proposal,
)
from tests.support import (
    PASSWORD,
    Actor,
    Api,
    ProposalWorld,
    accepted,
    add_fx_rate,
    admit_member,
    proposal_world,
    set_fee,
)

pytestmark = pytest.mark.usefixtures("backend")
TABLES = ("decision_events", "ballots", "recusals", "decisions")


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no field {name}"
    return found.group(1)


def sign_in(client: TestClient[Any], actor: Actor) -> None:
    client.cookies.clear()
    form = client.get("/login").text
    response = client.post(
        "/login",
        data={
            "username": actor.username,
            "password": PASSWORD,
            "login_csrf": hidden(form, "login_csrf"),
            "next": "/app",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def notice(page: str) -> str:
    found = re.search(r'<div class="notice" role="status"><p>(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def post_form(client: TestClient[Any], path: str, **fields: str) -> Any:
    token = hidden(client.get("/app").text, "csrf_token")
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


@pytest.fixture
def world(api: Api) -> tuple[ProposalWorld, int]:
    """MEX, SEN and PHL members with a delegate each; a proposal for MEX and SEN recommended by the TAG, put
    to the members by vote (closing in a week) on a window funded well above it."""
    world = proposal_world(api)
    fund_window(api, api.create_user(Role.FINANCE_OFFICER), "SKL", "900000.00")
    proposal_id = recommended_proposal(api, world)
    decision = open_funding(api, world.admin, proposal_id, title="Fund: skills for returning migrants")
    return world, int(decision["id"])


def test_a_delegate_votes_changes_the_ballot_and_finds_its_receipt_in_the_record(
    api: Api, world: tuple[ProposalWorld, int]
) -> None:
    people, decision_id = world
    sign_in(api.client, people.delegates["PHL"])
    page = api.client.get(f"/app/decisions/{decision_id}").text
    assert 'name="choice"' in page and "Philippines is on the roll." in text_of(page)

    first = post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice="yes")
    first_receipt = re.search(r"Its receipt is ([0-9a-f]{64})", notice(api.client.get(first.headers["location"]).text))
    changed = post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice="no")
    shown = api.client.get(changed.headers["location"]).text
    final_receipt = re.search(r"Its new receipt is ([0-9a-f]{64})", notice(shown))

    assert first.status_code == changed.status_code == 303
    assert first_receipt and final_receipt and first_receipt.group(1) != final_receipt.group(1)
    assert "Your member's ballot: No." in text_of(shown)
    download = api.client.get(f"/app/decisions/{decision_id}/receipt.txt")
    assert download.status_code == 200 and f"Receipt: {final_receipt.group(1)}" in download.text
    assert "attachment" in download.headers["content-disposition"]

    api.clock.advance(days=8)  # past the deadline: the next read closes the decision
    sign_in(api.client, people.delegates["PHL"])  # (the session ended meanwhile)
    counted = api.client.get(f"/app/decisions/{decision_id}", params={"receipt": final_receipt.group(1)}).text
    replaced = api.client.get(f"/app/decisions/{decision_id}", params={"receipt": first_receipt.group(1)}).text
    unknown = api.client.get(f"/app/decisions/{decision_id}", params={"receipt": "0" * 64}).text
    assert "This receipt is in the record: the ballot of Philippines (No), counted." in text_of(counted)
    assert "that a later ballot, a withdrawal or a recusal replaced" in text_of(replaced)
    assert "This receipt is not a ballot of this record." in text_of(unknown)
    record = api.client.get(f"/app/decisions/{decision_id}/record.json")
    assert record.status_code == 200 and verify_record(record.json()) == []


def test_a_withdrawn_ballot_leaves_no_ballot_and_the_record_still_verifies(
    api: Api, world: tuple[ProposalWorld, int]
) -> None:
    people, decision_id = world
    sign_in(api.client, people.delegates["SEN"])
    post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice="yes")

    withdrawn = post_form(api.client, f"/app/decisions/{decision_id}/ballot/withdraw")

    assert withdrawn.status_code == 303
    assert "withdrawn" in notice(api.client.get(withdrawn.headers["location"]).text)
    assert api.db.scalar("SELECT count(*) FROM ballots WHERE decision_id = :d", d=decision_id) == 0
    api.clock.advance(days=8)
    record = accepted(api.client.get(f"{DECISIONS}/{decision_id}/record", headers=people.auditor.headers))
    assert verify_record(record) == []
    assert [e["kind"] for e in record["events"]][-2:] == ["ballot_withdrawn", "closed"]
    assert record["roll_call"] == []


def test_a_beneficiary_member_recused_by_the_charter_is_told_why_and_cannot_vote(api: Api) -> None:
    settings = make_settings(
        api.settings.database_url, api.settings.var_dir, FUNDAPP_CHARTER_AUTO_RECUSE_BENEFICIARY_MEMBERS="on"
    )
    with TestClient(create_app(settings, clock=api.clock), base_url="http://testserver.local") as client:
        api.client = client
        people = proposal_world(api)
        fund_window(api, api.create_user(Role.FINANCE_OFFICER), "SKL", "900000.00")
        decision_id = int(open_funding(api, people.admin, recommended_proposal(api, people))["id"])
        sign_in(client, people.delegates["MEX"])
        page = client.get(f"/app/decisions/{decision_id}").text
        before = api.db.snapshot(*TABLES)
        forged = post_form(client, f"/app/decisions/{decision_id}/ballot", choice="yes")

    assert 'name="choice"' not in page
    assert "Your member cannot take part: Your member state is recused from this decision." in text_of(page)
    assert "Mexico: a country of the proposal, recused by the charter" in text_of(page)
    assert forged.status_code == 403 and "Your member state is recused from this decision." in text_of(forged.text)
    assert api.db.snapshot(*TABLES) == before


def test_another_members_ballot_and_statement_are_refused_and_nothing_is_written(
    api: Api, world: tuple[ProposalWorld, int]
) -> None:
    people, decision_id = world
    sign_in(api.client, people.delegates["MEX"])
    before = api.db.snapshot(*TABLES)

    forged = post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice="yes", member_code="SEN")
    statement = api.client.get("/app/members/SEN")

    assert forged.status_code == 403
    assert "A delegate acts only for its own member state." in text_of(forged.text)
    assert statement.status_code == 403 and "Not allowed" in statement.text
    assert api.db.snapshot(*TABLES) == before


def test_a_ballot_after_the_deadline_is_refused_with_the_reason_and_records_nothing(api: Api) -> None:
    people = proposal_world(api)
    fund_window(api, api.create_user(Role.FINANCE_OFFICER), "SKL", "900000.00")
    proposal_id = recommended_proposal(api, people)
    decision_id = int(open_funding(api, people.admin, proposal_id, closes_at=closes_in(api, minutes=20))["id"])
    sign_in(api.client, people.delegates["PHL"])
    token = hidden(api.client.get(f"/app/decisions/{decision_id}").text, "csrf_token")
    api.clock.advance(minutes=20, seconds=1)  # the form was open when the deadline passed

    late = api.client.post(f"/app/decisions/{decision_id}/ballot", data={"csrf_token": token, "choice": "yes"})

    assert late.status_code == 409
    assert "This decision is not open: nothing is accepted after its close." in text_of(late.text)
    assert api.db.scalar("SELECT count(*) FROM decision_events WHERE kind = 'ballot'") == 0


def test_a_form_error_is_shown_beside_its_field_and_keeps_the_input(api: Api, world: tuple[ProposalWorld, int]) -> None:
    people, decision_id = world
    sign_in(api.client, people.delegates["SEN"])
    before = api.db.snapshot(*TABLES)

    refused = post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice="perhaps")
    recusal = post_form(api.client, f"/app/decisions/{decision_id}/recusal", reason="   ")

    assert refused.status_code == 422
    assert re.search(r'id="choice-error">.*Choose one of the options offered\.', refused.text, re.S)
    assert 'href="#choice"' in refused.text
    assert recusal.status_code == 422
    assert re.search(r'id="recusal_reason-error">', recusal.text)
    assert api.db.snapshot(*TABLES) == before


def test_the_page_and_the_api_agree_on_the_tally_the_roll_and_the_result(
    api: Api, world: tuple[ProposalWorld, int]
) -> None:
    people, decision_id = world
    for code, choice in (("MEX", "yes"), ("SEN", "yes"), ("PHL", "abstain")):
        sign_in(api.client, people.delegates[code])
        post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice=choice)
    api.clock.advance(days=8)
    sign_in(api.client, people.auditor)

    page = text_of(api.client.get(f"/app/decisions/{decision_id}").text)
    decision = accepted(api.client.get(f"{DECISIONS}/{decision_id}", headers=people.auditor.headers))
    record = accepted(api.client.get(f"{DECISIONS}/{decision_id}/record", headers=people.auditor.headers))

    tally = decision["tally"]
    assert decision["result"] == "adopted"
    for label, key in (("Yes", "yes"), ("No", "no"), ("Abstain", "abstain"), ("Members counted", "eligible")):
        assert f"{label} {tally[key]}" in page, (label, page)
    assert f"Took part {tally['participated']} (quorum: {tally['quorum_needed']})" in page
    assert "Result adopted" in page
    assert record["roll"] == ["MEX", "PHL", "SEN"]
    assert "Roll at the opening Mexico, Philippines, Senegal" in page
    for member, choice in (("Mexico", "Yes"), ("Philippines", "Abstain"), ("Senegal", "Yes")):
        assert f"{member} {choice}" in page


def test_the_dashboard_shows_what_awaits_the_members_ballot_and_its_standing(
    api: Api, world: tuple[ProposalWorld, int]
) -> None:
    people, decision_id = world
    sign_in(api.client, people.delegates["SEN"])

    awaiting = text_of(api.client.get("/app").text)
    post_form(api.client, f"/app/decisions/{decision_id}/ballot", choice="yes")
    after = text_of(api.client.get("/app").text)

    assert "Fund: skills for returning migrants" in awaiting and "(in 7 days)" in awaiting
    assert "The standing of Senegal" in awaiting and "Part II" in awaiting
    assert "Under the charter, arrears never suspend a vote." in awaiting
    assert "Nothing awaits your member's ballot." in after
    statement = api.client.get("/app/members/SEN")
    assert statement.status_code == 200 and "Annual fees" in statement.text


def test_the_decision_page_speaks_spanish_and_french(api: Api, world: tuple[ProposalWorld, int]) -> None:
    people, decision_id = world
    sign_in(api.client, people.delegates["MEX"])
    window = available(api, None)  # the pooled funds are untouched by the page
    for locale, words in (
        ("es", ("Qué se decide", "Emita el voto de su miembro", "México figura en la lista.")),
        ("fr", ("Ce qui est décidé", "Exprimez le vote de votre membre", "Mexique figure sur la liste.")),
    ):
        api.client.get(f"/language/{locale}?next=/app")
        page = api.client.get(f"/app/decisions/{decision_id}").text
        assert f'<html lang="{locale}">' in page
        for word in words:
            assert word in text_of(page), (locale, word)
    assert available(api, None) == window


def test_the_batched_participation_agrees_with_the_ballots_own_check(
    api: Api, world: tuple[ProposalWorld, int]
) -> None:
    """The dashboard asks ``participation_many`` (one statement for every decision); a ballot asks
    ``participation``'s checks one by one: for members voting, recused, not on a roll, of no member at all,
    on open and closed decisions, both answer alike."""
    from governance.decisions import Decisions
    from governance.models import Decision
    from tests.decision_support import create_decision
    from tests.support import admit_member

    people, funding_id = world
    sign_in(api.client, people.delegates["SEN"])
    post_form(api.client, f"/app/decisions/{funding_id}/ballot", choice="no")
    sign_in(api.client, people.delegates["PHL"])
    post_form(api.client, f"/app/decisions/{funding_id}/recusal", reason="Our minister chairs the partner board.")
    policy = create_decision(api, people.admin, kind="policy", procedure="vote", open=True)["id"]
    admit_member(api, people.admin, "GTM", "II")  # after both opened: on no roll
    closed = create_decision(
        api, people.admin, kind="policy", procedure="vote", open=True, closes_at=closes_in(api, minutes=5)
    )
    api.clock.advance(minutes=6)

    async def compare(database: Any) -> list[tuple[Any, ...]]:
        differences = []
        async with database.session(write=False) as session:
            service = Decisions(session, settings=api.settings, user=None, now=api.clock.now())
            decisions = [await session.get(Decision, i) for i in (funding_id, policy, closed["id"])]
            for code in ("MEX", "SEN", "PHL", "GTM", "ZZZ", None):
                many = await service.participation_many(decisions, code)
                for decision in decisions:
                    one = await service.participation(decision, code)
                    ballot = await service.ballot_of(decision.id, code) if code else None
                    expected = (*one, ballot.choice if ballot else None)
                    if many[decision.id][:1] != expected[:1] or many[decision.id][2] != expected[2]:
                        differences.append((code, decision.id, many[decision.id], expected))
        return differences

    assert api.db.run(compare) == []


def test_the_dashboards_balance_due_is_the_statements(api: Api) -> None:
    """The dashboard sums the member's balance due in one statement; the statement adds up its lines: after a
    fee assessed and paid in part, and a payment in another currency kept as unapplied credit, both agree."""
    admin, officer = api.create_user(Role.SECRETARIAT_ADMIN), api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, admin, 2026, "II", "25000.00")
    senegal = admit_member(api, admin, "SEN", "II")["contributor_id"]
    fee = accepted(api.client.post("/api/v1/assessments", json={"year": 2026}, headers=officer.headers))
    add_fx_rate(api, officer, "EUR", "2026-03-01", "1.080000")
    paid = {
        "contributor_id": senegal,
        "assessment_id": fee["created"][0]["id"],
        "value_date": "2026-03-10",
        "currency": "USD",
        "amount": "10000.00",
    }
    credit = {"contributor_id": senegal, "value_date": "2026-03-11", "currency": "EUR", "amount": "900.00"}
    for payment in (paid, credit):
        accepted(api.client.post("/api/v1/contributions", json=payment, headers=officer.headers), 201)
    delegate = api.create_user(Role.MEMBER_DELEGATE, member_code="SEN")
    statement = accepted(api.client.get("/api/v1/members/SEN/statement", headers=delegate.headers))
    due = statement["balance_due_reporting"]
    assert due["amount"] not in ("0.00", "25000.00")  # paid in part

    sign_in(api.client, delegate)
    standing = text_of(api.client.get("/app").text)
    shown = re.search(r"Balance due US\$([\d,.]+) ", standing)
    assert shown is not None, standing
    assert shown.group(1).replace(",", "") == due["amount"] == "14028.00"  # 25,000 - 10,000 - 900 x 1.08
