"""The one rule of time: nothing that moves money or records a fact is dated after today (the facility's
clock), on both backends. Each refusal is a 422 problem naming the field and the rule ``not-in-future``
(a period that has not ended is a 409 ``period-ended``) and changes nothing; the same request dated today
is accepted, so each test shows the boundary, not only the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.support import (
    GOVERNANCE_TABLES,
    LEDGER,
    LEDGER_TABLES,
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    add_fx_rate,
    approved,
    assert_refused,
    line,
    post_entry,
    posted,
)

pytestmark = pytest.mark.usefixtures("backend")

TABLES = tuple(dict.fromkeys((*GOVERNANCE_TABLES, *LEDGER_TABLES, "ledger_fx_rates", "ledger_periods")))


@dataclass
class World:
    admin: Actor
    officer: Actor
    donor: int
    today: str
    tomorrow: str


@pytest.fixture
def world(api: Api) -> World:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    today = api.clock.now().date()
    return World(admin, officer, donor, today.isoformat(), (today + timedelta(days=1)).isoformat())


def refused_in_the_future(api: Api, send: Any, field: str, *, status: int = 422, rule: str = "not-in-future") -> None:
    """``send()`` is refused with the rule naming ``field``, and no row of any money table changes."""
    before = api.db.snapshot(*TABLES)
    response: httpx.Response = send()
    assert_refused(
        response, status, "dated-in-the-future" if status == 422 else "period-not-ended", field=field, rule=rule
    )
    assert api.db.snapshot(*TABLES) == before


def deposit(api: Api, world: World, value_date: str, key: str) -> httpx.Response:
    body = {"contributor_id": world.donor, "value_date": value_date, "amount": "1000.00", "currency": "USD"}
    return api.client.post(f"{V1}/contributions", json=body, headers={**world.officer.headers, "Idempotency-Key": key})


def test_a_deposit_dated_tomorrow_is_refused_and_one_dated_today_is_recorded(api: Api, world: World) -> None:
    refused_in_the_future(api, lambda: deposit(api, world, world.tomorrow, "tomorrow"), "value_date")
    recorded = accepted(deposit(api, world, world.today, "today"), 201)
    assert recorded["value_date"] == world.today


def test_a_bank_statement_with_a_receipt_dated_tomorrow_records_none_of_its_receipts(api: Api, world: World) -> None:
    receipts = [
        {"contributor_id": world.donor, "value_date": day, "amount": "10.00", "currency": "USD", "idempotency_key": k}
        for k, day in (("a", world.today), ("b", world.tomorrow))
    ]

    def send() -> httpx.Response:
        return api.client.post(
            f"{V1}/contributions/bank-statement", json={"receipts": receipts}, headers=world.officer.headers
        )

    refused_in_the_future(api, send, "receipts.1.value_date")


def test_a_manual_entry_three_weeks_ahead_is_refused(api: Api, world: World) -> None:
    ahead = (api.clock.now().date() + timedelta(weeks=3)).isoformat()
    lines = (line("5300", "100.00"), line("1100", "-100.00"))

    refused_in_the_future(api, lambda: post_entry(api, world.officer, *lines, entry_date=ahead), "entry_date")
    assert posted(api, world.officer, *lines, entry_date=world.today)["entry_date"] == world.today


def test_a_reversal_dated_tomorrow_is_refused(api: Api, world: World) -> None:
    entry = posted(api, world.officer, line("5300", "100.00"), line("1100", "-100.00"), entry_date=world.today)

    def reverse(day: str) -> httpx.Response:
        return api.client.post(
            f"{LEDGER}/entries/{entry['id']}/reverse",
            json={"entry_date": day, "description": "reversed", "reason": "Charged twice"},
            headers=world.officer.headers,
        )

    refused_in_the_future(api, lambda: reverse(world.tomorrow), "entry_date")
    assert approved(api, reverse(world.today))["entry_date"] == world.today


def test_an_exchange_rate_for_tomorrow_is_refused(api: Api, world: World) -> None:
    def rate(day: str) -> httpx.Response:
        body = {"currency": "EUR", "rate_date": day, "rate": "1.080000"}
        return api.client.post(f"{LEDGER}/fx-rates", json=body, headers=world.officer.headers)

    refused_in_the_future(api, lambda: rate(world.tomorrow), "rate_date")
    accepted(rate(world.today), 201)


def test_a_revaluation_as_of_tomorrow_is_refused(api: Api, world: World) -> None:
    add_fx_rate(api, world.officer, "EUR", world.today, "1.080000")

    def revalue(day: str) -> httpx.Response:
        return api.client.post(f"{LEDGER}/revaluations", json={"as_of": day}, headers=world.officer.headers)

    refused_in_the_future(api, lambda: revalue(world.tomorrow), "as_of")
    assert revalue(world.today).status_code in (200, 201)


def test_a_month_closes_only_after_its_last_day(api: Api, world: World) -> None:
    month = api.clock.now().strftime("%Y-%m")

    def close(period: str) -> httpx.Response:
        return api.client.post(f"{LEDGER}/periods/{period}/close", headers=world.officer.headers)

    refused_in_the_future(api, lambda: close(month), "period", status=409, rule="period-ended")
    start = api.clock.now().replace(day=1)
    previous = (start - timedelta(days=1)).strftime("%Y-%m")
    accepted(close(previous))


def test_a_pledge_signed_tomorrow_and_a_condition_met_tomorrow_are_refused(api: Api, world: World) -> None:
    def pledge(signed_on: str, **extra: Any) -> httpx.Response:
        body = {
            "contributor_id": world.donor,
            "amount": "5000.00",
            "currency": "USD",
            "signed_on": signed_on,
            "instalments": [{"due_on": world.tomorrow, "amount": "5000.00"}],
            **extra,
        }
        return api.client.post(f"{V1}/pledges", json=body, headers=world.admin.headers)

    refused_in_the_future(api, lambda: pledge(world.tomorrow), "signed_on")
    conditional = accepted(pledge(world.today, conditional=True, condition="subject to approval"), 201)

    def met(day: str) -> httpx.Response:
        return api.client.post(
            f"{V1}/pledges/{conditional['id']}/condition-met", json={"met_on": day}, headers=world.admin.headers
        )

    refused_in_the_future(api, lambda: met(world.tomorrow), "met_on")
    assert accepted(met(world.today))["condition_met_on"] == world.today
