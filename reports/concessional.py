"""The concessional portfolio as of a date: every concessional operation the members adopted (a grant that buys
down a development bank's loan, DESIGN §12), by implementation support agency, with its country and window,
its loan and the terms the grant bought, and where its cash stands (``docs/reports.md``).

The rows come from the financing requests (``concessional.FinancingRequest``) whose adoption made a grant
(``grant_id``) by the end of the report's day; each operation's status and its board approval and
effectiveness dates are those recorded by then. The loan is in its own currency; the concessionality and the
agency's costs are what the calculator found, in the reporting currency. The money comes from the ledger for
the operation's grant dimension: transferred is the 8500 balance (transfers net of refunds), pending cash
transfer the 8300 and 8400 balances (adopted or committed, not yet transferred), refunds receivable the 1300
balance (a loan cancelled after a transfer). Each agency has a subtotal and the report a total; a loan column
adds up only where its loans share a currency, and the leverage of a subtotal (its loans over its
concessionality) only where they are all in the reporting currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from concessional import FinancingRequest, LoanStatus
from ledger import chart
from proposals import Grant, Organisation
from reports import figures
from reports.document import (
    Amount,
    Cell,
    Column,
    ColumnKind,
    Label,
    Name,
    Note,
    Rate,
    Ratio,
    Report,
    Row,
    RowStyle,
    Table,
    Territory,
)
from reports.figures import Selection
from reports.i18n import register
from reports.service import ReportContext

NAME = "concessional-portfolio"

# The statuses an adopted operation passes through, as of a day (the request's own dates decide).
STATUS_WORDS = {
    LoanStatus.APPROVED.value: (
        "Approved, pending cash transfer",
        "Aprobada, pendiente de transferencia",
        "Approuvée, en attente de transfert",
    ),
    LoanStatus.BOARD_APPROVED.value: (
        "Approved by the agency's board",
        "Aprobada por el directorio del organismo",
        "Approuvée par le conseil de l'organisme",
    ),
    LoanStatus.EFFECTIVE.value: ("Loan effective", "Préstamo en vigor", "Prêt en vigueur"),
    LoanStatus.CANCELLED.value: ("Cancelled", "Cancelada", "Annulée"),
}

register(
    {
        "concessional.title": {
            "en": "Concessional portfolio",
            "es": "Cartera de financiación en condiciones favorables",
            "fr": "Portefeuille de financements concessionnels",
        },
        "concessional.terms": {
            "en": "Loans and concessionality",
            "es": "Préstamos y concesionalidad",
            "fr": "Prêts et concessionnalité",
        },
        "concessional.cash": {
            "en": "Approval and cash transfers",
            "es": "Aprobación y transferencias de efectivo",
            "fr": "Approbation et transferts de fonds",
        },
        "concessional.operation": {"en": "Operation", "es": "Operación", "fr": "Opération"},
        "concessional.country": {"en": "Country", "es": "País", "fr": "Pays"},
        "concessional.loan": {"en": "Loan amount", "es": "Importe del préstamo", "fr": "Montant du prêt"},
        "concessional.concessionality": {
            "en": "Concessionality",
            "es": "Concesionalidad",
            "fr": "Concessionnalité",
        },
        "concessional.agency_costs": {
            "en": "Agency costs",
            "es": "Costos del organismo",
            "fr": "Coûts de l'organisme",
        },
        "concessional.ge_before": {
            "en": "Grant element before",
            "es": "Elemento de donación antes",
            "fr": "Élément-don avant",
        },
        "concessional.ge_after": {
            "en": "Grant element after",
            "es": "Elemento de donación después",
            "fr": "Élément-don après",
        },
        "concessional.leverage": {
            "en": "Leverage",
            "es": "Apalancamiento",
            "fr": "Effet de levier",
        },
        "concessional.status": {"en": "Status", "es": "Estado", "fr": "Statut"},
        "concessional.board_approved_on": {
            "en": "Board approval",
            "es": "Aprobación del directorio",
            "fr": "Approbation du conseil",
        },
        "concessional.effective_on": {"en": "Effectiveness", "es": "Entrada en vigor", "fr": "Entrée en vigueur"},
        "concessional.transferred": {
            "en": "Transferred, net of refunds",
            "es": "Transferido, deducidos los reembolsos",
            "fr": "Transféré, net des remboursements",
        },
        "concessional.pending": {
            "en": "Approved, pending cash transfer",
            "es": "Aprobado, pendiente de transferencia",
            "fr": "Approuvé, en attente de transfert",
        },
        "concessional.refunds": {
            "en": "Refunds receivable",
            "es": "Reembolsos por cobrar",
            "fr": "Remboursements à recevoir",
        },
        "concessional.subtotal": {
            "en": "Subtotal {agency}",
            "es": "Subtotal {agency}",
            "fr": "Sous-total {agency}",
        },
        "concessional.rule_title": {
            "en": "What the figures are",
            "es": "Qué son las cifras",
            "fr": "Ce que sont les chiffres",
        },
        "concessional.rule": {
            "en": "Each operation is a grant of the facility to an implementation support agency that brings "
            "the agency's loan to a benefitting country from market terms to concessional terms. The loan is "
            "in its own currency; the concessionality (the present value of the interest the grant pays down) "
            "and the agency's costs are in the reporting currency. The grant element is that of the loan at "
            "the discount rate that applies to the country, before and after the grant; the leverage is the "
            "loan per unit of concessionality. Windows are named by their codes. Transferred, pending "
            "and refunds receivable are the ledger balances of the operation's grant. Subtotals add a loan "
            "column only where its loans share a currency.",
            "es": "Cada operación es una donación del mecanismo a un organismo de apoyo a la ejecución que "
            "lleva el préstamo del organismo a un país beneficiario de condiciones de mercado a condiciones "
            "favorables. El préstamo figura en su propia moneda; la concesionalidad (el valor actual de los "
            "intereses que paga la donación) y los costos del organismo, en la moneda de presentación. El "
            "elemento de donación es el del préstamo a la tasa de descuento aplicable al país, antes y "
            "después de la donación; el apalancamiento es el préstamo por unidad de concesionalidad. Las "
            "ventanillas se designan por su código. Lo transferido, lo pendiente y los reembolsos por cobrar "
            "son los saldos contables de la donación de la operación. Los subtotales suman una columna de "
            "préstamos solo cuando sus préstamos comparten moneda.",
            "fr": "Chaque opération est un don du mécanisme à un organisme d'appui à la mise en œuvre qui fait "
            "passer le prêt de l'organisme à un pays bénéficiaire des conditions du marché à des conditions "
            "concessionnelles. Le prêt est dans sa propre monnaie ; la concessionnalité (la valeur actuelle des "
            "intérêts que le don prend en charge) et les coûts de l'organisme, dans la monnaie de "
            "présentation. L'élément-don est celui du prêt au taux d'actualisation applicable au pays, avant "
            "et après le don ; l'effet de levier est le prêt par unité de concessionnalité. Les guichets sont "
            "désignés par leur code. Le transféré, l'attente de transfert et les remboursements à recevoir "
            "sont les soldes comptables du don de l'opération. Les sous-totaux n'additionnent une colonne de prêts que "
            "si ses prêts sont dans la même monnaie.",
        },
        **{
            f"concessional.status.{status}": dict(zip(("en", "es", "fr"), words, strict=True))
            for status, words in STATUS_WORDS.items()
        },
    }
)

L = Label.of
LEVERAGE_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Operation:
    """One adopted financing request with its agency's name and its grant's id."""

    request: FinancingRequest
    agency: str
    grant_id: int


async def operations(session: AsyncSession, as_of: date | None = None) -> list[Operation]:
    """The financing requests whose adoption made a grant (by the end of ``as_of``, when given), by agency
    name and then in the order they were adopted."""
    query = (
        select(FinancingRequest, col(Organisation.name), col(Grant.id))
        .join(Grant, col(Grant.id) == col(FinancingRequest.grant_id))
        .join(Organisation, col(Organisation.id) == col(FinancingRequest.agency_id))
        .order_by(col(Organisation.name), col(Organisation.id), col(Grant.id))
    )
    if as_of is not None:
        query = query.where(col(Grant.created_at) < figures.end_of(as_of))
    rows = (await session.execute(query)).all()
    return [Operation(request, str(agency), int(grant_id or 0)) for request, agency, grant_id in rows]


def status_as_of(request: FinancingRequest, as_of: date) -> str:
    """An adopted operation's status at the end of ``as_of``: cancelled, effective, approved by the agency's
    board, or approved and pending cash transfer, by the dates recorded on or before that day."""
    if request.cancelled_on is not None and request.cancelled_on <= as_of:
        return LoanStatus.CANCELLED.value
    if request.effective_on is not None and request.effective_on <= as_of:
        return LoanStatus.EFFECTIVE.value
    if request.board_approved_on is not None and request.board_approved_on <= as_of:
        return LoanStatus.BOARD_APPROVED.value
    return LoanStatus.APPROVED.value


def percent_ratio(text: str) -> Ratio:
    """A percentage stored as a decimal string ("32.3909") as a fraction; none when it was not computed."""
    try:
        return Ratio(Decimal(text) / 100) if text else Ratio(None)
    except InvalidOperation:
        return Ratio(None)


def leverage_of(text: str) -> Rate | None:
    try:
        return Rate(Decimal(text)) if text else None
    except InvalidOperation:
        return None


def _on_or_before(day: date | None, as_of: date) -> date | None:
    return day if day is not None and day <= as_of else None


@dataclass(frozen=True, slots=True)
class _Balances:
    """Per grant, its ledger balances as of the report's day (reporting currency, debit positive)."""

    transferred: dict[int, int]
    pending: dict[int, int]
    refunds: dict[int, int]


