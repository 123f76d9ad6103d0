"""Properties of the deposit's pure planner (``governance.rules.plan_deposit``), with no database.

Hypothesis generates the facts a deposit reads (what an instalment or an assessed fee still has due, its
owner and currency, the receivable's carrying value, the day's rate) and a receipt; the plan must keep the
whole amount (applied + unapplied), balance its entry in every currency, charge the administrative-agent
fee only on what it applies (never on money paid in advance of its fee year), and refuse what the service
refused, naming the same field and rule. A batch's later receipts see what the earlier ones applied. A
pledge's plan balances, its instalments sum to it, and it refuses in the order the service always did.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundapp.core.errors import DomainError
from fundapp.core.plans import EntryId
from governance import rules
from governance.schemas import ContributionCreate, PledgeCreate
from ledger import Money, chart, percentage

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
REPORTING = "USD"
CURRENCIES = ["USD", "EUR", "JPY", "CHF"]
POLICY = rules.DepositPolicy(reporting_currency=REPORTING, fee_rate=Decimal("0.01"), now=NOW, user_id=7)
CONTRIBUTOR = 11


def _receipt(
    minor: int,
    currency: str,
    *,
    target: str | None = None,
    value_date: date = TODAY,
    contributor_id: int = CONTRIBUTOR,
) -> ContributionCreate:
    amount = Money.from_minor(minor, currency)
    return ContributionCreate(
        contributor_id=contributor_id,
        value_date=value_date,
        currency=currency,
        amount=str(amount.amount),
        instalment_id=5 if target == "instalment" else None,
        assessment_id=9 if target == "assessment" else None,
    )


def _facts(
    target: str | None,
    currency: str,
    due: int,
    *,
    applied: int = 0,
    notice_year: int | None = None,
    owner: int = CONTRIBUTOR,
    rate: Decimal = Decimal("1.1"),
) -> rules.DepositFacts:
    carried = due  # the receivable holds what is due, at some carrying value
    common = rules.DepositFacts(contributor_name="Donor", applied=applied, carried_amount=carried, rate=rate)
    if target == "instalment":
        return replace(
            common,
            instalment_due=due,
            pledge_owner_id=owner,
            pledge_currency=currency,
            window_id=3,
            carried_reporting=carried * 2,
        )
    if target == "assessment":
        return replace(
            common,
            assessment_due=due,
            assessment_owner_id=owner,
            assessment_currency=currency,
            assessment_year=notice_year or 2026,
            assessment_entry_id=None if notice_year else 40,
            carried_reporting=0 if notice_year else carried * 2,
        )
    return rules.DepositFacts(contributor_name="Donor", rate=rate)


targets = st.sampled_from([None, "instalment", "assessment"])
amounts = st.integers(1, 10**12)
dues = st.integers(1, 10**12)
currencies = st.sampled_from(CURRENCIES)
rates = st.decimals(Decimal("0.0001"), Decimal("20000"), places=4)


def _plan(
    facts: rules.DepositFacts, data: ContributionCreate, so_far: rules.DepositsSoFar | None = None
) -> rules.DepositPlan:
    planned = rules.plan_deposit(facts, data, None, so_far or rules.DepositsSoFar((101, 102, 103)), POLICY)
    assert isinstance(planned, rules.DepositPlan)
    return planned


@given(target=targets, amount=amounts, due=dues, currency=currencies, rate=rates, notice=st.booleans())
def test_a_deposit_keeps_its_whole_amount_and_balances_in_every_currency(
    target: str | None, amount: int, due: int, currency: str, rate: Decimal, notice: bool
) -> None:
    notice_year = 2027 if notice and target == "assessment" else None
    planned = _plan(
        _facts(target, currency, due, notice_year=notice_year, rate=rate), _receipt(amount, currency, target=target)
    )
    row = planned.contribution
    assert row["applied"] + row["unapplied"] == row["amount"] == amount
    assert row["applied"] == (min(amount, due) if target else 0)
    per_currency: defaultdict[str, int] = defaultdict(int)
    budgetary = 0
    for line in planned.entry.lines:
        per_currency[line.amount.currency] += line.amount.minor
        if line.account in (chart.AVAILABLE, chart.RESOURCES_RECEIVED):
            budgetary += line.amount.minor
    assert all(total == 0 for total in per_currency.values())
    assert budgetary == 0
    assert row["entry_id"] == EntryId(0) and planned.event.after is not None
    assert planned.event.after["entry_id"] == EntryId(0)
    assert row["id"] == planned.event.object_id == 101


@given(target=targets, amount=amounts, due=dues, currency=currencies, notice=st.booleans())
def test_the_fee_is_charged_on_what_is_applied_and_never_in_advance(
    target: str | None, amount: int, due: int, currency: str, notice: bool
) -> None:
    advance = notice and target == "assessment"
    facts = _facts(target, currency, due, notice_year=2027 if advance else None)
    row = _plan(facts, _receipt(amount, currency, target=target)).contribution
    applied = Money.from_minor(row["applied"], currency)
    assert row["advance"] is advance
    if advance or not applied.is_positive:
        assert row["fee"] == 0
    else:
        assert row["fee"] == percentage(applied, POLICY.fee_rate).minor
    assert 0 <= row["fee"] <= row["applied"]


@given(amount=amounts, due=dues, first=amounts, currency=currencies)
def test_later_receipts_of_a_call_see_what_earlier_ones_applied(
    amount: int, due: int, first: int, currency: str
) -> None:
    facts = _facts("instalment", currency, due)
    so_far = rules.DepositsSoFar((101, 102))
    earlier = _plan(facts, _receipt(first, currency, target="instalment"), so_far)
    so_far.add(earlier)
    later = _plan(facts, _receipt(amount, currency, target="instalment"), so_far)
    assert later.contribution["id"] == 102
    assert earlier.contribution["applied"] + later.contribution["applied"] == min(first + amount, due)


def _refusal(facts: rules.DepositFacts, data: ContributionCreate) -> tuple[str, str]:
    with pytest.raises(DomainError) as raised:
        rules.plan_deposit(facts, data, None, rules.DepositsSoFar((1,)), POLICY)
    return raised.value.errors[0].field, raised.value.errors[0].rule


@given(target=st.sampled_from(["instalment", "assessment"]), amount=amounts, due=dues, currency=currencies)
def test_a_receivable_of_another_contributor_is_refused(target: str, amount: int, due: int, currency: str) -> None:
    facts = _facts(target, currency, due, owner=CONTRIBUTOR + 1)
    assert _refusal(facts, _receipt(amount, currency, target=target)) == (f"{target}_id", "settles-own-receivable")


@given(target=st.sampled_from(["instalment", "assessment"]), amount=amounts, due=dues, pair=st.permutations(CURRENCIES))
def test_a_receivable_in_another_currency_is_refused(target: str, amount: int, due: int, pair: list[str]) -> None:
    facts = _facts(target, pair[0], due)
    assert _refusal(facts, _receipt(amount, pair[1], target=target)) == ("currency", "settlement-currency")


@given(amount=amounts, due=dues, currency=currencies, day=st.dates(date(2027, 1, 1), date(2027, 12, 31)))
def test_money_for_a_fee_year_not_opened_is_refused_once_the_year_has_begun(
    amount: int, due: int, currency: str, day: date
) -> None:
    facts = _facts("assessment", currency, due, notice_year=2027)
    policy_day = replace(POLICY, now=datetime(2028, 1, 2, tzinfo=UTC))
    with pytest.raises(DomainError) as raised:
        rules.plan_deposit(
            facts,
            _receipt(amount, currency, target="assessment", value_date=day),
            None,
            rules.DepositsSoFar((1,)),
            policy_day,
        )
    assert (raised.value.errors[0].field, raised.value.errors[0].rule) == ("assessment_id", "fee-year-opened")


@given(target=targets, amount=amounts, currency=currencies, days=st.integers(1, 3000))
def test_a_payment_dated_in_the_future_is_refused(target: str | None, amount: int, currency: str, days: int) -> None:
    day = date.fromordinal(TODAY.toordinal() + days)
    facts = _facts(target, currency, 100)
    assert _refusal(facts, _receipt(amount, currency, target=target, value_date=day)) == ("value_date", "not-in-future")


@given(amount=amounts, currency=currencies)
def test_an_unknown_contributor_is_refused(amount: int, currency: str) -> None:
    facts = rules.DepositFacts(contributor_name=None)
    assert _refusal(facts, _receipt(amount, currency)) == ("contributor_id", "contributor-exists")


@given(amount=amounts, other=amounts, currency=currencies, batch=st.booleans())
def test_a_key_used_again_replays_the_same_body_and_refuses_another(
    amount: int, other: int, currency: str, batch: bool
) -> None:
    policy = replace(POLICY, batch=batch)
    so_far = rules.DepositsSoFar((101, 102))
    first = rules.plan_deposit(_facts(None, currency, 0), _receipt(amount, currency), "k", so_far, policy)
    assert isinstance(first, rules.DepositPlan)
    so_far.add(first)
    again = rules.plan_deposit(_facts(None, currency, 0), _receipt(amount, currency), "k", so_far, policy)
    assert again == rules.DepositReplay(101, in_this_call=True)
    if other != amount:
        with pytest.raises(DomainError) as raised:
            rules.plan_deposit(_facts(None, currency, 0), _receipt(other, currency), "k", so_far, policy)
        field = "idempotency_key" if batch else "Idempotency-Key"
        assert (raised.value.errors[0].field, raised.value.errors[0].rule) == (field, "idempotency-same-payload")


@given(amount=amounts, due=dues, currency=st.sampled_from(["EUR", "JPY", "CHF"]))
def test_a_missing_rate_is_refused_only_when_the_plan_needs_one(amount: int, due: int, currency: str) -> None:
    refusal = DomainError("no rate", field="currency", rule="fx-rate-known")
    settled = replace(_facts("instalment", currency, due), rate=None, missing_rate=refusal)
    with pytest.raises(DomainError) as raised:
        _plan(settled, _receipt(amount, currency, target="instalment"))
    assert raised.value is refusal
    unapplied = replace(_facts(None, currency, 0), rate=None, missing_rate=refusal)
    assert _plan(unapplied, _receipt(amount, currency)).contribution["unapplied"] == amount


# ---------------------------------------------------------------- pledges


def _pledge(
    minor: int, currency: str, parts: int, *, window: str | None = None, conditional: bool = False
) -> PledgeCreate:
    each, rest = divmod(minor, parts)
    amounts = [each] * (parts - 1) + [each + rest]
    return PledgeCreate.model_validate(
        {
            "contributor_id": CONTRIBUTOR,
            "currency": currency,
            "amount": str(Money.from_minor(minor, currency).amount),
            "signed_on": TODAY.isoformat(),
            "window_code": window,
            "conditional": conditional,
            "condition": "a condition" if conditional else "",
            "instalments": [
                {"due_on": TODAY.isoformat(), "amount": str(Money.from_minor(a, currency).amount)} for a in amounts
            ],
        }
    )


@given(minor=st.integers(120, 10**12), currency=currencies, parts=st.integers(1, 12), conditional=st.booleans())
def test_a_pledge_balances_and_its_instalments_sum_to_it(
    minor: int, currency: str, parts: int, conditional: bool
) -> None:
    facts = rules.PledgeFacts(contributor_name="Donor", window_id=None, window_open=False, pledge_id=31)
    plan = rules.plan_pledge(facts, _pledge(minor, currency, parts, conditional=conditional), now=NOW)
    (entry,) = plan.entries
    assert sum(line.amount.minor for line in entry.lines) == 0
    assert {line.account for line in entry.lines} == {
        chart.CONTRIBUTIONS_RECEIVABLE,
        chart.DEFERRED_REVENUE if conditional else chart.CONTRIBUTION_REVENUE,
    }
    (pledge,) = plan.rows[rules.PLEDGES]
    instalments = plan.rows[rules.INSTALMENTS]
    assert pledge["amount"] == minor == sum(i["amount"] for i in instalments)
    assert [i["number"] for i in instalments] == list(range(1, parts + 1))
    assert all(i["pledge_id"] == 31 == pledge["id"] for i in instalments)


@given(
    minor=st.integers(120, 10**12),
    currency=currencies,
    name=st.sampled_from([None, "Donor"]),
    window=st.sampled_from(["missing", "closed"]),
)
def test_a_pledge_refuses_an_unknown_contributor_then_an_unknown_or_closed_window(
    minor: int, currency: str, name: str | None, window: str
) -> None:
    facts = rules.PledgeFacts(
        contributor_name=name, window_id=None if window == "missing" else 4, window_open=False, pledge_id=1
    )
    with pytest.raises(DomainError) as raised:
        rules.plan_pledge(facts, _pledge(minor, currency, 2, window="W1"), now=NOW)
    expected = {"missing": "window-exists", "closed": "window-open"}[window]
    found = (raised.value.errors[0].field, raised.value.errors[0].rule)
    assert found == (("contributor_id", "contributor-exists") if name is None else ("window_code", expected))
