"""The reference chart of accounts (docs/chart-of-accounts.md explains each account's business events).

The codes are the names the other domains post with. Migration 0002 created these rows; a new account
comes with a new migration, never by editing an old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.models import AccountType, Book, NormalSide

# Financial book
CASH = "1100"
CONTRIBUTIONS_RECEIVABLE = "1200"
INTEREST_RECEIVABLE = "1210"
REFUNDS_RECEIVABLE = "1300"
GRANTS_PAYABLE = "2100"
REFUNDS_PAYABLE = "2200"
DEFERRED_REVENUE = "2300"
UNAPPLIED_CONTRIBUTIONS = "2400"
RECEIVED_IN_ADVANCE = "2450"
NET_ASSETS_POOLED = "3100"
NET_ASSETS_WINDOWS = "3200"
CONTRIBUTION_REVENUE = "4100"
INVESTMENT_INCOME = "4200"
FX_GAIN_REALISED = "4300"
FX_GAIN_UNREALISED = "4310"
TRANSFERS_TO_PARTNERS = "5100"
ADMIN_AGENT_FEE = "5200"
SECRETARIAT_DIRECT_COSTS = "5300"
BANK_CHARGES = "5400"
FX_LOSS_REALISED = "5500"
FX_LOSS_UNREALISED = "5510"
# Budgetary book (kept in the reporting currency)
RESOURCES_RECEIVED = "8100"
AVAILABLE = "8200"
ALLOCATED = "8300"
COMMITTED = "8400"
DISBURSED = "8500"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    name: str
    book: Book
    type: AccountType
    normal_side: NormalSide
    currencies: str  # "*" or "REPORTING" (replaced by the reporting currency) or a list
    is_monetary: bool
    description: str


F, B = Book.FINANCIAL, Book.BUDGETARY
DR, CR = NormalSide.DEBIT, NormalSide.CREDIT
A = AccountType

REFERENCE_CHART: tuple[AccountSpec, ...] = (
    AccountSpec(CASH, "Cash at trustee", F, A.ASSET, DR, "*", True, "Cash held by the trustee, per currency"),
    AccountSpec(
        CONTRIBUTIONS_RECEIVABLE,
        "Contributions receivable",
        F,
        A.ASSET,
        DR,
        "*",
        True,
        "Assessed fees and signed pledges not yet paid",
    ),
    AccountSpec(INTEREST_RECEIVABLE, "Interest receivable", F, A.ASSET, DR, "*", True, "Investment income accrued"),
    AccountSpec(
        REFUNDS_RECEIVABLE,
        "Refunds receivable",
        F,
        A.ASSET,
        DR,
        "*",
        True,
        "Money transferred that a partner owes back (a concessional loan cancelled after a transfer)",
    ),
    AccountSpec(
        GRANTS_PAYABLE, "Grants payable", F, A.LIABILITY, CR, "*", True, "Recognised grant tranches not yet transferred"
    ),
    AccountSpec(REFUNDS_PAYABLE, "Refunds payable", F, A.LIABILITY, CR, "*", True, "Money owed back to contributors"),
    AccountSpec(
        DEFERRED_REVENUE,
        "Deferred revenue (conditional contributions)",
        F,
        A.LIABILITY,
        CR,
        "*",
        False,
        "Conditional pledges until their condition is met",
    ),
    AccountSpec(
        UNAPPLIED_CONTRIBUTIONS,
        "Unapplied contributions",
        F,
        A.LIABILITY,
        CR,
        "*",
        True,
        "Money received that settles nothing yet, kept per contributor",
    ),
    AccountSpec(
        RECEIVED_IN_ADVANCE,
        "Contributions received in advance",
        F,
        A.LIABILITY,
        CR,
        "*",
        True,
        "Money received for a fee year that has not begun, applied to its fee on 1 January",
    ),
    AccountSpec(
        NET_ASSETS_POOLED,
        "Net assets - pooled fund",
        F,
        A.NET_ASSETS,
        CR,
        "REPORTING",
        False,
        "Accumulated surplus of the pooled fund",
    ),
    AccountSpec(
        NET_ASSETS_WINDOWS,
        "Net assets - thematic windows",
        F,
        A.NET_ASSETS,
        CR,
        "REPORTING",
        False,
        "Accumulated surplus earmarked to windows (window dimension)",
    ),
    AccountSpec(
        CONTRIBUTION_REVENUE,
        "Contribution revenue",
        F,
        A.REVENUE,
        CR,
        "*",
        False,
        "Fees and unconditional contributions, when assessed or signed",
    ),
    AccountSpec(INVESTMENT_INCOME, "Investment income", F, A.REVENUE, CR, "*", False, "Interest earned on cash"),
    AccountSpec(
        FX_GAIN_REALISED, "Foreign exchange gains - realised", F, A.REVENUE, CR, "*", False, "Gains on settlement"
    ),
    AccountSpec(
        FX_GAIN_UNREALISED, "Foreign exchange gains - unrealised", F, A.REVENUE, CR, "*", False, "Gains on revaluation"
    ),
    AccountSpec(
        TRANSFERS_TO_PARTNERS,
        "Transfers to implementing partners",
        F,
        A.EXPENSE,
        DR,
        "*",
        False,
        "Grant tranches recognised",
    ),
    AccountSpec(ADMIN_AGENT_FEE, "Administrative agent fee", F, A.EXPENSE, DR, "*", False, "Fee deducted at deposit"),
    AccountSpec(
        SECRETARIAT_DIRECT_COSTS,
        "Secretariat direct costs",
        F,
        A.EXPENSE,
        DR,
        "*",
        False,
        "Direct costs approved by decision",
    ),
    AccountSpec(BANK_CHARGES, "Bank charges", F, A.EXPENSE, DR, "*", False, "Charges on transfers"),
    AccountSpec(
        FX_LOSS_REALISED, "Foreign exchange losses - realised", F, A.EXPENSE, DR, "*", False, "Losses on settlement"
    ),
    AccountSpec(
        FX_LOSS_UNREALISED,
        "Foreign exchange losses - unrealised",
        F,
        A.EXPENSE,
        DR,
        "*",
        False,
        "Losses on revaluation",
    ),
    AccountSpec(
        RESOURCES_RECEIVED,
        "Resources received",
        B,
        A.BUDGETARY,
        CR,
        "REPORTING",
        False,
        "Net deposits made available for decisions",
    ),
    AccountSpec(
        AVAILABLE,
        "Available for allocation",
        B,
        A.BUDGETARY,
        DR,
        "REPORTING",
        False,
        "Funds the members may still allocate (per window, or pooled)",
    ),
    AccountSpec(
        ALLOCATED,
        "Allocated (approved)",
        B,
        A.BUDGETARY,
        DR,
        "REPORTING",
        False,
        "Approved by funding decision, agreement not yet signed",
    ),
    AccountSpec(
        COMMITTED,
        "Committed (agreement signed)",
        B,
        A.BUDGETARY,
        DR,
        "REPORTING",
        False,
        "Signed grant agreements not yet disbursed",
    ),
    AccountSpec(DISBURSED, "Disbursed", B, A.BUDGETARY, DR, "REPORTING", False, "Transferred to implementing partners"),
)
