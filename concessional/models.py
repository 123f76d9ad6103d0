"""Concessional financing tables: an implementation support agency's (an MDB's) financing request for a
benefitting country and a window, with its loan's schedule and terms, what the calculator found, and the
loan's life after the members' decision (board approval, effectiveness, cancellation, restructuring).

A financing request rides on a proposal (``proposal_id``): the secretariat screens it, the TAG reviews it
and the members decide on it through the proposals' own workflow, conflicts of interest and rubric. Its
adoption makes a grant to the agency (``grant_id``) of the concessionality amount (plus the agency's costs),
whose tranches, transfers (maker-checker) and refunds are the grants'; this table holds what only a loan has.

Rates and percentages are decimal strings ("0.025" for 2.5%), amounts minor units: the loan's in
``loan_currency``, the concessionality and the agency's costs in the reporting currency.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, ForeignKey, Integer, String, Text
from sqlmodel import Field, SQLModel

from fundapp.core.db import utc_column


class RepaymentMethod(StrEnum):
    EQUAL_PRINCIPAL = "equal_principal"
    ANNUITY = "annuity"


class LoanStatus(StrEnum):
    DRAFT = "draft"  # the agency is writing it
    IN_REVIEW = "in_review"  # submitted: screening, TAG review and the members' decision (the proposal's state)
    APPROVED = "approved"  # adopted by the members: approved, pending cash transfer
    BOARD_APPROVED = "board_approved"  # the agency's board approved the loan
    EFFECTIVE = "effective"  # the loan is signed and effective: transfers may be prepared
    NOT_APPROVED = "not_approved"  # the members did not adopt it (or the TAG's review ended it)
    CANCELLED = "cancelled"  # cancelled by a member decision
    WITHDRAWN = "withdrawn"  # withdrawn by the agency before a decision


class FinancingRequest(SQLModel, table=True):
    __tablename__ = "financing_requests"
    __table_args__ = (
        CheckConstraint("loan_amount > 0", name="loan_amount_positive"),
        CheckConstraint("maturity_months > 0", name="maturity_positive"),
        CheckConstraint("grace_months >= 0 AND grace_months <= maturity_months", name="grace_within_maturity"),
        CheckConstraint("repayments_per_year IN (1, 2, 4, 12)", name="repayments_per_year_known"),
        CheckConstraint("concessionality >= 0 AND agency_costs >= 0", name="amounts_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(sa_column=Column(Integer(), ForeignKey("proposals.id"), nullable=False, unique=True))
    agency_id: int = Field(sa_column=Column(Integer(), ForeignKey("organisations.id"), nullable=False, index=True))
    window_id: int = Field(sa_column=Column(Integer(), ForeignKey("windows.id"), nullable=False, index=True))
    country: str = Field(sa_column=Column(String(3), nullable=False, index=True))  # a benefitting country
    title: str = Field(sa_column=Column(String(300), nullable=False))
    description: str = Field(default="", sa_column=Column(Text(), nullable=False))
    results: str = Field(default="", sa_column=Column(Text(), nullable=False))
    # The country's endorsement of the request (its letter's reference and date).
    endorsement_reference: str = Field(default="", sa_column=Column(Text(), nullable=False))
    endorsed_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    # The loan: amount, schedule and terms.
    loan_amount: int = Field(sa_column=Column(BigInteger(), nullable=False))
    loan_currency: str = Field(sa_column=Column(String(3), nullable=False))
    maturity_months: int = Field(sa_column=Column(Integer(), nullable=False))
    grace_months: int = Field(sa_column=Column(Integer(), nullable=False))  # to the first repayment
    repayments_per_year: int = Field(sa_column=Column(Integer(), nullable=False))
    method: RepaymentMethod = Field(sa_column=Column(String(20), nullable=False))
    market_base_rate: str = Field(sa_column=Column(String(16), nullable=False))
    market_spread: str = Field(sa_column=Column(String(16), nullable=False))
    concessional_base_rate: str = Field(sa_column=Column(String(16), nullable=False))
    concessional_spread: str = Field(sa_column=Column(String(16), nullable=False))
    # What the calculator found when the request was last saved (the country's terms at that moment).
    discount_rate: str = Field(default="", sa_column=Column(String(16), nullable=False))
    threshold: str = Field(default="", sa_column=Column(String(16), nullable=False))
    grant_element_before: str = Field(default="", sa_column=Column(String(16), nullable=False))
    grant_element_after: str = Field(default="", sa_column=Column(String(16), nullable=False))
    leverage: str = Field(default="", sa_column=Column(String(24), nullable=False))
    concessionality: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    agency_costs: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))  # the MDB's costs
    status: LoanStatus = Field(sa_column=Column(String(20), nullable=False, index=True))
    decision_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True, index=True))
    grant_id: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True, unique=True))
    board_approved_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    signed_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    effective_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    cancelled_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
