"""Concessional financing's pure rules: no I/O, no clock of their own.

# ---------------------------------------------------------------- money planners (cancellation, restructuring)

A concessional operation's grant to its agency moves money through the grants' own commands (agreement,
transfers, refunds). What only a loan has are the members' cancellation and restructuring, planned here as
``fundapp.core.plans.Plan`` values and written with ``write_plan`` (docs/concessional.md, "Money"):

- cancellation: what was allocated (8300) or committed (8400) to the grant and not transferred goes back to
  the window's available funds (Dr 8200 / Cr 8300, 8400), what was recognised and not paid is reversed
  (Dr 2100 / Cr 5100), source type ``concessional_release``; what was transferred becomes a refund
  receivable from the agency (Dr 1300 / Cr 5100, source type ``concessional_refund_due``); the grant closes
  and its unpaid tranches are released;
- restructuring: a smaller grant releases the difference the same way (taken from the last tranches not
  yet paid); a larger one allocates the increase from the window (Dr 8300 or 8400 / Cr 8200, source type
  ``concessional_decision``; the decision's money guard checked the window has it), added to the last
  tranche not yet paid (or to a new tranche when every tranche is paid).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fundapp.core.errors import Conflict
from fundapp.core.plans import EntryId, Event, Plan
from ledger import EntryDraft, Line, Money, chart, to_json

# Tranche states as the grants store them (proposals.TrancheStatus), and the grant's awaiting state.
PENDING, RECOGNISED, PAID, RELEASED = "pending", "recognised", "paid", "released"
UNPAID_STATES = frozenset({PENDING, RECOGNISED})
AWAITING_AGREEMENT, CLOSED = "awaiting_agreement", "closed"


@dataclass(frozen=True, slots=True)
class TrancheBook:
    """One tranche of the operation's grant as the planners see it (minor units)."""

    id: int
    number: int
    amount: int
    paid: int
    status: str

    @property
    def unpaid(self) -> int:
        return self.amount - self.paid if self.status in UNPAID_STATES else 0


@dataclass(frozen=True, slots=True)
class OperationBook:
    """A concessional operation's grant and its balances under the grant's dimension (minor units, the
    reporting currency; each balance positive on its normal side)."""

    request_id: int
    grant_id: int
    window_id: int
    currency: str
    grant_status: str
    grant_amount: int
    allocated: int  # 8300: adopted, agreement not yet recorded
    committed: int  # 8400: committed by the agreement, not yet transferred
    payable: int  # 2100 (credit): recognised, not yet paid
    disbursed: int  # 8500: transferred to the agency (net of refunds recorded)
    tranches: tuple[TrancheBook, ...]
    pending_disbursements: int

    @property
    def paid(self) -> int:
        return sum(t.paid for t in self.tranches)

    @property
    def signed(self) -> bool:
        return self.grant_status != AWAITING_AGREEMENT


def _line(account: str, minor: int, book: OperationBook) -> Line:
    return Line(account, Money.from_minor(minor, book.currency), window_id=book.window_id, grant_id=book.grant_id)


def _available(minor: int, book: OperationBook) -> Line:
    # Postings to 8200 carry only the window dimension (docs/chart-of-accounts.md).
    return Line(chart.AVAILABLE, Money.from_minor(minor, book.currency), window_id=book.window_id)


def refuse_open(book: OperationBook) -> None:
    if book.grant_status == CLOSED:
        raise Conflict(
            f"grant {book.grant_id} of request {book.request_id} is closed",
            field="request_id",
            rule="operation-open",
        )
    if book.pending_disbursements:
        raise Conflict(
            f"{book.pending_disbursements} transfer(s) to the agency await approval; approve or reject them first",
            field="request_id",
            rule="no-pending-disbursements",
        )


def release_lines(book: OperationBook, *, allocated: int, committed: int, payable: int) -> list[Line]:
    """Lines that give ``allocated`` (8300) and ``committed`` (8400) back to the window and reverse
    ``payable`` (2100 / 5100); empty when all three are 0."""
    lines: list[Line] = []
    if allocated + committed:
        lines.append(_available(allocated + committed, book))
    if allocated:
        lines.append(_line(chart.ALLOCATED, -allocated, book))
    if committed:
        lines.append(_line(chart.COMMITTED, -committed, book))
    if payable:
        lines += [_line(chart.GRANTS_PAYABLE, payable, book), _line(chart.TRANSFERS_TO_PARTNERS, -payable, book)]
    return lines


