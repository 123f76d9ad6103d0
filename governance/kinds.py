"""The kinds of decision, as one table.

Each kind (``DecisionKind``) has one entry in :data:`KINDS`: the schema of its terms (``governance.schemas``),
the charter rule it is decided under (``CharterSettings.decision_rule``), its money effect (whether an adopted
decision moves budgetary funds, and from where), and the handlers the decisions service runs for it: the
terms of a new decision checked against the facility, why an adopted decision could no longer take effect,
and its effect. ``governance.decisions`` looks a decision's kind up here and never dispatches on it itself;
a new kind is a schema, an entry and its handlers (docs/architecture.md).

The handlers take the decisions service (its session, settings, clock, governance service and ledger) and
may read and write; the money they post is planned by the pure functions of ``governance.rules``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import col

from fundapp.core.errors import Conflict, DomainError, InvalidInput, NotFound
from governance import rules
from governance.models import (
    AdminBudget,
    Assessment,
    BenefittingCountry,
    CountryGroup,
    Decision,
    DecisionKind,
    Member,
    MemberStatus,
    Tier,
    TierFee,
)
from governance.schemas import (
    DECISION_SCHEMAS,
    AddCountryDecision,
    AdminBudgetDecision,
    AdmitMemberDecision,
    ConcessionalFinancingDecision,
    FeeScheduleDecision,
    FundProposalDecision,
    MemberCreate,
    MemberUpdate,
    RemoveCountryDecision,
    SetCountryGroupDecision,
    SetTierDecision,
    TierFeeSet,
    WindowAllocationDecision,
)
from ledger import Money, money_in, to_json

if TYPE_CHECKING:
    from governance.decisions import ConcessionalFacts, Decisions, FundingFacts


@dataclass(frozen=True, slots=True)
class NewTerms:
    """A new decision's terms, checked against the facility: its subject (one pending decision per subject),
    the terms it opens with, the window and amount (minor units, reporting currency) of a money decision,
    and the proposal's facts of a funding decision."""

    subject: str
    terms: dict[str, Any]
    window_id: int | None = None
    amount: int | None = None
    facts: FundingFacts | None = None


class FundsSource(StrEnum):
    """Where the funds an adopted money decision allocates come from (budgetary account 8200)."""

    WINDOW = "window"  # the decision's window: an allocation to a grant
    POOLED = "pooled"  # the pooled funds: an allocation to a window


@dataclass(frozen=True, slots=True)
class MoneyEffect:
    """How an adopted decision moves money: from which funds (guarded at the open and the close), and the
    source type of the journal entry it posts."""

    source: FundsSource
    entry_source_type: str


TermsHandler = Callable[["Decisions", Any], Awaitable[NewTerms]]
ProblemHandler = Callable[["Decisions", Decision, Mapping[str, Any]], Awaitable[str | None]]
EffectHandler = Callable[["Decisions", Decision, Mapping[str, Any]], Awaitable[int | None]]


