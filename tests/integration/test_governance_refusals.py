"""What the facility refuses in members, fees, pledges and contributions (issue acceptance 3).

Every refusal is an ``application/problem+json`` 4xx whose ``errors[]`` name the input field and the rule it
broke, and it changes nothing: the governance and ledger tables (and the audit log) keep their row counts,
and the fee schedule, members, windows and pledges keep their values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import (
    GOVERNANCE_TABLES,
    V1,
    Actor,
    Api,
    accepted,
    add_contributor,
    add_fx_rate,
    admit_member,
    assert_problem,
    set_fee,
)

pytestmark = pytest.mark.usefixtures("backend")


@dataclass
class Facility:
    """Fees for 2026, MEX and SEN admitted and assessed, a donor with a USD pledge to SKL in two
    instalments and a conditional USD pledge, and the PAR window closed."""

    admin: Actor
    officer: Actor
    mex: int
    sen: int
    donor: int
    instalments: list[int]
    mex_assessment: int
    sen_assessment: int
    unconditional: int
    conditional: int


def pledge_body(contributor_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "contributor_id": contributor_id,
        "amount": "100000.00",
        "currency": "USD",
        "signed_on": "2026-03-02",
        "instalments": [{"due_on": "2026-04-01", "amount": "60000.00"}, {"due_on": "2026-10-01", "amount": "40000.00"}],
        **changes,
    }


@pytest.fixture
def facility(api: Api) -> Facility:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, admin, 2026, "I", "150000.00")
    set_fee(api, admin, 2026, "II", "25000.00")
    mex = admit_member(api, admin, "MEX", "I")["contributor_id"]
    sen = admit_member(api, admin, "SEN", "II")["contributor_id"]
    assessed = accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    by_member = {a["member_code"]: a["id"] for a in assessed["created"]}
    add_fx_rate(api, officer, "EUR", "2026-03-01", "1.080000")
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    pledge = accepted(
        api.client.post(f"{V1}/pledges", json=pledge_body(donor, window_code="SKL"), headers=admin.headers), 201
    )
    conditional = accepted(
        api.client.post(
            f"{V1}/pledges",
            json=pledge_body(donor, conditional=True, condition="subject to parliament's approval"),
            headers=admin.headers,
        ),
        201,
    )
    accepted(api.client.patch(f"{V1}/windows/PAR", json={"status": "closed"}, headers=admin.headers))
    return Facility(
        admin=admin,
        officer=officer,
        mex=mex,
        sen=sen,
        donor=donor,
        instalments=[i["id"] for i in pledge["instalments"]],
        mex_assessment=by_member["MEX"],
        sen_assessment=by_member["SEN"],
        unconditional=pledge["id"],
        conditional=conditional["id"],
    )


def state(api: Api) -> dict[str, Any]:
    """What a refusal must leave as it was: row counts, and the values a refusal could overwrite in place."""
    return {
        "counts": api.db.snapshot(*GOVERNANCE_TABLES),
        "fees": api.db.rows("SELECT year, tier, amount, currency FROM tier_fees ORDER BY year, tier"),
        "members": api.db.rows("SELECT code, tier, status FROM members ORDER BY code"),
        "windows": api.db.rows("SELECT code, status FROM windows ORDER BY code"),
        "pledges": api.db.rows("SELECT id, condition_met_on, condition_entry_id FROM pledges ORDER BY id"),
    }


# ---------------------------------------------------------------- the refusals, as data

Body = Callable[[Facility], Any]


def member(code: str) -> Body:
    return lambda f: {"code": code, "tier": "I", "joined_on": "2024-01-01"}


def fee(**changes: Any) -> Body:
    return lambda f: {"year": 2027, "tier": "I", "amount": "150000.00", "currency": "USD", **changes}


def pledge(**changes: Any) -> Body:
    return lambda f: pledge_body(f.donor, **changes)


def one_instalment(amount: str, **changes: Any) -> Body:
    return pledge(amount=amount, instalments=[{"due_on": "2026-04-01", "amount": amount}], **changes)


def payment(**changes: Any) -> Body:
    """A payment by the donor, without a target unless ``changes`` (callables of the facility) give one."""

    def body(f: Facility) -> dict[str, Any]:
        base = {"contributor_id": f.donor, "value_date": "2026-03-16", "amount": "100.00", "currency": "USD"}
        return {**base, **{k: v(f) if callable(v) else v for k, v in changes.items()}}

    return body


def first_instalment(f: Facility) -> int:
    return f.instalments[0]


def set_fees(*fees: tuple[str, str, str]) -> Callable[[Api, Facility], None]:
    """Set (tier, amount, currency) fees for 2027 first."""

    def setup(api: Api, f: Facility) -> None:
        for tier, amount, currency in fees:
            set_fee(api, f.admin, 2027, tier, amount, currency)

    return setup


def paid_with_key(api: Api, f: Facility) -> None:
    body = payment()(f)
    headers = {**f.officer.headers, "Idempotency-Key": "bank-ref-0042"}
    accepted(api.client.post(f"{V1}/contributions", json=body, headers=headers), 201)


def condition_already_met(api: Api, f: Facility) -> None:
    path = f"{V1}/pledges/{f.conditional}/condition-met"
    accepted(api.client.post(path, json={"met_on": "2026-03-10"}, headers=f.admin.headers))


@dataclass(frozen=True)
class Refusal:
    path: str | Callable[[Facility], str]
    body: Body
    status: int
    rule: str
    fields: frozenset[str]  # the input fields a refusal may name for this rule
    by: str = "admin"
    idempotency_key: str | None = None
    setup: Callable[[Api, Facility], None] | None = field(default=None)
    method: str = "POST"


def names(*fields: str) -> frozenset[str]:
    return frozenset(fields)


AMOUNT = names("amount")
# A pledge's instalments repeat its amount, so a bad amount may be named on either.
PLEDGE_AMOUNT = names("amount", "instalments", "instalments.0.amount")
WHOLE_REQUEST = names("", "pledge_id")
MEMBERS, TIERS, PLEDGES, CONTRIBUTIONS = f"{V1}/members", f"{V1}/tiers", f"{V1}/pledges", f"{V1}/contributions"


def condition_met(pledge_of: Callable[[Facility], int]) -> Callable[[Facility], str]:
    return lambda f: f"{V1}/pledges/{pledge_of(f)}/condition-met"


REFUSALS: dict[str, Any] = {
    # Countries: ISO 3166-1 alpha-3, upper case.
    "unknown-country-XYZ": Refusal(MEMBERS, member("XYZ"), 422, "iso_3166_alpha3", names("code")),
    "lower-case-country-mex": Refusal(MEMBERS, member("mex"), 422, "string_pattern_mismatch", names("code")),
    "four-letter-country-ABCD": Refusal(MEMBERS, member("ABCD"), 422, "string_pattern_mismatch", names("code")),
    "donor-in-unknown-country": Refusal(
        f"{V1}/contributors",
        lambda f: {"kind": "government", "name": "Nowhere", "country": "XYZ"},
        422,
        "iso_3166_alpha3",
        names("country"),
    ),
    # Currencies and amounts.
    "fee-in-unknown-currency": Refusal(TIERS, fee(currency="ABC"), 422, "unknown_currency", names("currency")),
    "pledge-in-unknown-currency": Refusal(PLEDGES, pledge(currency="ABC"), 422, "unknown_currency", names("currency")),
    "payment-in-unknown-currency": Refusal(
        CONTRIBUTIONS, payment(currency="ABC"), 422, "unknown_currency", names("currency"), by="officer"
    ),
    "zero-fee": pytest.param(Refusal(TIERS, fee(amount="0.00"), 422, "positive_amount", AMOUNT)),
    "negative-fee": pytest.param(Refusal(TIERS, fee(amount="-150000.00"), 422, "positive_amount", AMOUNT)),
    "zero-pledge": Refusal(PLEDGES, one_instalment("0.00"), 422, "positive_amount", PLEDGE_AMOUNT),
    "negative-pledge": Refusal(PLEDGES, one_instalment("-100.00"), 422, "positive_amount", PLEDGE_AMOUNT),
    "zero-payment": pytest.param(
        Refusal(CONTRIBUTIONS, payment(amount="0.00"), 422, "positive_amount", AMOUNT, by="officer"),
    ),
    "negative-payment": pytest.param(
        Refusal(CONTRIBUTIONS, payment(amount="-100.00"), 422, "positive_amount", AMOUNT, by="officer"),
    ),
    "fee-with-3-decimals-in-USD": pytest.param(Refusal(TIERS, fee(amount="1.234"), 422, "excess_precision", AMOUNT)),
    "fee-with-a-decimal-in-JPY": pytest.param(
        Refusal(TIERS, fee(amount="1.5", currency="JPY"), 422, "excess_precision", AMOUNT)
    ),
    "pledge-with-3-decimals-in-USD": Refusal(PLEDGES, one_instalment("1.234"), 422, "excess_precision", PLEDGE_AMOUNT),
    "pledge-with-a-decimal-in-JPY": Refusal(
        PLEDGES, one_instalment("1.5", currency="JPY"), 422, "excess_precision", PLEDGE_AMOUNT
    ),
    "payment-with-3-decimals-in-USD": pytest.param(
        Refusal(CONTRIBUTIONS, payment(amount="1.234"), 422, "excess_precision", AMOUNT, by="officer"),
    ),
    "payment-with-a-decimal-in-JPY": pytest.param(
        Refusal(CONTRIBUTIONS, payment(amount="1.5", currency="JPY"), 422, "excess_precision", AMOUNT, by="officer"),
    ),
    # Pledges.
    "instalments-short-of-the-pledge": Refusal(
        PLEDGES,
        pledge(
            instalments=[{"due_on": "2026-04-01", "amount": "60000.00"}, {"due_on": "2026-10-01", "amount": "30000.00"}]
        ),
        422,
        "instalments_sum",
        names("instalments"),
    ),
    "instalments-beyond-the-pledge": Refusal(
        PLEDGES,
        pledge(instalments=[{"due_on": "2026-04-01", "amount": "100000.01"}]),
        422,
        "instalments_sum",
        names("instalments"),
    ),
    "earmark-to-a-missing-window": Refusal(
        PLEDGES, pledge(window_code="NOPE"), 404, "window-exists", names("window_code")
    ),
    "earmark-to-a-closed-window": Refusal(PLEDGES, pledge(window_code="PAR"), 422, "window-open", names("window_code")),
    "earmark-to-two-windows": Refusal(
        PLEDGES, pledge(window_code=["SKL", "TEC"]), 422, "single_earmark", names("window_code")
    ),
    "conditional-without-a-condition": pytest.param(
        Refusal(PLEDGES, pledge(conditional=True), 422, "condition_required", names("condition"))
    ),
    "conditional-with-a-blank-condition": pytest.param(
        Refusal(PLEDGES, pledge(conditional=True, condition="   "), 422, "condition_required", names("condition")),
    ),
    # The pledge's state is at fault, not a body field: "" names the request as a whole (core/errors.py).
    "condition-met-on-an-unconditional-pledge": Refusal(
        condition_met(lambda f: f.unconditional),
        lambda f: {"met_on": "2026-03-10"},
        409,
        "conditional-only",
        WHOLE_REQUEST,
    ),
    "condition-met-twice": Refusal(
        condition_met(lambda f: f.conditional),
        lambda f: {"met_on": "2026-03-11"},
        409,
        "once",
        WHOLE_REQUEST,
        setup=condition_already_met,
    ),
    # The fee schedule.
    "part-one-set-not-above-part-two": Refusal(
        TIERS,
        fee(tier="I", amount="40000.00"),
        422,
        "part-one-above-part-two",
        AMOUNT,
        setup=set_fees(("II", "50000.00", "USD")),
    ),
    "part-two-set-not-below-part-one": Refusal(
        TIERS,
        fee(tier="II", amount="50000.00"),
        422,
        "part-one-above-part-two",
        AMOUNT,
        setup=set_fees(("I", "40000.00", "USD")),
    ),
    "part-one-equal-to-part-two": Refusal(
        TIERS,
        fee(tier="I", amount="50000.00"),
        422,
        "part-one-above-part-two",
        AMOUNT,
        setup=set_fees(("II", "50000.00", "USD")),
    ),
    "part-one-lowered-under-part-two": Refusal(
        TIERS,
        fee(tier="I", amount="20000.00"),
        422,
        "part-one-above-part-two",
        AMOUNT,
        setup=set_fees(("I", "150000.00", "USD"), ("II", "25000.00", "USD")),
    ),
    "fees-of-one-year-in-two-currencies": Refusal(
        TIERS,
        fee(tier="I", amount="150000.00", currency="EUR"),
        422,
        "one-currency-per-year",
        names("currency"),
        setup=set_fees(("II", "25000.00", "USD")),
    ),
    "fee-of-an-assessed-year": Refusal(
        TIERS, fee(year=2026, amount="160000.00"), 409, "fee-fixed-once-assessed", names("year")
    ),
    # Members and assessment.
    "admitting-an-existing-member": Refusal(MEMBERS, member("MEX"), 409, "unique", names("code")),
    "assessing-a-year-without-fees": Refusal(
        f"{V1}/assessments", lambda f: {"year": 2027}, 422, "fee-schedule-set", names("year"), by="officer"
    ),
    # Contributions.
    "idempotency-key-reused-with-another-body": Refusal(
        CONTRIBUTIONS,
        payment(amount="200.00"),
        409,
        "idempotency-same-payload",
        names("Idempotency-Key"),
        by="officer",
        idempotency_key="bank-ref-0042",
        setup=paid_with_key,
    ),
    "settling-another-contributors-instalment": Refusal(
        CONTRIBUTIONS,
        payment(contributor_id=lambda f: f.mex, instalment_id=first_instalment),
        422,
        "settles-own-receivable",
        names("instalment_id"),
        by="officer",
    ),
    "settling-another-members-assessment": Refusal(
        CONTRIBUTIONS,
        payment(contributor_id=lambda f: f.mex, assessment_id=lambda f: f.sen_assessment, amount="25000.00"),
        422,
        "settles-own-receivable",
        names("assessment_id"),
        by="officer",
    ),
    "paying-a-USD-pledge-in-EUR": Refusal(
        CONTRIBUTIONS,
        payment(instalment_id=first_instalment, currency="EUR"),
        422,
        "settlement-currency",
        names("currency"),
        by="officer",
    ),
    "paying-a-USD-fee-in-EUR": Refusal(
        CONTRIBUTIONS,
        payment(contributor_id=lambda f: f.mex, assessment_id=lambda f: f.mex_assessment, currency="EUR"),
        422,
        "settlement-currency",
        names("currency"),
        by="officer",
    ),
    "settling-an-instalment-and-an-assessment": pytest.param(
        Refusal(
            CONTRIBUTIONS,
            payment(
                contributor_id=lambda f: f.mex,
                instalment_id=first_instalment,
                assessment_id=lambda f: f.mex_assessment,
            ),
            422,
            "one_settlement",
            names("instalment_id", "assessment_id"),
            by="officer",
        ),
    ),
    "settling-a-missing-instalment": Refusal(
        CONTRIBUTIONS, payment(instalment_id=999999), 404, "instalment-exists", names("instalment_id"), by="officer"
    ),
    "settling-a-missing-assessment": Refusal(
        CONTRIBUTIONS, payment(assessment_id=999999), 404, "assessment-exists", names("assessment_id"), by="officer"
    ),
    "paying-for-a-missing-contributor": Refusal(
        CONTRIBUTIONS,
        payment(contributor_id=999999),
        404,
        "contributor-exists",
        names("contributor_id"),
        by="officer",
    ),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refusal_names_the_field_and_rule_and_changes_nothing(api: Api, facility: Facility, case: Refusal) -> None:
    if case.setup is not None:
        case.setup(api, facility)
    actor = facility.admin if case.by == "admin" else facility.officer
    headers = {**actor.headers, **({"Idempotency-Key": case.idempotency_key} if case.idempotency_key else {})}
    path = case.path(facility) if callable(case.path) else case.path
    before = state(api)

    response = api.client.request(case.method, path, json=case.body(facility), headers=headers)

    body = assert_problem(response, case.status)
    named = {(e["field"], e["rule"]) for e in body.get("errors", [])}
    assert any(rule == case.rule and name in case.fields for name, rule in named), (
        f"expected rule {case.rule!r} on one of {sorted(case.fields)}, got {sorted(named)}"
    )
    assert body.get("detail"), body
    assert state(api) == before, f"the refused {case.method} {path} changed the database"


# ---------------------------------------------------------------- the same requests, well formed, are accepted


def test_the_well_formed_requests_behind_the_refusals_are_accepted(api: Api, facility: Facility) -> None:
    f = facility
    admin, officer = f.admin.headers, f.officer.headers
    add_fx_rate(api, f.officer, "JPY", "2026-03-01", "0.006700")

    assert api.client.post(f"{V1}/members", json=member("GTM")(f), headers=admin).status_code == 201
    assert api.client.post(f"{V1}/tiers", json=fee(tier="II", amount="25000.00")(f), headers=admin).status_code == 200
    assert api.client.post(f"{V1}/tiers", json=fee(amount="150000.25")(f), headers=admin).status_code == 200
    jpy = fee(year=2028, amount="15000000", currency="JPY")(f)
    assert api.client.post(f"{V1}/tiers", json=jpy, headers=admin).status_code == 200
    assert api.client.post(f"{V1}/pledges", json=pledge(window_code="TEC")(f), headers=admin).status_code == 201
    assert (
        api.client.post(f"{V1}/pledges", json=one_instalment("15", currency="JPY")(f), headers=admin).status_code == 201
    )
    first = payment(instalment_id=first_instalment)(f)
    assert api.client.post(f"{V1}/contributions", json=first, headers=officer).status_code == 201
    fee_paid = payment(contributor_id=lambda f: f.mex, assessment_id=lambda f: f.mex_assessment)(f)
    assert api.client.post(f"{V1}/contributions", json=fee_paid, headers=officer).status_code == 201
    cond = condition_met(lambda f: f.conditional)(f)
    assert api.client.post(cond, json={"met_on": "2026-03-10"}, headers=admin).status_code == 200
    assert api.client.post(f"{V1}/assessments", json={"year": 2027}, headers=officer).status_code == 200


def test_a_condition_is_not_met_before_the_pledge_was_signed(api: Api, facility: Facility) -> None:
    before = state(api)

    response = api.client.post(
        f"{V1}/pledges/{facility.conditional}/condition-met",
        json={"met_on": "2026-03-01"},
        headers=facility.admin.headers,
    )

    body = assert_problem(response, 422)
    assert "met_on" in {e["field"] for e in body.get("errors", [])}, body
    assert state(api) == before
