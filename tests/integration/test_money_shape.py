"""Money is one shape everywhere (issue 17, "Records and accounts"): decision terms, published records, audit
summaries and API responses carry an amount as ``{"amount": "300000.00", "currency": "USD"}``, a decimal
string with the currency's decimals beside its currency, never a JSON number or a bare string."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundapp.core.models import Role
from tests.decision_support import (
    after_deadline,
    cast,
    create_decision,
    fund_window,
    open_funding,
    recommended_proposal,
    record,
)
from tests.support import (
    V1,
    Api,
    ProposalWorld,
    accepted,
    add_contributor,
    assert_money_one_shape,
    audit_events,
    proposal_world,
    run_fundapp,
    set_fee,
)


@pytest.fixture
def world(api: Api) -> ProposalWorld:
    return proposal_world(api)


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def test_every_kind_of_decision_carries_its_money_in_one_shape(
    api: Api,
    world: ProposalWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    fund_window(api, officer, "SKL", "200000.00")
    fund_window(api, officer, None, "100000.00", name="Pooled donor")
    decisions = {
        "fund_proposal": open_funding(api, world.admin, recommended_proposal(api, world)),
        "window_allocation": create_decision(
            api, world.admin, kind="window_allocation", window_code="TEC", amount="50000.00", open=True
        ),
        "admin_budget": create_decision(
            api, world.admin, kind="admin_budget", year=2027, amount="250000", procedure="vote", open=True
        ),
        "fee_schedule": create_decision(
            api,
            world.admin,
            kind="fee_schedule",
            year=2027,
            tier="I",
            currency="JPY",
            amount="30000000",
            procedure="vote",
            open=True,
        ),
    }
    expected = {
        "fund_proposal": money("107000.00"),
        "window_allocation": money("50000.00"),
        "admin_budget": money("250000.00"),
        "fee_schedule": money("30000000", "JPY"),
    }
    for kind, decision in decisions.items():
        assert decision["terms"]["amount"] == expected[kind], (kind, decision["terms"])
        assert "currency" not in decision["terms"], (kind, decision["terms"])
        assert_money_one_shape(decision)
        if decision["procedure"] == "vote":
            for code in ("MEX", "SEN", "PHL"):
                cast(api, world.delegates[code], decision["id"], "yes")

    path = tmp_path / "record.json"
    for kind, decision in decisions.items():
        closed = after_deadline(api, world.admin, decision)
        assert closed["result"] == "adopted", (kind, closed["result_reason"])
        assert closed["terms"]["amount"] == expected[kind]
        published = record(api, world.delegates["MEX"], decision["id"])
        assert published["decision"]["terms"]["amount"] == expected[kind]
        assert published["events"][0]["data"]["terms"]["amount"] == expected[kind]
        assert_money_one_shape(published)
        path.write_text(json.dumps(published))
        code, out, _ = run_fundapp(api, monkeypatch, capsys, "governance", "verify-record", str(path))
        assert code == 0 and out.startswith("OK"), (kind, out)

    # The effects read the amounts back exactly.
    fees = accepted(api.client.get(f"{V1}/tiers", params={"year": 2027}, headers=world.admin.headers))
    assert [(f["tier"], f["fee"]) for f in fees] == [("I", money("30000000", "JPY"))]
    assert api.db.rows("SELECT amount, currency FROM admin_budgets WHERE year = 2027") == [(25_000_000, "USD")]
    assert_money_one_shape(audit_events(api, world.auditor))


def test_audit_summaries_carry_money_in_one_shape(api: Api, world: ProposalWorld) -> None:
    officer = api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, world.admin, 2026, "II", "10000.00")
    set_fee(api, world.admin, 2026, "II", "12000.00")  # a change: the summary before it has money too
    fund_window(api, officer, "SKL", "1000.00")
    add_contributor(api, officer, "Another donor")

    changed = audit_events(api, world.auditor, action="tier_fee.set")[0]
    assert json.loads(changed["before"]) == money("10000.00") and json.loads(changed["after"]) == money("12000.00")
    pledge = json.loads(audit_events(api, world.auditor, action="pledge.sign")[0]["after"])
    assert pledge["amount"] == money("1000.00")
    contribution = json.loads(audit_events(api, world.auditor, action="contribution.record")[0]["after"])
    assert contribution["amount"] == money("1000.00") and contribution["applied"] == money("1000.00")
    assert contribution["unapplied"] == money("0.00") and contribution["fee"] == money("10.00")
    assert_money_one_shape(audit_events(api, world.auditor))
