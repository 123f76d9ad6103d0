"""One exception per accounting rule; each becomes a problem+json response naming the field and rule."""

from __future__ import annotations

from fundapp.core.errors import Conflict, InvalidInput, NotFound


class LedgerRuleError(InvalidInput):
    slug = "ledger-rule-violated"
    title = "The ledger refuses this entry"


class UnbalancedEntry(LedgerRuleError):
    slug = "unbalanced-entry"
    title = "The entry does not balance"


class EmptyEntry(LedgerRuleError):
    slug = "empty-entry"
    title = "An entry needs at least two lines"


class UnknownAccount(LedgerRuleError):
    slug = "unknown-account"
    title = "No such account"


class CurrencyNotAllowed(LedgerRuleError):
    slug = "currency-not-allowed"
    title = "The account does not take this currency"


class MissingRate(LedgerRuleError):
    slug = "missing-fx-rate"
    title = "No exchange rate for this currency and date"


class ClosedAccount(Conflict):
    slug = "account-closed"
    title = "The account is closed"


class ClosedPeriod(Conflict):
    slug = "period-closed"
    title = "The period is closed"


class PeriodNotEnded(Conflict):
    slug = "period-not-ended"
    title = "The period has not ended"


class PeriodOrder(Conflict):
    slug = "period-order"
    title = "Periods close in order"


class IdempotencyConflict(Conflict):
    slug = "idempotency-key-reused"
    title = "The idempotency key was used with a different payload"


class AlreadyReversed(Conflict):
    slug = "already-reversed"
    title = "The entry has already been reversed"


class ReversalOfReversal(Conflict):
    slug = "reversal-of-reversal"
    title = "A reversal cannot itself be reversed"


class AccountNotEmpty(Conflict):
    slug = "account-not-empty"
    title = "The account still has a balance"


class EntryNotFound(NotFound):
    slug = "entry-not-found"
