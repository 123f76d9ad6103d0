"""The ledger through its HTTP API (issue acceptance 7).

Every refusal is an ``application/problem+json`` 4xx that names the field and the rule it broke, and
posts nothing: the ledger's tables, the audit log, the accounts' and periods' states and the chain head are
exactly as they were. Then the positive behaviour: reversals, trial balances, balances by dimension,
statements, and who may read and write the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import (
    LEDGER,
    Actor,
    Api,
    add_fx_rate,
    admit_member,
    approved,
    approvers,
    assert_problem,
    assert_refused,
    broken_rules,
    create_organisation,
    ledger_state,
    line,
    post_entry,
    posted,
    prepare_reversal,
    reversed_entry,
)

pytestmark = pytest.mark.usefixtures("backend")


@contextmanager
def nothing_changes(api: Api) -> Iterator[None]:
    """The block's requests leave the ledger (and the audit log) exactly as they found it."""
    before = ledger_state(api)
    yield
    assert ledger_state(api) == before


def officer(api: Api) -> Actor:
    return api.create_user(Role.FINANCE_OFFICER)


def rules_of(body: dict[str, Any]) -> dict[str, str]:
    """rule -> field, for the errors[] of a problem."""
    return {rule: field for field, rule in broken_rules(body)}


def close_period(api: Api, actor: Actor, period: str) -> Any:
    return api.client.post(f"{LEDGER}/periods/{period}/close", headers=actor.headers)


def reverse(api: Api, actor: Actor, entry_id: int, **body: str) -> Any:
    """Prepare a reversal (the raw answer: 202 when it waits for its approval, or the refusal)."""
    return prepare_reversal(api, actor, entry_id, **body)


