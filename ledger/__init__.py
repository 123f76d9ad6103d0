"""The double-entry ledger: exact money, two balanced books, immutable hash-chained entries.

Other packages use the ledger through this module only (tests/unit/test_architecture.py).
"""

from ledger import chart, queries, rules
from ledger.errors import LedgerRuleError
from ledger.models import (
    POOLED_KEY,
    AccountType,
    Book,
    FxRate,
    JournalEntry,
    LedgerAccount,
    Period,
    PeriodStatus,
    Posting,
)
from ledger.money import (
    Money,
    MoneyError,
    PrecisionError,
    allocate,
    allocate_minor,
    exponent,
    format_money,
    from_json,
    percentage,
    quantize,
    to_json,
)
from ledger.queries import PostingLine, balances, postings_for, totals_between, trial_balance
from ledger.rules import convert_minor
from ledger.schemas import DecimalString, KnownCurrency, MoneyOut, money_in, to_money
from ledger.service import Ledger, chain_head_up_to
from ledger.types import EntryDraft, EntryView, Line

__all__ = [
    "POOLED_KEY",
    "AccountType",
    "Book",
    "DecimalString",
    "EntryDraft",
    "EntryView",
    "FxRate",
    "JournalEntry",
    "KnownCurrency",
    "Ledger",
    "LedgerAccount",
    "LedgerRuleError",
    "Line",
    "Money",
    "MoneyError",
    "MoneyOut",
    "Period",
    "PeriodStatus",
    "Posting",
    "PostingLine",
    "PrecisionError",
    "allocate",
    "allocate_minor",
    "balances",
    "chain_head_up_to",
    "chart",
    "convert_minor",
    "exponent",
    "format_money",
    "from_json",
    "money_in",
    "percentage",
    "postings_for",
    "quantize",
    "queries",
    "rules",
    "to_json",
    "to_money",
    "totals_between",
    "trial_balance",
]
