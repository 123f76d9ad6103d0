"""Benefitting countries kept by member decision, through the HTTP API on both backends (issue 21): a country
added by a vote (opened, voted, closed when the clock passes the deadline) and listed with its terms; its group
changed; removed; every refusal at the opening naming its field and rule with nothing written; the page in
English and Spanish, and the decision page showing the terms."""

from __future__ import annotations

from typing import Any

import pytest

from fundapp.core.models import Role
from tests.decision_support import after_deadline, cast, closes_in, create_decision, delegates_for
from tests.support import V1, Actor, Api, accepted, assert_problem, audit_events, broken_rules

pytestmark = pytest.mark.usefixtures("backend")
COUNTRIES = f"{V1}/countries"
TABLES = ("decisions", "decision_events", "decision_roll", "benefitting_countries", "benefitting_country_changes")


class People:
    def __init__(self, api: Api) -> None:
        self.admin = api.create_user(Role.SECRETARIAT_ADMIN)
        self.delegates = delegates_for(api, self.admin, ["MEX", "SEN", "PHL"])
        self.auditor = api.create_user(Role.AUDITOR)


@pytest.fixture
def people(api: Api) -> People:
    return People(api)


def decided(api: Api, people: People, **terms: Any) -> dict[str, Any]:
    """A decision on the list opened by the secretariat, voted yes by every member, closed at its deadline."""
    decision = create_decision(api, people.admin, open=True, **terms)
    assert decision["status"] == "open" and decision["procedure"] == "vote", decision
    for delegate in people.delegates.values():
        cast(api, delegate, decision["id"], "yes")
    closed = after_deadline(api, people.auditor, decision)
    assert closed["result"] == "adopted", closed
    return closed


def listed(api: Api, reader: Actor, **params: Any) -> dict[str, dict[str, Any]]:
    found = accepted(api.client.get(f"{COUNTRIES}/", params=params, headers=reader.headers))
    return {country["code"]: country for country in found}


def test_a_country_is_added_its_group_changed_and_removed_by_decision(api: Api, people: People) -> None:
    added = decided(api, people, kind="add_country", country="JOR", group="gcff_a", title="Jordan benefits")
    assert added["terms"] == {"country": "JOR", "group": "gcff_a"} and added["subject"] == "country:JOR"
    assert added["entry_id"] is None, "no money moves"
    reader = api.bound_user(Role.GRANTEE)  # every signed-in user reads the list
    jordan = listed(api, reader)["JOR"]
    assert jordan["group"] == "gcff_a" and jordan["method"] == "oecd_dac"
    assert (jordan["discount_rate"], jordan["threshold"]) == ("0.07", "0.15")
    assert jordan["added_on"] == api.clock.now().date().isoformat() and jordan["added_by_decision_id"] == added["id"]
    assert jordan["current"] is True and jordan["names"]["es"] == "Jordania"

    moved = decided(api, people, kind="set_country_group", country="JOR", group="gcff_b", title="Jordan to B")
    assert moved["terms"]["from_group"] == "gcff_a"
    jordan = listed(api, reader)["JOR"]
    assert (jordan["group"], jordan["discount_rate"], jordan["threshold"]) == ("gcff_b", "0.06", "0.10")

    removed = decided(api, people, kind="remove_country", country="JOR", reason="Crisis over.", title="Jordan off")
    assert "JOR" not in listed(api, reader)
    gone = listed(api, reader, include_removed="true")["JOR"]
    assert gone["current"] is False and gone["removed_by_decision_id"] == removed["id"]
    detail = accepted(api.client.get(f"{COUNTRIES}/jor", headers=reader.headers))
    assert [(h["change"], h["old_group"], h["new_group"], h["decision_id"]) for h in detail["history"]] == [
        ("added", None, "gcff_a", added["id"]),
        ("group", "gcff_a", "gcff_b", moved["id"]),
        ("removed", "gcff_b", None, removed["id"]),
    ]
    assert detail["history"][-1]["reason"] == "Crisis over."
    actions = {e["action"] for e in audit_events(api, people.auditor, object_type="benefitting_country")}
    assert actions == {"country.add", "country.group", "country.remove"}

    again = decided(api, people, kind="add_country", country="JOR", group="lmic", title="Jordan again")
    jordan = listed(api, reader)["JOR"]
    assert jordan["current"] is True and jordan["removed_on"] is None and jordan["added_by_decision_id"] == again["id"]
    assert_problem(api.client.get(f"{COUNTRIES}/LBN", headers=reader.headers), 404)