def trial_balance(api: Api, actor: Actor, **params: str) -> dict[str, Any]:
    response = api.client.get(f"{LEDGER}/trial-balance", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def usd_sale(amount: str = "100.00", **dims: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return line("1100", amount, **dims), line("4100", f"-{amount}", **dims)


# ---------------------------------------------------------------- balance


def test_an_entry_unbalanced_in_its_currency_is_refused(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(api, fo, line("1100", "100.00"), line("4100", "-90.00"))
        body = assert_refused(response, 422, "unbalanced-entry", field="lines", rule="balanced")
    assert "10.00 USD" in body["detail"]


def test_a_conversion_inside_one_entry_is_refused_even_when_the_reporting_amounts_balance(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(
            api, fo, line("1100", "100.00", "EUR", reporting_amount="108.35"), line("4100", "-108.35", "USD")
        )
        assert_refused(response, 422, "unbalanced-entry", field="lines", rule="balanced")


def test_an_entry_unbalanced_in_the_reporting_currency_is_refused(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(
            api,
            fo,
            line("1100", "100.00", "EUR", reporting_amount="108.35"),
            line("1200", "-100.00", "EUR", reporting_amount="-108.00"),
        )
        body = assert_refused(response, 422, "unbalanced-entry", field="lines", rule="balanced")
    assert "in the reporting currency" in body["detail"]
    assert "0.35 USD" in body["detail"]


@pytest.mark.parametrize(
    ("debit", "credit", "fx_account", "fx_reporting"),
    [("108.35", "-108.00", "4300", "-0.35"), ("108.00", "-108.35", "5500", "0.35")],
    ids=["gain", "loss"],
)
def test_settle_fx_closes_a_reporting_difference_with_a_realised_fx_line(
    api: Api, debit: str, credit: str, fx_account: str, fx_reporting: str
) -> None:
    fo = officer(api)
    entry = posted(
        api,
        fo,
        line("1100", "100.00", "EUR", reporting_amount=debit),
        line("1200", "-100.00", "EUR", reporting_amount=credit),
        settle_fx=True,
    )
    assert len(entry["postings"]) == 3
    fx = entry["postings"][2]
    assert fx["line_no"] == 3
    assert fx["account"] == fx_account
    assert fx["amount"] == {"amount": "0.00", "currency": "EUR"}
    assert fx["reporting_amount"] == {"amount": fx_reporting, "currency": "USD"}
    assert sum(Decimal(p["reporting_amount"]["amount"]) for p in entry["postings"]) == 0
    assert sum(Decimal(p["amount"]["amount"]) for p in entry["postings"]) == 0
    assert api.db.count("postings") == 3
    tb = trial_balance(api, fo)
    assert tb["balanced"] is True
    assert tb["total_reporting"] == "0.00"


def test_settle_fx_books_the_difference_between_the_carrying_and_the_days_rate(api: Api) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    # A receivable carried at 1.0700 is settled in cash at the day's 1.0835: a realised gain of 1.35 USD.
    entry = posted(
        api,
        fo,
        line("1100", "100.00", "EUR"),
        line("1200", "-100.00", "EUR", reporting_amount="-107.00"),
        settle_fx=True,
    )
    assert [(p["account"], p["reporting_amount"]["amount"]) for p in entry["postings"]] == [
        ("1100", "108.35"),
        ("1200", "-107.00"),
        ("4300", "-1.35"),
    ]


def test_settle_fx_never_hides_an_imbalance_in_a_transaction_currency(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(
            api,
            fo,
            line("1100", "100.00", "EUR", reporting_amount="108.35"),
            line("1200", "-99.00", "EUR", reporting_amount="-107.00"),
            settle_fx=True,
        )
        assert_refused(response, 422, "unbalanced-entry", field="lines", rule="balanced")


# ---------------------------------------------------------------- accounts and currencies


def test_an_unknown_account_is_refused(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(api, fo, line("1100", "100.00"), line("9999", "-100.00"))
        assert_refused(response, 422, "unknown-account", field="lines.1.account", rule="account-exists")


def test_a_closed_account_takes_no_postings(api: Api) -> None:
    fo = officer(api)
    created = api.client.post(
        f"{LEDGER}/accounts",
        json={"code": "1150", "name": "Petty cash", "book": "financial", "type": "asset", "normal_side": "debit"},
        headers=fo.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["is_open"] is True
    posted(api, fo, line("1150", "10.00"), line("4100", "-10.00"))
    posted(api, fo, line("1150", "-10.00"), line("4100", "10.00"))
    closed = api.client.post(f"{LEDGER}/accounts/1150/close", headers=fo.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["is_open"] is False

    with nothing_changes(api):
        response = post_entry(api, fo, line("4100", "-25.00"), line("1150", "25.00"))
        assert_refused(response, 409, "account-closed", field="lines.1.account", rule="account-open")
        again = api.client.post(f"{LEDGER}/accounts/1150/close", headers=fo.headers)
        assert_refused(again, 409, "account-closed")
    listed = {a["code"]: a for a in api.client.get(f"{LEDGER}/accounts", headers=fo.headers).json()}
    assert listed["1150"]["is_open"] is False


def test_an_account_code_is_created_once(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = api.client.post(
            f"{LEDGER}/accounts",
            json={"code": "1100", "name": "Cash again", "book": "financial", "type": "asset", "normal_side": "debit"},
            headers=fo.headers,
        )
        assert_refused(response, 409, "conflict", field="code", rule="unique")


def test_a_budgetary_account_takes_only_the_reporting_currency(api: Api) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    with nothing_changes(api):
        response = post_entry(api, fo, line("8200", "100.00", "EUR"), line("8100", "-100.00", "EUR"))
        body = assert_refused(response, 422, "currency-not-allowed")
    assert rules_of(body)["account-currency"].startswith("lines.0")
    assert "USD" in body["detail"]
    posted(api, fo, line("8200", "100.00"), line("8100", "-100.00"))


def test_an_account_restricted_to_some_currencies_refuses_the_others(api: Api) -> None:
    fo = officer(api)
    created = api.client.post(
        f"{LEDGER}/accounts",
        json={
            "code": "1110",
            "name": "Cash - euro account",
            "book": "financial",
            "type": "asset",
            "normal_side": "debit",
            "currencies": "EUR,GBP",
            "is_monetary": True,
        },
        headers=fo.headers,
    )
    assert created.status_code == 201, created.text
    with nothing_changes(api):
        response = post_entry(api, fo, line("1110", "5.00"), line("4100", "-5.00"))
        body = assert_refused(response, 422, "currency-not-allowed")
    assert rules_of(body)["account-currency"].startswith("lines.0")


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("currency", "amount"),
    [("USD", "1.234"), ("JPY", "1.5"), ("KWD", "1.2345"), ("USD", "0.001")],
)
def test_more_decimals_than_the_currency_has_is_refused(api: Api, currency: str, amount: str) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(api, fo, line("1100", amount, currency), line("4100", f"-{amount}", currency))
        body = assert_refused(response, 422, "validation-failed")
    assert {("lines.0.amount", "excess_precision"), ("lines.1.amount", "excess_precision")} <= broken_rules(body)


def test_a_zero_line_is_refused(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(api, fo, *usd_sale(), line("5400", "0.00"))
        assert_refused(response, 422, "ledger-rule-violated", field="lines.2.amount", rule="non-zero")
        response = post_entry(api, fo, line("1100", "0"), line("4100", "-0.00"))
        body = assert_refused(response, 422, "ledger-rule-violated")
    assert {("lines.0.amount", "non-zero"), ("lines.1.amount", "non-zero")} <= broken_rules(body)


@pytest.mark.parametrize("count", [0, 1])
def test_an_entry_needs_at_least_two_lines(api: Api, count: int) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(api, fo, *[line("1100", "100.00")][:count])
        assert_refused(response, 422, "validation-failed", field="lines", rule="too_short")


def test_a_foreign_currency_needs_a_rate_on_or_before_the_entry_date(api: Api) -> None:
    fo = officer(api)
    eur = (line("1100", "100.00", "EUR"), line("4100", "-100.00", "EUR"))
    with nothing_changes(api):
        response = post_entry(api, fo, *eur)
        body = assert_refused(response, 422, "missing-fx-rate")
    assert rules_of(body)["fx-rate-known"].startswith("lines.0")

    add_fx_rate(api, fo, "EUR", "2026-03-11", "1.0835")  # the day after the entry: it does not count
    with nothing_changes(api):
        assert_refused(post_entry(api, fo, *eur), 422, "missing-fx-rate")

    add_fx_rate(api, fo, "EUR", "2026-03-02", "1.0900")
    entry = posted(api, fo, *eur)
    assert [p["reporting_amount"]["amount"] for p in entry["postings"]] == ["109.00", "-109.00"]


# ---------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_and_body_replays_the_first_request(api: Api) -> None:
    fo = officer(api)
    first = post_entry(api, fo, *usd_sale(), idempotency_key="deposit-2026-0042")
    assert first.status_code == 202, first.text
    assert first.json()["idempotency_key"] == "deposit-2026-0042"
    with nothing_changes(api):
        replay = post_entry(api, fo, *usd_sale(), idempotency_key="deposit-2026-0042")
        assert replay.status_code == 200, replay.text
    assert replay.json() == first.json()
    assert api.db.count("entry_requests") == 1
    entry = approved(api, first)
    replay = post_entry(api, fo, *usd_sale(), idempotency_key="deposit-2026-0042")
    assert replay.status_code == 200, replay.text
    assert (replay.json()["status"], replay.json()["entry_id"]) == ("approved", entry["id"])
    assert api.db.count("journal_entries") == 1


def test_idempotency_keys_are_each_preparers_own(api: Api) -> None:
    """Another officer's request with the same key is a request of its own, never the first one's answer."""
    fo, other = officer(api), officer(api)
    first = post_entry(api, fo, *usd_sale(), idempotency_key="deposit-2026-0042")
    assert first.status_code == 202, first.text
    second = post_entry(api, other, *usd_sale("7.00"), idempotency_key="deposit-2026-0042")
    assert second.status_code == 202, second.text
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["prepared_by"] == other.id
    assert approved(api, second)["postings"][0]["amount"]["amount"] == "7.00"


def test_an_entrys_system_key_is_out_of_every_requests_reach(api: Api) -> None:
    """The entry an approval posts carries the system's key for its request, not the preparer's key, so no
    request's key can take the key of a transfer, a deposit or another request's entry."""
    fo = officer(api)
    entry = posted(api, fo, *usd_sale(), idempotency_key="grant-disbursement:6")
    request_id = api.db.scalar("SELECT id FROM entry_requests WHERE entry_id = :e", e=entry["id"])
    assert entry["idempotency_key"] == f"entry-request:{request_id}"
    assert entry["source_id"] == f"request:{request_id}"
    clash = post_entry(api, fo, *usd_sale("3.00"), idempotency_key=f"entry-request:{request_id + 1}")
    assert approved(api, clash)["idempotency_key"] == f"entry-request:{request_id + 1}"


def test_a_reused_idempotency_key_with_another_body_is_refused(api: Api) -> None:
    fo = officer(api)
    posted(api, fo, *usd_sale(), idempotency_key="deposit-2026-0042")
    with nothing_changes(api):
        others: list[tuple[tuple[dict[str, Any], ...], dict[str, str]]] = [
            (usd_sale("100.01"), {}),
            (usd_sale(), {"description": "Another description"}),
            (usd_sale(), {"entry_date": "2026-03-11"}),
            (tuple(reversed(usd_sale())), {}),
        ]
        for lines, changes in others:
            response = post_entry(api, fo, *lines, idempotency_key="deposit-2026-0042", **changes)
            body = assert_refused(
                response, 409, "idempotency-key-reused", field="Idempotency-Key", rule="idempotency-same-payload"
            )
            assert "request 1" in body["detail"]
        response = post_entry(api, fo, *usd_sale(), idempotency_key="deposit-2026-0042", reason="Another reason")
        assert_refused(
            response, 409, "idempotency-key-reused", field="Idempotency-Key", rule="idempotency-same-payload"
        )
    posted(api, fo, *usd_sale(), idempotency_key="deposit-2026-0043")
    assert api.db.count("journal_entries") == 2


# ---------------------------------------------------------------- periods


def test_an_entry_dated_in_a_closed_period_is_refused(api: Api) -> None:
    fo = officer(api)
    posted(api, fo, *usd_sale(), entry_date="2026-02-10")
    assert close_period(api, fo, "2026-02").status_code == 200
    with nothing_changes(api):
        for day in ("2026-02-01", "2026-02-28"):
            response = post_entry(api, fo, *usd_sale(), entry_date=day)
            assert_refused(response, 409, "period-closed", field="entry_date", rule="period-open")
    posted(api, fo, *usd_sale(), entry_date="2026-03-01")


def test_periods_close_in_order(api: Api) -> None:
    fo = officer(api)
    posted(api, fo, *usd_sale(), entry_date="2026-01-10")
    posted(api, fo, *usd_sale(), entry_date="2026-02-10")
    with nothing_changes(api):
        response = close_period(api, fo, "2026-02")
        body = assert_refused(response, 409, "period-order", field="period", rule="close-in-order")
        assert "2026-01" in body["detail"]
    assert close_period(api, fo, "2026-01").status_code == 200
    closed = close_period(api, fo, "2026-02")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["closing_chain_head"] == api.db.scalar("SELECT hash FROM journal_entries WHERE id = 2")
    with nothing_changes(api):
        assert_refused(close_period(api, fo, "2026-02"), 409, "period-closed", field="period", rule="period-open")
        assert_refused(
            close_period(api, fo, "2026-13"), 422, "validation-failed", field="period_id", rule="period-format"
        )
    periods = api.client.get(f"{LEDGER}/periods", headers=fo.headers).json()
    assert [(p["id"], p["status"]) for p in periods] == [("2026-01", "closed"), ("2026-02", "closed")]


def test_a_month_cannot_close_over_an_earlier_month_that_is_still_open(api: Api) -> None:
    fo = officer(api)
    posted(api, fo, *usd_sale(), entry_date="2026-01-10")
    assert close_period(api, fo, "2026-01").status_code == 200
    api.clock.current = datetime(2026, 4, 2, 9, tzinfo=UTC)  # a month closes once it has ended
    closing_march = close_period(api, fo, "2026-03")
    if closing_march.status_code == 200:
        # March's reports are frozen; nothing may now appear before them, in February.
        with nothing_changes(api):
            response = post_entry(api, fo, *usd_sale(), entry_date="2026-02-10")
            assert response.status_code == 409, response.text
    else:
        assert_refused(closing_march, 409, "period-order")


# ---------------------------------------------------------------- reversals


def test_a_reversal_nets_the_original_to_zero_and_both_are_linked(api: Api) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    original = posted(
        api,
        fo,
        line("1200", "250.00", "EUR", contributor_id=7, window_id=2),
        line("4100", "-250.00", "EUR", contributor_id=7, window_id=2),
        line("8200", "270.88"),
        line("8100", "-270.88"),
        entry_date="2026-03-05",
        description="Pledge, contributor 7",
    )
    rev = reversed_entry(api, fo, original["id"], description="Pledge recorded twice")
    assert rev["reverses_id"] == original["id"]
    assert rev["entry_date"] == "2026-03-16"  # today, by default
    assert rev["source_type"] == "reversal"
    assert rev["description"] == "Pledge recorded twice"
    assert len(rev["postings"]) == len(original["postings"])
    for o, r in zip(original["postings"], rev["postings"], strict=True):
        assert r["account"] == o["account"]
        assert (r["contributor_id"], r["window_id"]) == (o["contributor_id"], o["window_id"])
        assert Decimal(r["amount"]["amount"]) == -Decimal(o["amount"]["amount"])
        assert r["amount"]["currency"] == o["amount"]["currency"]
        assert Decimal(r["reporting_amount"]["amount"]) == -Decimal(o["reporting_amount"]["amount"])

    again = api.client.get(f"{LEDGER}/entries/{original['id']}", headers=fo.headers).json()
    assert again["reversed_by_id"] == rev["id"]
    assert again["reverses_id"] is None
    listed = api.client.get(f"{LEDGER}/entries", params={"source_type": "reversal"}, headers=fo.headers).json()
    assert [e["id"] for e in listed["items"]] == [rev["id"]]
    for book in ("financial", "budgetary"):
        tb = trial_balance(api, fo, book=book)
        assert tb["rows"] == []
        assert tb["balanced"] is True
        # Before the reversal date the original still stands.
        assert trial_balance(api, fo, book=book, as_of="2026-03-15")["rows"] != []


def test_an_entry_is_reversed_only_once(api: Api) -> None:
    fo = officer(api)
    entry = posted(api, fo, *usd_sale())
    waiting = reverse(api, fo, entry["id"])
    assert waiting.status_code == 202, waiting.text
    with nothing_changes(api):
        body = assert_refused(
            reverse(api, fo, entry["id"]), 409, "conflict", field="entry_id", rule="one-pending-reversal"
        )
        assert f"request {waiting.json()['id']}" in body["detail"]
    approved(api, waiting)
    with nothing_changes(api):
        response = reverse(api, fo, entry["id"])
        body = assert_refused(response, 409, "already-reversed")
    assert "entry 2" in body["detail"]


def test_a_reversal_is_never_reversed(api: Api) -> None:
    fo = officer(api)
    entry = posted(api, fo, *usd_sale())
    reversal = reversed_entry(api, fo, entry["id"])
    with nothing_changes(api):
        assert_refused(reverse(api, fo, reversal["id"]), 409, "reversal-of-reversal")


def test_a_reversal_into_a_closed_period_is_refused(api: Api) -> None:
    fo = officer(api)
    entry = posted(api, fo, *usd_sale(), entry_date="2026-02-10")
    assert close_period(api, fo, "2026-02").status_code == 200
    with nothing_changes(api):
        response = reverse(api, fo, entry["id"], entry_date="2026-02-20")
        assert_refused(response, 409, "period-closed", field="entry_date", rule="period-open")
    reversal = reversed_entry(api, fo, entry["id"], entry_date="2026-03-02")
    assert reversal["period"] == "2026-03"


def test_reversing_an_unknown_entry_is_not_found(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        assert_refused(reverse(api, fo, 41), 404, "entry-not-found")


def test_an_account_with_a_balance_does_not_close(api: Api) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    entry = posted(api, fo, line("1200", "100.00", "EUR"), line("4100", "-100.00", "EUR"))
    with nothing_changes(api):
        body = assert_refused(
            api.client.post(f"{LEDGER}/accounts/1200/close", headers=fo.headers), 409, "account-not-empty"
        )
        assert "EUR" in body["detail"]
    reversed_entry(api, fo, entry["id"])
    closed = api.client.post(f"{LEDGER}/accounts/1200/close", headers=fo.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["is_open"] is False


# ---------------------------------------------------------------- FX rates


def test_one_rate_per_currency_and_day(api: Api) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    with nothing_changes(api):
        response = api.client.post(
            f"{LEDGER}/fx-rates",
            json={"currency": "EUR", "rate_date": "2026-03-01", "rate": "1.0900"},
            headers=fo.headers,
        )
        assert_refused(response, 409, "conflict", field="rate_date", rule="one-rate-per-day")
        response = api.client.post(
            f"{LEDGER}/fx-rates", json={"currency": "USD", "rate_date": "2026-03-01", "rate": "1"}, headers=fo.headers
        )
        assert_refused(response, 409, "conflict", field="currency", rule="not-reporting-currency")
    add_fx_rate(api, fo, "EUR", "2026-03-02", "1.0900")
    rates = api.client.get(f"{LEDGER}/fx-rates", params={"currency": "EUR"}, headers=fo.headers).json()
    assert [(r["rate_date"], r["rate"]) for r in rates] == [("2026-03-02", "1.0900"), ("2026-03-01", "1.0835")]


@pytest.mark.parametrize(("rate", "rule"), [("0", "positive_rate"), ("0.000", "positive_rate"), ("-1.0835", None)])
def test_a_rate_must_be_positive(api: Api, rate: str, rule: str | None) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = api.client.post(
            f"{LEDGER}/fx-rates", json={"currency": "EUR", "rate_date": "2026-03-01", "rate": rate}, headers=fo.headers
        )
        body = assert_refused(response, 422, "validation-failed")
    if rule is not None:
        assert rule in rules_of(body)
    else:
        assert rules_of(body).get("string_pattern_mismatch") == "rate"


# ---------------------------------------------------------------- refusals that name their rule and field


@pytest.mark.parametrize("case", ["already-reversed", "reversal-of-reversal", "account-not-empty"])
def test_every_conflict_names_its_rule(api: Api, case: str) -> None:
    fo = officer(api)
    entry = posted(api, fo, *usd_sale())
    if case == "already-reversed":
        reversed_entry(api, fo, entry["id"])
        response, rule = reverse(api, fo, entry["id"]), "reverse-once"
    elif case == "reversal-of-reversal":
        response, rule = reverse(api, fo, reversed_entry(api, fo, entry["id"])["id"]), "reversal-not-reversed"
    else:
        response, rule = api.client.post(f"{LEDGER}/accounts/1100/close", headers=fo.headers), "zero-balance-to-close"
    body = assert_problem(response, 409)
    assert rule in rules_of(body), body


@pytest.mark.parametrize("case", ["currency-not-allowed", "missing-fx-rate", "excess-precision", "positive-rate"])
def test_a_refusal_names_the_request_field(api: Api, case: str) -> None:
    fo = officer(api)
    if case == "currency-not-allowed":
        response = post_entry(api, fo, line("8200", "1.00", "EUR"), line("8100", "-1.00", "EUR"))
        expected = ("lines.0.currency", "account-currency")
    elif case == "missing-fx-rate":
        response = post_entry(api, fo, line("1100", "1.00", "EUR"), line("4100", "-1.00", "EUR"))
        expected = ("lines.0.currency", "fx-rate-known")
    elif case == "excess-precision":
        response = post_entry(api, fo, line("1100", "1.234"), line("4100", "-1.234"))
        expected = ("lines.0.amount", "excess_precision")
    else:
        response = api.client.post(
            f"{LEDGER}/fx-rates", json={"currency": "EUR", "rate_date": "2026-03-01", "rate": "0"}, headers=fo.headers
        )
        expected = ("rate", "positive_rate")
    body = assert_problem(response, 422)
    assert expected in broken_rules(body), body


def test_a_reporting_amount_with_more_decimals_than_the_reporting_currency_is_refused(api: Api) -> None:
    fo = officer(api)
    with nothing_changes(api):
        response = post_entry(
            api,
            fo,
            line("1100", "100.00", "EUR", reporting_amount="108.355"),
            line("4100", "-100.00", "EUR", reporting_amount="-108.355"),
        )
        body = assert_problem(response, 422)
    assert "excess_precision" in rules_of(body) or "excess-precision" in rules_of(body)


@pytest.mark.parametrize(
    "lines",
    [
        [line("1100", "99999999999999999.99"), line("4100", "-99999999999999999.99")],
        [line("1100", "900000000000000000", "EUR"), line("4100", "-900000000000000000", "EUR")],
    ],
    ids=["amount", "reporting-amount"],
)
def test_an_amount_beyond_the_ledgers_range_is_refused(api: Api, lines: list[dict[str, Any]]) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0835")
    with nothing_changes(api):
        response = post_entry(api, fo, *lines)
        body = assert_problem(response, 422)
    assert any(field.startswith("lines.") for field, _ in broken_rules(body)), body


# ---------------------------------------------------------------- reading balances


def _mixed_ledger(api: Api, fo: Actor) -> None:
    add_fx_rate(api, fo, "EUR", "2026-02-01", "1.0835")
    add_fx_rate(api, fo, "JPY", "2026-02-01", "0.006712")
    add_fx_rate(api, fo, "KWD", "2026-02-01", "3.2540")
    posted(api, fo, line("1200", "1000.00", "EUR", window_id=1), line("4100", "-1000.00", "EUR", window_id=1))
    posted(
        api,
        fo,
        line("1100", "1000.00", "EUR", window_id=1),
        line("1200", "-1000.00", "EUR", window_id=1),
        line("8200", "1083.50", window_id=1),
        line("8100", "-1083.50", window_id=1),
        entry_date="2026-03-11",
    )
    posted(api, fo, line("1100", "150000", "JPY", window_id=2), line("4100", "-150000", "JPY", window_id=2))
    posted(api, fo, line("1100", "12.345", "KWD"), line("4100", "-12.345", "KWD"))
    posted(
        api,
        fo,
        line("5300", "40.00", window_id=2),
        line("5300", "35.50", window_id=1),
        line("1100", "-75.50"),
        entry_date="2026-02-20",
    )
    posted(api, fo, line("8300", "500.00", window_id=1), line("8200", "-500.00", window_id=1), entry_date="2026-03-12")


def test_the_trial_balance_of_each_book_totals_zero(api: Api) -> None:
    fo = officer(api)
    _mixed_ledger(api, fo)
    seen_accounts = set()
    for book, prefixes in (("financial", "1234567"), ("budgetary", "8")):
        tb = trial_balance(api, fo, book=book)
        assert tb["book"] == book
        assert tb["balanced"] is True
        assert tb["total_reporting"] == "0.00"
        assert tb["rows"], tb
        assert all(row["account"][0] in prefixes for row in tb["rows"])
        per_currency: dict[str, Decimal] = defaultdict(Decimal)
        for row in tb["rows"]:
            per_currency[row["balance"]["currency"]] += Decimal(row["balance"]["amount"])
            assert row["reporting_balance"]["currency"] == "USD"
        assert all(v == 0 for v in per_currency.values())
        assert set(tb["totals_by_currency"]) == set(per_currency)
        assert all(Decimal(v) == 0 for v in tb["totals_by_currency"].values())
        assert sum(Decimal(row["reporting_balance"]["amount"]) for row in tb["rows"]) == 0
        seen_accounts |= {row["account"] for row in tb["rows"]}
        assert tb["chain_head"] == api.db.scalar("SELECT hash FROM journal_entries ORDER BY id DESC LIMIT 1")
    assert {"1100", "4100", "5300", "8100", "8200", "8300"} <= seen_accounts

    budget = {r["account"]: r["reporting_balance"]["amount"] for r in trial_balance(api, fo, book="budgetary")["rows"]}
    assert budget == {"8100": "-1083.50", "8200": "583.50", "8300": "500.00"}
    early = trial_balance(api, fo, book="budgetary", as_of="2026-03-11")
    assert {r["account"]: r["reporting_balance"]["amount"] for r in early["rows"]} == {
        "8100": "-1083.50",
        "8200": "1083.50",
    }
    assert early["balanced"] is True


def _balances(api: Api, actor: Actor, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(f"{LEDGER}/balances", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_balances_by_window_sum_to_the_account_totals(api: Api) -> None:
    fo = officer(api)
    _mixed_ledger(api, fo)
    by_window = _balances(api, fo, group_by="account,currency,window")
    totals = _balances(api, fo, group_by="account,currency")
    summed: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for row in by_window:
        key = (row["key"]["account"], row["key"]["currency"])
        summed[key][0] += Decimal(row["amount"]["amount"])
        summed[key][1] += Decimal(row["reporting_amount"]["amount"])
        summed[key][2] += row["postings"]
    expected = {
        (r["key"]["account"], r["key"]["currency"]): [
            Decimal(r["amount"]["amount"]),
            Decimal(r["reporting_amount"]["amount"]),
            Decimal(r["postings"]),
        ]
        for r in totals
    }
    assert summed == expected
    windows = {row["key"]["window"] for row in by_window}
    assert windows == {1, 2, None}

    # The reporting view per account, summed over windows, is the trial balance's reporting column.
    reporting: dict[str, Decimal] = defaultdict(Decimal)
    for row in _balances(api, fo, group_by="account,window"):
        assert row["amount"] is None
        reporting[row["key"]["account"]] += Decimal(row["reporting_amount"]["amount"])
    trial: dict[str, Decimal] = defaultdict(Decimal)
    for book in ("financial", "budgetary"):
        for row in trial_balance(api, fo, book=book)["rows"]:
            trial[row["account"]] += Decimal(row["reporting_balance"]["amount"])
    assert {k: v for k, v in reporting.items() if v} == {k: v for k, v in trial.items() if v}

    window_one = _balances(api, fo, group_by="account,currency", window_id=1)
    assert {(r["key"]["account"], r["key"]["currency"]): r["amount"]["amount"] for r in window_one} == {
        ("1100", "EUR"): "1000.00",
        ("1200", "EUR"): "0.00",
        ("4100", "EUR"): "-1000.00",
        ("5300", "USD"): "35.50",
        ("8100", "USD"): "-1083.50",
        ("8200", "USD"): "583.50",
        ("8300", "USD"): "500.00",
    }


def test_an_account_statement_carries_a_running_balance(api: Api) -> None:
    fo = officer(api)
    posted(api, fo, line("1100", "100.00"), line("4100", "-100.00"), entry_date="2026-03-02", description="one")
    posted(api, fo, line("5400", "30.00"), line("1100", "-30.00"), entry_date="2026-03-05", description="two")
    posted(api, fo, line("1100", "50.25"), line("4200", "-50.25"), entry_date="2026-03-09", description="three")
    # Posted last but dated first: a statement is in date order.
    posted(api, fo, line("1100", "7.00"), line("4200", "-7.00"), entry_date="2026-03-01", description="zero")

    def statement(**params: Any) -> dict[str, Any]:
        response = api.client.get(
            f"{LEDGER}/accounts/1100/statement", params={"currency": "USD", **params}, headers=fo.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    full = statement()
    assert full["total"] == 4
    assert full["opening_balance"] == {"amount": "0.00", "currency": "USD"}
    assert [(s["description"], s["amount"]["amount"], s["balance"]["amount"]) for s in full["lines"]] == [
        ("zero", "7.00", "7.00"),
        ("one", "100.00", "107.00"),
        ("two", "-30.00", "77.00"),
        ("three", "50.25", "127.25"),
    ]
    assert [s["reporting_balance"]["amount"] for s in full["lines"]] == ["7.00", "107.00", "77.00", "127.25"]
    tb = {r["account"]: r["balance"]["amount"] for r in trial_balance(api, fo)["rows"]}
    assert tb["1100"] == full["lines"][-1]["balance"]["amount"]

    page = statement(limit=2, offset=2)
    assert [s["balance"]["amount"] for s in page["lines"]] == ["77.00", "127.25"]
    later = statement(date_from="2026-03-03")
    assert later["opening_balance"]["amount"] == "107.00"
    assert later["total"] == 2
    assert [s["balance"]["amount"] for s in later["lines"]] == ["77.00", "127.25"]
    window = statement(date_from="2026-03-02", date_to="2026-03-05")
    assert [s["balance"]["amount"] for s in window["lines"]] == ["107.00", "77.00"]


# ---------------------------------------------------------------- who may read and write

READS = [
    "/accounts",
    "/entries",
    "/entries/1",
    "/trial-balance",
    "/trial-balance?book=budgetary",
    "/balances?group_by=account,window",
    "/accounts/1100/statement?currency=USD",
    "/periods",
    "/fx-rates",
    "/verify",
]
EXPORT = "/api/v1/exports/journal.hledger"


def _writes(entry_id: int, n: int, request_id: int = 1) -> list[tuple[str, dict[str, Any] | None]]:
    """Every ledger write, with a valid body; ``n`` keeps each caller's data distinct."""
    return [
        *_prepares(entry_id, n),
        *_checks(request_id),
        ("/fx-rates", {"currency": "EUR", "rate_date": f"2026-03-{n:02d}", "rate": "1.0835"}),
        ("/revaluations", {"as_of": "2026-03-15"}),
        (f"/periods/2025-{n:02d}/close", None),
        (
            "/accounts",
            {
                "code": f"1{n:03d}.X",
                "name": "Sub-account",
                "book": "financial",
                "type": "asset",
                "normal_side": "debit",
            },
        ),
        (f"/accounts/1{n:03d}.X/close", None),
    ]


def _prepares(entry_id: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """What a finance officer prepares: a manual entry, a reversal."""
    return [
        (
            "/entries",
            {
                "entry_date": "2026-03-10",
                "description": f"write {n}",
                "lines": list(usd_sale(f"{n}.00")),
                "reason": "Bank statement line 4",
            },
        ),
        (f"/entries/{entry_id}/reverse", {"reason": "Recorded twice"}),
    ]


def _checks(request_id: int) -> list[tuple[str, dict[str, Any] | None]]:
    """What a finance approver does with a prepared request."""
    return [
        (f"/entry-requests/{request_id}/approve", None),
        (f"/entry-requests/{request_id}/reject", {"reason": "No invoice attached"}),
    ]


def _seed(api: Api) -> tuple[Actor, int]:
    fo = officer(api)
    return fo, posted(api, fo, *usd_sale())["id"]


def test_finance_officers_read_the_ledger_and_prepare_but_never_approve(api: Api) -> None:
    _seed(api)
    actor = officer(api)
    for path in [*READS, "/entry-requests", "/entry-requests/1"]:
        response = api.client.get(LEDGER + path, headers=actor.headers)
        assert response.status_code == 200, (path, response.text)
    assert api.client.get(EXPORT, headers=actor.headers).status_code == 200
    own = posted(api, actor, *usd_sale("5.00"))
    writes = _writes(own["id"], 7)
    for path, body in writes:
        response = api.client.post(LEDGER + path, json=body, headers=actor.headers)
        if path.startswith("/entry-requests/"):
            assert_refused(response, 403, "permission-denied")
        else:
            assert response.status_code in (200, 201, 202), (path, response.text)
    assert api.db.scalar("SELECT count(*) FROM entry_requests WHERE prepared_by = :u", u=actor.id) == 3
    assert api.db.scalar("SELECT count(*) FROM entry_requests WHERE status = 'pending'") == 2


def test_finance_approvers_read_the_ledger_and_approve_but_never_prepare(api: Api) -> None:
    fo, entry_id = _seed(api)
    actor = approvers(api)[0]
    waiting = post_entry(api, fo, *usd_sale("9.00"))
    for path in [*READS, "/entry-requests", f"/entry-requests/{waiting.json()['id']}"]:
        response = api.client.get(LEDGER + path, headers=actor.headers)
        assert response.status_code == 200, (path, response.text)
    with nothing_changes(api):
        for path, body in _prepares(entry_id, 8):
            response = api.client.post(LEDGER + path, json=body, headers=actor.headers)
            assert_refused(response, 403, "permission-denied")
    approve = api.client.post(f"{LEDGER}/entry-requests/{waiting.json()['id']}/approve", headers=actor.headers)
    assert approve.status_code == 200, approve.text
    for path, body in _writes(entry_id, 9)[4:]:
        response = api.client.post(LEDGER + path, json=body, headers=actor.headers)
        assert response.status_code in (200, 201), (path, response.text)


@pytest.mark.parametrize("role", [Role.SECRETARIAT_ADMIN, Role.AUDITOR])
def test_the_secretariat_and_auditors_only_read_the_ledger(api: Api, role: Role) -> None:
    _, entry_id = _seed(api)
    actor = api.create_user(role)
    for path in READS:
        response = api.client.get(LEDGER + path, headers=actor.headers)
        assert response.status_code == 200, (path, response.text)
    export = api.client.get(EXPORT, headers=actor.headers)
    assert export.status_code == 200
    assert "financial:asset:1100" in export.text
    with nothing_changes(api):
        for path, body in _writes(entry_id, 1):
            assert_refused(api.client.post(LEDGER + path, json=body, headers=actor.headers), 403, "permission-denied")


@pytest.mark.parametrize("role", [Role.GRANTEE, Role.MEMBER_DELEGATE, Role.TAG_REVIEWER])
def test_other_roles_neither_read_nor_write_the_ledger(api: Api, role: Role) -> None:
    _, entry_id = _seed(api)
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    if role is Role.MEMBER_DELEGATE:
        admit_member(api, admin, "MEX")  # a delegate's member exists
        actor = api.create_user(role, member_code="MEX")
    elif role is Role.GRANTEE:
        actor = api.create_user(role, organisation_id=create_organisation(api, admin, "Red de Apoyo al Migrante"))
    else:
        actor = api.create_user(role)
    with nothing_changes(api):
        for path in READS:
            assert_refused(api.client.get(LEDGER + path, headers=actor.headers), 403, "permission-denied")
        assert_refused(api.client.get(EXPORT, headers=actor.headers), 403, "permission-denied")
        for path, body in _writes(entry_id, 1):
            assert_refused(api.client.post(LEDGER + path, json=body, headers=actor.headers), 403, "permission-denied")


def test_anonymous_callers_are_asked_to_authenticate(api: Api) -> None:
    _, entry_id = _seed(api)
    with nothing_changes(api):
        for path in READS:
            assert_refused(api.client.get(LEDGER + path), 401, "not-authenticated")
        assert_refused(api.client.get(EXPORT), 401, "not-authenticated")
        for path, body in _writes(entry_id, 1):
            assert_refused(api.client.post(LEDGER + path, json=body), 401, "not-authenticated")


def test_revaluations_are_listed_newest_first(api: Api) -> None:
    fo = officer(api)
    add_fx_rate(api, fo, "EUR", "2026-03-01", "1.0800")
    assert posted(api, fo, line("1100", "100.00", "EUR"), line("4100", "-100.00", "EUR"))
    add_fx_rate(api, fo, "EUR", "2026-03-10", "1.1000")
    made = api.client.post(f"{LEDGER}/revaluations", headers=fo.headers, json={"as_of": "2026-03-12"})
    assert made.status_code == 201, made.text
    listed = api.client.get(f"{LEDGER}/revaluations", headers=fo.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 1
    assert page["items"][0]["id"] == made.json()["entry"]["id"]
    assert page["items"][0]["source_type"] == "revaluation"