def plan_cancellation(book: OperationBook, *, decision_id: int, today: date, now: datetime) -> Plan:
    """The adopted cancellation of a concessional operation (module docstring)."""
    refuse_open(book)
    entries: list[EntryDraft] = []
    release = release_lines(book, allocated=book.allocated, committed=book.committed, payable=book.payable)
    if release:
        entries.append(
            EntryDraft(
                entry_date=today,
                description=f"Concessional operation {book.request_id} cancelled (decision {decision_id}): "
                "what was not transferred goes back to the window",
                lines=tuple(release),
                source_type="concessional_release",
                source_id=str(decision_id),
                idempotency_key=f"concessional:{book.request_id}:cancel:{decision_id}",
            )
        )
    if book.disbursed:
        entries.append(
            EntryDraft(
                entry_date=today,
                description=f"Concessional operation {book.request_id} cancelled after a transfer: refund due "
                "from the agency",
                lines=(
                    _line(chart.REFUNDS_RECEIVABLE, book.disbursed, book),
                    _line(chart.TRANSFERS_TO_PARTNERS, -book.disbursed, book),
                ),
                source_type="concessional_refund_due",
                source_id=str(decision_id),
                idempotency_key=f"concessional:{book.request_id}:refund-due:{decision_id}",
            )
        )
    entry_id = EntryId(0) if entries else None
    released = [t for t in book.tranches if t.status in UNPAID_STATES]
    grant = {
        "id": book.grant_id,
        "status": CLOSED,
        "closed_on": today,
        "close_entry_id": entry_id,
        "status_reason": f"cancelled by decision {decision_id}",
        "updated_at": now,
    }
    request = {"id": book.request_id, "status": "cancelled", "cancelled_on": today, "updated_at": now}
    event = Event(
        "concessional.cancel",
        "financing_request",
        book.request_id,
        after={
            "decision_id": decision_id,
            "released": to_json(Money.from_minor(book.allocated + book.committed, book.currency)),
            "payable_reversed": to_json(Money.from_minor(book.payable, book.currency)),
            "refund_due": to_json(Money.from_minor(book.disbursed, book.currency)),
            "released_tranches": [t.number for t in released],
            "entry_id": entry_id,
        },
    )
    updates = {
        "grants": [grant],
        "financing_requests": [request],
        **({"grant_tranches": [{"id": t.id, "status": RELEASED} for t in released]} if released else {}),
    }
    return Plan(entries=tuple(entries), updates=updates, events=(event,))


@dataclass(frozen=True, slots=True)
class TrancheChange:
    """How a restructuring changes one tranche: its new amount and status, and what of the change had been
    recognised (2100 / 5100 to reverse or to post)."""

    tranche: TrancheBook
    amount: int
    status: str
    recognised: int


def cut_tranches(tranches: Sequence[TrancheBook], reduction: int) -> list[TrancheChange]:
    """Take ``reduction`` from the unpaid parts of the tranches, the last first. A tranche cut to what was
    paid is paid; one of which nothing was paid is released (its planned amount stays on the row, CHECK
    amount > 0; it is not part of the grant any more)."""
    changes: list[TrancheChange] = []
    left = reduction
    for tranche in sorted(tranches, key=lambda t: t.number, reverse=True):
        if left <= 0:
            break
        cut = min(tranche.unpaid, left)
        if cut <= 0:
            continue
        left -= cut
        recognised = cut if tranche.status == RECOGNISED else 0
        if cut < tranche.unpaid:
            changes.append(TrancheChange(tranche, tranche.amount - cut, tranche.status, recognised))
        elif tranche.paid:
            changes.append(TrancheChange(tranche, tranche.paid, PAID, recognised))
        else:
            changes.append(TrancheChange(tranche, tranche.amount, RELEASED, recognised))
    if left:
        raise Conflict(
            f"the grant has {sum(t.unpaid for t in tranches)} minor units not yet transferred; "
            f"{reduction} cannot be released",
            field="loan_amount",
            rule="restructure-above-transferred",
        )
    return changes


