"""Pure governance rules of the first half: countries, tier fees, pro-rating, settlement, arrears, and
the planners of its money commands (facts and input in, a ``fundapp.core.plans.Plan`` or a refusal out).

No I/O here: these are the functions the property tests exercise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from babel import Locale
from babel.core import get_global

from fundapp.core.audit import timestamp
from fundapp.core.chain import GENESIS_HASH, canonical_json, digest
from fundapp.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, refuse_future
from fundapp.core.idempotency import scoped_key
from fundapp.core.plans import EntryId, Event, Plan
from governance.models import CountryGroup
from ledger import (
    EntryDraft,
    Line,
    Money,
    MoneyError,
    allocate_minor,
    chart,
    convert_minor,
    exponent,
    from_json,
    percentage,
    quantize,
    to_json,
    to_money,
)
from ledger import rules as ledger_rules

if TYPE_CHECKING:
    from governance.schemas import ContributionCreate, PledgeCreate

# CLDR aliases that are not current ISO 3166-1 alpha-3 codes, and reserved alpha-2 targets.
_DEPRECATED_ALPHA3 = frozenset({"BUR", "ZAR", "DDR", "FXX", "TMP", "YMD"})
_NOT_ISO_ALPHA2 = frozenset(
    {
        "AC",
        "CP",
        "DG",
        "TA",
        "EA",
        "IC",
        "AN",
        "CS",
        "YU",
        "ZR",
        "TP",
        "BU",
        "DD",
        "FX",
        "YD",
        "NT",
        "SU",
        "QU",
        "EU",
        "EZ",
        "UN",
        "CQ",
        "AA",
        "ZZ",
    }
)
LOCALES = ("en", "es", "fr")


def _private_use(alpha2: str) -> bool:
    return "QM" <= alpha2 <= "QZ" or alpha2.startswith("X")


@cache
def iso_alpha3() -> dict[str, str]:
    """ISO 3166-1 alpha-3 -> alpha-2, from CLDR (249 countries and territories)."""
    english = Locale("en").territories
    mapping: dict[str, str] = {}
    for alias, targets in get_global("territory_aliases").items():
        if len(alias) != 3 or not alias.isalpha() or not alias.isupper() or len(targets) != 1:
            continue
        alpha2 = targets[0]
        if len(alpha2) != 2 or alpha2 not in english or alpha2 in _NOT_ISO_ALPHA2 or _private_use(alpha2):
            continue
        if alias in _DEPRECATED_ALPHA3:
            continue
        mapping[alias] = alpha2
    return mapping


def is_country(code: str) -> bool:
    return code in iso_alpha3()


def country_names(code: str) -> dict[str, str]:
    """The country's name in each supported locale (CLDR)."""
    alpha2 = iso_alpha3()[code]
    return {locale: Locale(locale).territories[alpha2] for locale in LOCALES}


# ---------------------------------------------------------------- benefitting countries' terms


class ConcessionalityMethod(StrEnum):
    """The charter's method for a country's discount rate and grant-element threshold
    (``CharterSettings.concessionality_method``)."""

    OECD_DAC = "oecd_dac"
    IMF = "imf"


@dataclass(frozen=True, slots=True)
class CountryTerms:
    """The terms a concessional loan to a country is measured against, both as fractions (0.09 is 9%): the
    discount rate of the grant element's present values, and the grant element the loan must reach."""

    discount_rate: Decimal
    threshold: Decimal


# The OECD DAC's terms since 2018 (reporting of official development assistance loans on a grant-equivalent
# basis): the discount rate is the IMF's base rate of 5% plus an adjustment by income group, and a loan counts
# as concessional from a grant element of 45%, 15% or 10%.
OECD_DAC_TERMS: Mapping[CountryGroup, CountryTerms] = {
    CountryGroup.LDC_LIC: CountryTerms(Decimal("0.09"), Decimal("0.45")),
    CountryGroup.LMIC: CountryTerms(Decimal("0.07"), Decimal("0.15")),
    CountryGroup.UMIC: CountryTerms(Decimal("0.06"), Decimal("0.10")),
}
# The GCFF's groups are measured as the income group they resemble: group A (the lower-middle-income-like
# countries, concessional terms close to the IDA's) as LMIC, group B (upper-middle-income-like) as UMIC.
GCFF_GROUP_AS: Mapping[CountryGroup, CountryGroup] = {
    CountryGroup.GCFF_A: CountryGroup.LMIC,
    CountryGroup.GCFF_B: CountryGroup.UMIC,
}
# The IMF's debt-limits policy: one discount rate of 5% and a grant element of at least 35%, for every country.
IMF_TERMS = CountryTerms(Decimal("0.05"), Decimal("0.35"))


def applicable_terms(group: CountryGroup | str, method: ConcessionalityMethod | str) -> CountryTerms:
    """The discount rate and grant-element threshold of a country of ``group`` under the charter's ``method``."""
    group, method = CountryGroup(group), ConcessionalityMethod(method)
    if method == ConcessionalityMethod.IMF:
        return IMF_TERMS
    return OECD_DAC_TERMS[GCFF_GROUP_AS.get(group, group)]


# ---------------------------------------------------------------- tiers and assessment


def part_one_above_part_two(part_one: Money | None, part_two: Money | None) -> bool:
    """The facility's founding rule: for a year, Part I pays more than Part II (same currency)."""
    if part_one is None or part_two is None:
        return True
    return part_one.currency == part_two.currency and part_one > part_two


def months_of_membership(joined_on: date, year: int) -> int:
    """Whole calendar months of ``year`` the member belongs to the facility.

    A member that joined before the year pays the whole year; one that joins during it pays for the
    months after the month it joined, and for that month too when it joined on its first day.
    """
    if joined_on.year < year:
        return 12
    if joined_on.year > year:
        return 0
    return 12 - joined_on.month + (1 if joined_on.day == 1 else 0)


def prorated_fee(annual: Money, months: int) -> Money:
    """``annual`` x months / 12, rounded once by the money module's rule."""
    if not 0 <= months <= 12:
        raise ValueError("months must be within 0..12")
    exact = annual.amount * Decimal(months) / Decimal(12)
    return Money.from_minor(quantize(exact, annual.currency), annual.currency)


# ---------------------------------------------------------------- fee years


def is_fee_notice(year: int, today: date) -> bool:
    """A fee assessed before its year begins is a notice: nothing is posted until 1 January of ``year``."""
    return year > today.year


def fee_due_on(year: int, today: date, due_days: int) -> date:
    """A fee falls due ``due_days`` after it is assessed, or after 1 January of its year for a notice."""
    start = date(year, 1, 1) if is_fee_notice(year, today) else today
    return start + timedelta(days=due_days)


@dataclass(frozen=True, slots=True)
class AdvancePlan:
    """How money received in advance is applied to its fee: the entry's lines, what is applied, the fee."""

    lines: tuple[Line, ...]
    applied: Money
    fee: Money


def advance_application(
    *,
    applied: Money,
    held: tuple[int, int],
    receivable: tuple[int, int],
    fee_rate: Decimal,
    rate: Decimal,
    reporting_currency: str,
    contributor_id: int,
) -> AdvancePlan:
    """The lines that apply ``applied`` (held in 2450) to the fee receivable once the fee year has begun.

    ``held`` and ``receivable`` are the (amount, reporting amount) balances of 2450 (a credit, negative) and
    1200 for the contributor in ``applied``'s currency: each side leaves at its carrying value, and the ledger
    closes the difference with a realised FX line (``settle_fx``). The administrative-agent fee is charged
    on the applied amount now, as a deposit charges it on what it settles, and the net becomes available to
    the pooled fund (an assessed fee has no window) at ``rate``, the rate of the application's date."""
    if not applied.is_positive:
        raise ValueError("an advance applies a positive amount")
    currency = applied.currency
    held_share = carrying_share(-held[1], -held[0], applied.minor, reporting_currency)
    receivable_share = carrying_share(receivable[1], receivable[0], applied.minor, reporting_currency)
    fee = percentage(applied, fee_rate)
    dims: dict[str, Any] = {"contributor_id": contributor_id, "window_id": None}
    lines = [
        Line(chart.RECEIVED_IN_ADVANCE, applied, Money.from_minor(held_share, reporting_currency), **dims),
        Line(chart.CONTRIBUTIONS_RECEIVABLE, -applied, Money.from_minor(-receivable_share, reporting_currency), **dims),
    ]
    if fee.is_positive:
        lines += [Line(chart.ADMIN_AGENT_FEE, fee, **dims), Line(chart.CASH, -fee, **dims)]
    net = applied - fee
    net_reporting = Money.from_minor(convert_minor(net.minor, currency, rate, reporting_currency), reporting_currency)
    if net_reporting.is_positive:
        lines += [
            Line(chart.AVAILABLE, net_reporting, window_id=None),
            Line(chart.RESOURCES_RECEIVED, -net_reporting, **dims),
        ]
    return AdvancePlan(tuple(lines), applied, fee)


# ---------------------------------------------------------------- pledges and contributions


def instalments_sum_to(total: Money, instalments: Sequence[Money]) -> bool:
    return (
        bool(instalments)
        and all(i.currency == total.currency for i in instalments)
        and (sum((i.minor for i in instalments), 0) == total.minor)
    )


@dataclass(frozen=True, slots=True)
class Split:
    """How a deposit divides: what settles the receivable, and what is kept as unapplied credit."""

    applied: int
    unapplied: int


def split_deposit(amount: int, outstanding: int) -> Split:
    applied = max(0, min(amount, outstanding))
    return Split(applied, amount - applied)


