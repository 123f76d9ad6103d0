"""Incoming money from fee schedule to statement, through the HTTP API (issue acceptance 1).

One path through the facility, on SQLite and PostgreSQL: fees are set, members admitted (one during the
year, so its fee is pro-rated by whole months), assessed once, a EUR pledge earmarked to a window is paid
at another rate than it was signed at, a conditional pledge waits in deferred revenue until its condition
is met, an overpaid assessment and a payment without a target are kept as unapplied credit. After every
step both books balance. Then what members see: statements, arrears and voting rights, and history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.models import Role
from governance import rules
from ledger import Money
from tests.conftest import make_settings
from tests.support import (
    LEDGER,
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    add_fx_rate,
    admit_member,
    assert_books_balanced,
    set_fee,
)

pytestmark = pytest.mark.usefixtures("backend")

PART_I, PART_II = "150000.00", "25000.00"
# code, tier, joined on: MEX and SEN before 2026, DEU on 1 March (10 months), GTM on 15 February
# (10 months: March to December), ECU on 15 April (8 months), URY after the year (nothing to pay).
MEMBERS = (
    ("MEX", "I", "2024-01-01"),
    ("SEN", "II", "2025-06-20"),
    ("DEU", "I", "2026-03-01"),
    ("GTM", "II", "2026-02-15"),
    ("ECU", "II", "2026-04-15"),
    ("URY", "II", "2027-01-10"),
)
EXPECTED_FEES = {
    "MEX": (12, "150000.00"),
    "SEN": (12, "25000.00"),
    "DEU": (10, "125000.00"),
    "GTM": (10, "20833.33"),
    "ECU": (8, "16666.67"),
}
# Units of USD per EUR: the pledge is signed at the first rate, paid at the second.
EUR_AT_SIGNING, EUR_AT_PAYMENT = "1.080000", "1.100000"


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def postings(api: Api, reader: Actor, entry_id: int) -> list[dict[str, Any]]:
    entry = accepted(api.client.get(f"{LEDGER}/entries/{entry_id}", headers=reader.headers))
    lines: list[dict[str, Any]] = entry["postings"]
    return lines


def on(lines: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    return [p for p in lines if p["account"] == account]


def the_one(lines: list[dict[str, Any]], account: str) -> dict[str, Any]:
    found = on(lines, account)
    assert len(found) == 1, f"expected one line on {account}: {lines}"
    return found[0]


def window_id(api: Api, reader: Actor, code: str) -> int:
    return int(accepted(api.client.get(f"{V1}/windows/{code}", headers=reader.headers))["id"])


def contribute(api: Api, officer: Actor, key: str | None = None, expected: int = 201, **body: Any) -> dict[str, Any]:
    headers = {**officer.headers, **({"Idempotency-Key": key} if key else {})}
    result: dict[str, Any] = accepted(api.client.post(f"{V1}/contributions", json=body, headers=headers), expected)
    return result


def eur_pledge_body(contributor_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "contributor_id": contributor_id,
        "amount": "1000000.00",
        "currency": "EUR",
        "signed_on": "2026-03-02",
        "window_code": "SKL",
        "reference": "CA-2026-DEU",
        "instalments": [
            {"due_on": "2026-03-10", "amount": "600000.00"},
            {"due_on": "2026-09-01", "amount": "400000.00"},
        ],
        **changes,
    }


def test_the_money_path_keeps_both_books_balanced_at_every_step(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    auditor = api.create_user(Role.AUDITOR)

    # The fee schedule, and the members.
    set_fee(api, admin, 2026, "I", PART_I)
    set_fee(api, admin, 2026, "II", PART_II)
    schedule = accepted(api.client.get(f"{V1}/tiers", params={"year": 2026}, headers=auditor.headers))
    assert schedule == [
        {"year": 2026, "tier": "I", "fee": money(PART_I)},
        {"year": 2026, "tier": "II", "fee": money(PART_II)},
    ]
    members = {code: admit_member(api, admin, code, tier, joined) for code, tier, joined in MEMBERS}
    contributor = {code: m["contributor_id"] for code, m in members.items()}
    assert len(set(contributor.values())) == len(MEMBERS)
    assert_books_balanced(api, auditor)

    # Assessment: once per member and year, pro-rated by whole months.
    before = api.db.count("journal_entries")
    run = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    created = {a["member_code"]: a for a in run["created"]}
    assert set(created) == set(EXPECTED_FEES)
    assert run["not_due"] == ["URY"]
    assert run["already_assessed"] == []
    for code, tier, joined in MEMBERS[:5]:
        months, fee = EXPECTED_FEES[code]
        annual = Money.of(PART_I if tier == "I" else PART_II, "USD")
        assert months == rules.months_of_membership(date.fromisoformat(joined), 2026)
        assert fee == rules.prorated_fee(annual, months).to_str()
        a = created[code]
        assert (a["months"], a["fee"], a["tier"]) == (months, money(fee), tier)
        assert a["outstanding"] == money(fee) and a["paid"] == money("0.00")
        assert a["contributor_id"] == contributor[code]
        assert a["assessed_on"] == "2026-03-16" and a["due_on"] == "2026-05-15"  # 60 days (charter)
        lines = postings(api, auditor, a["entry_id"])
        assert sorted((p["account"], p["amount"]["amount"], p["contributor_id"], p["window_id"]) for p in lines) == [
            ("1200", fee, contributor[code], None),
            ("4100", f"-{fee}", contributor[code], None),
        ]
    assert api.db.count("journal_entries") == before + 5
    assert_books_balanced(api, auditor)

    again = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    assert again["created"] == []
    assert sorted(again["already_assessed"]) == sorted(EXPECTED_FEES)
    assert api.db.count("journal_entries") == before + 5
    assert api.db.count("assessments") == 5

    # A EUR pledge earmarked to one window, in two instalments.
    add_fx_rate(api, officer, "EUR", "2026-03-01", EUR_AT_SIGNING)
    add_fx_rate(api, officer, "EUR", "2026-03-10", EUR_AT_PAYMENT)
    skl = window_id(api, auditor, "SKL")
    pledge = accepted(
        api.client.post(f"{V1}/pledges", json=eur_pledge_body(contributor["DEU"]), headers=officer.headers), 201
    )
    assert pledge["window_code"] == "SKL" and pledge["conditional"] is False
    assert [(i["number"], i["amount"]) for i in pledge["instalments"]] == [
        (1, money("600000.00", "EUR")),
        (2, money("400000.00", "EUR")),
    ]
    lines = postings(api, auditor, pledge["entry_id"])
    receivable, revenue = the_one(lines, "1200"), the_one(lines, "4100")
    assert (receivable["amount"], receivable["reporting_amount"]) == (
        money("1000000.00", "EUR"),
        money("1080000.00"),
    )
    assert (revenue["amount"], revenue["reporting_amount"]) == (money("-1000000.00", "EUR"), money("-1080000.00"))
    assert {(p["contributor_id"], p["window_id"]) for p in lines} == {(contributor["DEU"], skl)}
    assert_books_balanced(api, auditor)

    # The first instalment paid at 1.10: cash at the day's rate, the receivable at its carrying value
    # (1.08), the difference a realised gain; the 1% fee; the net made available to the window.
    paid = contribute(
        api,
        officer,
        key="deu-instalment-1",
        contributor_id=contributor["DEU"],
        value_date="2026-03-12",
        amount="600000.00",
        currency="EUR",
        instalment_id=pledge["instalments"][0]["id"],
    )
    assert (paid["applied"], paid["unapplied"], paid["fee"]) == (
        money("600000.00", "EUR"),
        money("0.00", "EUR"),
        money("6000.00", "EUR"),
    )
    assert paid["window_code"] == "SKL"
    lines = postings(api, auditor, paid["entry_id"])
    cash = sorted(on(lines, "1100"), key=lambda p: Decimal(p["amount"]["amount"]))
    assert [(p["amount"], p["reporting_amount"]) for p in cash] == [
        (money("-6000.00", "EUR"), money("-6600.00")),
        (money("600000.00", "EUR"), money("660000.00")),
    ]
    settled = the_one(lines, "1200")
    assert (settled["amount"], settled["reporting_amount"]) == (money("-600000.00", "EUR"), money("-648000.00"))
    assert (settled["contributor_id"], settled["window_id"]) == (contributor["DEU"], skl)
    gain = the_one(lines, "4300")
    assert (gain["amount"], gain["reporting_amount"]) == (money("0.00", "EUR"), money("-12000.00"))
    assert on(lines, "5500") == []
    fee = the_one(lines, "5200")
    assert (fee["amount"], fee["reporting_amount"]) == (money("6000.00", "EUR"), money("6600.00"))
    available, received = the_one(lines, "8200"), the_one(lines, "8100")
    assert (available["amount"], available["window_id"]) == (money("653400.00"), skl)  # 594 000 EUR at 1.10
    assert (received["amount"], received["contributor_id"]) == (money("-653400.00"), contributor["DEU"])
    assert_books_balanced(api, auditor)

    # The same key and body replay the first record; nothing new is posted.
    entries = api.db.count("journal_entries")
    replay = contribute(
        api,
        officer,
        key="deu-instalment-1",
        expected=200,
        contributor_id=contributor["DEU"],
        value_date="2026-03-12",
        amount="600000.00",
        currency="EUR",
        instalment_id=pledge["instalments"][0]["id"],
    )
    assert replay["id"] == paid["id"] and replay["entry_id"] == paid["entry_id"]
    assert api.db.count("journal_entries") == entries and api.db.count("contributions") == 1
    shown = accepted(api.client.get(f"{V1}/pledges/{pledge['id']}", headers=auditor.headers))
    assert (shown["paid"], shown["outstanding"]) == (money("600000.00", "EUR"), money("400000.00", "EUR"))
    assert shown["instalments"][0]["outstanding"] == money("0.00", "EUR")

    # A conditional pledge: deferred revenue, then revenue at the same reporting amount, whatever the
    # rate on the day the condition is met.
    foundation = add_contributor(api, admin, "Nordic Migration Foundation", kind="foundation", country="NOR")
    conditional = accepted(
        api.client.post(
            f"{V1}/pledges",
            json={
                "contributor_id": foundation,
                "amount": "200000.00",
                "currency": "EUR",
                "signed_on": "2026-03-05",
                "conditional": True,
                "condition": "subject to the foundation board's approval",
                "instalments": [{"due_on": "2026-06-30", "amount": "200000.00"}],
            },
            headers=admin.headers,
        ),
        201,
    )
    assert conditional["window_code"] is None and conditional["condition_met_on"] is None
    lines = postings(api, auditor, conditional["entry_id"])
    deferred = the_one(lines, "2300")
    assert (deferred["amount"], deferred["reporting_amount"]) == (money("-200000.00", "EUR"), money("-216000.00"))
    assert on(lines, "4100") == []
    assert_books_balanced(api, auditor)

    met = accepted(
        api.client.post(
            f"{V1}/pledges/{conditional['id']}/condition-met", json={"met_on": "2026-03-13"}, headers=admin.headers
        )
    )
    assert met["condition_met_on"] == "2026-03-13" and met["condition_entry_id"]
    lines = postings(api, auditor, met["condition_entry_id"])
    assert sorted((p["account"], p["amount"]["amount"], p["reporting_amount"]["amount"]) for p in lines) == [
        ("2300", "200000.00", "216000.00"),  # at 1.08, not at the day's 1.10
        ("4100", "-200000.00", "-216000.00"),
    ]
    assert {(p["contributor_id"], p["window_id"]) for p in lines} == {(foundation, None)}
    deferred_left = accepted(
        api.client.get(
            f"{LEDGER}/balances",
            params={"group_by": "account,currency", "account": "2300"},
            headers=auditor.headers,
        )
    )
    assert all(
        Decimal(r["amount"]["amount"]) == 0 and Decimal(r["reporting_amount"]["amount"]) == 0 for r in deferred_left
    )
    assert_books_balanced(api, auditor)

    # An overpaid assessment: the fee is settled, the excess kept as the member's unapplied credit.
    overpaid = contribute(
        api,
        officer,
        key="mex-2026",
        contributor_id=contributor["MEX"],
        value_date="2026-03-16",
        amount="160000.00",
        currency="USD",
        assessment_id=created["MEX"]["id"],
    )
    assert (overpaid["applied"], overpaid["unapplied"], overpaid["fee"]) == (
        money("150000.00"),
        money("10000.00"),
        money("1500.00"),
    )
    lines = postings(api, auditor, overpaid["entry_id"])
    credit = the_one(lines, "2400")
    assert (credit["amount"], credit["contributor_id"], credit["window_id"]) == (
        money("-10000.00"),
        contributor["MEX"],
        None,
    )
    assert the_one(lines, "1200")["amount"] == money("-150000.00")
    assert (the_one(lines, "8200")["amount"], the_one(lines, "8200")["window_id"]) == (money("148500.00"), None)
    assert the_one(lines, "8100")["amount"] == money("-148500.00")
    assert on(lines, "4300") == [] and on(lines, "5500") == []
    assert_books_balanced(api, auditor)

    # A payment that settles nothing: all of it is the contributor's unapplied credit; no fee, nothing
    # made available.
    norway = add_contributor(api, admin, "Government of Norway", country="NOR")
    advance = contribute(
        api,
        officer,
        key="nor-advance",
        contributor_id=norway,
        value_date="2026-03-16",
        amount="50000.00",
        currency="EUR",
    )
    assert (advance["applied"], advance["unapplied"], advance["fee"]) == (
        money("0.00", "EUR"),
        money("50000.00", "EUR"),
        money("0.00", "EUR"),
    )
    assert advance["instalment_id"] is None and advance["assessment_id"] is None and advance["window_code"] is None
    lines = postings(api, auditor, advance["entry_id"])
    assert sorted((p["account"], p["amount"]["amount"], p["reporting_amount"]["amount"]) for p in lines) == [
        ("1100", "50000.00", "55000.00"),
        ("2400", "-50000.00", "-55000.00"),
    ]
    assert_books_balanced(api, auditor)

    # Unapplied credit, per contributor.
    unapplied = accepted(
        api.client.get(
            f"{LEDGER}/balances",
            params={"group_by": "contributor,currency", "account": "2400"},
            headers=auditor.headers,
        )
    )
    assert sorted(
        (r["key"]["contributor"], r["amount"]["amount"], r["amount"]["currency"]) for r in unapplied
    ) == sorted([(contributor["MEX"], "-10000.00", "USD"), (norway, "-50000.00", "EUR")])

    # What the members see.
    mex = accepted(api.client.get(f"{V1}/members/MEX/statement", headers=auditor.headers))
    assert mex["contributor_id"] == contributor["MEX"] and mex["reporting_currency"] == "USD"
    assert [(s["kind"], s["amount"]) for s in mex["lines"]] == [
        ("assessment", money("150000.00")),
        ("payment", money("-150000.00")),
        ("payment", money("-10000.00")),
    ]
    assert mex["receivable"] == [{"balance": money("0.00"), "reporting": money("0.00")}]
    assert mex["unapplied_credit"] == [{"balance": money("10000.00"), "reporting": money("10000.00")}]
    assert mex["balance_due_reporting"] == money("-10000.00")
    assert mex["fx_effects"] == money("0.00")
    assert [(a["year"], a["paid"], a["outstanding"]) for a in mex["assessments"]] == [
        (2026, money("150000.00"), money("0.00"))
    ]
    assert mex["pledges"] == []

    deu = accepted(api.client.get(f"{V1}/members/DEU/statement", headers=auditor.headers))
    assert [(s["date"], s["kind"], s["amount"], s["reporting_amount"]) for s in deu["lines"]] == [
        ("2026-03-02", "pledge", money("1000000.00", "EUR"), money("1080000.00")),
        ("2026-03-12", "payment", money("-600000.00", "EUR"), money("-648000.00")),
        ("2026-03-16", "assessment", money("125000.00"), money("125000.00")),
    ]
    assert deu["receivable"] == [
        {"balance": money("400000.00", "EUR"), "reporting": money("432000.00")},
        {"balance": money("125000.00"), "reporting": money("125000.00")},
    ]
    assert deu["unapplied_credit"] == []
    assert deu["balance_due_reporting"] == money("557000.00")
    assert [(p["id"], p["paid"], p["outstanding"]) for p in deu["pledges"]] == [
        (pledge["id"], money("600000.00", "EUR"), money("400000.00", "EUR"))
    ]
    assert [(a["fee"], a["outstanding"]) for a in deu["assessments"]] == [(money("125000.00"), money("125000.00"))]
    # Before the pledge was paid, the statement showed the whole pledge due.
    early = accepted(
        api.client.get(f"{V1}/members/DEU/statement", params={"as_of": "2026-03-05"}, headers=auditor.headers)
    )
    assert early["receivable"] == [{"balance": money("1000000.00", "EUR"), "reporting": money("1080000.00")}]

    # Arrears: nothing is overdue before the due date; 30 days after it, every unpaid fee is.
    today = accepted(api.client.get(f"{V1}/arrears", headers=auditor.headers))
    assert {m["member_code"]: m["years_overdue"] for m in today} == dict.fromkeys(EXPECTED_FEES, 0)
    later = {
        m["member_code"]: m
        for m in accepted(api.client.get(f"{V1}/arrears", params={"as_of": "2026-06-14"}, headers=auditor.headers))
    }
    assert [(y["year"], y["outstanding"], y["days_overdue"]) for y in later["DEU"]["years"]] == [
        (2026, money("125000.00"), 30)
    ]
    assert [(y["paid"], y["outstanding"], y["days_overdue"]) for y in later["MEX"]["years"]] == [
        (money("150000.00"), money("0.00"), 0)
    ]
    assert {code: m["years_overdue"] for code, m in later.items()} == {
        "MEX": 0,
        "SEN": 1,
        "DEU": 1,
        "GTM": 1,
        "ECU": 1,
    }
    for m in later.values():  # participation is unconditional by default
        assert m["voting_rights"]["suspended"] is False
        assert m["voting_rights"]["rule_on"] is False

    assert_books_balanced(api, auditor)
    verify = accepted(api.client.get(f"{LEDGER}/verify", headers=auditor.headers))
    assert verify["ok"] is True


# ---------------------------------------------------------------- FX effects on the member statement


def test_a_realised_fx_gain_on_a_members_payment_shows_on_its_statement(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    deu = admit_member(api, admin, "DEU", "I", "2024-01-01")
    add_fx_rate(api, officer, "EUR", "2026-03-01", EUR_AT_SIGNING)
    add_fx_rate(api, officer, "EUR", "2026-03-10", EUR_AT_PAYMENT)
    pledge = accepted(
        api.client.post(f"{V1}/pledges", json=eur_pledge_body(deu["contributor_id"]), headers=officer.headers), 201
    )
    paid = contribute(
        api,
        officer,
        contributor_id=deu["contributor_id"],
        value_date="2026-03-12",
        amount="600000.00",
        currency="EUR",
        instalment_id=pledge["instalments"][0]["id"],
    )
    gain = the_one(postings(api, officer, paid["entry_id"]), "4300")
    assert gain["reporting_amount"] == money("-12000.00")

    statement = accepted(api.client.get(f"{V1}/members/DEU/statement", headers=officer.headers))

    # docs/governance.md: the statement shows "the FX effects attributed to it"; a gain is in its favour.
    assert statement["fx_effects"] == money("12000.00")
    assert (gain["contributor_id"], gain["window_id"]) == (deu["contributor_id"], window_id(api, officer, "SKL"))


def test_a_statement_as_of_a_date_counts_only_what_was_paid_by_then(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, admin, 2026, "I", PART_I)
    mex = admit_member(api, admin, "MEX", "I")
    fee = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))["created"][0]
    pledge = accepted(
        api.client.post(
            f"{V1}/pledges",
            json={
                "contributor_id": mex["contributor_id"],
                "amount": "50000.00",
                "currency": "USD",
                "signed_on": "2026-03-02",
                "instalments": [{"due_on": "2026-03-10", "amount": "50000.00"}],
            },
            headers=officer.headers,
        ),
        201,
    )
    api.clock.advance(days=4)  # 20 March
    for target in (
        {"assessment_id": fee["id"], "amount": PART_I},
        {"instalment_id": pledge["instalments"][0]["id"], "amount": "50000.00"},
    ):
        contribute(
            api, officer, contributor_id=mex["contributor_id"], value_date="2026-03-20", currency="USD", **target
        )

    statement = accepted(
        api.client.get(f"{V1}/members/MEX/statement", params={"as_of": "2026-03-18"}, headers=officer.headers)
    )

    assert [line["kind"] for line in statement["lines"]] == ["pledge", "assessment"]
    assert statement["balance_due_reporting"] == money("200000.00")
    assert [(a["paid"], a["outstanding"]) for a in statement["assessments"]] == [(money("0.00"), money(PART_I))]
    assert [(p["paid"], p["outstanding"]) for p in statement["pledges"]] == [(money("0.00"), money("50000.00"))]


# ---------------------------------------------------------------- arrears and voting rights


def _one_year_in_arrears(api: Api) -> tuple[Actor, Actor]:
    """MEX pays its 2026 fee, SEN does not."""
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, admin, 2026, "I", PART_I)
    set_fee(api, admin, 2026, "II", PART_II)
    mex = admit_member(api, admin, "MEX", "I")
    admit_member(api, admin, "SEN", "II")
    run = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    mex_fee = next(a for a in run["created"] if a["member_code"] == "MEX")
    contribute(
        api,
        officer,
        contributor_id=mex["contributor_id"],
        value_date="2026-03-16",
        amount=PART_I,
        currency="USD",
        assessment_id=mex_fee["id"],
    )
    return admin, officer


def _app_with_charter(api: Api, tmp_path: Path, today: str, **charter: str) -> TestClient[Any]:
    """Another app on the same database, with these FUNDAPP_CHARTER_* settings and this date."""
    settings = make_settings(
        api.settings.database_url, tmp_path / "charter-var", **{f"FUNDAPP_CHARTER_{k}": v for k, v in charter.items()}
    )
    day = date.fromisoformat(today)
    clock = FrozenClock(datetime(day.year, day.month, day.day, 9, tzinfo=UTC))
    return TestClient(create_app(settings, clock=clock), base_url="http://testserver.local")


def test_arrears_count_days_overdue_and_never_suspend_a_vote_by_default(api: Api) -> None:
    _, officer = _one_year_in_arrears(api)

    before_due = accepted(api.client.get(f"{V1}/arrears", params={"as_of": "2026-05-15"}, headers=officer.headers))
    overdue = accepted(api.client.get(f"{V1}/arrears", params={"as_of": "2026-07-14"}, headers=officer.headers))

    assert {m["member_code"]: m["years"][0]["days_overdue"] for m in before_due} == {"MEX": 0, "SEN": 0}
    sen = next(m for m in overdue if m["member_code"] == "SEN")
    assert sen["years"] == [
        {
            "year": 2026,
            "assessed": money(PART_II),
            "paid": money("0.00"),
            "outstanding": money(PART_II),
            "due_on": "2026-05-15",
            "days_overdue": 60,
        }
    ]
    assert sen["years_overdue"] == 1
    assert sen["voting_rights"]["suspended"] is False
    assert sen["voting_rights"]["rule_on"] is False
    assert "unconditional" in sen["voting_rights"]["reason"]
    member = accepted(api.client.get(f"{V1}/members/SEN", headers=officer.headers))
    assert member["voting_rights"]["suspended"] is False


def test_with_the_charter_rule_on_a_member_in_arrears_loses_its_vote(api: Api, tmp_path: Path) -> None:
    _, officer = _one_year_in_arrears(api)

    with _app_with_charter(
        api, tmp_path, "2026-07-14", ARREARS_SUSPEND_VOTING="on", ARREARS_YEARS_BEFORE_SUSPENSION="1"
    ) as client:
        arrears = {m["member_code"]: m for m in accepted(client.get(f"{V1}/arrears", headers=officer.headers))}
        sen = accepted(client.get(f"{V1}/members/SEN", headers=officer.headers))
        mex = accepted(client.get(f"{V1}/members/MEX", headers=officer.headers))

    rights = arrears["SEN"]["voting_rights"]
    assert rights["suspended"] is True
    assert (rights["rule_on"], rights["years_before_suspension"]) == (True, 1)
    assert "1 years of fees overdue" in rights["reason"]
    assert sen["voting_rights"] == rights
    assert arrears["MEX"]["voting_rights"]["suspended"] is False
    assert mex["voting_rights"]["suspended"] is False
    # Before the fee falls due nothing is overdue, even with the rule on.
    with _app_with_charter(
        api, tmp_path, "2026-05-15", ARREARS_SUSPEND_VOTING="on", ARREARS_YEARS_BEFORE_SUSPENSION="1"
    ) as client:
        assert accepted(client.get(f"{V1}/members/SEN", headers=officer.headers))["voting_rights"]["suspended"] is False


def test_member_history_keeps_tier_and_status_changes(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    admit_member(api, admin, "GTM", "II", "2025-03-01")
    delegate = api.create_user(Role.MEMBER_DELEGATE, member_code="GTM")

    to_part_one = api.client.patch(
        f"{V1}/members/GTM",
        json={"tier": "I", "reason": "decision 2026/4 of the members", "effective_on": "2026-01-01"},
        headers=admin.headers,
    )
    suspended = api.client.patch(
        f"{V1}/members/GTM", json={"status": "suspended", "reason": "requested by the member"}, headers=admin.headers
    )

    assert accepted(to_part_one)["tier"] == "I"
    assert accepted(suspended)["status"] == "suspended"
    history = accepted(api.client.get(f"{V1}/members/GTM/history", headers=delegate.headers))
    assert [(h["field"], h["old_value"], h["new_value"], h["effective_on"], h["reason"]) for h in history] == [
        ("status", None, "active", "2025-03-01", "admitted"),
        ("tier", "II", "I", "2026-01-01", "decision 2026/4 of the members"),
        ("status", "active", "suspended", "2026-03-16", "requested by the member"),
    ]
    assert {h["changed_by"] for h in history} == {admin.id}
    member = accepted(api.client.get(f"{V1}/members/GTM", headers=delegate.headers))
    assert (member["tier"], member["status"], member["delegates"]) == ("I", "suspended", [delegate.username])
