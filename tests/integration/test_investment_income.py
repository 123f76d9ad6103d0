"""Investment income through the HTTP API, on SQLite and PostgreSQL (issue 21): a finance officer records the
interest earned over a period, allocated to the pooled fund and the windows by their time-weighted balances;
only a second person's approval posts it, both books balance, and each donor's contributor report shows its
share of its funds' income. Every refusal names its field and rule and writes nothing."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import httpx
import pytest

from fundapp.core.models import Role
from tests.decision_support import fund_window
from tests.support import (
    LEDGER,
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    approvers,
    assert_books_balanced,
    broken_rules,
    ledger_state,
)

pytestmark = pytest.mark.usefixtures("backend")

INCOME = f"{V1}/investment-income"


def record(api: Api, officer: Actor, key: str | None = None, **changes: Any) -> httpx.Response:
    body = {
        "currency": "USD",
        "amount": "1000.00",
        "period_start": "2026-03-16",
        "period_end": "2026-03-31",
        "bank_reference": "STMT-2026-03",
        **changes,
    }
    headers = {**officer.headers, **({"Idempotency-Key": key} if key else {})}
    return api.client.post(f"{INCOME}/", json=body, headers=headers)


def state(api: Api) -> dict[str, Any]:
    return {**ledger_state(api), "income": api.db.count("investment_income"), "audit": api.db.count("audit_events")}


def refused(response: httpx.Response, status: int, field: str, rule: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (field, rule) in broken_rules(response.json()), response.json()


def report_income(api: Api, reader: Actor, contributor_id: int) -> int:
    """The contributor's total share of investment income (minor units), from its report's shares table."""
    report = accepted(
        api.client.get(f"{V1}/reports/contributors/{contributor_id}", params={"format": "json"}, headers=reader.headers)
    )
    table = next(t for t in report["tables"] if t["key"] == "shares")
    column = [c["key"] for c in table["columns"]].index("income")
    total = table["rows"][-1]["cells"][column]
    return round(Fraction(total["amount"]) * 100) if total is not None else 0


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """Cash held from 16 March: 99,000.00 in the pooled fund (a donor's 100,000 less the 1% fee) for the 16
    days to 31 March, and from 26 March 297,000.00 in the window EDU, for 6 days."""
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    window = {"code": "EDU", "name_en": "Education", "name_es": "Educación", "name_fr": "Éducation"}
    edu = accepted(api.client.post(f"{V1}/windows", json=window, headers=admin.headers), 201)["id"]
    pooled_donor = fund_window(api, officer, None, "100000.00", name="Pooled donor")
    api.clock.advance(days=10)
    window_donor = fund_window(api, officer, "EDU", "300000.00", name="Window donor")
    api.clock.advance(days=15)  # 10 April
    return {"officer": officer, "edu": edu, "pooled_donor": pooled_donor, "window_donor": window_donor}


def test_recorded_income_is_allocated_by_time_weighted_balances_and_posted_by_a_second_person(
    api: Api, world: dict[str, Any]
) -> None:
    officer, edu = world["officer"], world["edu"]
    auditor = api.create_user(Role.AUDITOR)
    before = ledger_state(api)
    recorded = accepted(record(api, officer), 202)
    assert (recorded["status"], recorded["approvals_needed"], recorded["entry_id"]) == ("pending", 1, None)
    after = ledger_state(api)  # nothing posted until it is approved (the record's audit event only)
    assert (after["head"], after["counts"]["postings"]) == (before["head"], before["counts"]["postings"])
    parts = {share["window_id"]: share for share in recorded["allocation"]}
    assert set(parts) == {None, edu}
    pooled_days, edu_days = 9_900_000 * 16, 29_700_000 * 6
    exact = Fraction(100_000 * pooled_days, pooled_days + edu_days)
    pooled_part = round(Fraction(parts[None]["amount"]["amount"]) * 100)
    edu_part = round(Fraction(parts[edu]["amount"]["amount"]) * 100)
    assert pooled_part + edu_part == 100_000
    assert abs(pooled_part - exact) < 1
    assert parts[None]["time_weighted_balance"]["amount"] == "99000.00"
    assert parts[edu]["time_weighted_balance"]["amount"] == "111375.00"  # 297,000.00 x 6 days / 16
    assert parts[edu]["window_code"] == "EDU"

    # A second person approves: the entry is posted, on the period's last day, as it was recorded.
    checker = approvers(api)[0]
    done = accepted(api.client.post(f"{INCOME}/{recorded['id']}/approve", headers=checker.headers))
    assert (done["status"], done["approved_by"], done["approvals"]) == ("approved", checker.id, 1)
    entry = accepted(api.client.get(f"{LEDGER}/entries/{done['entry_id']}", headers=auditor.headers))
    assert (entry["source_type"], entry["entry_date"]) == ("investment_income", "2026-03-31")
    lines = {(p["account"], p["window_id"]): p["amount"]["amount"] for p in entry["postings"]}
    assert lines == {
        ("1100", None): "1000.00",
        ("4200", None): f"-{parts[None]['amount']['amount']}",
        ("4200", edu): f"-{parts[edu]['amount']['amount']}",
        ("8200", None): parts[None]["reporting_amount"]["amount"],
        ("8100", None): f"-{parts[None]['reporting_amount']['amount']}",
        ("8200", edu): parts[edu]["reporting_amount"]["amount"],
        ("8100", edu): f"-{parts[edu]['reporting_amount']['amount']}",
    }
    assert_books_balanced(api, auditor)
    listed = accepted(api.client.get(f"{INCOME}/", params={"status": "approved"}, headers=auditor.headers))
    assert [r["id"] for r in listed["items"]] == [recorded["id"]]

    # Each donor's contributor report shows its share of its fund's income; the shares sum to the income.
    pooled_share = report_income(api, auditor, world["pooled_donor"])
    edu_share = report_income(api, auditor, world["window_donor"])
    assert (pooled_share, edu_share) == (pooled_part, edu_part)


def test_the_recorder_never_approves_and_a_refusal_writes_nothing(api: Api, world: dict[str, Any]) -> None:
    both = api.legacy_dual_user()
    recorded = accepted(record(api, both), 202)
    before = state(api)
    response = api.client.post(f"{INCOME}/{recorded['id']}/approve", headers=both.headers)
    refused(response, 403, "investment_income", "maker-checker")
    assert state(api) == before
    # The officer's role alone may not approve at all.
    officer = world["officer"]
    assert api.client.post(f"{INCOME}/{recorded['id']}/approve", headers=officer.headers).status_code == 403
    # Rejected by another: nothing posted, and the period may be recorded again.
    checker = approvers(api)[0]
    rejected = accepted(
        api.client.post(
            f"{INCOME}/{recorded['id']}/reject", json={"reason": "wrong statement"}, headers=checker.headers
        )
    )
    assert rejected["status"] == "rejected"
    assert (
        api.db.count(
            "journal_entries",
        )
        == before["counts"]["journal_entries"]
    )
    accepted(record(api, officer), 202)


def test_refusals_name_the_field_and_the_rule(api: Api, world: dict[str, Any]) -> None:
    officer = world["officer"]
    # Cash that belongs to no fund (credit not applied to anything) in a month when no fund held money.
    donor = add_contributor(api, officer, "Early donor")
    body = {"contributor_id": donor, "value_date": "2026-02-10", "currency": "USD", "amount": "5000.00"}
    accepted(api.client.post(f"{V1}/contributions", json=body, headers=officer.headers), 201)
    accepted(record(api, officer), 202)
    before = state(api)
    cases = [
        (record(api, officer, amount="0.00"), 422, "amount", "positive"),
        (record(api, officer, period_end="2026-04-11"), 422, "period_end", "not-in-future"),
        (
            record(api, officer, period_start="2026-04-02", period_end="2026-04-01"),
            422,
            "period_start",
            "period-in-order",
        ),
        (
            record(api, officer, period_start="2026-03-31", period_end="2026-04-05"),
            409,
            "period_start",
            "period-not-allocated",
        ),
        (record(api, officer, currency="EUR", amount="10.00"), 409, "currency", "currency-held"),
        (
            record(api, officer, period_start="2026-02-01", period_end="2026-02-28"),
            409,
            "period_start",
            "funds-held-balance",
        ),
        (record(api, officer, amount="1.001"), 422, "amount", "excess_precision"),
    ]
    for response, status, field, rule in cases:
        refused(response, status, field, rule)
        assert state(api) == before, rule


def test_a_repeated_key_returns_the_first_record(api: Api, world: dict[str, Any]) -> None:
    officer = world["officer"]
    first = accepted(record(api, officer, key="march"), 202)
    again = accepted(record(api, officer, key="march"), 200)
    assert again["id"] == first["id"]
    before = state(api)
    refused(record(api, officer, key="march", amount="999.00"), 409, "Idempotency-Key", "idempotency-same-payload")
    assert state(api) == before