def carrying_share(carrying_reporting: int, balance: int, settled: int, reporting_currency: str) -> int:
    """The part of a receivable's carrying reporting value that ``settled`` (of ``balance``) takes away."""
    if balance == 0:
        return 0
    if settled == balance:
        return carrying_reporting
    exact = Decimal(carrying_reporting) * Decimal(settled) / Decimal(balance)
    return quantize(exact.scaleb(-exponent(reporting_currency)), reporting_currency)


# ---------------------------------------------------------------- deposits: facts in, a plan out

CONTRIBUTIONS = "contributions"


@dataclass(frozen=True, slots=True)
class DepositFacts:
    """What recording one receipt reads (``Governance``'s facts reader reads every receipt's in one
    statement): the contributor's name (None: no such contributor), a contribution already recorded under
    the receipt's key (its id and body's hash), and for a settled instalment (assessed fee) what is due, by
    whom, in which currency, for which window (the fee's year and entry: none while it is a notice), what is
    applied to it already, and the receivable's carrying value (amount, reporting amount) in the receipt's
    currency. ``rate`` is the receipt's currency's rate on its value date, or ``missing_rate`` the ledger's
    refusal when none is known (raised only if the plan needs the rate)."""

    contributor_name: str | None
    existing_id: int | None = None
    existing_hash: str | None = None
    instalment_due: int | None = None
    pledge_owner_id: int | None = None
    pledge_currency: str | None = None
    window_id: int | None = None
    assessment_due: int | None = None
    assessment_owner_id: int | None = None
    assessment_currency: str | None = None
    assessment_year: int | None = None
    assessment_entry_id: int | None = None
    applied: int = 0
    carried_amount: int = 0
    carried_reporting: int = 0
    rate: Decimal | None = None
    missing_rate: Exception | None = None


@dataclass(frozen=True, slots=True)
class DepositPolicy:
    """What a deposit's plan takes besides its facts: the facility's settings, who records it and when, and
    whether the receipt is one of a bank statement's (its key's field is then ``idempotency_key``)."""

    reporting_currency: str
    fee_rate: Decimal
    now: datetime
    user_id: int | None
    batch: bool = False


@dataclass(frozen=True, slots=True)
class DepositReplay:
    """A receipt whose key was recorded with the same body: the contribution it recorded, and whether that
    was earlier in the same call (its row not yet written)."""

    contribution_id: int
    in_this_call: bool


@dataclass(frozen=True, slots=True)
class DepositPlan:
    """A receipt to record: the ledger entry, the contribution's row (its ``entry_id`` an ``EntryId``) and
    the audit event; ``payload_hash`` is the body's, kept with the key."""

    entry: EntryDraft
    contribution: Mapping[str, Any]
    event: Event
    payload_hash: str

    @property
    def plan(self) -> Plan:
        return Plan(entries=(self.entry,), rows={CONTRIBUTIONS: (self.contribution,)}, events=(self.event,))


@dataclass
class DepositsSoFar:
    """What the receipts planned so far in one call changed, which the facts read before them do not show:
    amounts applied per instalment or assessment, receivables' carrying values (amount, reporting amount)
    per contributor, window and currency, and idempotency keys used (with the body's hash and the
    contribution's id). ``ids`` are the ids the call may give new contributions, in order."""

    ids: tuple[int, ...]
    used: int = 0
    applied: Counter[tuple[str, int]] = field(default_factory=Counter)
    carried: dict[tuple[int, int | None, str], tuple[int, int]] = field(default_factory=dict)
    keys: dict[str, tuple[str, int]] = field(default_factory=dict)

    def add(self, planned: DepositPlan) -> None:
        """Count ``planned`` in (after the service handed it to the writer)."""
        row = planned.contribution
        self.used += 1
        if row["instalment_id"] is not None:
            self.applied[("instalment", row["instalment_id"])] += row["applied"]
        if row["assessment_id"] is not None:
            self.applied[("assessment", row["assessment_id"])] += row["applied"]
        for line in planned.entry.lines:
            if line.account == chart.CONTRIBUTIONS_RECEIVABLE:
                assert line.contributor_id is not None and line.reporting_amount is not None
                key = (line.contributor_id, line.window_id, line.amount.currency)
                amount, reporting = self.carried.get(key, (0, 0))
                self.carried[key] = (amount + line.amount.minor, reporting + line.reporting_amount.minor)
        if row["idempotency_key"] is not None:
            self.keys[row["idempotency_key"]] = (planned.payload_hash, row["id"])


def deposit_settles(data: ContributionCreate) -> str | None:
    """What a payment settles: "instalment", "assessment" (the schema allows one at most) or None."""
    if data.instalment_id is not None:
        return "instalment"
    return "assessment" if data.assessment_id is not None else None


def plan_deposit(
    facts: DepositFacts,
    data: ContributionCreate,
    idempotency_key: str | None,
    so_far: DepositsSoFar,
    policy: DepositPolicy,
) -> DepositPlan | DepositReplay:
    """Record money received: cash in its currency, the receivable settled at its carrying value (the
    ledger closes any FX difference), the administrative-agent fee on what it settles, and the net made
    available in the budgetary book at the day's rate; money that settles nothing is the contributor's
    unapplied credit, and money paid for a fee notice is held as received in advance. A key recorded with
    the same body is a replay; the refusals name the field and rule the API reports."""
    payload_hash = digest(data.model_dump(mode="json"))
    stored_key = scoped_key(policy.user_id, idempotency_key)
    replay = _deposit_replay(facts, so_far, stored_key, idempotency_key, payload_hash, policy.batch)
    if replay is not None:
        return replay
    if facts.contributor_name is None:
        raise NotFound(
            f"no contributor with id {data.contributor_id}", field="contributor_id", rule="contributor-exists"
        )
    refuse_future(data.value_date, policy.now.date(), field="value_date", what="the payment")
    money = to_money(data.amount, data.currency)
    outstanding, window_id, advance = _deposit_target(facts, data, money, so_far)
    split = split_deposit(money.minor, outstanding)
    applied = Money.from_minor(split.applied, money.currency)
    unapplied = Money.from_minor(split.unapplied, money.currency)
    # The administrative-agent fee is charged on what the deposit settles; unapplied credit is not yet revenue,
    # nor is money paid in advance of its fee year (charged when the year opens and the fee is posted).
    fee = percentage(applied, policy.fee_rate) if applied.is_positive and not advance else Money.zero(money.currency)
    lines = _deposit_lines(
        facts, data.contributor_id, window_id, advance, money, applied, unapplied, fee, so_far, policy
    )
    entry = EntryDraft(
        entry_date=data.value_date,
        description=f"Contribution from {facts.contributor_name}" + (f" ({data.reference})" if data.reference else ""),
        lines=lines,
        source_type="contribution",
        settle_fx=True,
    )
    values: dict[str, Any] = {
        "id": so_far.ids[so_far.used],
        "contributor_id": data.contributor_id,
        "value_date": data.value_date,
        "amount": money.minor,
        "currency": money.currency,
        "instalment_id": data.instalment_id,
        "assessment_id": data.assessment_id,
        "window_id": window_id,
        "applied": applied.minor,
        "unapplied": unapplied.minor,
        "fee": fee.minor,
        "advance": advance,
        "idempotency_key": stored_key,
        "payload_hash": payload_hash,
        "reference": data.reference,
        "entry_id": EntryId(0),
        "recorded_by": policy.user_id,
        "created_at": policy.now,
    }
    after = {
        "contributor_id": data.contributor_id,
        "amount": to_json(money),
        "applied": to_json(applied),
        "unapplied": to_json(unapplied),
        "fee": to_json(fee),
        "entry_id": EntryId(0),
    }
    return DepositPlan(
        entry, values, Event("contribution.record", "contribution", values["id"], after=after), payload_hash
    )


def _deposit_replay(
    facts: DepositFacts,
    so_far: DepositsSoFar,
    stored_key: str | None,
    idempotency_key: str | None,
    payload_hash: str,
    batch: bool,
) -> DepositReplay | None:
    """The contribution a key recorded before (in this call or an earlier one) with the same body; a
    refusal when it came with another body; None for a new key."""
    earlier = so_far.keys.get(stored_key) if stored_key is not None else None
    if earlier is None and facts.existing_id is None:
        return None
    first_hash, first_id = earlier if earlier is not None else (facts.existing_hash, int(facts.existing_id or 0))
    if first_hash != payload_hash:
        raise Conflict(
            f"the idempotency key {idempotency_key!r} was used for contribution {first_id} with a different body",
            field="idempotency_key" if batch else "Idempotency-Key",
            rule="idempotency-same-payload",
        )
    return DepositReplay(first_id, in_this_call=earlier is not None)


def _deposit_target(
    facts: DepositFacts, data: ContributionCreate, money: Money, so_far: DepositsSoFar
) -> tuple[int, int | None, bool]:
    """What the receipt's target (an instalment, an assessed fee, or none) still has outstanding, its window,
    and whether the money is paid in advance of its fee year; refuses a target the receipt cannot settle."""
    settles = deposit_settles(data)
    if settles == "instalment":
        if facts.instalment_due is None:
            raise NotFound(
                f"no instalment with id {data.instalment_id}", field="instalment_id", rule="instalment-exists"
            )
        _check_settles(
            facts.pledge_owner_id, facts.pledge_currency, data.contributor_id, money, "instalment_id", "pledge"
        )
        applied_before = facts.applied + so_far.applied[("instalment", data.instalment_id or 0)]
        return facts.instalment_due - applied_before, facts.window_id, False
    if settles == "assessment":
        if facts.assessment_due is None:
            raise NotFound(
                f"no assessment with id {data.assessment_id}", field="assessment_id", rule="assessment-exists"
            )
        _check_settles(
            facts.assessment_owner_id,
            facts.assessment_currency,
            data.contributor_id,
            money,
            "assessment_id",
            "assessed fee",
        )
        applied_before = facts.applied + so_far.applied[("assessment", data.assessment_id or 0)]
        # A notice: its fee year has not begun (else the year's opening would have posted it).
        advance = facts.assessment_entry_id is None
        if advance and data.value_date >= date(int(facts.assessment_year or 0), 1, 1):
            raise Conflict(
                f"the {facts.assessment_year} fees are posted when the year opens; "
                "run fundapp governance open-fee-years first",
                field="assessment_id",
                rule="fee-year-opened",
            )
        return facts.assessment_due - applied_before, None, advance
    return 0, None, False