async def _balances(session: AsyncSession, as_of: date, grant_ids: Sequence[int]) -> _Balances:
    found: dict[str, dict[int, int]] = {}
    for name, accounts in (
        ("transferred", (chart.DISBURSED,)),
        ("pending", (chart.ALLOCATED, chart.COMMITTED)),
        ("refunds", (chart.REFUNDS_RECEIVABLE,)),
    ):
        sums = await figures.sums(session, Selection(accounts, as_of), ("grant",)) if grant_ids else {}
        found[name] = {int(k[0]): v for k, v in sums.items() if k[0] is not None}
    return _Balances(**found)


async def build(ctx: ReportContext, *, as_of: date) -> Report:
    session = ctx.session
    found = await operations(session, as_of)
    balances = await _balances(session, as_of, [op.grant_id for op in found])
    windows: dict[int, Name] = dict(await figures.windows_as_of(session, as_of))
    groups: dict[str, list[Operation]] = {}
    for op in found:
        groups.setdefault(op.agency, []).append(op)
    return await ctx.report(
        NAME,
        L("concessional.title"),
        None,
        as_of,
        (_terms_table(ctx, groups, windows), _cash_table(ctx, groups, balances, as_of)),
        notes=(Note(L("concessional.rule_title"), (L("concessional.rule"),)),),
        parameters={"as_of": as_of.isoformat()},
    )


