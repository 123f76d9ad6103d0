"""Concessional financing (DESIGN §12): grants that buy down development-bank loans.

An implementation support agency (an MDB) asks for the concessionality that brings its loan to a benefitting
country from market terms to concessional terms; the facility computes it (``concessional.rules``), the TAG
reviews the request and the members decide; the grant to the agency moves in tranches once the loan is
effective. This domain stands right of proposals: it imports the core, the ledger, governance and proposals;
reports read it; only the shell joins it to the others (``fundapp.wiring``).
"""

from __future__ import annotations

from concessional import rules
from concessional.models import FinancingRequest, LoanStatus, RepaymentMethod
from concessional.rules import Calculation, Loan, Payment, Terms, calculate, grant_element

__all__ = [
    "Calculation",
    "FinancingRequest",
    "Loan",
    "LoanStatus",
    "Payment",
    "RepaymentMethod",
    "Terms",
    "calculate",
    "grant_element",
    "rules",
]