def _check_settles(
    owner_id: int | None, currency: str | None, contributor_id: int, money: Money, field_name: str, what: str
) -> None:
    if owner_id != contributor_id:
        raise InvalidInput(
            f"that {what} belongs to another contributor", field=field_name, rule="settles-own-receivable"
        )
    if currency != money.currency:
        raise InvalidInput(
            f"the {what} is in {currency}; a payment in {money.currency} cannot settle it "
            "(record it without a target to keep it as unapplied credit)",
            field="currency",
            rule="settlement-currency",
        )


def _deposit_lines(
    facts: DepositFacts,
    contributor_id: int,
    window_id: int | None,
    advance: bool,
    money: Money,
    applied: Money,
    unapplied: Money,
    fee: Money,
    so_far: DepositsSoFar,
    policy: DepositPolicy,
) -> tuple[Line, ...]:
    """The deposit's ledger lines (the ledger converts those without a reporting amount at the day's rate)."""
    rc = policy.reporting_currency
    dims: dict[str, Any] = {"contributor_id": contributor_id, "window_id": window_id}
    lines = [Line(chart.CASH, money, **dims)]
    if applied.is_positive and advance:
        lines.append(Line(chart.RECEIVED_IN_ADVANCE, -applied, contributor_id=contributor_id))
    elif applied.is_positive:
        # The receivable's carrying value, read with the facts and moved by the receipts before this one.
        carried_amount, carried_reporting = so_far.carried.get((contributor_id, window_id, money.currency), (0, 0))
        share = carrying_share(
            carried_reporting + facts.carried_reporting, carried_amount + facts.carried_amount, applied.minor, rc
        )
        lines.append(Line(chart.CONTRIBUTIONS_RECEIVABLE, -applied, Money.from_minor(-share, rc), **dims))
    if unapplied.is_positive:
        lines.append(Line(chart.UNAPPLIED_CONTRIBUTIONS, -unapplied, contributor_id=contributor_id))
    if fee.is_positive:
        lines += [Line(chart.ADMIN_AGENT_FEE, fee, **dims), Line(chart.CASH, -fee, **dims)]
    net = applied - fee
    if net.is_positive and not advance:
        if facts.rate is None:
            assert facts.missing_rate is not None, "the facts carry a rate or the refusal of one"
            raise facts.missing_rate
        net_reporting = Money.from_minor(convert_minor(net.minor, net.currency, facts.rate, rc), rc)
        # A net worth less than half a reporting minor unit makes nothing available.
        if net_reporting.is_positive:
            lines += [
                Line(chart.AVAILABLE, net_reporting, window_id=window_id),
                Line(chart.RESOURCES_RECEIVED, -net_reporting, **dims),
            ]
    return tuple(lines)


# ---------------------------------------------------------------- pledges: facts in, a plan out

PLEDGES = "pledges"
INSTALMENTS = "pledge_instalments"


@dataclass(frozen=True, slots=True)
class PledgeFacts:
    """What signing a pledge reads: the contributor's name (None: no such contributor), the window named by
    the pledge (its id, whether it is open; None: no such window, or none named) and the new pledge's id."""

    contributor_name: str | None
    window_id: int | None
    window_open: bool
    pledge_id: int


def plan_pledge(facts: PledgeFacts, data: PledgeCreate, *, now: datetime) -> Plan:
    """A pledge signed: the receivable and the revenue (deferred while it is conditional), the pledge and its
    instalments, and the audit event. Refusals in the order the API has always checked them."""
    refuse_future(data.signed_on, now.date(), field="signed_on", what="the pledge")
    if facts.contributor_name is None:
        raise NotFound(
            f"no contributor with id {data.contributor_id}", field="contributor_id", rule="contributor-exists"
        )
    if data.window_code is not None:
        if facts.window_id is None:
            raise NotFound(f"no window with code {data.window_code!r}", field="window_code", rule="window-exists")
        if not facts.window_open:
            raise InvalidInput(
                f"window {data.window_code} is closed to new pledges", field="window_code", rule="window-open"
            )
    window_id = facts.window_id if data.window_code is not None else None
    amount = to_money(data.amount, data.currency)
    credit = chart.DEFERRED_REVENUE if data.conditional else chart.CONTRIBUTION_REVENUE
    dims: dict[str, Any] = {"contributor_id": data.contributor_id, "window_id": window_id}
    entry = EntryDraft(
        entry_date=data.signed_on,
        description=f"Pledge of {facts.contributor_name}" + (" (conditional)" if data.conditional else ""),
        lines=(Line(chart.CONTRIBUTIONS_RECEIVABLE, amount, **dims), Line(credit, -amount, **dims)),
        source_type="pledge",
    )
    pledge = {
        "id": facts.pledge_id,
        "contributor_id": data.contributor_id,
        "amount": amount.minor,
        "currency": amount.currency,
        "window_id": window_id,
        "signed_on": data.signed_on,
        "conditional": data.conditional,
        "condition": data.condition,
        "condition_met_on": None,
        "reference": data.reference,
        "entry_id": EntryId(0),
        "condition_entry_id": None,
        "created_at": now,
    }
    instalments = tuple(
        {
            "pledge_id": facts.pledge_id,
            "number": number,
            "due_on": instalment.due_on,
            "amount": to_money(instalment.amount, data.currency).minor,
        }
        for number, instalment in enumerate(data.instalments, start=1)
    )
    after = {
        "contributor_id": data.contributor_id,
        "amount": to_json(amount),
        "window": data.window_code,
        "conditional": data.conditional,
        "entry_id": EntryId(0),
    }
    return Plan(
        entries=(entry,),
        rows={PLEDGES: (pledge,), INSTALMENTS: instalments},
        events=(Event("pledge.sign", "pledge", facts.pledge_id, after=after),),
    )


@dataclass(frozen=True, slots=True)
class ConditionFacts:
    """What recognising a conditional pledge reads: the pledge's id, signature date, whether it is
    conditional and when its condition was met (None: not yet), its dimensions, and its deferred revenue
    as posted (amount and currency, reporting amount)."""

    pledge_id: int
    conditional: bool
    signed_on: date
    condition_met_on: date | None
    contributor_id: int
    window_id: int | None
    deferred: Money | None = None  # read for a conditional pledge only
    deferred_reporting: int = 0


def plan_condition_met(facts: ConditionFacts, met_on: date, *, now: datetime, reporting_currency: str) -> Plan:
    """A conditional pledge recognised as revenue at the reporting value it was deferred at."""
    if not facts.conditional:
        raise Conflict("this pledge has no condition", rule="conditional-only")
    refuse_future(met_on, now.date(), field="met_on", what="the condition met")
    if met_on < facts.signed_on:
        raise InvalidInput(
            f"the pledge was signed on {facts.signed_on}; its condition cannot be met before",
            field="met_on",
            rule="met-after-signing",
        )
    if facts.condition_met_on is not None:
        raise Conflict(f"the condition was recorded as met on {facts.condition_met_on}", rule="once")
    amount = facts.deferred
    assert amount is not None, "a conditional pledge's facts carry its deferred revenue"
    reporting = Money.from_minor(facts.deferred_reporting, reporting_currency)
    dims: dict[str, Any] = {"contributor_id": facts.contributor_id, "window_id": facts.window_id}
    entry = EntryDraft(
        entry_date=met_on,
        description=f"Condition met on pledge {facts.pledge_id}",
        lines=(
            Line(chart.DEFERRED_REVENUE, amount, reporting, **dims),
            Line(chart.CONTRIBUTION_REVENUE, -amount, -reporting, **dims),
        ),
        source_type="pledge-condition",
        source_id=str(facts.pledge_id),
    )
    change = {"id": facts.pledge_id, "condition_met_on": met_on, "condition_entry_id": EntryId(0)}
    event = Event("pledge.condition_met", "pledge", facts.pledge_id, after={"met_on": met_on, "entry_id": EntryId(0)})
    return Plan(entries=(entry,), updates={PLEDGES: (change,)}, events=(event,))


# ---------------------------------------------------------------- assessments: facts in, a plan out

ASSESSMENTS = "assessments"


@dataclass(frozen=True, slots=True)
class MemberToAssess:
    """An active member as an assessment sees it."""

    code: str
    tier: str
    joined_on: date
    contributor_id: int


@dataclass(frozen=True, slots=True)
class AssessmentFacts:
    """What assessing a year reads: the active members (by code), those assessed for the year already, and
    the year's annual fee of each tier that has one."""

    year: int
    members: tuple[MemberToAssess, ...]
    assessed: frozenset[str]
    fees: Mapping[str, Money]


@dataclass(frozen=True, slots=True)
class AssessmentPlan:
    """The assessment of a year: what to write, and the members assessed now, already, or not due."""

    plan: Plan
    created: tuple[str, ...]
    already: tuple[str, ...]
    not_due: tuple[str, ...]