async def _no_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind of decision: everything the decisions service needs to know about it."""

    kind: DecisionKind
    schema: type[BaseModel]  # its terms, validated by pydantic (one member of DecisionCreate's union)
    charter_rule: str  # the name of the charter's rule (procedures, quorum, majority)
    money: MoneyEffect | None  # None: it moves no budgetary funds
    terms: TermsHandler  # a new decision's terms, checked against the facility
    apply: EffectHandler  # the effect of the adopted decision; returns the journal entry it posted, if any
    problem: ProblemHandler = _no_problem  # why an adopted decision can no longer take effect (None: it can)
    # What a decision the members did not adopt changes (None: nothing but its result).
    declined: Callable[[Decisions, Decision, Mapping[str, Any]], Awaitable[None]] | None = None
    one_per_subject: bool = True  # at most one decision of the kind pending on a subject
    # Other kinds whose pending decisions on the same subject count too (an addition, a group change and a
    # removal of a country are one subject: its place on the list).
    shares_subject_with: frozenset[str] = frozenset()
    # A funding decision: its proposal is referred at the open and told the result at the close, and its
    # countries recuse themselves when the charter says so.
    on_proposal: bool = False


# ---------------------------------------------------------------- fund_proposal


async def _fund_proposal_terms(decisions: Decisions, data: FundProposalDecision) -> NewTerms:
    facts = await decisions.funding.facts(decisions.hook_context, data.proposal_id)
    terms = {
        "proposal_id": facts.proposal_id,
        "proposal_title": facts.title,
        "window_id": facts.window_id,
        "amount": to_json(Money.from_minor(facts.amount, decisions.settings.reporting_currency)),
        "countries": list(facts.countries),
        "consolidated_score": facts.consolidated_score,
        "tag_recommendation": facts.tag_recommendation,
    }
    return NewTerms(f"proposal:{facts.proposal_id}", terms, facts.window_id, facts.amount, facts)


async def _fund_proposal_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    await decisions.funding.facts(decisions.hook_context, int(terms["proposal_id"]))
    return None


async def _fund_proposal_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    assert decision.id is not None
    grant_id = await decisions.funding.decided(
        decisions.hook_context, int(terms["proposal_id"]), decision.id, adopted=True, reason="adopted"
    )
    amount = Money.from_minor(decision.amount or 0, decisions.settings.reporting_currency)
    draft = rules.funding_entry(
        decision.id, decision.window_id, amount, str(terms["proposal_title"]), grant_id, decisions.now.date()
    )
    return (await decisions.ledger.post(draft)).id


# ---------------------------------------------------------------- window_allocation


async def _window_allocation_terms(decisions: Decisions, data: WindowAllocationDecision) -> NewTerms:
    window = await decisions.gov.window(data.window_code)
    amount = money_in(data.amount, decisions.settings.reporting_currency, "amount")
    if not amount.is_positive:
        raise InvalidInput("the amount must be above zero", field="amount", rule="positive-amount")
    terms = {"window_code": window.code, "amount": to_json(amount)}
    return NewTerms(f"window:{window.code}", terms, window.id, amount.minor)


async def _window_allocation_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    assert decision.id is not None
    amount = Money.from_minor(decision.amount or 0, decisions.settings.reporting_currency)
    draft = rules.window_allocation_entry(
        decision.id, decision.window_id, amount, str(terms["window_code"]), decisions.now.date()
    )
    return (await decisions.ledger.post(draft)).id


# ---------------------------------------------------------------- admit_member


async def _admit_member_terms(decisions: Decisions, data: AdmitMemberDecision) -> NewTerms:
    if await decisions.session.get(Member, data.member_code) is not None:
        raise Conflict(f"{data.member_code} is already a member", field="member_code", rule="not-a-member")
    terms = {"member_code": data.member_code, "tier": data.tier.value, "joined_on": str(data.joined_on)}
    return NewTerms(f"member:{data.member_code}", terms)


async def _admit_member_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    if await decisions.session.get(Member, terms["member_code"]) is not None:
        return f"{terms['member_code']} is already a member"
    return None


async def _admit_member_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    joined_on = date.fromisoformat(terms["joined_on"])
    await decisions.gov.admit_member(
        MemberCreate(code=terms["member_code"], tier=Tier(terms["tier"]), joined_on=joined_on)
    )
    return None


# ---------------------------------------------------------------- set_tier


async def _set_tier_terms(decisions: Decisions, data: SetTierDecision) -> NewTerms:
    member = await decisions.session.get(Member, data.member_code)
    if member is None:
        raise NotFound(f"no member with code {data.member_code!r}", field="member_code", rule="member-exists")
    if member.tier == data.tier.value:
        raise Conflict(f"{member.code} is already in tier {member.tier}", field="tier", rule="tier-changes")
    terms = {"member_code": member.code, "tier": data.tier.value, "from_tier": member.tier}
    return NewTerms(f"member:{member.code}", terms)


async def _set_tier_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    member = await decisions.gov.member(terms["member_code"])
    if member.status == MemberStatus.WITHDRAWN.value:
        return f"{member.code} has withdrawn"
    if member.tier == terms["tier"]:
        return f"{member.code} is already in tier {member.tier}"
    return None


async def _set_tier_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    update = MemberUpdate(tier=Tier(terms["tier"]), reason=f"decision {decision.id}")
    await decisions.gov.change_member(terms["member_code"], update)
    return None


# ---------------------------------------------------------------- fee_schedule


async def check_fee(decisions: Decisions, year: int, tier: Tier, fee: Money) -> None:
    """The founding rule, checked before the members vote: Part I pays more than Part II."""
    other_tier = Tier.PART_II if tier == Tier.PART_I else Tier.PART_I
    other = await decisions.session.get(TierFee, (year, other_tier.value))
    if other is None:
        return
    other_fee = Money.from_minor(other.amount, other.currency)
    part_one, part_two = (fee, other_fee) if tier == Tier.PART_I else (other_fee, fee)
    if not rules.part_one_above_part_two(part_one, part_two):
        raise InvalidInput(
            f"Part I's fee must be higher than Part II's for {year} (in one currency): "
            f"Part I {part_one}, Part II {part_two}",
            field="amount",
            rule="part-one-above-part-two",
        )


def _money_of(terms: Mapping[str, Any]) -> Money:
    money = rules.terms_money(terms)
    assert money is not None, "these terms carry no amount"
    return money


async def _fee_schedule_terms(decisions: Decisions, data: FeeScheduleDecision) -> NewTerms:
    fee = money_in(data.amount, data.currency, "amount")
    if not fee.is_positive:
        raise InvalidInput("the fee must be above zero", field="amount", rule="positive-amount")
    await check_fee(decisions, data.year, data.tier, fee)
    terms = {"year": data.year, "tier": data.tier.value, "amount": to_json(fee)}
    return NewTerms(f"fees:{data.year}:{data.tier.value}", terms)


async def _fee_schedule_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    tier = Tier(terms["tier"])
    assessed = await decisions.session.scalar(
        select(func.count())
        .select_from(Assessment)
        .where(col(Assessment.year) == terms["year"], col(Assessment.tier) == tier.value)
    )
    if assessed:
        return f"{terms['year']} has already been assessed for tier {tier.value}"
    await check_fee(decisions, int(terms["year"]), tier, _money_of(terms))
    return None


async def _fee_schedule_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    fee = _money_of(terms)
    await decisions.gov.set_fee(
        TierFeeSet(year=terms["year"], tier=Tier(terms["tier"]), currency=fee.currency, amount=fee.to_str())
    )
    return None


# ---------------------------------------------------------------- admin_budget


async def _admin_budget_terms(decisions: Decisions, data: AdminBudgetDecision) -> NewTerms:
    budget = money_in(data.amount, decisions.settings.reporting_currency, "amount")
    if not budget.is_positive:
        raise InvalidInput("the budget must be above zero", field="amount", rule="positive-amount")
    return NewTerms(f"budget:{data.year}", {"year": data.year, "amount": to_json(budget)}, None, budget.minor)


async def _admin_budget_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    """The secretariat's budget of the year, approved (it moves no budgetary funds: it is no allocation)."""
    assert decision.id is not None
    year, budget = int(terms["year"]), _money_of(terms)
    existing = await decisions.session.get(AdminBudget, year)
    if existing is None:
        existing = AdminBudget(
            year=year, amount=budget.minor, currency=budget.currency, decision_id=decision.id, approved_at=decisions.now
        )
    existing.amount, existing.currency = budget.minor, budget.currency
    existing.decision_id, existing.approved_at = decision.id, decisions.now
    decisions.session.add(existing)
    await decisions.session.flush()
    return None


