"""Ledger HTTP API (thin: parse, authorise, call the service, shape the response)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, RequestBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

import ledger.permissions  # noqa: F401 - registers the ledger's actions
from fundapp.core.api import (
    API_PREFIX,
    AnyRequest,
    IdempotencyKey,
    Limit,
    Offset,
    settings_of,
)
from fundapp.core.db import Database
from fundapp.core.errors import InvalidInput, NotFound
from fundapp.core.schemas import INT32_MAX
from fundapp.core.security import require
from fundapp.core.unit import provide
from ledger import manual, queries
from ledger.export import hledger_journal
from ledger.models import Book, EntryRequest, FxRate, LedgerAccount, Period
from ledger.money import MoneyError, exponent
from ledger.requests import EntryRequests
from ledger.schemas import (
    AccountIn,
    AccountOut,
    BalanceRowOut,
    BreakOut,
    EntryIn,
    EntryOut,
    EntryPage,
    EntryRequestOut,
    EntryRequestPage,
    FxRateIn,
    FxRateOut,
    MoneyOut,
    PeriodOut,
    PostingOut,
    RequestLineOut,
    RequestRejectIn,
    RevaluationIn,
    RevaluationOut,
    ReverseIn,
    StatementLineOut,
    StatementOut,
    TrialBalanceOut,
    TrialBalanceRowOut,
    VerifyOut,
)
from ledger.service import Ledger
from ledger.types import EntryView

PeriodId = Annotated[str, QueryParameter(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
Db = NamedDependency[AsyncSession]
# An account's code as the chart gives it (``AccountIn.code``): four digits, optionally a sub-account.
ACCOUNT_CODE = re.compile(r"^[0-9]{4}(\.[0-9A-Z]{1,8})?$")


def known_currency(currency: str | None, field: str = "currency") -> str | None:
    """A currency query parameter must be an ISO 4217 code money can be shown in (422 ``unknown_currency``)."""
    if currency is not None:
        try:
            exponent(currency)
        except MoneyError as exc:
            raise InvalidInput(f"{currency} is not an ISO 4217 currency", field=field, rule="unknown_currency") from exc
    return currency


def account_codes(codes: list[str] | None, field: str = "account") -> list[str]:
    """Account codes of a query: each one shaped like a code of the chart (422 ``account_code``)."""
    for code in codes or ():
        if ACCOUNT_CODE.fullmatch(code) is None:
            raise InvalidInput(
                f"{code!r} is not an account code (four digits, optionally '.' and a sub-account)",
                field=field,
                rule="account_code",
            )
    return list(codes or ())


# The services the handlers take, each built from the request's unit of work (the shell provides ``unit``).
dependencies = {"ledger": provide(Ledger.of), "entry_requests": provide(EntryRequests.of)}
LedgerService = NamedDependency[Ledger]
EntryRequestsService = NamedDependency[EntryRequests]


def request_out(row: EntryRequest, reporting_currency: str, *, entry: EntryOut | None = None) -> EntryRequestOut:
    payload = json.loads(row.payload)
    lines = [
        RequestLineOut(
            account=line["account"],
            amount=MoneyOut(amount=line["amount"], currency=line["currency"]),
            reporting_amount=None
            if line["reporting_amount"] is None
            else MoneyOut(amount=line["reporting_amount"], currency=reporting_currency),
            contributor_id=line["contributor_id"],
            window_id=line["window_id"],
            grant_id=line["grant_id"],
        )
        for line in payload.get("lines", ())
    ]
    assert row.id is not None
    return EntryRequestOut(
        id=row.id,
        kind=row.kind,
        status=row.status,
        reason=row.reason,
        size=MoneyOut.of(row.amount, reporting_currency),
        approvals_needed=row.approvals_needed,
        approvals=(row.first_approved_by is not None) + (row.approved_by is not None),
        entry_date=date.fromisoformat(payload["entry_date"]),
        description=payload.get("description"),
        lines=lines,
        reverses_id=row.reverses_id,
        idempotency_key=row.idempotency_key,
        prepared_by=row.prepared_by,
        prepared_at=row.prepared_at,
        first_approved_by=row.first_approved_by,
        first_approved_at=row.first_approved_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        rejected_by=row.rejected_by,
        rejected_at=row.rejected_at,
        rejection_reason=row.rejection_reason,
        entry_id=row.entry_id,
        entry=entry,
    )


def entry_out(view: EntryView, reporting_currency: str) -> EntryOut:
    return EntryOut(
        id=view.id,
        entry_date=view.entry_date,
        period=view.period_id,
        description=view.description,
        source_type=view.source_type,
        source_id=view.source_id,
        idempotency_key=view.idempotency_key,
        reverses_id=view.reverses_id,
        reversed_by_id=view.reversed_by_id,
        posted_by=view.posted_by,
        posted_by_label=view.posted_by_label,
        posted_at=view.posted_at,
        prev_hash=view.prev_hash,
        hash=view.hash,
        postings=[
            PostingOut(
                line_no=p.line_no,
                account=p.account,
                amount=MoneyOut.of(p.amount, p.currency),
                reporting_amount=MoneyOut.of(p.reporting_amount, reporting_currency),
                contributor_id=p.contributor_id,
                window_id=p.window_id,
                grant_id=p.grant_id,
            )
            for p in view.postings
        ],
    )


class LedgerController(Controller):
    path = f"{API_PREFIX}/ledger"
    tags = ["ledger"]

    # ---------------------------------------------------------------- accounts

    @get("/accounts", guards=[require("ledger.read")])
    async def list_accounts(self, db_session: Db) -> list[AccountOut]:
        rows = (await db_session.execute(select(LedgerAccount).order_by(col(LedgerAccount.code)))).scalars()
        return [AccountOut.model_validate(a) for a in rows]

    @post("/accounts", guards=[require("ledger.accounts.manage")], status_code=HTTP_201_CREATED)
    async def create_account(self, ledger: LedgerService, data: RequestBody[AccountIn]) -> AccountOut:
        return AccountOut.model_validate(await manual.create_account(ledger, data))

    @post("/accounts/{code:str}/close", guards=[require("ledger.accounts.manage")], status_code=HTTP_200_OK)
    async def close_account(self, ledger: LedgerService, code: FromPath[str]) -> AccountOut:
        """Close an account with a zero balance: it takes no further postings."""
        return AccountOut.model_validate(await manual.close_account_manual(ledger, code))

    @get("/accounts/{code:str}/statement", guards=[require("ledger.read")])
    async def statement(
        self,
        request: AnyRequest,
        db_session: Db,
        ledger: LedgerService,
        code: FromPath[str],
        currency: Annotated[str, QueryParameter(pattern=r"^[A-Z]{3}$")],
        limit: Limit = 100,
        offset: Offset = 0,
        date_from: Annotated[date | None, QueryParameter()] = None,
        date_to: Annotated[date | None, QueryParameter()] = None,
    ) -> StatementOut:
        """One account's lines in one currency, oldest first, with the running balance."""
        known_currency(currency)
        if code not in await ledger.accounts():
            raise NotFound(f"no account with code {code!r}")
        account = await ledger.account(code)
        opening, _, total, lines = await queries.account_statement(
            db_session,
            account_id=account.id,
            currency=currency,
            limit=limit,
            offset=offset,
            date_from=date_from,
            date_to=date_to,
        )
        rc = settings_of(request).reporting_currency
        return StatementOut(
            account=code,
            currency=currency,
            opening_balance=MoneyOut.of(opening, currency),
            total=total,
            limit=limit,
            offset=offset,
            lines=[
                StatementLineOut(
                    entry_id=line.entry_id,
                    entry_date=line.entry_date,
                    description=line.description,
                    line_no=line.line_no,
                    amount=MoneyOut.of(line.amount, currency),
                    reporting_amount=MoneyOut.of(line.reporting_amount, rc),
                    balance=MoneyOut.of(line.balance, currency),
                    reporting_balance=MoneyOut.of(line.reporting_balance, rc),
                )
                for line in lines
            ],
        )

    # ---------------------------------------------------------------- entries

    @post("/entries", guards=[require("ledger.prepare")], status_code=HTTP_202_ACCEPTED)
    async def post_entry(
        self,
        request: AnyRequest,
        entry_requests: EntryRequestsService,
        data: RequestBody[EntryIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[EntryRequestOut]:
        """Prepare a manual journal entry, with its reason: checked now as posting would check it (lines are
        signed, debit positive; each book balances per currency and in the reporting currency) and posted when
        a finance approver who did not prepare it approves it (two different approvers above the charter's
        threshold). Answers 202 with the request. A repeated Idempotency-Key (yours) with the same body returns
        the first request (200)."""
        draft = manual.draft_from(
            data, idempotency_key=None, reporting_currency=entry_requests.ledger.reporting_currency
        )
        prepared = await entry_requests.prepare_entry(draft, data.reason, idempotency_key=idempotency_key)
        status = HTTP_200_OK if prepared.replayed else HTTP_202_ACCEPTED
        return Response(request_out(prepared.request, entry_requests.ledger.reporting_currency), status_code=status)

    @get("/entries", guards=[require("ledger.read")])
    async def list_entries(
        self,
        request: AnyRequest,
        db_session: Db,
        limit: Limit = 50,
        offset: Offset = 0,
        account: Annotated[
            str | None,
            QueryParameter(
                pattern=r"^[0-9A-Za-z._-]{1,16}(,[0-9A-Za-z._-]{1,16}){0,19}$",
                description="one account code, or up to 20 separated by commas (a line on any of them)",
            ),
        ] = None,
        date_from: Annotated[date | None, QueryParameter()] = None,
        date_to: Annotated[date | None, QueryParameter()] = None,
        period: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
        source_type: Annotated[str | None, QueryParameter(max_length=40)] = None,
        source_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        contributor_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        window_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        grant_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        currency: Annotated[str | None, QueryParameter(pattern=r"^[A-Z]{3}$")] = None,
        window: Annotated[
            Literal["pooled"] | None, QueryParameter(description="pooled: lines without a window (the pooled fund)")
        ] = None,
    ) -> EntryPage:
        """Entries, newest first, with a line matching every filter: account(s), dates, period, source,
        currency and dimensions. The drill-down links of the reports are queries of this list."""
        if window == "pooled" and window_id is not None:
            raise InvalidInput(
                "window=pooled and window_id exclude each other; give one of them", field="window", rule="exclusive"
            )
        flt = queries.EntryFilter(
            tuple(account.split(",")) if account else (),
            date_from,
            date_to,
            period,
            source_type,
            source_id,
            contributor_id,
            window_id,
            grant_id,
            currency,
            window == "pooled",
        )
        total, views = await queries.find_entries(db_session, flt, limit=limit, offset=offset)
        rc = settings_of(request).reporting_currency
        return EntryPage(items=[entry_out(v, rc) for v in views], total=total, limit=limit, offset=offset)

    @get("/entries/{entry_id:int}", guards=[require("ledger.read")])
    async def get_entry(self, ledger: LedgerService, entry_id: FromPath[int]) -> EntryOut:
        return entry_out(await ledger.entry(entry_id), ledger.reporting_currency)

    @post("/entries/{entry_id:int}/reverse", guards=[require("ledger.prepare")], status_code=HTTP_202_ACCEPTED)
    async def reverse_entry(
        self,
        request: AnyRequest,
        entry_requests: EntryRequestsService,
        entry_id: FromPath[int],
        data: RequestBody[ReverseIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[EntryRequestOut]:
        """Prepare the entry that nets a manual entry or a revaluation to zero (once per entry, in an open
        period), with its reason; posted when a finance approver approves it. An entry a domain owns (a
        deposit, a transfer, a grant's agreement...) is corrected through that domain instead (409
        domain-correction)."""
        prepared = await entry_requests.prepare_reversal(
            entry_id,
            data.entry_date or entry_requests.ledger.now.date(),
            data.description,
            data.reason,
            idempotency_key=idempotency_key,
        )
        status = HTTP_200_OK if prepared.replayed else HTTP_202_ACCEPTED
        return Response(request_out(prepared.request, entry_requests.ledger.reporting_currency), status_code=status)

    # ---------------------------------------------------------------- four eyes

    @get("/entry-requests", guards=[require("ledger.read")])
    async def list_requests(
        self,
        entry_requests: EntryRequestsService,
        limit: Limit = 50,
        offset: Offset = 0,
        status: Annotated[Literal["pending", "approved", "rejected"] | None, QueryParameter()] = None,
    ) -> EntryRequestPage:
        """Manual entries and reversals prepared, newest first (``status=pending``: what waits for approval)."""
        total, rows = await entry_requests.list(status=status, limit=limit, offset=offset)
        rc = entry_requests.ledger.reporting_currency
        return EntryRequestPage(items=[request_out(r, rc) for r in rows], total=total, limit=limit, offset=offset)

    @get("/entry-requests/{request_id:int}", guards=[require("ledger.read")])
    async def get_request(self, entry_requests: EntryRequestsService, request_id: FromPath[int]) -> EntryRequestOut:
        return request_out(await entry_requests.get(request_id), entry_requests.ledger.reporting_currency)

    @post("/entry-requests/{request_id:int}/approve", guards=[require("ledger.approve")], status_code=HTTP_200_OK)
    async def approve_request(self, entry_requests: EntryRequestsService, request_id: FromPath[int]) -> EntryRequestOut:
        """Approve a prepared entry or reversal (a finance approver who did not prepare it). Above the charter's
        threshold the first approval waits for a second, different approver; the last one posts it, and the
        answer carries the entry."""
        row, entry = await entry_requests.approve(request_id)
        rc = entry_requests.ledger.reporting_currency
        return request_out(row, rc, entry=None if entry is None else entry_out(entry, rc))

    @post("/entry-requests/{request_id:int}/reject", guards=[require("ledger.approve")], status_code=HTTP_200_OK)
    async def reject_request(
        self, entry_requests: EntryRequestsService, request_id: FromPath[int], data: RequestBody[RequestRejectIn]
    ) -> EntryRequestOut:
        """Reject a prepared entry or reversal, with the reason (nothing is posted)."""
        row = await entry_requests.reject(request_id, data.reason)
        return request_out(row, entry_requests.ledger.reporting_currency)

    # ---------------------------------------------------------------- balances

    @get("/trial-balance", guards=[require("ledger.read")])
    async def trial_balance(
        self,
        request: AnyRequest,
        db_session: Db,
        book: Annotated[Book, QueryParameter()] = Book.FINANCIAL,
        as_of: Annotated[date | None, QueryParameter()] = None,
    ) -> TrialBalanceOut:
        """Every account's balance per currency and in the reporting currency; totals are zero."""
        rc = settings_of(request).reporting_currency
        rows = await queries.trial_balance(db_session, book=book, as_of=as_of)
        by_currency: dict[str, int] = {}
        for r in rows:
            by_currency[r.currency] = by_currency.get(r.currency, 0) + r.amount
        total_reporting = sum(r.reporting_amount for r in rows)
        return TrialBalanceOut(
            book=book.value,
            as_of=as_of,
            reporting_currency=rc,
            rows=[
                TrialBalanceRowOut(
                    account=r.account,
                    name=r.name,
                    type=r.type,
                    normal_side=r.normal_side,
                    balance=MoneyOut.of(r.amount, r.currency),
                    reporting_balance=MoneyOut.of(r.reporting_amount, rc),
                )
                for r in rows
            ],
            totals_by_currency={c: MoneyOut.of(v, c).amount for c, v in sorted(by_currency.items())},
            total_reporting=MoneyOut.of(total_reporting, rc).amount,
            balanced=total_reporting == 0 and not any(by_currency.values()),
            chain_head=await queries.chain_head(db_session),
        )

    @get("/balances", guards=[require("ledger.read")])
    async def balances(
        self,
        request: AnyRequest,
        db_session: Db,
        group_by: Annotated[
            str,
            QueryParameter(
                pattern=r"^(account|currency|contributor|window|grant)(,(account|currency|contributor|window|grant))*$"
            ),
        ] = "account,currency",
        as_of: Annotated[date | None, QueryParameter()] = None,
        date_from: Annotated[date | None, QueryParameter()] = None,
        account: Annotated[list[str] | None, QueryParameter()] = None,
        currency: Annotated[str | None, QueryParameter(pattern=r"^[A-Z]{3}$")] = None,
        contributor_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        window_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
        grant_id: Annotated[int | None, QueryParameter(gt=0, le=INT32_MAX)] = None,
    ) -> list[BalanceRowOut]:
        """Balances grouped by any of account, currency, contributor, window, grant. Without ``currency`` in
        the grouping (or a currency filter), only the reporting-currency sum is meaningful."""
        known_currency(currency)
        account = account_codes(account)
        dims = list(dict.fromkeys(group_by.split(",")))
        rc = settings_of(request).reporting_currency
        rows = await queries.balances(
            db_session,
            group_by=dims,
            as_of=as_of,
            date_from=date_from,
            accounts=account or (),
            currency=currency,
            contributor_id=contributor_id,
            window_id=window_id,
            grant_id=grant_id,
        )
        out = []
        for r in rows:
            row_currency = r.get("currency", currency)
            out.append(
                BalanceRowOut(
                    key={d: r[d] for d in dims},
                    amount=MoneyOut.of(r["amount"], row_currency) if row_currency else None,
                    reporting_amount=MoneyOut.of(r["reporting_amount"], rc),
                    postings=r["postings"],
                )
            )
        return out

    # ---------------------------------------------------------------- FX, periods, verification

    @get("/fx-rates", guards=[require("ledger.read")])
    async def list_rates(
        self,
        db_session: Db,
        currency: Annotated[str | None, QueryParameter(pattern=r"^[A-Z]{3}$")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[FxRateOut]:
        query = select(FxRate).order_by(col(FxRate.rate_date).desc(), col(FxRate.currency)).limit(limit).offset(offset)
        if currency:
            query = query.where(col(FxRate.currency) == currency)
        return [FxRateOut.model_validate(r) for r in (await db_session.execute(query)).scalars()]

    @post("/fx-rates", guards=[require("ledger.rates")], status_code=HTTP_201_CREATED)
    async def add_rate(self, ledger: LedgerService, data: RequestBody[FxRateIn]) -> FxRateOut:
        return FxRateOut.model_validate(await manual.add_rate_manual(ledger, data))

    @get("/revaluations", guards=[require("ledger.read")])
    async def list_revaluations(
        self, request: AnyRequest, db_session: Db, limit: Limit = 50, offset: Offset = 0
    ) -> EntryPage:
        """The revaluation entries posted so far, newest first."""
        flt = queries.EntryFilter(source_type="revaluation")
        total, views = await queries.find_entries(db_session, flt, limit=limit, offset=offset)
        rc = settings_of(request).reporting_currency
        return EntryPage(items=[entry_out(v, rc) for v in views], total=total, limit=limit, offset=offset)

    @post("/revaluations", guards=[require("ledger.revalue")], status_code=HTTP_201_CREATED)
    async def revalue(self, ledger: LedgerService, data: RequestBody[RevaluationIn]) -> RevaluationOut:
        """Revalue monetary foreign-currency balances at the rates of ``as_of`` (unrealised gain or loss)."""
        view = await manual.revalue_manual(ledger, data.as_of)
        return RevaluationOut(
            as_of=data.as_of, entry=None if view is None else entry_out(view, ledger.reporting_currency)
        )

    @get("/periods", guards=[require("ledger.read")])
    async def list_periods(self, db_session: Db) -> list[PeriodOut]:
        rows = (await db_session.execute(select(Period).order_by(col(Period.id)))).scalars()
        return [PeriodOut.model_validate(p) for p in rows]

    @post("/periods/{period_id:str}/close", guards=[require("ledger.close_period")], status_code=HTTP_200_OK)
    async def close_period(self, ledger: LedgerService, period_id: FromPath[str]) -> PeriodOut:
        """Close a month: nothing can be posted into it again, so its reports never change."""
        if not _is_period(period_id):
            raise InvalidInput("a period is written YYYY-MM", field="period_id", rule="period-format")
        return PeriodOut.model_validate(await manual.close_period_manual(ledger, period_id))

    @get("/verify", guards=[require("ledger.read")])
    async def verify(self, db_session: Db) -> VerifyOut:
        """Recompute the journal's hash chain (names the first broken entry) and the posting totals."""
        report = await queries.verify_chain(db_session)
        return VerifyOut(
            ok=report.ok,
            entries=report.entries,
            head=report.head,
            broken_entry=report.broken_entry,
            reason=report.reason,
            breaks=[BreakOut(entry=b.at, reason=b.reason) for b in report.breaks],
            totals=list(report.totals),
        )


def _is_period(value: str) -> bool:
    return (
        len(value) == 7
        and value[4] == "-"
        and value[:4].isdigit()
        and value[5:].isdigit()
        and 1 <= int(value[5:]) <= 12
    )


async def _journal_text(database: Database, reporting_currency: str) -> AsyncIterator[str]:
    # The stream outlives the request's session, so it reads through a session of its own.
    async with database.session(write=False) as session:
        async for chunk in hledger_journal(session, reporting_currency=reporting_currency):
            yield chunk


@get(f"{API_PREFIX}/exports/journal.hledger", guards=[require("ledger.read")], tags=["ledger"])
async def export_hledger(request: AnyRequest) -> Stream:
    """The whole journal in hledger's format (transaction currencies with reporting-currency costs)."""
    rc = settings_of(request).reporting_currency
    return Stream(
        _journal_text(request.app.state.db, rc),
        media_type="text/plain",  # Litestar adds "; charset=utf-8" to a text/* type
        headers={"Content-Disposition": 'attachment; filename="journal.hledger"'},
    )


route_handlers: list[Any] = [LedgerController, export_hledger]