def fee_entry(
    member_code: str, contributor_id: int, year: int, tier: str, months: int, fee: Money, on: date
) -> EntryDraft:
    """An assessed fee posted: the member's receivable and the facility's revenue, dated ``on``."""
    return EntryDraft(
        entry_date=on,
        description=f"{year} fee of {member_code} (tier {tier}, {months} months)",
        lines=(
            Line(chart.CONTRIBUTIONS_RECEIVABLE, fee, contributor_id=contributor_id),
            Line(chart.CONTRIBUTION_REVENUE, -fee, contributor_id=contributor_id),
        ),
        source_type="assessment",
        source_id=f"{member_code}-{year}",
        idempotency_key=f"assessment:{member_code}:{year}",
    )


def plan_assessment(facts: AssessmentFacts, *, today: date, due_days: int) -> AssessmentPlan:
    """Each active member's fee for the year (once), pro-rated by whole months. A fee of the current or a
    past year is posted at once (dated today); a fee of a year that has not begun is a notice, posted when
    its year opens. Refuses a year whose fee is not set for a tier that owes one."""
    year = facts.year
    notice = is_fee_notice(year, today)
    due_on = fee_due_on(year, today, due_days)
    entries: list[EntryDraft] = []
    rows: list[dict[str, Any]] = []
    already: list[str] = []
    not_due: list[str] = []
    for member in facts.members:
        if member.code in facts.assessed:
            already.append(member.code)
            continue
        months = months_of_membership(member.joined_on, year)
        if months == 0:
            not_due.append(member.code)
            continue
        annual = facts.fees.get(member.tier)
        if annual is None:
            raise InvalidInput(
                f"no fee is set for tier {member.tier} in {year}; set it under /tiers first",
                field="year",
                rule="fee-schedule-set",
            )
        fee = prorated_fee(annual, months)
        if not fee.is_positive:
            # A fee that rounds to nothing is not due (and a zero receivable is not an entry).
            not_due.append(member.code)
            continue
        row: dict[str, Any] = {
            "member_code": member.code,
            "contributor_id": member.contributor_id,
            "year": year,
            "tier": member.tier,
            "months": months,
            "amount": fee.minor,
            "currency": fee.currency,
            "assessed_on": today,
            "due_on": due_on,
            "entry_id": None,
            "recognised_on": None,
        }
        if not notice:
            row.update(entry_id=EntryId(len(entries)), recognised_on=today)
            entries.append(fee_entry(member.code, member.contributor_id, year, member.tier, months, fee, today))
        rows.append(row)
    created = tuple(str(row["member_code"]) for row in rows)
    events: tuple[Event, ...] = ()
    if created:
        after = {"members": list(created), "recognised": not notice}
        events = (Event("assessment.notice" if notice else "assessment.run", "assessment_year", year, after=after),)
    plan = Plan(entries=tuple(entries), rows={ASSESSMENTS: tuple(rows)} if rows else {}, events=events)
    return AssessmentPlan(plan, created, tuple(already), tuple(not_due))


def plan_fee_opening(
    assessment_id: int, member_code: str, contributor_id: int, year: int, tier: str, months: int, fee: Money
) -> Plan:
    """A fee notice posted when its year opens: the fee's entry dated 1 January, and the notice's entry and
    recognition date."""
    on = date(year, 1, 1)
    change = {"id": assessment_id, "entry_id": EntryId(0), "recognised_on": on}
    return Plan(
        entries=(fee_entry(member_code, contributor_id, year, tier, months, fee, on),),
        updates={ASSESSMENTS: (change,)},
    )


def plan_advance_applied(
    *,
    contribution_id: int,
    contributor_id: int,
    applied: Money,
    held: tuple[int, int],
    receivable: tuple[int, int],
    fee_rate: Decimal,
    rate: Decimal,
    reporting_currency: str,
    on: date,
) -> Plan:
    """Money received in advance applied to its fee, now posted (``advance_application``'s lines): the entry,
    the contribution's entry and fee, and the audit event."""
    applied_plan = advance_application(
        applied=applied,
        held=held,
        receivable=receivable,
        fee_rate=fee_rate,
        rate=rate,
        reporting_currency=reporting_currency,
        contributor_id=contributor_id,
    )
    entry = EntryDraft(
        entry_date=on,
        description=f"Payment in advance applied to the {on.year} fee (contribution {contribution_id})",
        lines=applied_plan.lines,
        source_type="contribution",
        source_id=str(contribution_id),
        idempotency_key=f"advance-applied:{contribution_id}",
        settle_fx=True,
    )
    change = {"id": contribution_id, "applied_entry_id": EntryId(0), "fee": applied_plan.fee.minor}
    after = {"applied": to_json(applied_plan.applied), "fee": to_json(applied_plan.fee), "entry_id": EntryId(0)}
    event = Event("contribution.advance_applied", "contribution", contribution_id, after=after)
    return Plan(entries=(entry,), updates={CONTRIBUTIONS: (change,)}, events=(event,))


# ---------------------------------------------------------------- arrears


@dataclass(frozen=True, slots=True)
class YearArrears:
    year: int
    assessed: int
    paid: int
    currency: str
    due_on: date
    as_of: date

    @property
    def outstanding(self) -> int:
        return max(0, self.assessed - self.paid)

    @property
    def days_overdue(self) -> int:
        if self.outstanding == 0 or self.as_of <= self.due_on:
            return 0
        return (self.as_of - self.due_on).days


def years_in_arrears(arrears: Iterable[YearArrears]) -> int:
    """Years whose fee is overdue and not fully paid."""
    return sum(1 for a in arrears if a.days_overdue > 0)


def voting_suspended(arrears: Iterable[YearArrears], *, rule_on: bool, years_allowed: int) -> tuple[bool, str]:
    """(suspended, reason). Participation is unconditional unless the charter's arrears rule is on."""
    if not rule_on:
        return False, "participation is unconditional: the charter's arrears rule is off"
    overdue = years_in_arrears(arrears)
    if overdue >= years_allowed:
        return True, f"{overdue} years of fees overdue; the charter suspends voting from {years_allowed}"
    return False, f"{overdue} years of fees overdue; the charter suspends voting from {years_allowed}"


# ---------------------------------------------------------------- decisions: counting


VOTE_CHOICES = ("yes", "no", "abstain")
MAJORITIES = ("simple", "qualified")


@dataclass(frozen=True, slots=True)
class Tally:
    """The count of one decision, with everything needed to check it by hand."""

    procedure: str
    eligible: int
    recused: int
    participated: int  # ballots cast (vote), members present (consensus), eligible members (no_objection)
    quorum_needed: int
    quorum_met: bool
    yes: int
    no: int
    abstain: int
    objections: int
    adopted: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "procedure": self.procedure,
            "eligible": self.eligible,
            "recused": self.recused,
            "participated": self.participated,
            "quorum_needed": self.quorum_needed,
            "quorum_met": self.quorum_met,
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "objections": self.objections,
            "adopted": self.adopted,
            "reason": self.reason,
        }


def quorum_needed(eligible: int, quorum: Decimal) -> int:
    """The fewest participants that make a quorum: the smallest n with n >= quorum x eligible."""
    if not Decimal(0) <= quorum <= Decimal(1):
        raise ValueError("quorum must be a share between 0 and 1")
    exact = quorum * eligible
    whole = int(exact)
    return whole if whole == exact else whole + 1


def majority_reached(yes: int, no: int, majority: str) -> bool:
    """Simple: more yes than no. Qualified: yes at least two thirds of yes + no. A tie fails; with no
    yes at all nothing is adopted."""
    if majority == "simple":
        return yes > no
    if majority == "qualified":
        return yes > 0 and 3 * yes >= 2 * (yes + no)
    raise ValueError(f"unknown majority {majority!r}")