def _loan_sum(ops: Sequence[Operation]) -> Amount | None:
    """The loans added up when they share a currency; none otherwise (or with no loans)."""
    currencies = {op.request.loan_currency for op in ops}
    if len(currencies) != 1:
        return None
    return Amount(sum(op.request.loan_amount for op in ops), currencies.pop())


def _group_leverage(ops: Sequence[Operation], currency: str) -> Rate | None:
    """A group's loans over its concessionality, when every loan is in the reporting currency."""
    concessionality = sum(op.request.concessionality for op in ops)
    if not ops or concessionality <= 0 or any(op.request.loan_currency != currency for op in ops):
        return None
    ratio = Decimal(sum(op.request.loan_amount for op in ops)) / Decimal(concessionality)
    return Rate(ratio.quantize(LEVERAGE_PLACES, rounding=ROUND_HALF_EVEN))


def _terms_row_sums(ops: Sequence[Operation], currency: str) -> tuple[Cell, ...]:
    return (
        None,
        None,
        _loan_sum(ops),
        figures.plain(sum(op.request.concessionality for op in ops), currency),
        figures.plain(sum(op.request.agency_costs for op in ops), currency),
        None,
        None,
        _group_leverage(ops, currency),
    )


def _terms_table(ctx: ReportContext, groups: dict[str, list[Operation]], windows: dict[int, Name]) -> Table:
    """Per agency, each operation's country, window, loan and the terms the grant bought; subtotals, total."""
    currency = ctx.currency
    rows: list[Row] = []
    for agency, ops in groups.items():
        rows.append(Row((agency, *([None] * 8)), RowStyle.HEADING))
        for op in ops:
            r = op.request
            rows.append(
                Row(
                    (
                        r.title,
                        Territory(r.country),
                        windows[r.window_id].code if r.window_id in windows else str(r.window_id),
                        Amount(r.loan_amount, r.loan_currency),
                        figures.plain(r.concessionality, currency),
                        figures.plain(r.agency_costs, currency),
                        percent_ratio(r.grant_element_before),
                        percent_ratio(r.grant_element_after),
                        leverage_of(r.leverage),
                    ),
                    level=1,
                )
            )
        rows.append(
            Row((L("concessional.subtotal", agency=agency), *_terms_row_sums(ops, currency)), RowStyle.SUBTOTAL)
        )
    every = [op for ops in groups.values() for op in ops]
    rows.append(Row((L("common.total"), *_terms_row_sums(every, currency)), RowStyle.TOTAL))
    return Table(
        "terms",
        L("concessional.terms"),
        (
            Column("operation", L("concessional.operation"), ColumnKind.TEXT),
            Column("country", L("concessional.country"), ColumnKind.TEXT),
            Column("window", L("common.window"), ColumnKind.TEXT),
            Column("loan", L("concessional.loan"), ColumnKind.MONEY),
            Column("concessionality", L("concessional.concessionality"), ColumnKind.MONEY),
            Column("agency_costs", L("concessional.agency_costs"), ColumnKind.MONEY),
            Column("ge_before", L("concessional.ge_before"), ColumnKind.PERCENT),
            Column("ge_after", L("concessional.ge_after"), ColumnKind.PERCENT),
            Column("leverage", L("concessional.leverage"), ColumnKind.RATE),
        ),
        tuple(rows),
    )


