"""Fee years (IPSAS 23: a fee is revenue when the right to it arises, at the start of its year), on both
backends. Assessing next year's fees now issues notices and posts nothing; money paid for a notice is held as
received in advance; on 1 January the first request of the day posts the notices, dated that day, and applies
the advances (fee charged, net made available); nothing is ever dated after the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fundapp import cli
from fundapp.core.models import Role
from tests.support import (
    LEDGER,
    V1,
    Actor,
    Api,
    accepted,
    add_fx_rate,
    admit_member,
    assert_books_balanced,
    set_fee,
)

pytestmark = pytest.mark.usefixtures("backend")


@dataclass
class World:
    admin: Actor
    officer: Actor
    auditor: Actor
    mex: int
    notices: dict[str, dict[str, Any]]


def balance(api: Api, reader: Actor, account: str, **filters: Any) -> Decimal:
    """The account's balance in the reporting currency (debit positive), as the API reports it."""
    params = {"account": account, "group_by": "account", **filters}
    rows = accepted(api.client.get(f"{LEDGER}/balances", params=params, headers=reader.headers))
    return sum((Decimal(r["reporting_amount"]["amount"]) for r in rows), Decimal(0))


def entries_dated_after(api: Api, day: str) -> int:
    return int(api.db.scalar("SELECT count(*) FROM journal_entries WHERE entry_date > :d", d=day))


@pytest.fixture
def world(api: Api) -> World:
    """On 16 March 2026: MEX (Part I) and SEN (Part II) members, fees set for 2026 and for 2027 (2027's in
    EUR), 2026 assessed; 2027 assessed too, a year early."""
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    auditor = api.create_user(Role.AUDITOR)
    for tier, amount in (("I", "150000.00"), ("II", "25000.00")):
        set_fee(api, admin, 2026, tier, amount)
        set_fee(api, admin, 2027, tier, amount, "EUR")
    mex = admit_member(api, admin, "MEX", "I")["contributor_id"]
    admit_member(api, admin, "SEN", "II")
    add_fx_rate(api, officer, "EUR", "2026-03-01", "1.080000")
    accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    run = accepted(api.client.post(f"{V1}/assessments", json={"year": 2027}, headers=officer.headers))
    return World(admin, officer, auditor, mex, {a["member_code"]: a for a in run["created"]})


def test_next_years_fees_are_notices_that_post_nothing_this_year(api: Api, world: World) -> None:
    mex = world.notices["MEX"]
    assert (mex["status"], mex["entry_id"], mex["recognised_on"]) == ("notified", None, None)
    assert mex["assessed_on"] == "2026-03-16" and mex["due_on"] == "2027-03-02"  # 1 January + 60 days
    assert mex["fee"] == {"amount": "150000.00", "currency": "EUR"}
    assert api.db.scalar("SELECT count(*) FROM journal_entries WHERE source_id = 'MEX-2027'") == 0
    revenue = balance(api, world.auditor, "4100")
    assert revenue == Decimal("-175000.00")  # the 2026 fees only
    assert entries_dated_after(api, "2026-03-16") == 0
    listed = {
        (a["year"], a["member_code"]): a["status"]
        for a in accepted(api.client.get(f"{V1}/assessments", headers=world.auditor.headers))
    }
    assert listed[(2026, "MEX")] == "recognised" and listed[(2027, "MEX")] == "notified"


