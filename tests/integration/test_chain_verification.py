"""The chain verifiers against someone who can switch the database's guards off (docs/operations.md, "Audit
verification"): every break is reported, not only the first; the newest rows deleted are seen (the chain's
anchor); and a row edited with the whole chain re-hashed after it is seen (the seals, keyed outside the database).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from fundapp.core.audit import event_hash
from fundapp.core.db import Database
from fundapp.core.models import AuditEvent, Role
from ledger import rules
from ledger.models import JournalEntry
from ledger.rules import chain_timestamp, hashable_posting
from tests.integration.test_audit import _make_history
from tests.support import LEDGER, Api, line, posted, run_fundapp

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def api(api: Api) -> Api:
    """The test's API with an auditor made first (making one later would append to the audit log)."""
    api.auditor = api.create_user(Role.AUDITOR)  # type: ignore[attr-defined]
    return api


def _unguard(api: Api, table: str) -> None:
    """What only the tables' owner or a superuser can do: switch the append-only guard off."""
    if api.db.dialect == "postgresql":
        api.db.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    else:
        api.db.execute(f"DROP TRIGGER {table}_no_update")
        api.db.execute(f"DROP TRIGGER {table}_no_delete")


def _audit_everywhere(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, dict[str, Any]]:
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "verify-audit")
    response = api.client.get("/api/v1/audit/verify", headers=api.auditor.headers)
    assert response.status_code == 200, response.text
    return code, out, response.json()


def _ledger_everywhere(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, dict[str, Any]]:
    code, out, _ = run_fundapp(api, monkeypatch, capsys, "ledger", "verify")
    response = api.client.get(f"{LEDGER}/verify", headers=api.auditor.headers)
    assert response.status_code == 200, response.text
    return code, out, response.json()


def _rehash_audit_from(api: Api, first: int) -> None:
    """Recompute every hash and link from event ``first`` on, as anyone with SQL can: the chain is whole again."""

    async def read(database: Database) -> list[AuditEvent]:
        async with database.session(write=False) as session:
            statement = select(AuditEvent).where(col(AuditEvent.seq) >= first - 1).order_by(col(AuditEvent.seq))
            return list((await session.execute(statement)).scalars())

    events = api.db.run(read)
    prev_hash = events[0].hash if first > 1 else "0" * 64
    for event in events[1:] if first > 1 else events:
        new_hash = event_hash(
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            before=event.before,
            after=event.after,
            prev_hash=prev_hash,
        )
        api.db.execute(
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s", p=prev_hash, h=new_hash, s=event.seq
        )
        prev_hash = new_hash


