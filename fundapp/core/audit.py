"""The audit log: every state change, append-only and hash-chained.

``record`` is called by services inside the transaction that makes the change, so the change and its
audit event commit or vanish together (inside a ``writes.one_trip`` block the event goes with the block's
other rows). Each event's hash covers its canonical content and the previous
event's hash; ``verify`` recomputes the chain and names the first event that does not match.

Writers are serialised on the chain head: SQLite's write transactions are exclusive already, and on
PostgreSQL a transaction-scoped advisory lock is taken before the head is read (one call to a function of
migration 0006 does both). A transaction reads the head once and keeps it (``session.info``) for its
further events; the copy is dropped when the transaction, or a savepoint, ends.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import FromClause, Table, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.chain import GENESIS_HASH, canonical_json, digest
from fundapp.core.db import transaction_scoped
from fundapp.core.models import AuditEvent, ChainAnchor
from fundapp.core.writes import pending_writes

# Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
AUDIT_CHAIN_LOCK = 7_270_001
AUDIT_TABLE: Table = AuditEvent.metadata.tables["audit_events"]
_HEAD = transaction_scoped("fundapp.audit.head")
_PG_LOCK_AND_HEAD = text("SELECT seq, hash FROM fundapp_audit_head(:key)").bindparams(key=AUDIT_CHAIN_LOCK)
_SQLITE_HEAD = select(AUDIT_TABLE.c.seq, AUDIT_TABLE.c.hash).order_by(AUDIT_TABLE.c.seq.desc()).limit(1)
_INSERT = insert(AUDIT_TABLE)
# The key of the chains' seals, set by the shell when the service or the CLI starts (``use_chain_key``).
_chain_key: bytes | None = None


def use_chain_key(key: bytes | None) -> None:
    """The key that seals the audit log's and the journal's rows in this process (``Settings.chain_key_bytes``).
    Without one, rows are written unsealed and the verifiers check hashes and links only."""
    global _chain_key
    _chain_key = key


def seal(hash_: str) -> str | None:
    """A row's seal: HMAC-SHA256 of its chain hash under the chain key (None without a key). The key is not in
    the database, so someone who edits a row there and re-hashes the chain after it cannot seal the new hashes."""
    if _chain_key is None:
        return None
    return hmac.new(_chain_key, hash_.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """One place where a chain is wrong: the row (seq or entry id) and why."""

    at: int
    reason: str


class SealCheck:
    """Checks common to both chains, beside their own walk: each row's seal (``row``), then the table's end
    against the chain's anchor (``finish``), adding what is wrong to ``breaks``."""

    def __init__(self, anchor: ChainAnchor | None, breaks: list[ChainBreak]) -> None:
        self.anchor = anchor
        self.breaks = breaks
        self.unsealed_until = anchor.unsealed_until if anchor is not None else 0

    @classmethod
    async def load(cls, session: AsyncSession, name: str, breaks: list[ChainBreak]) -> SealCheck:
        statement = select(ChainAnchor).where(col(ChainAnchor.name) == name)
        return cls((await session.execute(statement)).scalar_one_or_none(), breaks)

    def row(self, at: int, hash_: str, row_seal: str | None) -> None:
        if _chain_key is None:
            return
        if row_seal is None:
            if at > self.unsealed_until:
                self.breaks.append(ChainBreak(at, "it carries no seal"))
        elif not hmac.compare_digest(row_seal, seal(hash_) or ""):
            self.breaks.append(ChainBreak(at, "its seal does not match its hash (re-hashed without the chain key)"))

    def finish(self, last: int, head: str) -> None:
        anchor = self.anchor
        if anchor is None:
            return
        if anchor.count > last:
            reason = (
                f"the newest rows are missing: the chain's anchor records {anchor.count} with head {anchor.head}, "
                f"the table ends at {last}"
            )
            self.breaks.append(ChainBreak(last + 1, reason))
        elif anchor.count < last:
            self.breaks.append(ChainBreak(anchor.count + 1, f"rows after {anchor.count} were written past the anchor"))
        elif anchor.head != head:
            reason = f"the newest row is not the one the chain's anchor records ({anchor.head})"
            self.breaks.append(ChainBreak(last, reason))
        sealed = _chain_key is not None and anchor.seal is not None
        if sealed and not hmac.compare_digest(anchor.seal or "", seal(anchor.head) or ""):
            self.breaks.append(ChainBreak(anchor.count, "the chain's anchor carries a seal that does not match"))


def timestamp(value: datetime) -> str:
    """UTC with microseconds, the text every hashed record stores its times in."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    before: str,
    after: str,
    prev_hash: str,
) -> str:
    return digest(
        {
            "seq": seq,
            "occurred_at": timestamp(occurred_at),
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": before,
            "after": after,
            "prev_hash": prev_hash,
        }
    )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a user, or the system (CLI, scheduler) when ``user_id`` is None."""

    user_id: int | None
    label: str


SYSTEM = Actor(None, "system")


