"""Investment income: interest the trustee earns on the cash it holds, recorded by a finance officer for a
period and a currency, allocated to the pooled fund and the windows by their time-weighted balances over the
period, and posted only when a second person approves it (maker-checker, as the ledger's manual entries:
``ledger.rules.checker_step``, two approvers above the charter's threshold). The rules are pure
(``governance.rules``: ``balance_days``, ``time_weighted_balances``, ``allocate_income``,
``plan_investment_income``, ``investment_income_entry``, ``plan_income_approval``); this service reads their
facts and writes their plans (docs/contributions.md, "Investment income")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import col

from fundapp.core.errors import NotFound
from fundapp.core.ids import new_id
from fundapp.core.plans import write_plan
from fundapp.core.unit import Service, Unit
from governance import rules
from governance.models import IncomeStatus, InvestmentIncome
from ledger import Ledger, LedgerAccount, LedgerRuleError, Money, Posting, balances, chart


@dataclass(frozen=True, slots=True)
class Recorded:
    income: InvestmentIncome
    replayed: bool = False


class Income(Service):
    """Recording, approving and rejecting investment income, in the caller's transaction."""

    def bind(self, unit: Unit) -> None:
        super().bind(unit)
        self.ledger = Ledger.of(unit)

    @property
    def reporting_currency(self) -> str:
        return self.ledger.reporting_currency

    async def record(
        self,
        *,
        amount: str,
        currency: str,
        period_start: date,
        period_end: date,
        bank_reference: str,
        idempotency_key: str | None,
    ) -> Recorded:
        """Record interest earned, allocated and waiting for its approval (nothing posted yet)."""
        user_id = self.actor.user_id
        await self.ledger.lock()  # the journal's lock: the balances read and the overlap check hold until commit
        facts = await self._facts(currency, period_start, period_end, user_id, idempotency_key)
        policy = rules.IncomePolicy(
            self.reporting_currency, self.settings.charter.second_approver_threshold, self.now, user_id
        )
        plan = rules.plan_investment_income(
            facts,
            amount=amount,
            currency=currency,
            period_start=period_start,
            period_end=period_end,
            bank_reference=bank_reference,
            idempotency_key=idempotency_key,
            policy=policy,
        )
        if isinstance(plan, rules.IncomeReplay):
            return Recorded(await self.get(plan.income_id), replayed=True)
        row = plan.rows[rules.INVESTMENT_INCOME][0]
        # Everything posting would refuse (a closed period, an account closed...) is refused now.
        await self.ledger.check(
            rules.investment_income_entry(
                row["id"],
                Money.from_minor(row["amount"], currency),
                period_start,
                period_end,
                bank_reference,
                rules.shares_of(row["allocation"]),
                self.reporting_currency,
            )
        )
        await write_plan(self.session, plan, poster=None, actor=self.actor, at=self.now)
        return Recorded(await self.get(row["id"]))

    async def _facts(
        self, currency: str, start: date, end: date, user_id: int | None, key: str | None
    ) -> rules.IncomeFacts:
        existing = None
        if key is not None and user_id is not None:
            existing = (
                await self.session.execute(
                    select(col(InvestmentIncome.id), col(InvestmentIncome.payload_hash)).where(
                        col(InvestmentIncome.prepared_by) == user_id, col(InvestmentIncome.idempotency_key) == key
                    )
                )
            ).first()
        overlapping = (
            await self.session.execute(
                select(func.min(col(InvestmentIncome.id))).where(
                    col(InvestmentIncome.currency) == currency,
                    col(InvestmentIncome.status).in_([IncomeStatus.PENDING.value, IncomeStatus.APPROVED.value]),
                    col(InvestmentIncome.period_start) <= end,
                    col(InvestmentIncome.period_end) >= start,
                )
            )
        ).scalar_one_or_none()
        funds = await self._changes(rules.FUND_CASH_ACCOUNTS, start, end, by_window=True)
        cash = (await self._changes((chart.CASH,), start, end, by_window=False, currency=currency)).get(None, {})
        rate: Decimal | None = None
        missing: LedgerRuleError | None = None
        try:
            rate = await self.ledger.rate(currency, end)
        except LedgerRuleError as refusal:
            missing = refusal
        return rules.IncomeFacts(
            funds=funds,
            cash=cash,
            income_id=await new_id(self.session, InvestmentIncome.__table__),  # type: ignore[attr-defined]
            overlapping_id=overlapping,
            existing_id=None if existing is None else int(existing[0] or 0),
            existing_hash=None if existing is None else str(existing[1]),
            rate=rate,
            missing_rate=missing,
        )

    async def _changes(
        self,
        accounts: Sequence[str],
        start: date,
        end: date,
        *,
        by_window: bool,
        currency: str | None = None,
    ) -> dict[int | None, dict[date, int]]:
        """Balance changes by day of ``accounts`` (per window, or all together under None) from ``start`` to
        ``end``, the balance before ``start`` dated the day before: in the reporting currency for the funds,
        in ``currency`` (amounts) for the cash."""
        before = start - timedelta(days=1)
        changes: dict[int | None, dict[date, int]] = {}
        amount = "amount" if currency is not None else "reporting_amount"
        opening = await balances(
            self.session,
            group_by=["window"] if by_window else [],
            as_of=before,
            accounts=list(accounts),
            currency=currency,
        )
        for item in opening:
            changes.setdefault(item.get("window") if by_window else None, {})[before] = int(item[amount])
        value = col(Posting.amount) if currency is not None else col(Posting.reporting_amount)
        columns = [col(Posting.entry_date), col(Posting.window_id)] if by_window else [col(Posting.entry_date)]
        query = (
            select(*columns, func.sum(value))
            .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
            .where(
                col(LedgerAccount.code).in_(list(accounts)),
                col(Posting.entry_date) >= start,
                col(Posting.entry_date) <= end,
            )
            .group_by(*columns)
        )
        if currency is not None:
            query = query.where(col(Posting.currency) == currency)
        for row in (await self.session.execute(query)).all():
            fund = row[1] if by_window else None
            day = row[0]
            changes.setdefault(fund, {})[day] = changes.get(fund, {}).get(day, 0) + int(row[-1] or 0)
        return changes

    async def get(self, income_id: int) -> InvestmentIncome:
        found = await self.session.get(InvestmentIncome, income_id) if 0 < income_id < 2**31 else None
        if found is None:
            raise NotFound(f"no investment income {income_id}", field="income_id", rule="income-exists")
        return found

    async def _record_facts(self, income_id: int) -> tuple[InvestmentIncome, rules.IncomeRecordFacts]:
        await self.ledger.lock()  # every posting's lock: two approvals of one record are ordered
        record = await self.get(income_id)
        await self.session.refresh(record)
        assert record.id is not None
        return record, rules.IncomeRecordFacts(
            id=record.id,
            status=record.status,
            amount=record.amount,
            currency=record.currency,
            period_start=record.period_start,
            period_end=record.period_end,
            bank_reference=record.bank_reference,
            allocation=record.allocation,
            approvals_needed=record.approvals_needed,
            prepared_by=record.prepared_by,
            first_approved_by=record.first_approved_by,
        )

    async def approve(self, income_id: int) -> InvestmentIncome:
        """Approve: a different person than who recorded it; the last approval posts the entry."""
        record, facts = await self._record_facts(income_id)
        plan = rules.plan_income_approval(
            facts, self.actor.user_id, now=self.now, reporting_currency=self.reporting_currency
        )
        await write_plan(self.session, plan, poster=self.ledger, actor=self.actor, at=self.now)
        await self.session.refresh(record)
        return record

    async def reject(self, income_id: int, reason: str) -> InvestmentIncome:
        """Reject, with the reason: nothing is posted and the period is free again."""
        record, facts = await self._record_facts(income_id)
        plan = rules.plan_income_rejection(facts, self.actor.user_id, reason, now=self.now)
        await write_plan(self.session, plan, poster=None, actor=self.actor, at=self.now)
        await self.session.refresh(record)
        return record

    async def list(self, *, status: str | None, limit: int, offset: int) -> tuple[int, list[InvestmentIncome]]:
        conditions = [] if status is None else [col(InvestmentIncome.status) == status]
        total = (
            await self.session.execute(select(func.count()).select_from(InvestmentIncome).where(*conditions))
        ).scalar_one()
        rows = (
            await self.session.execute(
                select(InvestmentIncome)
                .where(*conditions)
                .order_by(col(InvestmentIncome.id).desc())
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
        return int(total), list(rows)
