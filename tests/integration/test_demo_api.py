"""The demo facility, loaded by ``fundapp demo`` and read back through the API (issue acceptance 5).

Twelve members across both tiers, the six GFMD windows, pledges in six currencies with their instalments,
contributions, Bangladesh in arrears, both books balanced, an intact journal chain, and the documented
delegate login reading its own member's statement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fundapp import cli
from fundapp.core.models import Role
from fundapp.demo import DEMO_MEMBERS, DEMO_PASSWORD, DEMO_PLEDGES, Timeline
from tests.support import LEDGER, V1, Actor, Api, accepted, assert_books_balanced, assert_problem, load_demo

pytestmark = pytest.mark.usefixtures("backend")

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def fundapp(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``fundapp ARGS...`` against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("FUNDAPP_DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("FUNDAPP_SECRET_KEY", api.settings.secret_key)
    monkeypatch.setenv("FUNDAPP_VAR_DIR", str(api.settings.var_dir))
    monkeypatch.setenv("FUNDAPP_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("FUNDAPP_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("FUNDAPP_ARGON2_PARALLELISM", "1")

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args), clock=api.clock)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def story(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Timeline:
    """The demo loaded today (or on FUNDAPP_TEST_DEMO_DAY); where its story fell."""
    return load_demo(api, monkeypatch, capsys)


@pytest.fixture
def reader(api: Api, story: Timeline) -> Actor:
    """The demo loaded; an auditor (reads everything) to look at it."""
    return api.create_user(Role.AUDITOR)


def get(api: Api, reader: Actor, path: str, **params: Any) -> Any:
    return accepted(api.client.get(V1 + path, params=params, headers=reader.headers))


def test_the_demo_has_twelve_founding_members_across_both_tiers_and_one_admitted_by_decision(
    api: Api, reader: Actor, story: Timeline
) -> None:
    members = get(api, reader, "/members")

    assert members["total"] == 13
    codes = {m["code"]: m["tier"] for m in members["items"]}
    assert codes == {**{code: tier for code, tier, _ in DEMO_MEMBERS}, "CRI": "II"}
    assert sorted(set(codes.values())) == ["I", "II"]
    assert all(m["status"] == "active" for m in members["items"])
    assert next(m for m in members["items"] if m["code"] == "MEX")["delegates"] == ["delegate.mex"]
    tiers = get(api, reader, "/tiers")
    assert {(t["year"], t["tier"], t["fee"]["amount"], t["fee"]["currency"]) for t in tiers} == {
        (story.year(year), tier, amount, "USD")
        for year in (2025, 2026)
        for tier, amount in (("I", "150000.00"), ("II", "25000.00"))
    } | {(story.year(2027), "I", "160000.00", "USD"), (story.year(2027), "II", "26000.00", "USD")}


def test_the_demo_has_the_six_windows(api: Api, reader: Actor) -> None:
    windows = get(api, reader, "/windows")

    assert {w["code"] for w in windows} == {"LMG", "SKL", "TEC", "PRO", "IRR", "PAR"}
    assert all(w["status"] == "open" and set(w["names"]) == {"en", "es", "fr"} for w in windows)


def test_the_demo_has_pledges_in_six_currencies_with_instalments(api: Api, reader: Actor) -> None:
    pledges = get(api, reader, "/pledges", limit=100)["items"]

    assert len(pledges) == len(DEMO_PLEDGES)
    assert {p["amount"]["currency"] for p in pledges} == {"USD", "EUR", "GBP", "CHF", "JPY", "SEK"}
    for p in pledges:
        assert p["instalments"], p
        total = sum(Decimal(i["amount"]["amount"]) for i in p["instalments"])
        assert total == Decimal(p["amount"]["amount"]), p
    earmarked = {p["window_code"] for p in pledges} - {None}
    assert earmarked == {"SKL", "PRO", "TEC", "LMG", "PAR", "IRR"}
    conditional = [p for p in pledges if p["conditional"]]
    assert len(conditional) == 1 and conditional[0]["condition"]
    jpy = next(p for p in pledges if p["amount"]["currency"] == "JPY")
    assert jpy["amount"]["amount"] == "150000000"  # no decimals in yen


def test_the_demo_has_contributions_for_fees_instalments_and_an_advance(api: Api, reader: Actor) -> None:
    contributions = get(api, reader, "/contributions", limit=100)
    assessments = get(api, reader, "/assessments")

    fees_paid = [a for a in assessments if a["member_code"] != "BGD"]
    instalments_paid = sum(len(p.paid) for p in DEMO_PLEDGES)
    assert contributions["total"] == len(fees_paid) + instalments_paid + 1
    items = contributions["items"]
    assert sum(1 for c in items if c["assessment_id"]) == len(fees_paid)
    assert sum(1 for c in items if c["instalment_id"]) == instalments_paid
    advance = [c for c in items if c["assessment_id"] is None and c["instalment_id"] is None]
    assert len(advance) == 1 and advance[0]["unapplied"] == {"amount": "75000.00", "currency": "USD"}
    assert {c["amount"]["currency"] for c in items} == {"USD", "EUR", "GBP", "CHF", "JPY", "SEK"}
    assert all(c["idempotency_key"] for c in items)


def test_bangladesh_is_the_one_member_in_arrears(api: Api, reader: Actor, story: Timeline) -> None:
    today = api.clock.now().date()
    arrears = get(api, reader, "/arrears")

    overdue = {m["member_code"]: m for m in arrears if m["years_overdue"]}
    assert list(overdue) == ["BGD"]
    bgd = overdue["BGD"]
    assert [(y["year"], y["paid"]["amount"], y["outstanding"]["amount"]) for y in bgd["years"]] == [
        (story.year(2025), "0.00", "25000.00"),
        (story.year(2026), "0.00", "25000.00"),
    ]
    first_due = date.fromisoformat(bgd["years"][0]["due_on"])
    assert first_due < story.last_day
    assert bgd["years"][0]["days_overdue"] == (today - first_due).days
    assert bgd["voting_rights"]["suspended"] is False  # participation is unconditional by default


def test_bangladesh_is_two_years_in_arrears_at_the_end_of_the_story(api: Api, reader: Actor, story: Timeline) -> None:
    arrears = get(api, reader, "/arrears", as_of=story.last_day.isoformat())

    overdue = {m["member_code"]: m["years_overdue"] for m in arrears if m["years_overdue"]}
    assert overdue == {"BGD": 2}


def test_the_demo_ledger_balances_and_its_chain_verifies(api: Api, reader: Actor, fundapp: Run) -> None:
    assert_books_balanced(api, reader)
    trial = accepted(api.client.get(f"{LEDGER}/trial-balance", headers=reader.headers))
    assert {r["account"] for r in trial["rows"]} >= {"1100", "1200", "2300", "2400", "4100", "5200"}

    code, out, _ = fundapp("ledger", "verify")

    assert code == 0
    assert out.startswith("OK: ")
    entries = api.db.count("journal_entries")
    assert f"{entries} journal entries verified" in out
    assert accepted(api.client.get(f"{LEDGER}/verify", headers=reader.headers))["ok"] is True


def test_the_delegate_login_reads_mexicos_statement_and_no_other(api: Api, reader: Actor, story: Timeline) -> None:
    api.login("delegate.mex", DEMO_PASSWORD)

    today = api.client.get(f"{V1}/members/MEX/statement")
    at_the_end = api.client.get(f"{V1}/members/MEX/statement", params={"as_of": story.last_day.isoformat()})
    other = api.client.get(f"{V1}/members/BGD/statement")
    pledges = api.client.get(f"{V1}/pledges")

    assert accepted(today)["member_code"] == "MEX"
    statement = accepted(at_the_end)
    assert (statement["member_code"], statement["as_of"]) == ("MEX", story.last_day.isoformat())
    # Each year's fee is posted on the day it is recognised and paid in full (in advance of its year or not).
    fees = [(line["date"], line["amount"]["amount"]) for line in statement["lines"] if line["kind"] == "assessment"]
    assert fees == [(a["recognised_on"], "150000.00") for a in statement["assessments"]]
    assert [(a["year"], a["outstanding"]["amount"]) for a in statement["assessments"]] == [
        (story.year(2025), "0.00"),
        (story.year(2026), "0.00"),
    ]
    assert sum(Decimal(line["amount"]["amount"]) for line in statement["lines"]) == 0
    assert all(line["date"] <= story.last_day.isoformat() for line in statement["lines"])
    assert statement["balance_due_reporting"] == {"amount": "0.00", "currency": "USD"}
    assert statement["unapplied_credit"] == [] and statement["paid_in_advance"] == []
    body = assert_problem(other, 403)
    assert body["action"] == "governance.member_statement"
    assert_problem(pledges, 403)


def test_loading_the_demo_again_adds_nothing(api: Api, reader: Actor, fundapp: Run) -> None:
    tables = ("members", "tier_fees", "assessments", "contributors", "pledges", "contributions", "journal_entries")
    tables += ("decisions", "benefitting_countries")
    before = api.db.snapshot(*tables)

    code, out, _ = fundapp("demo")

    assert code == 0
    assert "already loaded, nothing added" in out
    assert api.db.snapshot(*tables) == before


def test_the_demo_has_decisions_of_every_kind_with_verifiable_records(api: Api, reader: Actor) -> None:
    from governance.rules import verify_record

    register = get(api, reader, "/decisions")
    decisions = register["items"]
    closed = [d for d in decisions if d["status"] == "closed"]
    assert {d["kind"] for d in closed} == {
        "fund_proposal",
        "admit_member",
        "set_tier",
        "fee_schedule",
        "admin_budget",
        "window_allocation",
        "policy",
        "add_country",
        "concessional_financing",
    }
    assert {d["procedure"] for d in closed} == {"vote", "no_objection", "consensus"}
    short = [d for d in closed if d["kind"] == "fund_proposal" and d["result"] == "not_adopted"]
    assert len(short) == 1 and "insufficient funds" in short[0]["result_reason"]
    open_now = [d for d in decisions if d["status"] == "open"]
    assert {d["procedure"] for d in open_now} == {"vote", "no_objection"}
    for decision in closed:
        record = get(api, reader, f"/decisions/{decision['id']}/record")
        assert verify_record(record) == [], decision["id"]


def test_the_demo_has_an_effective_concessional_operation_with_one_tranche_transferred(api: Api, reader: Actor) -> None:
    from tests.concessional_support import balance

    rows = api.db.rows("SELECT id, status, grant_id, agency_id, country FROM financing_requests")
    assert len(rows) == 1
    row = rows[0]
    assert (row.status, row.country) == ("effective", "JOR")
    assert (
        api.db.scalar("SELECT type FROM organisations WHERE id = :i", i=row.agency_id)
        == "implementation_support_agency"
    )
    assert api.db.scalar("SELECT procedures_agreement_on FROM organisations WHERE id = :i", i=row.agency_id) is not None
    assert balance(api, "8500", grant_id=row.grant_id) == 10_000_000
    assert api.db.scalar("SELECT count(*) FROM users WHERE username = 'worldbank'") == 1


def test_the_demo_has_benefitting_countries_added_by_decision(api: Api, reader: Actor) -> None:
    countries = {c["code"]: c for c in get(api, reader, "/countries")}
    assert {code: c["group"] for code, c in countries.items()} == {
        "COL": "umic",
        "ECU": "umic",
        "JOR": "gcff_a",
        "LBN": "gcff_a",
    }
    assert (countries["JOR"]["discount_rate"], countries["JOR"]["threshold"]) == ("0.07", "0.15")
    decision = get(api, reader, f"/decisions/{countries['JOR']['added_by_decision_id']}")
    assert decision["kind"] == "add_country" and decision["result"] == "adopted"
