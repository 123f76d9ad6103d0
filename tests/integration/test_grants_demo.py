"""The demo's grants, loaded by ``fundapp demo`` and read back through the API, on both backends: a grant at
every stage (awaiting agreement, disbursed in part, with an overdue report, with a refund, closed), each
statement equal to the ledger, both books balanced, and loading again adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from fundapp import cli
from fundapp.core.models import Role
from fundapp.demo import DEMO_PASSWORD
from tests.grants_support import GRANTS, assert_statement_is_the_ledger, reports
from tests.support import Actor, Api, accepted, load_demo

pytestmark = pytest.mark.usefixtures("backend")

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def reader(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Actor:
    """The demo loaded through the command line today (or on FUNDAPP_TEST_DEMO_DAY); an auditor to read it."""
    load_demo(api, monkeypatch, capsys)
    return api.create_user(Role.AUDITOR)


def by_title(api: Api, reader: Actor) -> dict[str, dict[str, Any]]:
    page = accepted(api.client.get(GRANTS, params={"limit": 100}, headers=reader.headers))
    return {g["title"]: g for g in page["items"]}


def test_the_demo_has_a_grant_at_every_stage(api: Api, reader: Actor) -> None:
    grants = by_title(api, reader)
    statements = {title: assert_statement_is_the_ledger(api, reader, g["id"]) for title, g in grants.items()}

    awaiting = statements["Digital identity for migrant workers"]
    assert (awaiting["status"], awaiting["allocated"]["amount"]) == ("awaiting_agreement", "350000.00")
    assert awaiting["decision_id"] is not None

    partly = statements["Vocational training in origin communities"]
    assert partly["status"] == "active"
    assert (partly["disbursed"]["amount"], partly["tranches"][0]["state"]) == ("100000.00", "partly_paid")

    overdue = statements["Emergency assistance to stranded migrants"]
    assert overdue["overdue_reports"] == 1
    final = reports(api, reader, overdue["id"])[-1]
    ended = date.fromisoformat(overdue["end_date"])
    assert (final["kind"], final["due_on"], final["status"], final["overdue"]) == (
        "final",
        (ended + timedelta(days=90)).isoformat(),  # the charter's final report, 90 days after the end
        "due",
        True,
    )
    listed = accepted(api.client.get(GRANTS, params={"overdue": "true"}, headers=reader.headers))
    assert overdue["id"] in {g["id"] for g in listed["items"]}

    refunded = statements["Ethical recruitment training for employers"]
    assert (refunded["refunded"]["amount"], refunded["disbursed"]["amount"]) == ("15000.00", "120000.00")

    closed = statements["Diaspora skills exchange pilot"]
    assert closed["status"] == "closed"
    assert (closed["committed"]["amount"], closed["disbursed"]["amount"], closed["remaining"]["amount"]) == (
        "0.00",
        "96000.00",
        "0.00",
    )
    assert [t["state"] for t in closed["tranches"]] == ["paid", "released"]
    assert closed["close_entry_id"] is not None
    assert {g["status"] for g in grants.values()} == {"awaiting_agreement", "active", "closed"}


def test_the_demo_grantee_sees_its_own_grants(api: Api, reader: Actor) -> None:
    api.login("grantee2", DEMO_PASSWORD)
    mine = accepted(api.client.get(GRANTS))
    assert {g["organisation_name"] for g in mine["items"]} == {"Ministry of Labour of Senegal"}
    assert {g["title"] for g in mine["items"]} == {
        "Digital identity for migrant workers",
        "Emergency assistance to stranded migrants",
    }


def test_loading_the_demo_again_adds_no_grant(api: Api, reader: Actor, capsys: pytest.CaptureFixture[str]) -> None:
    tables = ("grants", "grant_tranches", "disbursements", "grant_reports", "grant_refunds", "journal_entries")
    before = api.db.snapshot(*tables)
    assert cli.main(["demo"], clock=api.clock) == 0
    assert "already loaded, nothing added" in capsys.readouterr().out
    assert api.db.snapshot(*tables) == before