def _cash_sums(ops: Sequence[Operation], balances: _Balances, currency: str) -> tuple[Cell, ...]:
    return tuple(
        figures.plain(sum(part.get(op.grant_id, 0) for op in ops), currency)
        for part in (balances.transferred, balances.pending, balances.refunds)
    )


def _cash_table(ctx: ReportContext, groups: dict[str, list[Operation]], balances: _Balances, as_of: date) -> Table:
    """Per agency, each operation's status and dates as of the day and its grant's ledger balances (each
    with the query that lists its entries); subtotals and the total."""
    currency = ctx.currency
    rows: list[Row] = []
    for agency, ops in groups.items():
        rows.append(Row((agency, *([None] * 6)), RowStyle.HEADING))
        for op in ops:
            r, g = op.request, op.grant_id
            rows.append(
                Row(
                    (
                        r.title,
                        L(f"concessional.status.{status_as_of(r, as_of)}"),
                        _on_or_before(r.board_approved_on, as_of),
                        _on_or_before(r.effective_on, as_of),
                        figures.figure(
                            balances.transferred.get(g, 0), currency, Selection((chart.DISBURSED,), as_of, grant_id=g)
                        ),
                        figures.figure(
                            balances.pending.get(g, 0),
                            currency,
                            Selection((chart.ALLOCATED, chart.COMMITTED), as_of, grant_id=g),
                        ),
                        figures.figure(
                            balances.refunds.get(g, 0),
                            currency,
                            Selection((chart.REFUNDS_RECEIVABLE,), as_of, grant_id=g),
                        ),
                    ),
                    level=1,
                )
            )
        rows.append(
            Row(
                (L("concessional.subtotal", agency=agency), None, None, None, *_cash_sums(ops, balances, currency)),
                RowStyle.SUBTOTAL,
            )
        )
    every = [op for ops in groups.values() for op in ops]
    rows.append(Row((L("common.total"), None, None, None, *_cash_sums(every, balances, currency)), RowStyle.TOTAL))
    return Table(
        "cash",
        L("concessional.cash"),
        (
            Column("operation", L("concessional.operation"), ColumnKind.TEXT),
            Column("status", L("concessional.status"), ColumnKind.TEXT),
            Column("board_approved_on", L("concessional.board_approved_on"), ColumnKind.DATE),
            Column("effective_on", L("concessional.effective_on"), ColumnKind.DATE),
            Column("transferred", L("concessional.transferred"), ColumnKind.MONEY),
            Column("pending", L("concessional.pending"), ColumnKind.MONEY),
            Column("refunds", L("concessional.refunds"), ColumnKind.MONEY),
        ),
        tuple(rows),
    )