# ---------------------------------------------------------------- policy


async def _policy_terms(decisions: Decisions, data: Any) -> NewTerms:
    return NewTerms("policy", {})


async def _policy_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    return None


# ---------------------------------------------------------------- concessional financing, cancellation, restructuring
# The request's side (its facts, the grant to the agency, the release of what was not transferred) is
# concessional's: governance calls it through the handler the shell registers (``register_concessional_handler``).


def _concessional_new_terms(facts: ConcessionalFacts, terms: dict[str, Any], funding: FundingFacts | None) -> NewTerms:
    return NewTerms(f"concessional:{facts.request_id}", terms, facts.window_id, facts.amount, funding)


async def _concessional_financing_terms(decisions: Decisions, data: ConcessionalFinancingDecision) -> NewTerms:
    facts = await decisions.concessional.facts(decisions.hook_context, data.kind.value, data)
    funding = await decisions.funding.facts(decisions.hook_context, facts.proposal_id)
    terms = {
        **facts.terms,
        "request_id": facts.request_id,
        "proposal_id": facts.proposal_id,
        "proposal_title": funding.title,
        "window_id": facts.window_id,
        "amount": to_json(Money.from_minor(facts.amount, decisions.settings.reporting_currency)),
        "countries": list(facts.countries),
        "consolidated_score": funding.consolidated_score,
        "tag_recommendation": funding.tag_recommendation,
    }
    return _concessional_new_terms(facts, terms, funding)