def test_the_default_method_is_the_oecd_dacs(api: Api, people: People) -> None:
    decided(api, people, kind="add_country", country="COL", group="umic", title="Colombia benefits")
    colombia = listed(api, people.auditor)["COL"]
    assert (colombia["discount_rate"], colombia["threshold"]) == ("0.06", "0.10")


def refused(api: Api, people: People, status: int, field: str, rule: str, **terms: Any) -> None:
    before = api.db.snapshot(*TABLES)
    response = api.client.post(
        f"{V1}/decisions/",
        json={"title": "A country", "text": "As proposed.", "closes_at": closes_in(api, days=7), "open": True, **terms},
        headers=people.admin.headers,
    )
    body = assert_problem(response, status)
    assert (field, rule) in broken_rules(body), body
    assert api.db.snapshot(*TABLES) == before, "a refusal writes nothing"


def test_each_refusal_names_its_field_and_rule_and_writes_nothing(api: Api, people: People) -> None:
    decided(api, people, kind="add_country", country="JOR", group="gcff_a", title="Jordan benefits")
    refused(api, people, 409, "country", "not-a-benefitting-country", kind="add_country", country="JOR", group="lmic")
    refused(api, people, 409, "country", "country-eligible", kind="remove_country", country="LBN", reason="None.")
    refused(api, people, 409, "country", "country-eligible", kind="set_country_group", country="LBN", group="lmic")
    refused(api, people, 409, "group", "group-changes", kind="set_country_group", country="JOR", group="gcff_a")
    refused(api, people, 422, "country", "iso_3166_alpha3", kind="add_country", country="XYZ", group="lmic")
    refused(api, people, 422, "group", "enum", kind="add_country", country="LBN", group="hic")
    refused(api, people, 422, "reason", "required-for-kind", kind="remove_country", country="JOR")
    pending = create_decision(api, people.admin, open=True, kind="remove_country", country="JOR", reason="Over.")
    before = api.db.snapshot(*TABLES)
    response = api.client.post(
        f"{V1}/decisions/",
        json={
            "kind": "set_country_group",
            "country": "JOR",
            "group": "gcff_b",
            "title": "Jordan to B",
            "text": "As proposed.",
            "closes_at": pending["closes_at"],
        },
        headers=people.admin.headers,
    )
    body = assert_problem(response, 409)
    assert body.get("decision_id") == pending["id"] and api.db.snapshot(*TABLES) == before


def test_a_removal_adopted_after_the_country_left_is_not_adopted(api: Api, people: People) -> None:
    decided(api, people, kind="add_country", country="ECU", group="umic", title="Ecuador benefits")
    # Written behind the decisions' back, the country leaves the list while a group change is pending.
    pending = create_decision(api, people.admin, open=True, kind="set_country_group", country="ECU", group="gcff_b")
    for delegate in people.delegates.values():
        cast(api, delegate, pending["id"], "yes")
    api.db.execute("UPDATE benefitting_countries SET removed_on = added_on WHERE code = 'ECU'")
    closed = after_deadline(api, people.auditor, pending)
    assert closed["result"] == "not_adopted" and "not a benefitting country" in closed["result_reason"], closed
    assert api.db.scalar("SELECT \"group\" FROM benefitting_countries WHERE code = 'ECU'") == "umic"


def test_the_page_lists_the_countries_in_english_and_spanish(api: Api, people: People) -> None:
    decided(api, people, kind="add_country", country="JOR", group="gcff_a", title="Jordan benefits")
    added = decided(api, people, kind="add_country", country="COL", group="umic", title="Colombia benefits")
    reader = api.create_user(Role.FINANCE_OFFICER)
    english = api.client.get("/app/countries", headers={**reader.headers, "Accept-Language": "en"})
    assert english.status_code == 200, english.text
    assert "Benefitting countries" in english.text and "Jordan" in english.text and "Colombia" in english.text
    assert "7%" in english.text and "15%" in english.text and "Upper-middle-income country" in english.text
    assert f'href="/app/decisions/{added["id"]}"' in english.text
    assert 'href="/app/countries"' in api.client.get("/app", headers=reader.headers).text, "in the navigation"
    spanish = api.client.get("/app/countries", headers={**reader.headers, "Accept-Language": "es"})
    assert spanish.status_code == 200 and '<html lang="es">' in spanish.text
    assert "Países beneficiarios" in spanish.text and "Jordania" in spanish.text
    decision_page = api.client.get(
        f"/app/decisions/{added['id']}", headers={**people.auditor.headers, "Accept-Language": "es"}
    ).text
    assert "Incorporación de un país beneficiario" in decision_page and "Colombia" in decision_page
    assert "País de ingreso mediano alto" in decision_page and "umbral de elemento de donación" in decision_page
