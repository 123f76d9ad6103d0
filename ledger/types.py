"""The ledger's immutable core types: what a caller drafts (``EntryDraft`` of ``Line``s), what it reads back
(``EntryView`` of ``PostingView``s) and the chart account a unit of work checks a line against. No I/O: the
pure rules (``ledger.rules``), the reads (``ledger.queries``) and the posting service all speak these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ledger.models import currency_allowed
from ledger.money import Money

# The largest amount one line may carry, in minor units: far beyond any real transfer, and small enough
# that sums over millions of postings stay within a signed 64-bit integer on every backend.
MAX_LINE_MINOR = 10**15


@dataclass(frozen=True, slots=True)
class ChartAccount:
    """A snapshot of one account of the chart, as a unit of work reads it."""

    id: int
    code: str
    name: str
    book: str
    type: str
    normal_side: str
    currencies: str
    is_monetary: bool
    is_open: bool

    def allows(self, currency: str, reporting_currency: str) -> bool:
        return currency_allowed(self.currencies, currency, reporting_currency)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a draft entry. ``reporting_amount`` is computed from the day's rate when omitted."""

    account: str
    amount: Money
    reporting_amount: Money | None = None
    contributor_id: int | None = None
    window_id: int | None = None
    grant_id: int | None = None


@dataclass(frozen=True, slots=True)
class EntryDraft:
    entry_date: date
    description: str
    lines: tuple[Line, ...]
    source_type: str = "manual"
    source_id: str | None = None
    idempotency_key: str | None = None
    # Close a reporting-currency difference with a realised FX gain or loss line (settlements).
    settle_fx: bool = False


@dataclass(frozen=True, slots=True)
class PostingView:
    line_no: int
    account: str
    currency: str
    amount: int
    reporting_amount: int
    contributor_id: int | None
    window_id: int | None
    grant_id: int | None


@dataclass(frozen=True, slots=True)
class EntryView:
    """A posted entry as the other domains and the API see it."""

    id: int
    entry_date: date
    period_id: str
    description: str
    source_type: str
    source_id: str | None
    idempotency_key: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    posted_by: int | None
    posted_by_label: str
    posted_at: datetime
    prev_hash: str
    hash: str
    postings: tuple[PostingView, ...]
    replayed: bool = False
