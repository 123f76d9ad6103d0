"""``fundapp.core.chain``: one canonical form and one hash for the audit log, the journal, the decision records
and the payload hashes. The links below were computed by each chain's own code before the three were made one
(fundapp at 39813eb): a record hashed then must hash the same now, or every stored chain would break."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum

from fundapp.core import audit, chain
from governance import rules as governance_rules
from ledger import rules as ledger_rules

WHEN = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


class Colour(StrEnum):
    RED = "red"


def test_the_canonical_form_sorts_keys_drops_spaces_and_keeps_utf8() -> None:
    value = {"b": [1, 2], "a": "é", "c": {"z": None, "y": True}}
    assert chain.canonical_json(value) == '{"a":"é","b":[1,2],"c":{"y":true,"z":null}}'
    assert chain.digest(value) == hashlib.sha256('{"a":"é","b":[1,2],"c":{"y":true,"z":null}}'.encode()).hexdigest()


def test_values_that_are_not_json_have_one_text_each() -> None:
    paris = timezone(timedelta(hours=1))
    value = {
        "at": datetime(2026, 3, 2, 10, 30, 15, 123456, tzinfo=paris),
        "amount": Decimal("10.50"),
        "colour": Colour.RED,
        "codes": {"SEN", "MEX"},
        "pair": (1, 2),
    }
    assert chain.canonical_json(value) == (
        '{"amount":"10.50","at":"2026-03-02T09:30:15.123456+00:00","codes":["MEX","SEN"],"colour":"red","pair":[1,2]}'
    )


def test_the_three_chains_and_the_payload_hashes_link_as_they_did() -> None:
    assert chain.GENESIS_HASH == "0" * 64 == governance_rules.GENESIS
    event = audit.event_hash(
        seq=7,
        occurred_at=WHEN,
        actor_id=3,
        actor_label="Finance Officer",
        action="contribution.record",
        object_type="contribution",
        object_id="12",
        before="{}",
        after='{"amount":"100.00","currency":"EUR","note":"Aportación ñ"}',
        prev_hash="ab" * 32,
    )
    assert event == "82b0832b27735233e6ccee3e15d6a3af7f1ccf8b929be18437987b86d97b24e7"
    header = {
        "id": 5,
        "entry_date": "2026-03-02",
        "period_id": "2026-03",
        "description": "Receipt — Norway",
        "source_type": "contribution",
        "source_id": "12",
        "idempotency_key": None,
        "payload_hash": "cd" * 32,
        "reverses_id": None,
        "posted_by": 3,
        "posted_by_label": "Finance Officer",
        "posted_at": "2026-03-02T09:30:15.123456Z",
    }
    line = {"currency": "EUR", "contributor_id": 4, "grant_id": None}
    postings = [
        {**line, "line_no": 1, "account": "1100", "amount": 10000, "reporting_amount": 10835, "window_id": None},
        {**line, "line_no": 2, "account": "2200", "amount": -10000, "reporting_amount": -10835, "window_id": 2},
    ]
    entry = ledger_rules.entry_hash(header, postings, "ef" * 32)
    assert entry == "cc65ac158fecd9ee74f8a586273d8919720bd57e504b5bc54290e554523d65aa"
    ballot = {
        "decision_id": 9,
        "seq": 2,
        "kind": "ballot",
        "member": "SEN",
        "choice": "yes",
        "reason": None,
        "data": '{"note":"é"}',
        "at": "2026-03-02T09:30:15.123456Z",
        "prev_hash": "12" * 32,
    }
    assert governance_rules.decision_event_hash(ballot) == (
        "ee0e2b24e6ba69fc24c5e65549cfd716e2b72af32d1c5b5026053f932cbd1616"
    )
    payload = {
        "kind": "entry",
        "payload": {"entry_date": "2026-03-02", "lines": [{"amount": 5}]},
        "reason": "Correction ü",
    }
    assert chain.digest(payload) == "6547ed8f355d33f199050d899923ffd1f6d5731d3702aa184f10a3ac449af3e1"