async def _concessional_change_terms(decisions: Decisions, data: Any) -> NewTerms:
    facts = await decisions.concessional.facts(decisions.hook_context, data.kind.value, data)
    terms = {
        **facts.terms,
        "request_id": facts.request_id,
        "window_id": facts.window_id,
        "amount": to_json(Money.from_minor(facts.amount, decisions.settings.reporting_currency)),
    }
    return _concessional_new_terms(facts, terms, None)


async def _concessional_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    if decision.kind == DecisionKind.CONCESSIONAL_FINANCING:
        await decisions.funding.facts(decisions.hook_context, int(terms["proposal_id"]))
    return await decisions.concessional.problem(decisions.hook_context, decision.kind, terms)


async def _concessional_financing_apply(
    decisions: Decisions, decision: Decision, terms: Mapping[str, Any]
) -> int | None:
    assert decision.id is not None
    grant_id = await decisions.concessional.adopt(decisions.hook_context, int(terms["request_id"]), decision.id)
    amount = Money.from_minor(decision.amount or 0, decisions.settings.reporting_currency)
    draft = rules.funding_entry(
        decision.id,
        decision.window_id,
        amount,
        str(terms["proposal_title"]),
        grant_id,
        decisions.now.date(),
        source_type="concessional_decision",
    )
    return (await decisions.ledger.post(draft)).id


async def _concessional_change_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    assert decision.id is not None
    return await decisions.concessional.change(decisions.hook_context, decision.kind, decision.id, terms)