def _restructure_lines(book: OperationBook, delta: int, recognised: int) -> list[Line]:
    """The budgetary (and recognised financial) lines of a restructuring's change ``delta`` to the grant."""
    held = chart.COMMITTED if book.signed else chart.ALLOCATED
    if delta < 0:
        release = -delta
        return release_lines(
            book,
            allocated=0 if book.signed else release,
            committed=release if book.signed else 0,
            payable=recognised,
        )
    lines = [_line(held, delta, book), _available(-delta, book)]
    if recognised:
        lines += [_line(chart.TRANSFERS_TO_PARTNERS, recognised, book), _line(chart.GRANTS_PAYABLE, -recognised, book)]
    return lines


def _grow_tranches(
    book: OperationBook, increase: int, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Where an increase goes: the last tranche not yet paid, or a new tranche (recognised at once when the
    agreement is signed). Returns (updates, inserts, the part recognised)."""
    open_tranches = sorted((t for t in book.tranches if t.status in UNPAID_STATES), key=lambda t: t.number)
    if open_tranches:
        last = open_tranches[-1]
        recognised = increase if last.status == RECOGNISED else 0
        return [{"id": last.id, "amount": last.amount + increase}], [], recognised
    number = max((t.number for t in book.tranches), default=0) + 1
    row = {
        "grant_id": book.grant_id,
        "number": number,
        "amount": increase,
        "planned_date": today,
        "condition": "none",
        "status": RECOGNISED if book.signed else PENDING,
        "paid": 0,
        "recognised_on": today if book.signed else None,
    }
    return [], [row], increase if book.signed else 0


def plan_restructuring(
    book: OperationBook,
    new_amount: int,
    *,
    decision_id: int,
    request_values: Mapping[str, Any],
    today: date,
    now: datetime,
) -> Plan:
    """The adopted restructuring of a concessional operation to a grant of ``new_amount`` (module docstring);
    ``request_values`` are the request's new loan amount, terms and calculation."""
    refuse_open(book)
    if new_amount < book.paid or new_amount <= 0:
        raise Conflict(
            f"{Money.from_minor(book.paid, book.currency)} was already transferred; the grant cannot become "
            f"{Money.from_minor(new_amount, book.currency)}",
            field="loan_amount",
            rule="restructure-above-transferred",
        )
    delta = new_amount - book.grant_amount
    tranche_updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    if delta < 0:
        changes = cut_tranches(book.tranches, -delta)
        recognised = sum(c.recognised for c in changes)
        tranche_updates = [{"id": c.tranche.id, "amount": c.amount, "status": c.status} for c in changes]
    else:
        tranche_updates, inserts, recognised = _grow_tranches(book, delta, today)
    lines = _restructure_lines(book, delta, recognised) if delta else []
    entries = (
        (
            EntryDraft(
                entry_date=today,
                description=f"Concessional operation {book.request_id} restructured (decision {decision_id})",
                lines=tuple(lines),
                source_type="concessional_release" if delta < 0 else "concessional_decision",
                source_id=str(decision_id),
                idempotency_key=f"concessional:{book.request_id}:restructure:{decision_id}",
            ),
        )
        if lines
        else ()
    )
    event = Event(
        "concessional.restructure",
        "financing_request",
        book.request_id,
        before={"grant_amount": to_json(Money.from_minor(book.grant_amount, book.currency))},
        after={
            "decision_id": decision_id,
            "grant_amount": to_json(Money.from_minor(new_amount, book.currency)),
            "entry_id": EntryId(0) if entries else None,
        },
    )
    updates: dict[str, list[dict[str, Any]]] = {
        "grants": [{"id": book.grant_id, "amount": new_amount, "updated_at": now}],
        "financing_requests": [{"id": book.request_id, **request_values, "updated_at": now}],
    }
    if tranche_updates:
        updates["grant_tranches"] = tranche_updates
    rows = {"grant_tranches": inserts} if inserts else {}
    return Plan(entries=entries, rows=rows, updates=updates, events=(event,))
