"""The refund due from an agency after a cancellation, received (SQLite and PostgreSQL): an operation
cancelled after two transfers (400,000.00 due, 1300), the refund received in two parts by a finance
officer (Dr 1100 / Cr 1300, Dr 8200 / Cr 8500, ``concessional_refund_received``), a repeated Idempotency-Key
answering the first receipt; the receivable back to zero, the window's available funds up by the refund,
both books balanced; the grants' own refund refused on the cancelled operation's grant."""

from __future__ import annotations

from ledger import chart
from tests.concessional_support import (
    ConcessionalWorld,
    balance,
    cancelled_after_transfers,
    concessional_world,
    counts,
    entries_of,
    refund_received,
)
from tests.grants_support import refund, statement
from tests.support import Api, accepted, assert_books_balanced, assert_problem, broken_rules


def _balanced(api: Api, cw: ConcessionalWorld) -> None:
    assert_books_balanced(api, cw.grants.officer)


def test_the_refund_due_received_in_two_parts(api: Api) -> None:
    cw = concessional_world(api)
    request_id, grant_id = cancelled_after_transfers(api, cw)
    window = cw.grants.window_id
    officer = cw.grants.officer
    assert balance(api, chart.REFUNDS_RECEIVABLE, window_id=window, grant_id=grant_id) == 40_000_000
    available = balance(api, chart.AVAILABLE, window_id=window)
    cash = balance(api, chart.CASH)
    _balanced(api, cw)

    # The grants' own refund would credit 5100 a second time: refused, nothing written.
    seen = counts(api)
    refused = assert_problem(refund(api, officer, grant_id, "1000.00"), 409)
    assert ("grant_id", "use-concessional-refund") in broken_rules(refused)
    assert counts(api) == seen

    api.clock.advance(days=3)
    first = accepted(refund_received(api, officer, request_id, "150000.00", key="wb-refund-1"), 201)
    assert first["amount"] == {"amount": "150000.00", "currency": "USD"}
    assert first["refund_due"] == {"amount": "250000.00", "currency": "USD"}
    assert first["grant_id"] == grant_id and first["reference"] == "WB refund"
    # The same key and body answer the first receipt; nothing more is written.
    seen = counts(api)
    again = refund_received(api, officer, request_id, "150000.00", key="wb-refund-1")
    assert again.status_code == 200 and again.json()["entry_id"] == first["entry_id"]
    assert counts(api) == seen
    assert entries_of(api, "concessional_refund_received") == 1
    assert balance(api, chart.REFUNDS_RECEIVABLE, window_id=window, grant_id=grant_id) == 25_000_000
    _balanced(api, cw)

    api.clock.advance(days=10)
    second = accepted(refund_received(api, cw.grants.officer2, request_id, "250000.00", reference="WB 2"), 201)
    assert second["refund_due"] == {"amount": "0.00", "currency": "USD"}
    assert entries_of(api, "concessional_refund_received") == 2
    assert balance(api, chart.REFUNDS_RECEIVABLE, window_id=window, grant_id=grant_id) == 0
    assert balance(api, chart.REFUNDS_RECEIVABLE) == 0
    assert balance(api, chart.AVAILABLE, window_id=window) == available + 40_000_000
    assert balance(api, chart.DISBURSED, window_id=window, grant_id=grant_id) == 0
    assert balance(api, chart.CASH) == cash + 40_000_000
    assert statement(api, cw.admin, grant_id)["status"] == "closed"
    _balanced(api, cw)

    # Nothing is due any more.
    seen = counts(api)
    refused = assert_problem(refund_received(api, officer, request_id, "0.01"), 409)
    assert ("amount", "refund-due") in broken_rules(refused)
    assert counts(api) == seen