async def _concessional_declined(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> None:
    assert decision.id is not None
    await decisions.concessional.declined(decisions.hook_context, decision.kind, decision.id, terms)


# ---------------------------------------------------------------- benefitting countries (no money moves)


def _not_listed(code: str) -> Conflict:
    return Conflict(f"{code} is already a benefitting country", field="country", rule="not-a-benefitting-country")


COUNTRY_KINDS = frozenset(
    {DecisionKind.ADD_COUNTRY.value, DecisionKind.REMOVE_COUNTRY.value, DecisionKind.SET_COUNTRY_GROUP.value}
)


async def _add_country_terms(decisions: Decisions, data: AddCountryDecision) -> NewTerms:
    found = await decisions.session.get(BenefittingCountry, data.country)
    if found is not None and found.removed_on is None:
        raise _not_listed(data.country)
    return NewTerms(f"country:{data.country}", {"country": data.country, "group": data.group.value})


async def _add_country_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    found = await decisions.session.get(BenefittingCountry, terms["country"])
    if found is not None and found.removed_on is None:
        return f"{terms['country']} is already a benefitting country"
    return None


async def _add_country_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    assert decision.id is not None
    await decisions.gov.add_benefitting_country(terms["country"], CountryGroup(terms["group"]), decision.id)
    return None


async def _remove_country_terms(decisions: Decisions, data: RemoveCountryDecision) -> NewTerms:
    standing = await decisions.gov.benefitting_country(data.country)
    terms = {"country": data.country, "reason": data.reason, "from_group": standing.country.group}
    return NewTerms(f"country:{data.country}", terms)


async def _listed_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    """A removal or a group change needs the country still on the list (and a group change a new group)."""
    standing = await decisions.gov.benefitting_country(terms["country"])
    if "group" in terms and standing.country.group == terms["group"]:
        return f"{terms['country']} is already in group {terms['group']}"
    return None


async def _remove_country_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    assert decision.id is not None
    await decisions.gov.remove_benefitting_country(terms["country"], str(terms["reason"]), decision.id)
    return None


async def _set_country_group_terms(decisions: Decisions, data: SetCountryGroupDecision) -> NewTerms:
    standing = await decisions.gov.benefitting_country(data.country)
    if standing.country.group == data.group.value:
        raise Conflict(f"{data.country} is already in group {data.group.value}", field="group", rule="group-changes")
    terms = {"country": data.country, "group": data.group.value, "from_group": standing.country.group}
    return NewTerms(f"country:{data.country}", terms)


async def _set_country_group_apply(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> int | None:
    assert decision.id is not None
    await decisions.gov.set_country_group(terms["country"], CountryGroup(terms["group"]), decision.id)
    return None


# ---------------------------------------------------------------- the table


def _spec(kind: DecisionKind, **handlers: Any) -> KindSpec:
    return KindSpec(kind=kind, schema=DECISION_SCHEMAS[kind], charter_rule=kind.value, **handlers)


KINDS: Mapping[DecisionKind, KindSpec] = MappingProxyType(
    {
        DecisionKind.FUND_PROPOSAL: _spec(
            DecisionKind.FUND_PROPOSAL,
            money=MoneyEffect(FundsSource.WINDOW, "funding_decision"),
            terms=_fund_proposal_terms,
            problem=_fund_proposal_problem,
            apply=_fund_proposal_apply,
            on_proposal=True,
        ),
        DecisionKind.ADMIT_MEMBER: _spec(
            DecisionKind.ADMIT_MEMBER,
            money=None,
            terms=_admit_member_terms,
            problem=_admit_member_problem,
            apply=_admit_member_apply,
        ),
        DecisionKind.SET_TIER: _spec(
            DecisionKind.SET_TIER, money=None, terms=_set_tier_terms, problem=_set_tier_problem, apply=_set_tier_apply
        ),
        DecisionKind.FEE_SCHEDULE: _spec(
            DecisionKind.FEE_SCHEDULE,
            money=None,
            terms=_fee_schedule_terms,
            problem=_fee_schedule_problem,
            apply=_fee_schedule_apply,
        ),
        DecisionKind.ADMIN_BUDGET: _spec(
            DecisionKind.ADMIN_BUDGET, money=None, terms=_admin_budget_terms, apply=_admin_budget_apply
        ),
        DecisionKind.WINDOW_ALLOCATION: _spec(
            DecisionKind.WINDOW_ALLOCATION,
            money=MoneyEffect(FundsSource.POOLED, "window_allocation"),
            terms=_window_allocation_terms,
            apply=_window_allocation_apply,
        ),
        DecisionKind.POLICY: _spec(
            DecisionKind.POLICY, money=None, terms=_policy_terms, apply=_policy_apply, one_per_subject=False
        ),
        DecisionKind.CONCESSIONAL_FINANCING: _spec(
            DecisionKind.CONCESSIONAL_FINANCING,
            money=MoneyEffect(FundsSource.WINDOW, "concessional_decision"),
            terms=_concessional_financing_terms,
            problem=_concessional_problem,
            apply=_concessional_financing_apply,
            declined=_concessional_declined,
            on_proposal=True,
        ),
        # A cancellation only releases (no money guard); a restructuring may take more from the window (its
        # amount is the increase, 0 for a reduction), so the money guard applies to it.
        DecisionKind.CANCEL_CONCESSIONAL: _spec(
            DecisionKind.CANCEL_CONCESSIONAL,
            money=None,
            terms=_concessional_change_terms,
            problem=_concessional_problem,
            apply=_concessional_change_apply,
        ),
        DecisionKind.RESTRUCTURE_CONCESSIONAL: _spec(
            DecisionKind.RESTRUCTURE_CONCESSIONAL,
            money=MoneyEffect(FundsSource.WINDOW, "concessional_decision"),
            terms=_concessional_change_terms,
            problem=_concessional_problem,
            apply=_concessional_change_apply,
        ),
        DecisionKind.ADD_COUNTRY: _spec(
            DecisionKind.ADD_COUNTRY,
            money=None,
            terms=_add_country_terms,
            problem=_add_country_problem,
            apply=_add_country_apply,
            shares_subject_with=COUNTRY_KINDS,
        ),
        DecisionKind.REMOVE_COUNTRY: _spec(
            DecisionKind.REMOVE_COUNTRY,
            money=None,
            terms=_remove_country_terms,
            problem=_listed_problem,
            apply=_remove_country_apply,
            shares_subject_with=COUNTRY_KINDS,
        ),
        DecisionKind.SET_COUNTRY_GROUP: _spec(
            DecisionKind.SET_COUNTRY_GROUP,
            money=None,
            terms=_set_country_group_terms,
            problem=_listed_problem,
            apply=_set_country_group_apply,
            shares_subject_with=COUNTRY_KINDS,
        ),
    }
)

# Decisions that move budgetary funds, and so pass the money guard at the open and at the close.
MONEY_KINDS = frozenset(kind.value for kind, spec in KINDS.items() if spec.money is not None)


def kind_spec(kind: str) -> KindSpec:
    """The entry of a decision's kind (``Decision.kind`` or a ``DecisionKind``)."""
    return KINDS[DecisionKind(kind)]


async def effect_problem(decisions: Decisions, decision: Decision, terms: Mapping[str, Any]) -> str | None:
    """Why an adopted decision could no longer take effect (the facility changed since it opened), checked
    before anything is written so the close never half-applies; None when it can."""
    try:
        return await kind_spec(decision.kind).problem(decisions, decision, terms)
    except DomainError as refused:
        return refused.detail