def electorate(members: Iterable[str], recused: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(eligible, recused-and-otherwise-eligible): recused members leave the denominator."""
    base = frozenset(members)
    out = frozenset(recused) & base
    return base - out, out


def count_vote(
    members: Iterable[str],
    recused: Iterable[str],
    ballots: Mapping[str, str],
    *,
    quorum: Decimal,
    majority: str,
) -> Tally:
    """Count final ballots (member -> yes/no/abstain). Only eligible, non-recused members count, once
    each; abstentions count for the quorum, not for the majority."""
    eligible, out = electorate(members, recused)
    counted = {m: c for m, c in ballots.items() if m in eligible}
    if any(c not in VOTE_CHOICES for c in counted.values()):
        raise ValueError("a ballot is yes, no or abstain")
    yes = sum(1 for c in counted.values() if c == "yes")
    no = sum(1 for c in counted.values() if c == "no")
    abstain = len(counted) - yes - no
    needed = quorum_needed(len(eligible), quorum)
    quorum_met = len(eligible) > 0 and len(counted) >= needed
    passed = majority_reached(yes, no, majority)
    adopted = quorum_met and passed
    if not quorum_met:
        reason = f"no quorum: {len(counted)} of {len(eligible)} eligible members voted, {needed} needed"
    elif adopted:
        reason = f"adopted by {yes} yes to {no} no ({abstain} abstaining), {majority} majority"
    elif yes == no:
        reason = f"not adopted: a tie, {yes} yes to {no} no ({abstain} abstaining)"
    else:
        reason = f"not adopted: {yes} yes to {no} no ({abstain} abstaining), {majority} majority required"
    return Tally(
        "vote", len(eligible), len(out), len(counted), needed, quorum_met, yes, no, abstain, 0, adopted, reason
    )


def count_no_objection(members: Iterable[str], recused: Iterable[str], objectors: Iterable[str]) -> Tally:
    """A written procedure: adopted at its deadline unless an eligible member objected."""
    eligible, out = electorate(members, recused)
    objections = len(frozenset(objectors) & eligible)
    adopted = len(eligible) > 0 and objections == 0
    if objections:
        reason = f"not adopted: {objections} eligible member(s) objected"
    elif not eligible:
        reason = "not adopted: no eligible member"
    else:
        reason = f"adopted without objection from {len(eligible)} eligible members"
    return Tally("no_objection", len(eligible), len(out), len(eligible), 0, True, 0, 0, 0, objections, adopted, reason)


def count_consensus(
    members: Iterable[str], recused: Iterable[str], present: Iterable[str], objectors: Iterable[str], *, quorum: Decimal
) -> Tally:
    """A meeting: adopted only with a quorum of eligible members present and no objection from them."""
    eligible, out = electorate(members, recused)
    attending = frozenset(present) & eligible
    objections = len(frozenset(objectors) & attending)
    needed = quorum_needed(len(eligible), quorum)
    quorum_met = len(eligible) > 0 and len(attending) >= needed
    adopted = quorum_met and objections == 0
    if not quorum_met:
        reason = f"no quorum: {len(attending)} of {len(eligible)} eligible members present, {needed} needed"
    elif objections:
        reason = f"no consensus: {objections} member(s) present objected"
    else:
        reason = f"adopted by consensus of {len(attending)} members present"
    return Tally(
        "consensus", len(eligible), len(out), len(attending), needed, quorum_met, 0, 0, 0, objections, adopted, reason
    )


def final_ballots(events: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """The last choice of each member from (member, choice) events in chain order; a None choice (a
    ballot withdrawn by recusal) removes the member's ballot."""
    final: dict[str, str] = {}
    for member, choice in events:
        if choice is None:
            final.pop(member, None)
        else:
            final[member] = choice
    return final


# ---------------------------------------------------------------- decisions: money in their terms


def terms_money(terms: Mapping[str, object]) -> Money | None:
    """The amount of a decision's terms, in either shape they were written in: ``"amount": {"amount":
    "300000.00", "currency": "USD"}`` (the one shape of money), or the earlier one, where ``"amount"`` was a
    decimal string (fees, budgets, allocations) or an integer of minor units (a funding decision) beside a
    ``"currency"``. None for terms without an amount. Hash-chained opening events keep the shape they were
    written in, so everything that reads terms reads them through this function."""
    amount = terms.get("amount")
    if amount is None:
        return None
    if isinstance(amount, Mapping):
        return from_json(amount)
    currency = terms.get("currency")
    if not isinstance(currency, str):
        raise MoneyError("terms with an amount in the earlier shape name its currency beside it")
    if isinstance(amount, int) and not isinstance(amount, bool):
        return Money.from_minor(amount, currency)
    if isinstance(amount, str):
        return Money.of(amount, currency)
    raise TypeError(f"the terms' amount is neither money nor a decimal string: {amount!r}")


def terms_in_one_shape(terms: Mapping[str, object]) -> dict[str, object]:
    """The terms with their amount as ``{"amount": "300000.00", "currency": "USD"}``; terms written in the
    earlier shape lose their separate ``currency``, nothing else changes."""
    shaped = dict(terms)
    money = terms_money(terms)
    if money is None or isinstance(terms.get("amount"), Mapping):
        return shaped
    shaped.pop("currency", None)
    shaped["amount"] = dict(to_json(money))
    return shaped


# ---------------------------------------------------------------- decisions: the verifiable record

# The link before a decision's first event (the chains' one genesis hash).
GENESIS = GENESIS_HASH
EVENT_FIELDS = ("decision_id", "seq", "kind", "member", "choice", "reason", "data", "at", "prev_hash")
# The record's format: 2 publishes the roll (and the electorate counted, recused members left out); files of
# format 1, published before rolls were recorded, listed as electorate the members active at the close.
RECORD_FORMAT = "fundapp-decision-record/2"
RECORD_FORMAT_1 = "fundapp-decision-record/1"
# Where a decision's roll comes from: its opening event, or (a decision opened before rolls were recorded)
# the members active when it closed.
ROLL_AT_OPENING = "opening"
ROLL_AT_CLOSE = "close"
MEMBER_ACTIONS = ("ballot", "ballot_withdrawn", "objection", "recusal")


def decision_event_hash(event: Mapping[str, object]) -> str:
    """SHA-256 of the canonical event (the fields of EVENT_FIELDS; ``at`` as published) and its link."""
    return digest({name: event.get(name) for name in EVENT_FIELDS})


@dataclass(frozen=True, slots=True)
class Replayed:
    """What a decision's events say, replayed in chain order."""

    procedure: str
    quorum: Decimal
    majority: str
    recusals: dict[str, str]  # member -> reason
    ballots: dict[str, tuple[str, str]]  # member -> (final choice, time)
    objectors: frozenset[str]
    present: frozenset[str] | None
    # The roll the count is made over: fixed at the opening; for a decision opened before rolls were
    # recorded, the members active at its close (None until it closes).
    members: frozenset[str] | None
    closed: Mapping[str, object] | None
    roll_at: str | None = None  # ROLL_AT_OPENING, ROLL_AT_CLOSE, or None while the roll is not known

    @property
    def recused(self) -> dict[str, str]:
        """The members of the roll that recused, with their reasons (they leave the electorate)."""
        roll = self.members or frozenset()
        return {member: reason for member, reason in sorted(self.recusals.items()) if member in roll}

    @property
    def electorate(self) -> frozenset[str] | None:
        """The members counted: the roll without the recused."""
        if self.members is None:
            return None
        return electorate(self.members, self.recusals)[0]

    def tally(self) -> Tally | None:
        if self.members is None:
            return None
        recused = frozenset(self.recusals)
        if self.procedure == "vote":
            choices = {m: c for m, (c, _) in self.ballots.items()}
            return count_vote(self.members, recused, choices, quorum=self.quorum, majority=self.majority)
        if self.procedure == "no_objection":
            return count_no_objection(self.members, recused, self.objectors)
        return count_consensus(self.members, recused, self.present or (), self.objectors, quorum=self.quorum)


def _data(event: Mapping[str, object]) -> Mapping[str, object]:
    data = event.get("data")
    return data if isinstance(data, Mapping) else {}


def _codes(value: object) -> frozenset[str]:
    return frozenset(str(m) for m in value) if isinstance(value, list) else frozenset()


def replay(events: Sequence[Mapping[str, object]]) -> Replayed:
    """Replay a chain of events (assumed verified) into the procedure, roll, recusals, ballots and close."""
    procedure, quorum, majority = "vote", Decimal(0), "simple"
    recusals: dict[str, str] = {}
    ballots: dict[str, tuple[str, str]] = {}
    objectors: set[str] = set()
    present: frozenset[str] | None = None
    members: frozenset[str] | None = None
    roll_at: str | None = None
    closed: Mapping[str, object] | None = None
    for event in events:
        kind, member, data = event.get("kind"), str(event.get("member") or ""), _data(event)
        if kind == "opened":
            procedure = str(data.get("procedure"))
            quorum = Decimal(str(data.get("quorum")))
            majority = str(data.get("majority"))
            if "roll" in data:
                members, roll_at = _codes(data.get("roll")), ROLL_AT_OPENING
        elif kind == "procedure_changed":
            procedure = str(data.get("procedure"))
        elif kind == "recusal":
            recusals[member] = str(event.get("reason") or "")
            ballots.pop(member, None)
        elif kind == "ballot":
            ballots[member] = (str(event.get("choice")), str(event.get("at")))
        elif kind == "ballot_withdrawn":
            ballots.pop(member, None)
        elif kind == "objection":
            objectors.add(member)
        elif kind == "meeting":
            present = _codes(data.get("present"))
            objectors |= _codes(data.get("objectors"))
        elif kind == "closed":
            closed = data
            if members is None:
                # Opened before rolls were recorded: the close states the members it counted (as "roll"
                # since rolls, as "members" before).
                members, roll_at = _codes(data.get("roll", data.get("members"))), ROLL_AT_CLOSE
    return Replayed(
        procedure, quorum, majority, recusals, ballots, frozenset(objectors), present, members, closed, roll_at
    )


def verify_chain(events: Sequence[Mapping[str, object]], decision_id: object = None) -> list[str]:
    """Problems with a decision's chain, naming each broken event; empty when every link holds."""
    problems: list[str] = []
    previous = GENESIS
    for index, event in enumerate(events, start=1):
        seq = event.get("seq")
        if seq != index:
            problems.append(f"event at position {index} has seq {seq}: an event is missing, added or out of order")
            return problems
        if decision_id is not None and event.get("decision_id") != decision_id:
            problems.append(f"event {seq} belongs to decision {event.get('decision_id')}, not {decision_id}")
        if event.get("prev_hash") != previous:
            problems.append(f"event {seq}: its link to the previous event is broken")
            return problems
        if decision_event_hash(event) != event.get("hash"):
            problems.append(
                f"event {seq} ({event.get('kind')}, {event.get('member') or '-'}): its content does not match its hash"
            )
            return problems
        previous = str(event.get("hash"))
    return problems


def find_receipt(record: Mapping[str, object], receipt: str) -> tuple[Mapping[str, object] | None, bool]:
    """A ballot receipt (its event's hash) in a published record: the ballot event it names, and whether that
    ballot is the one counted (its member's last ballot, not withdrawn nor replaced). (None, False) when no
    ballot of the record has that hash."""
    events = record.get("events")
    if not isinstance(events, list):
        return None, False
    wanted = receipt.strip().lower()
    found = next(
        (e for e in events if isinstance(e, Mapping) and e.get("kind") == "ballot" and e.get("hash") == wanted), None
    )
    if found is None:
        return None, False
    member = found.get("member")
    later = [
        e
        for e in events
        if isinstance(e, Mapping)
        and e.get("member") == member
        and e.get("kind") in ("ballot", "ballot_withdrawn", "recusal")
        and int(str(e.get("seq"))) > int(str(found.get("seq")))
    ]
    return found, not later


def chain_head(events: Sequence[Mapping[str, object]]) -> str:
    return str(events[-1].get("hash")) if events else GENESIS


def _differences(said: object, expected: Sequence[str]) -> str:
    """How a published list of members differs from the expected one, naming the members."""
    if not isinstance(said, list):
        return ""
    listed, wanted = {str(m) for m in said}, set(expected)
    parts = []
    if listed - wanted:
        parts.append(f"{', '.join(sorted(listed - wanted))} added")
    if wanted - listed:
        parts.append(f"{', '.join(sorted(wanted - listed))} left out")
    if not parts and said != list(expected):
        parts.append("the list is not sorted or repeats a member")
    return f" ({'; '.join(parts)})" if parts else ""


def verify_record(record: Mapping[str, object]) -> list[str]:
    """Re-verify a published decision record offline: the chain, its head, the roll, the roll call, the
    recusals, the electorate and the tally recounted from the events. Returns the problems found (empty
    means OK)."""
    raw_events = record.get("events")
    if not isinstance(raw_events, list) or not all(isinstance(e, Mapping) for e in raw_events):
        return ["the record has no list of events"]
    events: list[Mapping[str, object]] = raw_events
    decision = record.get("decision")
    decision_id = decision.get("id") if isinstance(decision, Mapping) else None
    problems = verify_chain(events, decision_id)
    if problems:
        return problems + _rolls_of_a_broken_chain(events)
    if record.get("chain_head") != chain_head(events):
        return [
            f"the published chain head {record.get('chain_head')} is not the last event's hash {chain_head(events)}"
        ]
    state = replay(events)
    problems += _check_summaries(record, events, state)
    problems += _check_roll(record, events, state)
    published_tally = record.get("tally")
    if state.closed is None:
        if published_tally not in (None, {}):
            problems.append("a tally is published but the events hold no close")
        return problems
    recount = state.tally()
    if recount is None:
        return [*problems, "the close event states no members counted"]
    expected = recount.as_dict()
    if not isinstance(published_tally, Mapping) or dict(published_tally) != expected:
        problems.append(f"tally: published {published_tally}, the recount from the events gives {expected}")
    closed = state.closed
    if dict(closed.get("tally") or {}) != expected:  # type: ignore[call-overload]
        problems.append(f"the close event's tally {closed.get('tally')} differs from the recount {expected}")
    result = closed.get("result")
    if result == "adopted" and not recount.adopted:
        problems.append("the close event says adopted, but the recount does not adopt it")
    for name, said in (("result", result), ("result_reason", closed.get("reason"))):
        if record.get(name) != said:
            problems.append(f"{name}: published {record.get(name)!r}, the close event says {said!r}")
    problems += _check_close(state, recount)
    return problems


def _rolls_of_a_broken_chain(events: Sequence[Mapping[str, object]]) -> list[str]:
    """After a broken link nothing in the chain can be trusted; name the roll when the opening and the close
    state different ones (an opening event rewritten with its hash recomputed breaks the next link)."""
    opened = next((e for e in events if e.get("kind") == "opened"), None)
    closed = next((e for e in reversed(events) if e.get("kind") == "closed"), None)
    if opened is None or closed is None:
        return []
    at_opening, at_close = _data(opened).get("roll"), _data(closed).get("roll")
    if not isinstance(at_opening, list) or not isinstance(at_close, list) or at_opening == at_close:
        return []
    return [
        f"roll: the opening event (event {opened.get('seq')}) lists {at_opening}, the close event (event "
        f"{closed.get('seq')}) {at_close}{_differences(at_opening, [str(m) for m in at_close])}"
    ]


def _check_roll(record: Mapping[str, object], events: Sequence[Mapping[str, object]], state: Replayed) -> list[str]:
    """The roll, who acted on it, and the electorate, as the events state them."""
    problems: list[str] = []
    version = record.get("format")
    if version not in (RECORD_FORMAT, RECORD_FORMAT_1):
        problems.append(f"format: {version!r} is not a decision record format this verifier knows")
    if state.roll_at == ROLL_AT_OPENING:
        problems += _check_members_on_roll(events, state)
    roll = sorted(state.members) if state.members is not None else None
    # Format 1 was published before rolls: it has no roll, and its electorate was the close's member list.
    earlier = version == RECORD_FORMAT_1 and state.roll_at != ROLL_AT_OPENING and "roll" not in record
    if not earlier:
        if record.get("roll") != roll:
            where = "opening event" if state.roll_at == ROLL_AT_OPENING else "close event"
            problems.append(
                f"roll: published {record.get('roll')}, the {where} states {roll}"
                f"{_differences(record.get('roll'), roll or [])}"
            )
        if record.get("roll_at") != state.roll_at:
            problems.append(f"roll_at: published {record.get('roll_at')!r}, the events say {state.roll_at!r}")
    counted = sorted(state.electorate) if state.electorate is not None else None
    if earlier and state.closed is not None:
        counted = sorted(_codes(state.closed.get("members")))
    if record.get("electorate") != counted:
        problems.append(
            f"electorate: published {record.get('electorate')}, the events count {counted}"
            f"{_differences(record.get('electorate'), counted or [])}"
        )
    return problems


def _check_members_on_roll(events: Sequence[Mapping[str, object]], state: Replayed) -> list[str]:
    """With a roll fixed at the opening, every ballot, objection and recusal is by a member of the electorate
    at that moment, and a meeting lists only members of the roll as present."""
    problems: list[str] = []
    opened = next(e for e in events if e.get("kind") == "opened")
    listed = _data(opened).get("roll")
    if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed) or listed != sorted(set(listed)):
        problems.append(f"event {opened.get('seq')} (opened): its roll {listed!r} is not a sorted list of members")
    roll = state.members or frozenset()
    recused: set[str] = set()
    for event in events:
        kind, member, seq = event.get("kind"), str(event.get("member") or ""), event.get("seq")
        if kind in MEMBER_ACTIONS:
            if member not in roll:
                problems.append(f"event {seq} ({kind}): {member or '-'} is not on the roll of the opening")
            elif member in recused:
                problems.append(f"event {seq} ({kind}): {member} had recused before")
            if kind == "recusal":
                recused.add(member)
        elif kind == "meeting":
            for code in sorted(_codes(_data(event).get("present")) - roll):
                problems.append(f"event {seq} (meeting): {code}, listed present, is not on the roll of the opening")
    return problems


