"""The double-entry ledger: exact money, two balanced books, immutable hash-chained entries.

Other packages use the ledger through this module only.
"""

from ledger import chart
from ledger.errors import LedgerRuleError
from ledger.models import Book
from ledger.money import Money, MoneyError, PrecisionError, exponent, format_money, percentage, to_json
from ledger.queries import PostingLine, balances, postings_for, trial_balance
from ledger.rules import convert_minor
from ledger.schemas import DecimalString, KnownCurrency, MoneyOut, money_in, to_money
from ledger.service import EntryDraft, EntryView, Ledger, Line, chain_head_up_to

__all__ = [
    "Book",
    "DecimalString",
    "EntryDraft",
    "EntryView",
    "KnownCurrency",
    "Ledger",
    "LedgerRuleError",
    "Line",
    "Money",
    "MoneyError",
    "MoneyOut",
    "PostingLine",
    "PrecisionError",
    "balances",
    "chain_head_up_to",
    "chart",
    "convert_minor",
    "exponent",
    "format_money",
    "money_in",
    "percentage",
    "postings_for",
    "to_json",
    "to_money",
    "trial_balance",
]