def test_an_untouched_audit_log_verifies_with_its_seals(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_history(api)
    assert api.db.scalar("SELECT count(*) FROM audit_events WHERE seal IS NULL") == 0
    count, head = api.db.rows("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")[0]
    assert tuple(api.db.rows("SELECT count, head FROM chain_anchors WHERE name = 'audit'")[0]) == (count, head)
    code, out, report = _audit_everywhere(api, monkeypatch, capsys)
    assert code == 0, out
    assert report["ok"] is True and report["breaks"] == []


def test_the_newest_audit_events_deleted_are_reported(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_history(api)
    last = api.db.scalar("SELECT max(seq) FROM audit_events")
    _unguard(api, "audit_events")
    api.db.execute("DELETE FROM audit_events WHERE seq >= :s", s=last - 1)
    code, out, report = _audit_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert f"BROKEN at audit event {last - 1}: the newest rows are missing" in out
    assert report["ok"] is False
    assert report["broken_seq"] == last - 1
    assert f"the chain's anchor records {last}" in report["reason"]


def test_an_edited_audit_event_with_the_chain_rehashed_is_reported(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_history(api)
    last = api.db.scalar("SELECT max(seq) FROM audit_events")
    _unguard(api, "audit_events")
    api.db.execute("UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 2")
    _rehash_audit_from(api, 2)
    # Hashes and links are whole again, and the newest hash is moved into the anchor too: only the seals,
    # which need the key that is not in the database, still tell.
    head = api.db.scalar("SELECT hash FROM audit_events WHERE seq = :s", s=last)
    api.db.execute("UPDATE chain_anchors SET head = :h, seal = NULL WHERE name = 'audit'", h=head)
    code, out, report = _audit_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert "BROKEN at audit event 2: its seal does not match its hash" in out
    assert [b["seq"] for b in report["breaks"]] == list(range(2, last + 1))
    assert {b["reason"] for b in report["breaks"]} == {
        "its seal does not match its hash (re-hashed without the chain key)"
    }


def test_two_separate_audit_breaks_are_both_reported(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_history(api)
    _unguard(api, "audit_events")
    api.db.execute("UPDATE audit_events SET action = 'forged' WHERE seq = 2")
    api.db.execute("DELETE FROM audit_events WHERE seq = 4")
    code, out, report = _audit_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert "BROKEN at audit event 2: its content does not match its hash" in out
    assert "also at audit event 4: event 4 is missing" in out
    assert [(b["seq"], b["reason"]) for b in report["breaks"]] == [
        (2, "its content does not match its hash"),
        (4, "event 4 is missing"),
        (5, "its link to the previous event is broken"),
    ]


# ---------------------------------------------------------------- the journal's chain, the same way


def _four_entries(api: Api) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    for day in range(2, 6):
        posted(api, fo, line("1100", f"{day}0.00"), line("4100", f"-{day}0.00"), entry_date=f"2026-03-0{day}")


def test_the_newest_journal_entries_deleted_are_reported(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _four_entries(api)
    _unguard(api, "postings")
    _unguard(api, "journal_entries")
    api.db.execute("DELETE FROM postings WHERE entry_id = 4")
    api.db.execute("DELETE FROM entry_requests WHERE entry_id = 4")  # the request that posted it, too
    api.db.execute("DELETE FROM journal_entries WHERE id = 4")
    code, out, report = _ledger_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert "BROKEN at journal entry 4: the newest rows are missing" in out
    assert (report["ok"], report["broken_entry"], report["entries"]) == (False, 4, 3)


def test_an_edited_journal_entry_rehashed_is_reported_and_separate_breaks_are_all_named(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _four_entries(api)
    _unguard(api, "journal_entries")
    # Entry 4 (the newest) edited and its hash recomputed as the verifier would: hash and link agree again.
    api.db.execute("UPDATE journal_entries SET description = 'forged' WHERE id = 4")
    entry = api.db.rows("SELECT * FROM journal_entries WHERE id = 4")[0]
    codes = {id_: code for id_, code in api.db.rows("SELECT id, code FROM ledger_accounts")}
    postings = [
        hashable_posting(
            {
                "line_no": p.line_no,
                "account": codes[p.account_id],
                "currency": p.currency,
                "amount": p.amount,
                "reporting_amount": p.reporting_amount,
                "contributor_id": p.contributor_id,
                "window_id": p.window_id,
                "grant_id": p.grant_id,
            }
        )
        for p in api.db.rows("SELECT * FROM postings WHERE entry_id = 4 ORDER BY line_no")
    ]
    posted_at = api.db.run(_posted_at_of_entry_4)
    header = {
        "id": 4,
        "entry_date": str(entry.entry_date),
        "period_id": entry.period_id,
        "description": "forged",
        "source_type": entry.source_type,
        "source_id": entry.source_id,
        "idempotency_key": entry.idempotency_key,
        "payload_hash": entry.payload_hash,
        "reverses_id": entry.reverses_id,
        "posted_by": entry.posted_by,
        "posted_by_label": entry.posted_by_label,
        "posted_at": chain_timestamp(posted_at),
    }
    new_hash = rules.entry_hash(header, postings, entry.prev_hash)
    api.db.execute("UPDATE journal_entries SET hash = :h WHERE id = 4", h=new_hash)
    api.db.execute("UPDATE chain_anchors SET head = :h, seal = NULL WHERE name = 'journal'", h=new_hash)
    # And a second, separate break: entry 2's link.
    api.db.execute("UPDATE journal_entries SET prev_hash = :h WHERE id = 2", h="0" * 64)
    code, out, report = _ledger_everywhere(api, monkeypatch, capsys)
    assert code == 1
    assert "BROKEN at journal entry 2: its link to the previous entry is broken" in out
    assert "also at journal entry 4: its seal does not match its hash" in out
    assert report["breaks"] == [
        {"entry": 2, "reason": "its link to the previous entry is broken"},
        {"entry": 2, "reason": "its content or postings do not match its hash"},  # the link is hashed too
        {"entry": 4, "reason": "its seal does not match its hash (re-hashed without the chain key)"},
    ]


async def _posted_at_of_entry_4(database: Database) -> datetime:
    async with database.session(write=False) as session:
        statement = select(col(JournalEntry.posted_at)).where(col(JournalEntry.id) == 4)
        posted_at: datetime = (await session.execute(statement)).scalar_one()
        return posted_at