def test_a_payment_for_a_notice_is_held_in_advance_and_applied_on_the_first_of_january(api: Api, world: World) -> None:
    api.clock.current = datetime(2026, 12, 20, 10, tzinfo=UTC)
    add_fx_rate(api, world.officer, "EUR", "2026-12-01", "1.100000")
    paid = accepted(
        api.client.post(
            f"{V1}/contributions",
            json={
                "contributor_id": world.mex,
                "value_date": "2026-12-18",
                "amount": "150000.00",
                "currency": "EUR",
                "assessment_id": world.notices["MEX"]["id"],
            },
            headers={**world.officer.headers, "Idempotency-Key": "mex-2027-early"},
        ),
        201,
    )
    assert paid["advance"] is True and paid["applied_entry_id"] is None
    assert paid["applied"] == {"amount": "150000.00", "currency": "EUR"}
    assert paid["fee"] == {"amount": "0.00", "currency": "EUR"}  # charged when the fee is posted
    assert balance(api, world.auditor, "2450") == Decimal("-165000.00")  # 150,000 EUR at 1.10
    available_before = balance(api, world.auditor, "8200")
    revenue_before = balance(api, world.auditor, "4100")
    statement = accepted(api.client.get(f"{V1}/members/MEX/statement", headers=world.auditor.headers))
    assert statement["paid_in_advance"] == [
        {"balance": {"amount": "150000.00", "currency": "EUR"}, "reporting": {"amount": "165000.00", "currency": "USD"}}
    ]
    assert [a["outstanding"]["amount"] for a in statement["assessments"] if a["year"] == 2027] == ["0.00"]

    # The rate moves before the year ends; the year's first request posts the notices dated 1 January, at
    # the rate of that day, and applies the advance.
    api.clock.current = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    add_fx_rate(api, world.officer, "EUR", "2026-12-31", "1.120000")
    api.clock.current = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    notices = {
        a["member_code"]: a
        for a in accepted(api.client.get(f"{V1}/assessments", headers=world.auditor.headers))
        if a["year"] == 2027
    }

    assert {a["status"] for a in notices.values()} == {"recognised"}
    assert {a["recognised_on"] for a in notices.values()} == {"2027-01-01"}
    applied = accepted(api.client.get(f"{V1}/contributions/{paid['id']}", headers=world.auditor.headers))
    assert applied["applied_entry_id"] is not None
    assert applied["fee"] == {"amount": "1500.00", "currency": "EUR"}  # 1% of what it settles
    entry = accepted(api.client.get(f"{LEDGER}/entries/{applied['applied_entry_id']}", headers=world.auditor.headers))
    assert entry["entry_date"] == "2027-01-01"
    assert balance(api, world.auditor, "2450") == 0
    assert balance(api, world.auditor, "1200", contributor_id=world.mex, currency="EUR") == 0
    # The receivable was posted at 168,000 USD and settled by money held at 165,000: a realised loss of 3,000.
    assert [
        (line["account"], line["reporting_amount"]["amount"])
        for line in entry["postings"]
        if line["account"] in ("4300", "5500")
    ] == [("5500", "3000.00")]
    # The fee is revenue of 2027 (150,000 + 25,000 EUR at 1.12), none of it in 2026's.
    assert balance(api, world.auditor, "4100") - revenue_before == Decimal("-196000.00")
    assert balance(api, world.auditor, "4100", as_of="2026-12-31") == revenue_before
    # The net (148,500 EUR at 1.12) is made available to the pooled fund on 1 January.
    assert balance(api, world.auditor, "8200") - available_before == Decimal("166320.00")
    assert entries_dated_after(api, "2027-01-01") == 0
    assert_books_balanced(api, world.auditor)


def test_the_year_opens_once_whoever_asks_first(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (
        ("FUNDAPP_DATABASE_URL", api.settings.database_url),
        ("FUNDAPP_SECRET_KEY", api.settings.secret_key),
        ("FUNDAPP_VAR_DIR", str(api.settings.var_dir)),
    ):
        monkeypatch.setenv(name, value)
    api.clock.current = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert cli.main(["governance", "open-fee-years"], clock=api.clock) == 0
    assert "no fee notice is due" in capsys.readouterr().out

    api.clock.current = datetime(2027, 1, 3, 8, 0, tzinfo=UTC)
    assert cli.main(["governance", "open-fee-years"], clock=api.clock) == 0
    assert "opened fee years: 2027" in capsys.readouterr().out
    before = api.db.snapshot("journal_entries", "assessments")
    accepted(api.client.get(f"{V1}/assessments", headers=world.auditor.headers))  # the day's first request
    assert cli.main(["governance", "open-fee-years"], clock=api.clock) == 0

    assert "no fee notice is due" in capsys.readouterr().out
    assert api.db.snapshot("journal_entries", "assessments") == before
    dates = api.db.rows(
        "SELECT entry_date FROM journal_entries WHERE source_type = 'assessment' AND source_id LIKE '%-2027'"
    )
    assert {str(d[0]) for d in dates} == {"2027-01-01"}
