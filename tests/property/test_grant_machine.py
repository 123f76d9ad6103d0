"""Grants under random operations by random users (a hypothesis state machine, issue acceptance 2).

Each example adopts a new grant (107,000.00: a 64,200.00 tranche without condition and a 42,800.00 one
waiting for an accepted report) in one database per backend, with a charter whose second-approver
threshold is 40,000.00. Rules, each a request through the HTTP API by a user drawn at random (including
users who may not act): sign the agreement, prepare transfers of random amounts, approve and reject them,
submit, accept and return reports with random cumulative expenditure, record refunds, suspend, resume and
close. A plain-Python model predicts every answer (status code and, for refusals, the rule) and what the
grant holds. After every step:

- disbursed never exceeds committed and committed never exceeds allocated (gross, in the ledger);
- each tranche is paid at most its amount, equal to its approved transfers, each posted exactly once;
- nobody approved a transfer they prepared, every approver holds the finance_approver role, and two
  approvals come from two different people;
- the window's budgetary book reconciles, both books balance, and the grant statement equals the ledger.

The pure rules behind it (``proposals/rules.py``) have their own properties at the end: month arithmetic,
the report schedule, maker-checker, the statement's figures and the delivery rate.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from fundapp.core.config import Settings
from proposals import rules
from tests.conftest import make_settings
from tests.grants_support import (
    GRANTS,
    GrantWorld,
    accept_report,
    adopt_funding,
    approve,
    close,
    grant_world,
    prepare,
    recommended_proposal,
    refund,
    reject,
    reports,
    sign,
    statement,
    submit_report,
)
from tests.support import Actor, Api

TRANCHES = (6_420_000, 4_280_000)  # minor units; tranche 2 waits for an accepted report
THRESHOLD = 4_000_000  # the charter's 40,000.00, in minor units
CATEGORIES = ("staff", "travel", "indirect_support_costs")
SIGNED = {"active", "suspended"}
OPEN = {"prepared", "awaiting_second_approval"}


def cents(minor: int) -> str:
    sign_, value = ("-" if minor < 0 else ""), abs(minor)
    return f"{sign_}{value // 100}.{value % 100:02d}"


@dataclass
class Transfer:
    tranche: int
    amount: int
    preparer: str
    status: str = "prepared"
    approvers: list[str] = field(default_factory=list)


@dataclass
class Report:
    id: int
    kind: str
    status: str = "due"


@dataclass
class Model:
    grant_id: int
    status: str = "awaiting_agreement"
    tranche_status: list[str] = field(default_factory=lambda: ["pending", "pending"])
    paid: list[int] = field(default_factory=lambda: [0, 0])
    transfers: dict[int, Transfer] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)
    accepted_expenditure: dict[str, int] = field(default_factory=dict)
    refunded: int = 0

    @property
    def disbursed(self) -> int:
        return sum(self.paid)


class GrantMachine(RuleBasedStateMachine):
    api: ClassVar[Api]
    gw: ClassVar[GrantWorld]

    def __init__(self) -> None:
        super().__init__()
        gw = self.gw
        self.users: dict[str, Actor] = {
            "admin": gw.admin,
            "officer": gw.officer,
            "officer2": gw.officer2,
            "approver0": gw.approvers[0],
            "approver1": gw.approvers[1],
            "approver2": gw.approvers[2],
            "dual": gw.dual,
            "grantee": gw.grantee,
            "other_grantee": gw.world.other_grantee,
            "auditor": gw.auditor,
        }
        self.m: Model
        # What each report said when last submitted: cumulative expenditure by category (minor units).
        self.submitted: dict[int, dict[str, int]] = {}

    def role(self, name: str, *roles: str) -> bool:
        return any(r.value in roles for r in self.users[name].roles)

    def check(self, response: httpx.Response, status: int, rule_name: str | None = None) -> Any:
        assert response.status_code == status, (status, rule_name, response.status_code, response.text[:400])
        if rule_name is not None:
            assert rule_name in {e["rule"] for e in response.json().get("errors", [])}, response.text
        return response.json()

    @initialize(signed=st.integers(0, 9))
    def adopt(self, signed: int) -> None:
        """A new grant; most of the time its agreement is signed at once, so that examples get far."""
        pid = recommended_proposal(self.api, self.gw)
        self.m = Model(adopt_funding(self.api, pid, self.gw.admin))
        self.m.reports = [Report(r["id"], r["kind"]) for r in reports(self.api, self.gw.admin, self.m.grant_id)]
        if signed:
            self.sign_agreement("admin")

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """One to four sensible next steps by users who may take them (the random rules below also try
        everything else, by anyone): sign, resume, approve what is open, prepare what is recognised, report,
        review, refund, close."""
        m = self.m
        for _ in range(data.draw(st.integers(1, 8), label="steps")):
            open_transfers = [tid for tid, t in sorted(m.transfers.items()) if t.status in OPEN]
            unpaid = [n for n in (1, 2) if m.tranche_status[n - 1] == "recognised"]
            pending_report = next((r for r in m.reports if r.status in {"due", "returned"}), None)
            submitted = next((r for r in m.reports if r.status == "submitted"), None)
            if m.status == "closed":
                return
            if m.status == "awaiting_agreement":
                self.sign_agreement("admin")
            elif m.status == "suspended":
                self.suspend_or_resume(False)
            elif open_transfers:
                tid = data.draw(st.sampled_from(open_transfers), label="transfer")
                t = m.transfers[tid]
                allowed = [a for a in ("approver0", "approver1", "approver2", "dual") if a != t.preparer]
                allowed = [a for a in allowed if a not in t.approvers]
                who = data.draw(st.sampled_from(allowed), label="approver")
                if data.draw(st.integers(0, 5), label="reject") == 0:
                    self.reject_one(tid, who)
                else:
                    self.approve_one(tid, who)
            elif submitted is not None:
                self.review(m.reports.index(submitted), data.draw(st.integers(0, 4), label="accept") > 0)
            elif unpaid:
                n = unpaid[0]
                rest = TRANCHES[n - 1] - m.paid[n - 1]
                share = data.draw(st.one_of(st.none(), st.integers(1, rest)), label="share")
                self.prepare_transfer(data.draw(st.sampled_from(["officer", "officer2", "dual"])), n, share)
            elif pending_report is not None:
                floor = dict(m.accepted_expenditure)
                spent = {c: floor.get(c, 0) + data.draw(st.integers(0, 2_000_000), label=c) for c in CATEGORIES}
                self.submit(m.reports.index(pending_report), "grantee", spent)
            elif m.disbursed > m.refunded and data.draw(st.booleans(), label="refund"):
                self.record_refund(data.draw(st.integers(1, m.disbursed - m.refunded), label="amount"), "officer")
            else:
                self.close_grant()

    @rule(who=st.sampled_from(["admin", "admin", "officer", "auditor"]))
    def sign_agreement(self, who: str) -> None:
        m = self.m
        response = sign(self.api, self.users[who], m.grant_id)
        if who != "admin":
            self.check(response, 403)
        elif m.status != "awaiting_agreement":
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        else:
            self.check(response, 200)
            m.status = "active"
            m.tranche_status[0] = "recognised"

    @rule(
        who=st.sampled_from(["officer", "officer2", "dual", "approver0", "grantee"]),
        tranche=st.sampled_from([1, 1, 2, 3]),
        share=st.one_of(st.none(), st.integers(-1, 7_000_000)),
    )
    def prepare_transfer(self, who: str, tranche: int, share: int | None) -> None:
        m = self.m
        unpaid = TRANCHES[tranche - 1] - m.paid[tranche - 1] if tranche <= 2 else 0
        amount = unpaid if share is None else share
        response = prepare(self.api, self.users[who], m.grant_id, tranche, None if share is None else cents(share))
        if not self.role(who, "finance_officer"):
            self.check(response, 403)
        elif m.status != "active":
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        elif tranche > 2:
            self.check(response, 404, "tranche-exists")
        elif m.tranche_status[tranche - 1] == "pending":
            self.check(response, 409, "condition-met")
        elif m.tranche_status[tranche - 1] != "recognised":
            self.check(response, 409, "tranche-unpaid")
        elif amount <= 0:
            self.check(response, 422, "positive-amount")
        elif amount > unpaid:
            self.check(response, 422, "within-tranche")
        else:
            body = self.check(response, 201)
            assert body["approvals_needed"] == (2 if amount > THRESHOLD else 1)
            m.transfers[body["id"]] = Transfer(tranche, amount, who)

    @rule(data=st.data(), who=st.sampled_from(["approver0", "approver1", "approver2", "dual", "officer", "admin"]))
    def approve_transfer(self, data: st.DataObject, who: str) -> None:
        m = self.m
        if not m.transfers:
            return
        self.approve_one(data.draw(st.sampled_from(sorted(m.transfers)), label="transfer"), who)

    def approve_one(self, tid: int, who: str) -> None:
        m = self.m
        t = m.transfers[tid]
        response = approve(self.api, self.users[who], tid)
        unpaid = TRANCHES[t.tranche - 1] - m.paid[t.tranche - 1]
        pays = t.status == "awaiting_second_approval" or t.amount <= THRESHOLD
        if not self.role(who, "finance_approver"):
            self.check(response, 403)
        elif t.status not in OPEN:
            self.check(response, 409, "disbursement-open")
        elif who == t.preparer:
            self.check(response, 403, "maker-checker")
        elif t.status == "awaiting_second_approval" and who in t.approvers:
            self.check(response, 403, "second-approver")
        elif m.status != "active":
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        elif pays and t.amount > unpaid:
            self.check(response, 409, "within-tranche")
        else:
            body = self.check(response, 200)
            t.approvers.append(who)
            t.status = "approved" if pays else "awaiting_second_approval"
            assert body["status"] == t.status
            if pays:
                m.paid[t.tranche - 1] += t.amount
                if m.paid[t.tranche - 1] == TRANCHES[t.tranche - 1]:
                    m.tranche_status[t.tranche - 1] = "paid"

    @rule(data=st.data(), who=st.sampled_from(["approver1", "dual", "officer"]))
    def reject_transfer(self, data: st.DataObject, who: str) -> None:
        m = self.m
        if not m.transfers:
            return
        self.reject_one(data.draw(st.sampled_from(sorted(m.transfers)), label="transfer"), who)

    def reject_one(self, tid: int, who: str) -> None:
        t = self.m.transfers[tid]
        response = reject(self.api, self.users[who], tid)
        if not self.role(who, "finance_approver"):
            self.check(response, 403)
        elif t.status not in OPEN:
            self.check(response, 409, "disbursement-open")
        elif who == t.preparer:
            self.check(response, 403, "maker-checker")
        else:
            self.check(response, 200)
            t.status = "rejected"

    @rule(
        which=st.sampled_from([0, 1]),
        who=st.sampled_from(["grantee", "grantee", "other_grantee"]),
        spent=st.fixed_dictionaries({c: st.integers(0, 4_000_000) for c in CATEGORIES}),
    )
    def submit(self, which: int, who: str, spent: dict[str, int]) -> None:
        m = self.m
        report = m.reports[which]
        response = submit_report(
            self.api, self.users[who], m.grant_id, report.id, {c: cents(v) for c, v in spent.items()}
        )
        if who != "grantee":
            self.check(response, 404)
        elif m.status not in SIGNED:
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        elif report.status not in {"due", "returned"}:
            self.check(response, 409, "report-open")
        elif any(spent.get(c, 0) < v for c, v in m.accepted_expenditure.items()):
            self.check(response, 422, "cumulative-expenditure")
        else:
            self.check(response, 200)
            report.status = "submitted"
            self.submitted[report.id] = spent

    @rule(which=st.sampled_from([0, 1]), accept=st.booleans())
    def review(self, which: int, accept: bool) -> None:
        m = self.m
        report = m.reports[which]
        admin = self.users["admin"]
        if accept:
            response = accept_report(self.api, admin, m.grant_id, report.id)
        else:
            response = self.api.client.post(
                f"{GRANTS}/{m.grant_id}/reports/{report.id}/return",
                json={"reason": "More detail"},
                headers=admin.headers,
            )
        if report.status != "submitted":
            self.check(response, 409, "report-submitted")
            return
        spent = self.submitted[report.id]
        if accept and any(spent.get(c, 0) < v for c, v in m.accepted_expenditure.items()):
            # Another report with more expenditure was accepted since this one was submitted.
            self.check(response, 422, "cumulative-expenditure")
            return
        body = self.check(response, 200)
        report.status = "accepted" if accept else "returned"
        if accept:
            m.accepted_expenditure = spent
            recognised = m.status in SIGNED and m.tranche_status[1] == "pending"
            if recognised:
                m.tranche_status[1] = "recognised"
            assert body["recognised_tranche"] == (2 if recognised else None)

    @rule(amount=st.integers(-1, 7_000_000), who=st.sampled_from(["officer", "approver2", "grantee"]))
    def record_refund(self, amount: int, who: str) -> None:
        m = self.m
        response = refund(self.api, self.users[who], m.grant_id, cents(amount))
        if not self.role(who, "finance_officer", "finance_approver"):
            self.check(response, 403)
        elif m.status not in SIGNED:
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        elif amount <= 0:
            self.check(response, 422, "positive-amount")
        elif amount > m.disbursed - m.refunded:
            self.check(response, 422, "within-disbursed")
        else:
            self.check(response, 201)
            m.refunded += amount

    @rule(suspend=st.booleans())
    def suspend_or_resume(self, suspend: bool) -> None:
        m = self.m
        action, source, target = ("suspend", "active", "suspended") if suspend else ("resume", "suspended", "active")
        response = self.api.client.post(
            f"{GRANTS}/{m.grant_id}/{action}", json={"reason": "random"}, headers=self.users["admin"].headers
        )
        if m.status != source:
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        else:
            self.check(response, 200)
            m.status = target

    @rule()
    def close_grant(self) -> None:
        m = self.m
        response = close(self.api, self.users["admin"], m.grant_id)
        if m.status not in SIGNED:
            self.check(response, 409, "grant-closed" if m.status == "closed" else "grant-active")
        elif m.reports[-1].status != "accepted":
            self.check(response, 409, "final-report-accepted")
        elif any(t.status in OPEN for t in m.transfers.values()):
            self.check(response, 409, "no-pending-disbursements")
        else:
            self.check(response, 200)
            m.status = "closed"
            m.tranche_status = ["released" if s in {"pending", "recognised"} else s for s in m.tranche_status]

    # ------------------------------------------------------------ invariants

    @invariant()
    def the_grant_is_what_the_model_says(self) -> None:
        m = self.m
        db = self.api.db
        assert db.scalar("SELECT status FROM grants WHERE id = :g", g=m.grant_id) == m.status
        rows = db.rows(
            "SELECT number, amount, paid, status FROM grant_tranches WHERE grant_id = :g ORDER BY number", g=m.grant_id
        )
        assert [(r.amount, r.paid, r.status) for r in rows] == list(
            zip(TRANCHES, m.paid, m.tranche_status, strict=True)
        )
        found = dict(db.rows("SELECT id, status FROM disbursements WHERE grant_id = :g", g=m.grant_id))
        assert found == {tid: t.status for tid, t in m.transfers.items()}
        assert [r.status for r in m.reports] == [
            s for (s,) in db.rows("SELECT status FROM grant_reports WHERE grant_id = :g ORDER BY number", g=m.grant_id)
        ]

    @invariant()
    def money_never_outruns_its_authority(self) -> None:
        m = self.m
        db = self.api.db
        gross = {
            code: (int(debit or 0), int(credit or 0))
            for code, debit, credit in db.rows(
                "SELECT a.code, sum(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), "
                "sum(CASE WHEN p.amount < 0 THEN -p.amount ELSE 0 END) FROM postings p "
                "JOIN ledger_accounts a ON a.id = p.account_id WHERE p.grant_id = :g GROUP BY a.code",
                g=m.grant_id,
            )
        }
        allocated = gross.get("8300", (0, 0))[0]
        committed = gross.get("8400", (0, 0))[0]
        disbursed = gross.get("8500", (0, 0))[0]
        assert disbursed <= committed <= allocated == sum(TRANCHES)
        assert disbursed == m.disbursed and gross.get("8500", (0, 0))[1] == m.refunded
        # Balances never go below zero: nothing is released or disbursed that was not there.
        for code in ("8300", "8400", "8500"):
            debit, credit = gross.get(code, (0, 0))
            assert debit >= credit, code
        # Each tranche: paid = its approved transfers, each posted once with its own entry.
        approved = db.rows(
            "SELECT d.tranche_id, d.amount, d.entry_id, (SELECT count(*) FROM journal_entries e WHERE "
            "e.source_type = 'grant_disbursement' AND e.source_id = CAST(d.id AS VARCHAR(20))) AS posted "
            "FROM disbursements d WHERE d.grant_id = :g AND d.status = 'approved'",
            g=m.grant_id,
        )
        assert all(r.posted == 1 and r.entry_id is not None for r in approved)
        assert (
            db.scalar(
                "SELECT count(*) FROM disbursements WHERE grant_id = :g AND status <> 'approved' "
                "AND entry_id IS NOT NULL",
                g=m.grant_id,
            )
            == 0
        )
        paid_by_tranche = {
            tid: int(paid)
            for tid, paid in db.rows("SELECT id, paid FROM grant_tranches WHERE grant_id = :g", g=m.grant_id)
        }
        for tid, paid in paid_by_tranche.items():
            assert paid == sum(r.amount for r in approved if r.tranche_id == tid)

    @invariant()
    def nobody_approved_their_own_transfer(self) -> None:
        db = self.api.db
        rows = db.rows(
            "SELECT prepared_by, approved_by, second_approved_by, rejected_by, amount, status FROM disbursements "
            "WHERE grant_id = :g",
            g=self.m.grant_id,
        )
        approvers = {u for (u,) in db.rows("SELECT user_id FROM user_roles WHERE role = 'finance_approver'")}
        for r in rows:
            assert r.prepared_by not in {r.approved_by, r.second_approved_by, r.rejected_by}
            assert r.second_approved_by is None or r.second_approved_by != r.approved_by
            for who in (r.approved_by, r.second_approved_by, r.rejected_by):
                assert who is None or who in approvers
            if r.status == "approved":
                assert (r.second_approved_by is not None) == (r.amount > THRESHOLD)

    @invariant()
    def the_books_and_the_statement_reconcile(self) -> None:
        db = self.api.db
        for book in ("financial", "budgetary"):
            total = db.scalar(
                "SELECT coalesce(sum(p.reporting_amount), 0) FROM postings p JOIN ledger_accounts a "
                "ON a.id = p.account_id WHERE a.book = :b",
                b=book,
            )
            assert int(total) == 0, book
        window = {
            code: int(total)
            for code, total in db.rows(
                "SELECT a.code, sum(p.amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE a.book = 'budgetary' AND p.window_id = :w GROUP BY a.code",
                w=self.gw.window_id,
            )
        }
        assert -window.get("8100", 0) == sum(window.get(c, 0) for c in ("8200", "8300", "8400", "8500"))
        assert all(window.get(c, 0) >= 0 for c in ("8200", "8300", "8400", "8500")), window
        m = self.m
        found = statement(self.api, self.users["auditor"], m.grant_id)
        ledger = {
            code: int(total)
            for code, total in db.rows(
                "SELECT a.code, sum(p.amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE p.grant_id = :g GROUP BY a.code",
                g=m.grant_id,
            )
        }

        def minor(name: str) -> int:
            whole, _, fraction = found[name]["amount"].partition(".")
            return int(whole) * 100 + (int(fraction) if not whole.startswith("-") else -int(fraction))

        assert minor("allocated") == ledger.get("8300", 0)
        assert minor("committed") == ledger.get("8400", 0)
        assert minor("disbursed") - minor("refunded") == ledger.get("8500", 0)
        assert minor("recognised") == ledger.get("5100", 0)
        assert minor("payable") == -ledger.get("2100", 0)
        assert minor("disbursed") == m.disbursed and minor("refunded") == m.refunded
        assert minor("reported_expenditure") == sum(m.accepted_expenditure.values())
        assert [t["state"] for t in found["tranches"]] == [
            "partly_paid" if s == "recognised" and 0 < p < a else s
            for s, p, a in zip(m.tranche_status, m.paid, TRANCHES, strict=True)
        ]


MACHINE_SETTINGS = {
    "sqlite": hypothesis_settings(
        max_examples=20,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
    "postgresql": hypothesis_settings(
        max_examples=8,
        stateful_step_count=25,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ),
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var", FUNDAPP_CHARTER_SECOND_APPROVER_THRESHOLD="40000")


@pytest.mark.usefixtures("backend")
def test_random_grant_operations_by_random_users_keep_every_invariant(api: Api, backend: str) -> None:
    GrantMachine.api = api
    GrantMachine.gw = grant_world(api, fund="20000000.00")
    run_state_machine_as_test(GrantMachine, settings=MACHINE_SETTINGS[backend])


# ---------------------------------------------------------------- the pure rules behind it (proposals/rules.py)

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@hypothesis_settings(max_examples=300)
@given(days, st.integers(0, 240))
def test_add_months_lands_in_the_right_month_on_the_same_day_or_the_months_last(day: date, months: int) -> None:
    later = rules.add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    last = calendar.monthrange(later.year, later.month)[1]
    assert later.day == min(day.day, last)


@hypothesis_settings(max_examples=300)
@given(days, st.integers(1, 120), st.integers(1, 36), st.integers(0, 120), st.integers(0, 365))
def test_the_report_schedule_covers_the_grant_in_contiguous_periods_then_a_final_report(
    start: date, duration: int, interval: int, due_days: int, final_days: int
) -> None:
    end = rules.add_months(start, duration)
    schedule = rules.report_schedule(start, end, interval_months=interval, due_days=due_days, final_due_days=final_days)
    *progress, final = schedule
    assert [r.number for r in schedule] == list(range(1, len(schedule) + 1))
    assert (final.kind, final.period_start, final.period_end) == ("final", start, end)
    assert final.due_on == end + timedelta(days=final_days)
    assert len(progress) == -(-duration // interval) - 1  # one per interval that ends before the grant does
    previous_end = start
    for k, r in enumerate(progress, start=1):
        assert r.kind == "progress"
        assert (r.period_start, r.period_end) == (previous_end, rules.add_months(start, k * interval))
        assert r.period_end < end
        assert r.due_on == r.period_end + timedelta(days=due_days)
        previous_end = r.period_end


people = st.integers(1, 6)


@hypothesis_settings(max_examples=500)
@given(
    st.sampled_from(["prepared", "awaiting_second_approval", "approved", "rejected"]),
    st.sampled_from([1, 2]),
    people,
    people,
    st.one_of(st.none(), people),
)
def test_maker_checker_never_lets_the_preparer_or_one_person_twice_approve(
    status: str, needed: int, approver: int, preparer: int, first: int | None
) -> None:
    step = rules.approval_step(
        status=status, needed=needed, approver=approver, prepared_by=preparer, first_approver=first
    )
    if step.refused is None:
        assert approver != preparer
        assert status in {"prepared", "awaiting_second_approval"}
        if status == "awaiting_second_approval":
            assert approver != first and step.pays and step.status == "approved"
        else:
            assert step.pays == (needed == 1)
            assert step.status == ("approved" if needed == 1 else "awaiting_second_approval")
    else:
        assert not step.pays and step.status is None
        assert (
            status not in {"prepared", "awaiting_second_approval"}
            or approver == preparer
            or (status == "awaiting_second_approval" and approver == first)
        )


postings = st.lists(
    st.builds(
        rules.GrantPosting,
        st.integers(1, 30),
        st.sampled_from(["8300", "8400", "8500", "5100", "2100", "1100", "8200"]),
        st.integers(-(10**9), 10**9).filter(bool),
    ),
    max_size=40,
)


@hypothesis_settings(max_examples=300)
@given(postings)
def test_the_statement_figures_are_the_ledger_balances(lines: list[rules.GrantPosting]) -> None:
    figures = rules.grant_figures(lines)

    def balance(account: str) -> int:
        return sum(p.amount for p in lines if p.account == account)

    def entries(*accounts: str) -> set[int]:
        return {p.entry_id for p in lines if p.account in accounts}

    assert figures["allocated"].amount == balance("8300")
    assert figures["committed"].amount == balance("8400")
    assert figures["recognised"].amount == balance("5100")
    assert figures["payable"].amount == -balance("2100")
    assert figures["disbursed"].amount - figures["refunded"].amount == balance("8500")
    assert figures["disbursed"].amount >= 0 and figures["refunded"].amount >= 0
    assert figures["remaining"].amount == balance("8300") + balance("8400")
    assert set(figures["allocated"].entry_ids) == entries("8300")
    assert set(figures["remaining"].entry_ids) == entries("8300", "8400")
    assert set(figures["disbursed"].entry_ids) | set(figures["refunded"].entry_ids) == entries("8500")
    for figure in figures.values():
        assert len(figure.entry_ids) == len(set(figure.entry_ids))


@given(st.integers(0, 10**12), st.integers(-(10**6), 10**12))
def test_the_delivery_rate_is_expenditure_over_net_transfers(expenditure: int, transferred: int) -> None:
    rate = rules.delivery_rate(expenditure, transferred)
    if transferred <= 0:
        assert rate is None
    else:
        assert rate is not None
        assert abs(rate - Decimal(expenditure) / Decimal(transferred)) <= Decimal("0.00005")