def head_source(dialect: str) -> FromClause:
    """The chain's head as a one-row source (columns ``seq``, ``hash``; none when the log is empty) for a
    caller that reads it in a statement of its own, after the writers' lock of its domain: join it ``ON
    true``. On PostgreSQL reading it takes the chain's lock first (in the same call). Give what it returned
    to ``remember_head``, and ``record`` will not read it again in this transaction."""
    if dialect == "postgresql":
        return func.fundapp_audit_head(bindparam("audit_chain_lock", AUDIT_CHAIN_LOCK)).table_valued(
            "seq", "hash", name="audit_head"
        )
    return _SQLITE_HEAD.subquery("audit_head")


def remember_head(session: AsyncSession, seq: int | None, hash_: str | None) -> None:
    """The head a caller read through ``head_source`` in this transaction."""
    session.info[_HEAD] = (0, GENESIS_HASH) if seq is None or hash_ is None else (int(seq), str(hash_))


async def _lock_chain(session: AsyncSession) -> tuple[int, str]:
    """Take the chain's lock (PostgreSQL) and return its head (last seq, last hash), once per transaction."""
    head: tuple[int, str] | None = session.info.get(_HEAD)
    if head is None:
        postgresql = session.get_bind().dialect.name == "postgresql"
        row = (await session.execute(_PG_LOCK_AND_HEAD if postgresql else _SQLITE_HEAD)).first()
        head = (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))
        session.info[_HEAD] = head
    return head


async def record(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    at: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    last_seq, prev_hash = await _lock_chain(session)
    seq = last_seq + 1
    # Store the timestamp at the precision every backend keeps (microseconds), so the hash re-verifies.
    occurred_at = at.astimezone(UTC)
    fields: dict[str, Any] = {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "before": canonical_json(dict(before or {})),
        "after": canonical_json(dict(after or {})),
        "prev_hash": prev_hash,
    }
    fields["hash"] = event_hash(**fields)
    fields["seal"] = seal(fields["hash"])
    pending = pending_writes(session)
    if pending is None:
        # A Core INSERT: the event is written now, in this transaction, without the ORM's unit of work.
        await session.execute(_INSERT, fields)
    else:
        pending.add(AUDIT_TABLE, [fields], on_discard=functools.partial(session.info.pop, _HEAD, None))
    session.info[_HEAD] = (seq, fields["hash"])
    # What was written, not attached to the session (built without re-validating values built above).
    return AuditEvent.model_construct(**fields)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    head: str
    broken_seq: int | None = None
    reason: str | None = None
    # Every break, in order (the first is ``broken_seq``/``reason``).
    breaks: tuple[ChainBreak, ...] = ()

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.events} audit events verified; chain head {self.head}"
        lines = [f"BROKEN at audit event {self.broken_seq}: {self.reason}"]
        lines += [f"  also at audit event {b.at}: {b.reason}" for b in self.breaks[1:]]
        lines.append(f"{len(self.breaks)} breaks in {self.events} audit events")
        return "\n".join(lines)


async def verify(session: AsyncSession, *, batch: int = 5000) -> ChainReport:
    """Recompute the whole chain in order and report every event whose place, link, content or seal is wrong,
    and a table whose newest events are gone (the chain's anchor, ``chain_anchors``, names a later head)."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    last_seq = 0
    count = 0
    breaks: list[ChainBreak] = []
    seals = await SealCheck.load(session, "audit", breaks)
    while True:
        events = (
            (
                await session.execute(
                    select(AuditEvent).where(col(AuditEvent.seq) > last_seq).order_by(col(AuditEvent.seq)).limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not events:
            break
        for event in events:
            if event.seq != expected_seq:
                missing = (
                    f"event {expected_seq} is missing"
                    if event.seq == expected_seq + 1
                    else f"events {expected_seq} to {event.seq - 1} are missing"
                )
                breaks.append(ChainBreak(expected_seq, missing))
            if event.prev_hash != prev_hash:
                breaks.append(ChainBreak(event.seq, "its link to the previous event is broken"))
            recomputed = event_hash(
                seq=event.seq,
                occurred_at=event.occurred_at,
                actor_id=event.actor_id,
                actor_label=event.actor_label,
                action=event.action,
                object_type=event.object_type,
                object_id=event.object_id,
                before=event.before,
                after=event.after,
                prev_hash=event.prev_hash,
            )
            if recomputed != event.hash:
                breaks.append(ChainBreak(event.seq, "its content does not match its hash"))
            seals.row(event.seq, event.hash, event.seal)
            count += 1
            prev_hash = event.hash
            expected_seq = event.seq + 1
            last_seq = event.seq
    seals.finish(last_seq, prev_hash)
    breaks.sort(key=lambda b: b.at)
    if not breaks:
        return ChainReport(True, count, prev_hash)
    first = breaks[0]
    return ChainReport(False, count, prev_hash, first.at, first.reason, tuple(breaks))