def _check_close(state: Replayed, recount: Tally) -> list[str]:
    """A close since rolls states the roll, the recused and the electorate it counted; each must be what the
    events say, and the tally's eligible members the electorate's size."""
    closed = state.closed or {}
    problems: list[str] = []
    electorate_ = sorted(state.electorate or ())
    if "roll" in closed:
        roll = sorted(state.members or ())
        stated: dict[str, tuple[object, object]] = {
            "roll": (closed.get("roll"), roll),
            "recused": (closed.get("recused"), state.recused),
            "electorate": (closed.get("electorate"), electorate_),
            "roll_at": (closed.get("roll_at"), state.roll_at),
        }
        for name, (said, expected) in stated.items():
            if said != expected:
                problems.append(f"the close event's {name} {said} differs from the events' {expected}")
    if recount.eligible != len(electorate_):
        problems.append(f"tally: {recount.eligible} eligible, but the electorate has {len(electorate_)} members")
    return problems


def _rows(
    record: Mapping[str, object], name: str, fields: tuple[str, ...], problems: list[str]
) -> dict[str, tuple[str, ...]]:
    """A published list of per-member rows as member -> fields; malformed or repeated rows are problems."""
    rows = record.get(name)
    if not isinstance(rows, list):
        problems.append(f"{name}: the record must publish it as a list")
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or not isinstance(row.get("member"), str):
            problems.append(f"{name} row {index}: not a row with a member")
            continue
        member = str(row["member"])
        if member in found:
            problems.append(f"{name} row {index}: {member} is listed twice")
            continue
        found[member] = tuple(str(row.get(f)) for f in fields)
    return found


def _comparable_terms(terms: object) -> object:
    """Terms in the one shape of money, so terms published in either shape compare with the opening's."""
    if not isinstance(terms, Mapping):
        return terms
    try:
        return terms_in_one_shape(terms)
    except (MoneyError, TypeError, ValueError):
        return terms


def _check_summaries(
    record: Mapping[str, object], events: Sequence[Mapping[str, object]], state: Replayed
) -> list[str]:
    """Everything the record states besides the events must be what the events say."""
    problems: list[str] = []
    published = _rows(record, "roll_call", ("choice", "at"), problems)
    for member in sorted(set(published) | set(state.ballots)):
        if published.get(member) != state.ballots.get(member):
            said = state.ballots.get(member)
            problems.append(f"roll call for {member}: published {published.get(member)}, the events say {said}")
    recusals = {m: r[0] for m, r in _rows(record, "recusals", ("reason",), problems).items()}
    if recusals != state.recusals:
        problems.append(
            f"recusals: published {sorted(recusals.items())}, the events say {sorted(state.recusals.items())}"
        )
    rules_block = record.get("rules")
    applied = {"procedure": state.procedure, "quorum": str(state.quorum), "majority": state.majority}
    if not isinstance(rules_block, Mapping) or {k: rules_block.get(k) for k in applied} != applied:
        problems.append(f"rules: published {rules_block}, the events apply {applied}")
    opened = next((e for e in events if e.get("kind") == "opened"), None)
    decision = record.get("decision")
    if opened is None or not isinstance(decision, Mapping):
        problems.append("the record has no decision or its events no opening")
        return problems
    data = _data(opened)
    for name in ("kind", "subject", "title", "text", "terms", "justification"):
        shown, written = decision.get(name), data.get(name)
        if name == "terms":
            # The opening keeps the shape its money was written in; the record may show it in the one shape.
            shown, written = _comparable_terms(shown), _comparable_terms(written)
        if shown != written:
            problems.append(
                f"decision {name}: published {decision.get(name)!r}, the opening event says {data.get(name)!r}"
            )
    if decision.get("opens_at") != opened.get("at"):
        problems.append(f"decision opens_at: published {decision.get('opens_at')}, opened at {opened.get('at')}")
    closes_at = data.get("closes_at")
    for event in events:
        if event.get("kind") == "procedure_changed":
            closes_at = _data(event).get("closes_at", closes_at)
    if decision.get("closes_at") != closes_at:
        problems.append(f"decision closes_at: published {decision.get('closes_at')}, the events say {closes_at}")
    return problems


# ---------------------------------------------------------------- decisions: planning the chain and the close
# Facts in, plans out: the decisions service reads the facts (the chain's length and head, the events, the
# funds), asks these for what to write, and writes it.


def next_event(
    decision_id: int,
    events: int,
    head: str,
    kind: str,
    *,
    at: datetime,
    cast_by: int | None,
    member: str | None = None,
    choice: str | None = None,
    reason: str = "",
    data: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """The column values of the next event of a chain of ``events`` events whose last link is ``head``; its
    hash covers the event exactly as the record publishes it."""
    stored = canonical_json(data or {})
    values: dict[str, Any] = {
        "decision_id": decision_id,
        "seq": events + 1,
        "kind": kind,
        "member_code": member,
        "choice": choice,
        "reason": reason,
        "data": stored,
        "at": at,
        "cast_by": cast_by,
        "prev_hash": head or GENESIS,
    }
    published = {
        "decision_id": decision_id,
        "seq": events + 1,
        "kind": kind,
        "member": member,
        "choice": choice,
        "reason": reason,
        "data": json.loads(stored),
        "at": timestamp(at),
        "prev_hash": values["prev_hash"],
    }
    values["hash"] = decision_event_hash(published)
    return values


@dataclass(frozen=True, slots=True)
class BallotPlan:
    """A ballot's writes: the chain's next event (its receipt), and whether it replaces the member's ballot."""

    event: dict[str, Any]
    replaced: bool


def plan_ballot(
    decision_id: int,
    events: int,
    head: str,
    *,
    member: str,
    choice: str,
    current: str | None,
    at: datetime,
    cast_by: int | None,
) -> BallotPlan:
    """The ballot of an eligible member on an open vote whose chain the caller read under the decision's lock;
    ``current`` is the member's standing choice (None: it has no ballot)."""
    event = next_event(decision_id, events, head, "ballot", at=at, cast_by=cast_by, member=member, choice=choice)
    return BallotPlan(event, replaced=current is not None)


def with_roll_at_close(state: Replayed, eligible_now: Iterable[str]) -> Replayed:
    """A chain opened before rolls were recorded is counted over the members eligible at its close."""
    if state.members is not None:
        return state
    return replace(state, members=frozenset(eligible_now), roll_at=ROLL_AT_CLOSE)


def close_outcome(tally: Tally, *, short: str | None = None, problem: str | None = None) -> tuple[bool, str]:
    """(adopted, reason) at the close: the members' count, unless the funds fall ``short`` of a money decision
    or the adopted decision can no longer take effect (``problem``); either turns adoption into refusal."""
    adopted, reason = tally.adopted, tally.reason
    if adopted and short:
        adopted, reason = False, f"not adopted: insufficient funds at the close: {short}"
    if adopted and problem:
        adopted, reason = False, f"adopted by the members but it cannot take effect: {problem}"
    return adopted, reason


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """What the close records: the result, its reason, the tally and the data of the chain's closing event."""

    adopted: bool
    result: str  # "adopted" or "not_adopted"
    reason: str
    tally: dict[str, object]
    event_data: dict[str, object]


def plan_close(state: Replayed, tally: Tally, *, adopted: bool, reason: str) -> ClosePlan:
    """The record of a close counted over ``state``'s roll (its outcome from :func:`close_outcome`)."""
    result = "adopted" if adopted else "not_adopted"
    counted = tally.as_dict()
    data: dict[str, object] = {
        "roll": sorted(state.members or ()),
        "roll_at": state.roll_at,
        "recused": state.recused,
        "electorate": sorted(state.electorate or ()),
        "tally": counted,
        "result": result,
        "reason": reason,
    }
    return ClosePlan(adopted, result, reason, counted, data)


def funding_entry(
    decision_id: int,
    window_id: int | None,
    amount: Money,
    proposal_title: str,
    grant_id: int | None,
    on: date,
    *,
    source_type: str = "funding_decision",
) -> EntryDraft:
    """An adopted funding decision's entry: the window's available funds allocated to the new grant (a
    concessional financing decision's is the same, under its own source type, ``concessional_decision``)."""
    what = "Concessional financing decision" if source_type == "concessional_decision" else "Funding decision"
    return EntryDraft(
        entry_date=on,
        description=f"{what} {decision_id}: {proposal_title}"[:500],
        lines=(
            Line(chart.AVAILABLE, -amount, window_id=window_id),
            Line(chart.ALLOCATED, amount, window_id=window_id, grant_id=grant_id),
        ),
        source_type=source_type,
        source_id=str(decision_id),
    )


def window_allocation_entry(
    decision_id: int, window_id: int | None, amount: Money, window_code: str, on: date
) -> EntryDraft:
    """An adopted window allocation's entry: pooled available funds moved to the window."""
    return EntryDraft(
        entry_date=on,
        description=f"Window allocation decision {decision_id}: pooled funds to {window_code}",
        lines=(
            Line(chart.AVAILABLE, -amount, window_id=None),
            Line(chart.AVAILABLE, amount, window_id=window_id),
        ),
        source_type="window_allocation",
        source_id=str(decision_id),
    )


# ---------------------------------------------------------------- investment income: facts in, a plan out
# Interest the trustee earns on the cash it holds belongs to the funds whose money earned it: the pooled fund
# and each window, in proportion to their time-weighted average balances over the period (docs/contributions.md,
# "Investment income"). A fund's balance is the cash it holds: what it received and has not transferred, its
# budgetary 8200 + 8300 + 8400 (available, allocated, committed; 8500 disbursed is cash gone), in the reporting
# currency. Money that belongs to no fund yet (unapplied credit, fees paid in advance) weighs nothing.

INVESTMENT_INCOME = "investment_income"
INVESTMENT_INCOME_SOURCE = "investment_income"
# The budgetary accounts whose balance per fund is the cash the fund holds.
FUND_CASH_ACCOUNTS = (chart.AVAILABLE, chart.ALLOCATED, chart.COMMITTED)

Fund: TypeAlias = int | None  # a window's id; None is the pooled fund


def fund_order(fund: Fund) -> tuple[bool, int]:
    """The funds' one order: the pooled fund first, then the windows by id (the allocation's tie-break)."""
    return (fund is not None, fund or 0)


def balance_days(changes: Mapping[Fund, Mapping[date, int]], start: date, end: date) -> dict[Fund, int]:
    """Each fund's balance at the end of each day of ``start``..``end`` (both included), summed over those
    days. ``changes`` are each fund's balance changes by day: those dated before ``start`` make up the
    opening balance, those after ``end`` do not count. A change on day d counts for the days d..end."""
    days = (end - start).days + 1
    result: dict[Fund, int] = {}
    for fund, its in changes.items():
        total = 0
        for day, value in its.items():
            if day < start:
                total += value * days
            elif day <= end:
                total += value * ((end - day).days + 1)
        result[fund] = total
    return result


def time_weighted_balances(changes: Mapping[Fund, Mapping[date, int]], start: date, end: date) -> dict[Fund, Decimal]:
    """Each fund's time-weighted average balance over ``start``..``end``: its balance at the end of each day,
    averaged over the days (``balance_days`` divided by the number of days; unrounded)."""
    days = Decimal((end - start).days + 1)
    return {fund: Decimal(total) / days for fund, total in balance_days(changes, start, end).items()}


def allocate_income(total_minor: int, weights: Mapping[Fund, int | Decimal]) -> dict[Fund, int]:
    """``total_minor`` split in proportion to the positive ``weights`` by largest remainder: each fund gets the
    floor of its exact share ``total * weight / sum``, and the minor units left go one each to the largest
    remainders; equal remainders go in the funds' order (pooled first, then windows by id). The parts sum
    exactly to the total, each is within one minor unit of its exact share, and a larger weight never gets
    less. Funds of zero or negative weight get nothing (and are left out); refuses when no weight is
    positive."""
    funds = sorted((f for f, w in weights.items() if w > 0), key=fund_order)
    if not funds:
        raise ValueError("no fund has a positive weight")
    # The ledger's largest remainder (ties to the lower index), over the funds in their order.
    return dict(zip(funds, allocate_minor(total_minor, [weights[f] for f in funds]), strict=True))


@dataclass(frozen=True, slots=True)
class IncomeFacts:
    """What recording interest earned reads: each fund's cash held (``FUND_CASH_ACCOUNTS``, reporting minor
    units, debit positive) as balance changes by day up to the period's end, its opening balance dated before
    the period; the trustee's cash (1100) in the income's currency likewise; a record of the same currency
    whose period overlaps (pending or approved; its id), a record made earlier under the sender's key (its id
    and body's hash), the rate of the currency on the period's last day (or the ledger's refusal of it), and
    the new record's id."""

    funds: Mapping[Fund, Mapping[date, int]]
    cash: Mapping[date, int]
    income_id: int
    overlapping_id: int | None = None
    existing_id: int | None = None
    existing_hash: str | None = None
    rate: Decimal | None = None
    missing_rate: Exception | None = None


@dataclass(frozen=True, slots=True)
class IncomePolicy:
    """The facility's settings a record takes, who records it and when."""

    reporting_currency: str
    threshold: Decimal
    now: datetime
    user_id: int | None


@dataclass(frozen=True, slots=True)
class IncomeShare:
    """One fund's part of the income: in the income's currency and in the reporting currency, and the weight
    it was allocated by (its balance summed over the period's days, reporting minor units)."""

    window_id: int | None
    amount: int
    reporting_amount: int
    balance_days: int


@dataclass(frozen=True, slots=True)
class IncomeReplay:
    """A record made earlier under the sender's key with the same body."""

    income_id: int


def income_shares(total: Money, reporting_total: int, weights: Mapping[Fund, int]) -> tuple[IncomeShare, ...]:
    """The income and its reporting amount, each split by ``allocate_income`` over the same weights."""
    parts = allocate_income(total.minor, weights)
    reporting = allocate_income(reporting_total, weights)
    return tuple(
        IncomeShare(fund, parts[fund], reporting[fund], int(weights[fund])) for fund in sorted(parts, key=fund_order)
    )


def plan_investment_income(
    facts: IncomeFacts,
    *,
    amount: str,
    currency: str,
    period_start: date,
    period_end: date,
    bank_reference: str,
    idempotency_key: str | None,
    policy: IncomePolicy,
) -> Plan | IncomeReplay:
    """Record interest earned over a period, waiting for a second person's approval: the income allocated to
    the funds that held cash in the period by their time-weighted balances (the record's row keeps each
    fund's part; ``investment_income_entry`` is what the approval posts). Refusals name the field and rule;
    a key recorded with the same body is a replay."""
    body = {
        "amount": amount,
        "currency": currency,
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "bank_reference": bank_reference,
    }
    payload_hash = digest(body)
    if facts.existing_id is not None:
        if facts.existing_hash != payload_hash:
            raise Conflict(
                f"the idempotency key {idempotency_key!r} was used for investment income {facts.existing_id} "
                "with a different body",
                field="Idempotency-Key",
                rule="idempotency-same-payload",
            )
        return IncomeReplay(facts.existing_id)
    money = Money.of(amount, currency)  # the schema refused excess precision
    if not money.is_positive:
        raise InvalidInput("interest earned is a positive amount", field="amount", rule="positive")
    refuse_future(period_end, policy.now.date(), field="period_end", what="the period's end")
    if period_start > period_end:
        raise InvalidInput(
            f"the period starts on {period_start.isoformat()}, after its end ({period_end.isoformat()})",
            field="period_start",
            rule="period-in-order",
        )
    if facts.overlapping_id is not None:
        raise Conflict(
            f"investment income {facts.overlapping_id} already covers days of this period in {currency}",
            field="period_start",
            rule="period-not-allocated",
        )
    cash = balance_days({None: facts.cash}, period_start, period_end)[None]
    if cash <= 0:
        raise Conflict(f"the trustee held no cash in {currency} in the period", field="currency", rule="currency-held")
    weights = {f: w for f, w in balance_days(facts.funds, period_start, period_end).items() if w > 0}
    if not weights:
        raise Conflict(
            "no fund held a balance in the period: there is no one to allocate the income to",
            field="period_start",
            rule="funds-held-balance",
        )
    if facts.rate is None:
        assert facts.missing_rate is not None, "the facts carry a rate or the refusal of one"
        raise facts.missing_rate
    reporting = convert_minor(money.minor, currency, facts.rate, policy.reporting_currency)
    shares = income_shares(money, reporting, weights)
    size = Money.from_minor(reporting, policy.reporting_currency).amount
    row: dict[str, Any] = {
        "id": facts.income_id,
        "status": "pending",
        "amount": money.minor,
        "currency": currency,
        "reporting_amount": reporting,
        "period_start": period_start,
        "period_end": period_end,
        "bank_reference": bank_reference,
        "allocation": json.dumps([_share_json(s) for s in shares], sort_keys=True),
        "approvals_needed": ledger_rules.approvals_needed(size, policy.threshold),
        "idempotency_key": idempotency_key,
        "payload_hash": payload_hash,
        "prepared_by": ledger_rules.require_person(policy.user_id),
        "prepared_at": policy.now,
        "rejection_reason": "",
    }
    after = {
        **body,
        "reporting_amount": to_json(Money.from_minor(reporting, policy.reporting_currency)),
        "allocation": [_share_json(s) for s in shares],
    }
    event = Event("investment_income.record", INVESTMENT_INCOME, facts.income_id, after=after)
    return Plan(rows={INVESTMENT_INCOME: (row,)}, events=(event,))


def _share_json(share: IncomeShare) -> dict[str, Any]:
    return {
        "window_id": share.window_id,
        "amount": share.amount,
        "reporting_amount": share.reporting_amount,
        "balance_days": share.balance_days,
    }


def shares_of(allocation: str) -> tuple[IncomeShare, ...]:
    """A record's allocation (its stored JSON) as shares."""
    return tuple(
        IncomeShare(s["window_id"], int(s["amount"]), int(s["reporting_amount"]), int(s["balance_days"]))
        for s in json.loads(allocation)
    )


def investment_income_entry(
    income_id: int,
    money: Money,
    period_start: date,
    period_end: date,
    bank_reference: str,
    shares: Sequence[IncomeShare],
    reporting_currency: str,
) -> EntryDraft:
    """The entry an approved record posts on the period's last day: Dr 1100 cash / Cr 4200 investment income,
    one credit per fund (window dimension; the pooled fund has none), and in the budgetary book each fund's
    part made available for decisions (Dr 8200 / Cr 8100 per fund, in the reporting currency), as a
    deposit's net is."""
    currency = money.currency
    lines = [Line(chart.CASH, money)]
    for share in shares:
        if share.amount:
            lines.append(
                Line(chart.INVESTMENT_INCOME, Money.from_minor(-share.amount, currency), window_id=share.window_id)
            )
    for share in shares:
        if share.reporting_amount:
            part = Money.from_minor(share.reporting_amount, reporting_currency)
            lines += [
                Line(chart.AVAILABLE, part, window_id=share.window_id),
                Line(chart.RESOURCES_RECEIVED, -part, window_id=share.window_id),
            ]
    return EntryDraft(
        entry_date=period_end,
        description=f"Investment income {period_start.isoformat()} to {period_end.isoformat()}"
        + (f" ({bank_reference})" if bank_reference else ""),
        lines=tuple(lines),
        source_type=INVESTMENT_INCOME_SOURCE,
        source_id=str(income_id),
        idempotency_key=f"investment-income:{income_id}",
    )


@dataclass(frozen=True, slots=True)
class IncomeRecordFacts:
    """A record as approving or rejecting it reads it (under the journal's lock)."""

    id: int
    status: str
    amount: int
    currency: str
    period_start: date
    period_end: date
    bank_reference: str
    allocation: str
    approvals_needed: int
    prepared_by: int
    first_approved_by: int | None


def _check_pending(record: IncomeRecordFacts) -> None:
    if record.status != "pending":
        raise Conflict(f"investment income {record.id} is {record.status}", field="status", rule="request-pending")


def plan_income_approval(
    record: IncomeRecordFacts, approver: int | None, *, now: datetime, reporting_currency: str
) -> Plan:
    """Approve a record: a different person than who recorded it (and than the first approver when two are
    needed, above the charter's threshold: ``ledger.rules.checker_step``); the last approval posts
    ``investment_income_entry`` and names it in the record."""
    _check_pending(record)
    person = ledger_rules.require_person(approver)
    step = ledger_rules.checker_step(
        needed=record.approvals_needed,
        approver=person,
        prepared_by=record.prepared_by,
        first_approver=record.first_approved_by,
    )
    if step.refused is not None:
        raise PermissionDenied(step.reason, field="investment_income", rule=step.refused)
    if not step.final:
        change = {"id": record.id, "first_approved_by": person, "first_approved_at": now}
        event = Event("investment_income.first_approval", INVESTMENT_INCOME, record.id, after={"approver": person})
        return Plan(updates={INVESTMENT_INCOME: (change,)}, events=(event,))
    entry = investment_income_entry(
        record.id,
        Money.from_minor(record.amount, record.currency),
        record.period_start,
        record.period_end,
        record.bank_reference,
        shares_of(record.allocation),
        reporting_currency,
    )
    change = {
        "id": record.id,
        "status": "approved",
        "approved_by": person,
        "approved_at": now,
        "entry_id": EntryId(0),
    }
    event = Event("investment_income.approve", INVESTMENT_INCOME, record.id, after={"entry_id": EntryId(0)})
    return Plan(entries=(entry,), updates={INVESTMENT_INCOME: (change,)}, events=(event,))


def plan_income_rejection(record: IncomeRecordFacts, rejector: int | None, reason: str, *, now: datetime) -> Plan:
    """Reject a record, with the reason, by someone other than who recorded it: nothing is posted, and its
    period is free again."""
    _check_pending(record)
    person = ledger_rules.require_person(rejector)
    if person == record.prepared_by:
        raise PermissionDenied("who recorded it cannot reject it", field="investment_income", rule="maker-checker")
    change = {
        "id": record.id,
        "status": "rejected",
        "rejected_by": person,
        "rejected_at": now,
        "rejection_reason": reason,
    }
    event = Event("investment_income.reject", INVESTMENT_INCOME, record.id, after={"reason": reason})
    return Plan(updates={INVESTMENT_INCOME: (change,)}, events=(event,))
