"""The contributor report: what one contributor pledged, paid and still owes, its exchange effects, its share
of each fund and what the money of those funds financed, as of a date (``docs/reports.md``).

The share rule: a window's resources for decisions are the net deposits earmarked to it plus the pooled money
the members allocated to it. The earmarked part is shared by the contributors that earmarked deposits to the
window, pro rata to those deposits (the budgetary 8100 credits by contributor and window); the pooled part
by the contributors that deposited into the pooled fund, pro rata to their pooled deposits, since they
supplied it; what the pooled fund keeps is shared by them likewise. What a fund transferred net of refunds
(8500) and what it has approved or committed and not yet transferred (8300 and 8400) are shared in
proportion to each contributor's share of the fund's resources. A fund's investment income (its part of the
interest earned on cash held, ``governance.rules`` "investment income": 8100 credits of source
``investment_income``, made available in the fund) is not a deposit: it is shared in proportion to each
contributor's share of the fund's other resources (kept plus allocated), as the transfers are, and counts in
the resources that share the transfers and decisions. Every split is by largest remainder
(``ledger.money.allocate``), so the contributors' shares of a fund always sum exactly to the fund's totals.

What its money financed: the grants of the windows it holds a part of, and apart from them the concessional
operations of those windows (grants to a development bank that buy down a loan, ``reports/concessional.py``),
each with its agency, country, loan and concessionality, and the contributor's part of that concessionality
in proportion to its share of the window's resources (largest remainder, as every split here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core.errors import NotFound
from fundapp.core.schemas import INT32_MAX
from governance import Contribution, Contributor, Pledge, PledgeInstalment, Window
from governance import rules as governance_rules
from ledger import chart
from proposals import Grant
from reports import figures
from reports.concessional import Operation, operations
from reports.document import Amount, Cell, Column, ColumnKind, Label, Note, Report, Row, RowStyle, Table, Territory
from reports.figures import Selection
from reports.i18n import register
from reports.service import ReportContext

NAME = "contributor"
INCOME_SOURCE = governance_rules.INVESTMENT_INCOME_SOURCE

register(
    {
        "contributor.title": {
            "en": "Contributor report",
            "es": "Informe del contribuyente",
            "fr": "Rapport du contributeur",
        },
        "contributor.summary": {
            "en": "Contributions, payments and exchange effects",
            "es": "Contribuciones, pagos y efectos cambiarios",
            "fr": "Contributions, paiements et effets de change",
        },
        "contributor.pledged": {
            "en": "Pledged (at the signing rate)",
            "es": "Prometido (al tipo de cambio de la firma)",
            "fr": "Annoncé (au cours de la signature)",
        },
        "contributor.assessed": {
            "en": "Membership fees assessed",
            "es": "Cuotas de miembro fijadas",
            "fr": "Contributions statutaires mises en recouvrement",
        },
        "contributor.paid": {
            "en": "Paid (deposits received)",
            "es": "Pagado (depósitos recibidos)",
            "fr": "Versé (dépôts reçus)",
        },
        "contributor.unapplied": {
            "en": "of which credit not yet applied",
            "es": "de lo cual, crédito aún no aplicado",
            "fr": "dont crédit non encore imputé",
        },
        "contributor.outstanding": {
            "en": "Outstanding (receivable, revalued)",
            "es": "Pendiente (por cobrar, revalorizado)",
            "fr": "Restant dû (créance, réévaluée)",
        },
        "contributor.fee": {
            "en": "Administrative agent fee charged",
            "es": "Comisión del agente administrativo cobrada",
            "fr": "Commission de l'agent administratif prélevée",
        },
        "contributor.fx_realised": {
            "en": "Realised exchange gains (losses)",
            "es": "Ganancias (pérdidas) cambiarias realizadas",
            "fr": "Gains (pertes) de change réalisés",
        },
        "contributor.fx_unrealised": {
            "en": "Unrealised exchange gains (losses)",
            "es": "Ganancias (pérdidas) cambiarias no realizadas",
            "fr": "Gains (pertes) de change latents",
        },
        "contributor.pledges": {
            "en": "Pledges in their currency",
            "es": "Promesas en su moneda",
            "fr": "Annonces dans leur monnaie",
        },
        "contributor.reference": {"en": "Reference", "es": "Referencia", "fr": "Référence"},
        "contributor.fund": {"en": "Fund", "es": "Fondo", "fr": "Fonds"},
        "contributor.signed_on": {"en": "Signed on", "es": "Firmada el", "fr": "Signée le"},
        "contributor.pledge_amount": {"en": "Pledged", "es": "Prometido", "fr": "Annoncé"},
        "contributor.pledge_paid": {"en": "Paid", "es": "Pagado", "fr": "Versé"},
        "contributor.shares": {
            "en": "Share of each fund",
            "es": "Participación en cada fondo",
            "fr": "Part de chaque fonds",
        },
        "contributor.deposits": {
            "en": "Its deposits made available",
            "es": "Sus depósitos disponibles",
            "fr": "Ses dépôts mis à disposition",
        },
        "contributor.fund_deposits": {
            "en": "All deposits made available",
            "es": "Total de depósitos disponibles",
            "fr": "Total des dépôts mis à disposition",
        },
        "contributor.share": {"en": "Share", "es": "Participación", "fr": "Part"},
        "contributor.income": {
            "en": "Share of investment income",
            "es": "Parte de los ingresos por inversiones",
            "fr": "Part des produits de placement",
        },
        "contributor.resources": {
            "en": "Share of resources for decisions",
            "es": "Parte de los recursos para decisiones",
            "fr": "Part des ressources pour décision",
        },
        "contributor.transferred": {
            "en": "Share of net transfers",
            "es": "Parte de las transferencias netas",
            "fr": "Part des transferts nets",
        },
        "contributor.pending": {
            "en": "Share of decisions not yet transferred",
            "es": "Parte de las decisiones aún no transferidas",
            "fr": "Part des décisions non encore transférées",
        },
        "contributor.financed": {
            "en": "Grants of the funds it contributed to",
            "es": "Subvenciones de los fondos a los que contribuyó",
            "fr": "Subventions des fonds auxquels il a contribué",
        },
        "contributor.grant": {"en": "Grant", "es": "Subvención", "fr": "Subvention"},
        "contributor.grant_amount": {"en": "Approved", "es": "Aprobado", "fr": "Approuvé"},
        "contributor.net_transfers": {
            "en": "Transferred, net of refunds",
            "es": "Transferido, deducidos los reembolsos",
            "fr": "Transféré, net des remboursements",
        },
        "contributor.expenditure": {
            "en": "Reported expenditure",
            "es": "Gastos notificados",
            "fr": "Dépenses déclarées",
        },
        "contributor.delivery": {"en": "Delivery rate", "es": "Tasa de ejecución", "fr": "Taux d'exécution"},
        "contributor.concessional": {
            "en": "Concessional operations of the funds it contributed to",
            "es": "Operaciones en condiciones favorables de los fondos a los que contribuyó",
            "fr": "Opérations concessionnelles des fonds auxquels il a contribué",
        },
        "contributor.operation": {"en": "Operation", "es": "Operación", "fr": "Opération"},
        "contributor.agency": {
            "en": "Implementation support agency",
            "es": "Organismo de apoyo a la ejecución",
            "fr": "Organisme d'appui à la mise en œuvre",
        },
        "contributor.country": {"en": "Country", "es": "País", "fr": "Pays"},
        "contributor.loan": {"en": "Loan amount", "es": "Importe del préstamo", "fr": "Montant du prêt"},
        "contributor.concessionality": {
            "en": "Concessionality",
            "es": "Concesionalidad",
            "fr": "Concessionnalité",
        },
        "contributor.its_share": {
            "en": "Its share of the window",
            "es": "Su participación en la ventanilla",
            "fr": "Sa part du guichet",
        },
        "contributor.its_concessionality": {
            "en": "Its part of the concessionality",
            "es": "Su parte de la concesionalidad",
            "fr": "Sa part de la concessionnalité",
        },
        "contributor.rule_title": {
            "en": "How shares are computed",
            "es": "Cómo se calculan las participaciones",
            "fr": "Mode de calcul des parts",
        },
        "contributor.rule": {
            "en": "A window's resources are the deposits earmarked to it plus the pooled funds the members "
            "allocated to it. The earmarked part is shared among the contributors that earmarked deposits to "
            "the window, in proportion to those deposits; the pooled part, like the resources the pooled fund "
            "keeps, among the contributors to the pooled fund, in proportion to their pooled deposits. "
            "Deposits count net of the administrative agent fee. A fund's investment income (interest earned on "
            "the cash it held) is shared in proportion to each contributor's share of the fund's other "
            "resources. Transfers and decisions not yet transferred "
            "are shared in proportion to each contributor's share of the resources. Shares are rounded by "
            "largest remainder so that they add up exactly to the fund's totals.",
            "es": "Los recursos de una ventanilla son los depósitos asignados específicamente a ella más los "
            "fondos comunes que los miembros le asignaron. La parte asignada específicamente se reparte entre "
            "los contribuyentes que depositaron para la ventanilla, en proporción a esos depósitos; la parte "
            "procedente del fondo común, al igual que los recursos que conserva el fondo común, entre los "
            "contribuyentes al fondo común, en proporción a sus depósitos en él. Los depósitos se cuentan "
            "deducida la comisión del agente administrativo. Los ingresos por inversiones de un fondo (intereses "
            "devengados por el efectivo que mantenía) se reparten en proporción a la participación de cada "
            "contribuyente en los demás recursos del fondo. Las transferencias y las decisiones aún no "
            "transferidas se reparten en proporción a la participación de cada contribuyente en los recursos. "
            "Las participaciones se redondean por el mayor resto, de modo que suman exactamente los totales "
            "del fondo.",
            "fr": "Les ressources d'un guichet sont les dépôts qui lui sont affectés et les fonds communs que "
            "les membres lui ont alloués. La part affectée est répartie entre les contributeurs qui ont affecté "
            "des dépôts au guichet, au prorata de ces dépôts ; la part provenant du fonds commun, comme les "
            "ressources que conserve le fonds commun, entre les contributeurs au fonds commun, au prorata de "
            "leurs dépôts dans celui-ci. Les dépôts sont comptés nets de la commission de l'agent "
            "administratif. Les produits de placement d'un fonds (intérêts perçus sur la trésorerie qu'il détenait) "
            "sont répartis au prorata de la part de chaque contributeur dans les autres ressources du fonds. "
            "Les transferts et les décisions non encore transférées sont répartis au prorata de "
            "la part de chaque contributeur dans les ressources. Les parts sont arrondies au plus fort reste, "
            "de sorte qu'elles totalisent exactement les montants du fonds.",
        },
        "contributor.kept": {
            "en": "Share of the deposits kept in the fund",
            "es": "Parte de los depósitos que permanecen en el fondo",
            "fr": "Part des dépôts conservés dans le fonds",
        },
        "contributor.allocated": {
            "en": "Share of the pooled funds allocated to the window",
            "es": "Parte de los fondos comunes asignados a la ventanilla",
            "fr": "Part des fonds communs alloués au guichet",
        },
    }
)

L = Label.of


@dataclass(frozen=True, slots=True)
class FundTotals:
    """A fund's budgetary balances: its resources for decisions (8200 + 8300 + 8400 + 8500), what it
    transferred net of refunds (8500) and what it approved or committed and has not yet transferred (8300 +
    8400), in minor units of the reporting currency, debit positive."""

    resources: int = 0
    transferred: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class FundShares:
    """One fund (a window, or the pooled fund) and each contributor's part of it, by contributor id.

    ``deposits`` are the contributors' net deposits into the fund (the earmarked ones for a window, the
    pooled ones for the pooled fund), the weights of ``kept``: their share of the deposits still in the fund
    (all of a window's; what the pooled fund did not allocate). ``allocated`` is each pooled contributor's
    share of the pooled money allocated to a window. ``income`` is each contributor's share of the fund's
    investment income, by its share of kept plus allocated. ``resources`` is kept plus allocated plus income;
    ``transferred`` and ``pending`` follow the shares of the resources."""

    deposits: dict[int, int]
    kept: dict[int, int]
    allocated: dict[int, int]
    resources: dict[int, int]
    transferred: dict[int, int]
    pending: dict[int, int]
    income: dict[int, int] = field(default_factory=dict)

    def has(self, contributor_id: int) -> bool:
        """Whether the contributor deposited into the fund or holds a part of it."""
        return self.deposits.get(contributor_id, 0) > 0 or any(
            part.get(contributor_id, 0) != 0
            for part in (self.kept, self.allocated, self.income, self.transferred, self.pending)
        )


def share_funds(
    deposits: Mapping[tuple[int | None, int | None], int],
    totals: Mapping[int | None, FundTotals],
    currency: str,
    income: Mapping[int | None, int] | None = None,
) -> dict[int | None, FundShares]:
    """Every fund's shares (see the module's rule). ``deposits`` are the net deposits made available (8100,
    credit positive) by (window, contributor), a window of None being the pooled fund, without investment
    income; ``totals`` the funds' budgetary balances (with it); ``income`` each fund's investment income made
    available (8100 of source ``investment_income``, credit positive). A window's resources less its
    earmarked deposits and its income is the pooled money allocated to it. Contributors with no positive net
    deposits into a fund weigh nothing in it."""
    earned = income or {}
    weights: dict[int | None, dict[int, int]] = {}
    own: dict[int | None, int] = {}
    for (fund, contributor_id), value in deposits.items():
        own[fund] = own.get(fund, 0) + value
        if contributor_id is not None and value > 0:
            weights.setdefault(fund, {})[int(contributor_id)] = value
    pooled = weights.get(None, {})
    result: dict[int | None, FundShares] = {}
    for fund in {*own, *totals, *earned}:
        total = totals.get(fund, FundTotals())
        its_weights = weights.get(fund, {})
        its_income = earned.get(fund, 0)
        if fund is None:
            kept = figures.pro_rata(total.resources - its_income, currency, pooled)
            allocated: dict[int, int] = {}
        else:
            earmarked = own.get(fund, 0)
            kept = figures.pro_rata(earmarked, currency, its_weights)
            allocated = figures.pro_rata(total.resources - earmarked - its_income, currency, pooled)
        base = {k: kept.get(k, 0) + allocated.get(k, 0) for k in sorted({*kept, *allocated})}
        # The income follows the shares of what the fund held; a fund whose other resources are all spent
        # shares it by the deposits made into it (or, for a window, into the pooled fund that funded it).
        shared = figures.pro_rata(its_income, currency, base)
        if its_income and not shared:
            shared = figures.pro_rata(its_income, currency, its_weights or pooled)
        resources = {k: base.get(k, 0) + shared.get(k, 0) for k in sorted({*base, *shared})}
        result[fund] = FundShares(
            deposits=its_weights,
            kept=kept,
            allocated=allocated,
            resources=resources,
            transferred=figures.pro_rata(total.transferred, currency, resources),
            pending=figures.pro_rata(total.pending, currency, resources),
            income=shared,
        )
    return result


async def fund_shares(ctx: ReportContext, as_of: date) -> dict[int | None, FundShares]:
    """Every fund's shares as of a date, from three sums of the budgetary book."""
    session = ctx.session
    deposits = await figures.sums(session, Selection((chart.RESOURCES_RECEIVED,), as_of), ("window", "contributor"))
    earned = await figures.sums(
        session, Selection((chart.RESOURCES_RECEIVED,), as_of, source_type=INCOME_SOURCE), ("window",)
    )
    income = {key[0]: -value for key, value in earned.items() if value}
    # Investment income carries no contributor: it is no one's deposit.
    for fund, value in income.items():
        deposits[(fund, None)] = deposits.get((fund, None), 0) + value
    balances = await figures.sums(
        session,
        Selection((chart.AVAILABLE, chart.ALLOCATED, chart.COMMITTED, chart.DISBURSED), as_of),
        ("window", "account"),
    )
    per_fund: dict[int | None, dict[str, int]] = {}
    for (window_id, code), value in balances.items():
        per_fund.setdefault(window_id, {})[str(code)] = value
    totals = {
        fund: FundTotals(
            resources=sum(its.values()),
            transferred=its.get(chart.DISBURSED, 0),
            pending=its.get(chart.ALLOCATED, 0) + its.get(chart.COMMITTED, 0),
        )
        for fund, its in per_fund.items()
    }
    net = {key: -value for key, value in deposits.items() if value}
    return share_funds(net, totals, ctx.currency, income)


async def find(session: AsyncSession, contributor_id: int) -> Contributor:
    """The report's contributor; an unknown id (or one no id column could hold) is 404. The route asks it
    first, for the permission check (a delegate reads its own member's report); the identity map then
    answers ``build``'s call without a second query."""
    contributor = await session.get(Contributor, contributor_id) if 0 < contributor_id <= INT32_MAX else None
    if contributor is None:
        raise NotFound(f"no contributor with id {contributor_id}", field="contributor_id", rule="contributor-exists")
    return contributor


async def build(ctx: ReportContext, contributor_id: int, *, as_of: date) -> Report:
    session, currency = ctx.session, ctx.currency
    contributor = await find(session, contributor_id)

    def s(*accounts: str, source_type: str | None = None, **dims: object) -> Selection:
        return Selection(accounts, as_of, contributor_id=contributor_id, source_type=source_type).but(**dims)

    async def get(selection: Selection, sign: int = 1) -> Amount:
        return await figures.amount(session, currency, selection, sign=sign)

    summary_rows = (
        Row((L("contributor.pledged"), await get(s(chart.CONTRIBUTIONS_RECEIVABLE, source_type="pledge")))),
        Row((L("contributor.assessed"), await get(s(chart.CONTRIBUTIONS_RECEIVABLE, source_type="assessment")))),
        Row(
            (
                L("contributor.paid"),
                await get(s(chart.CASH, chart.ADMIN_AGENT_FEE, source_type="contribution")),
            )
        ),
        Row(
            (L("contributor.unapplied"), await get(s(chart.UNAPPLIED_CONTRIBUTIONS, chart.RECEIVED_IN_ADVANCE), -1)),
            level=1,
        ),
        Row((L("contributor.outstanding"), await get(s(chart.CONTRIBUTIONS_RECEIVABLE)))),
        Row((L("contributor.fee"), await get(s(chart.ADMIN_AGENT_FEE)))),
        Row((L("contributor.fx_realised"), await get(s(chart.FX_GAIN_REALISED, chart.FX_LOSS_REALISED), -1))),
        Row(
            (
                L("contributor.fx_unrealised"),
                await get(s(chart.FX_GAIN_UNREALISED, chart.FX_LOSS_UNREALISED), -1),
            )
        ),
    )
    windows = await figures.windows_as_of(session, as_of)
    names: dict[int | None, Cell] = {wid: name for wid, name in windows}
    names[None] = L("common.pooled_fund")
    tables = [
        Table(
            "summary",
            L("contributor.summary"),
            (
                Column("item", L("common.item"), ColumnKind.TEXT),
                Column("amount", L("common.amount"), ColumnKind.MONEY),
            ),
            summary_rows,
        ),
        await _pledges(ctx, contributor_id, as_of, names),
    ]
    shares = await fund_shares(ctx, as_of)
    tables.append(_shares_table(ctx, contributor_id, as_of, shares, [*[w for w, _ in windows], None], names))
    concessional = {op.grant_id: op for op in await operations(session, as_of)}
    tables.append(await _financed(ctx, contributor_id, as_of, shares, names, set(concessional)))
    financed_operations = _concessional_financed(ctx, contributor_id, shares, names, concessional)
    if financed_operations.rows[:-1]:
        tables.append(financed_operations)
    return await ctx.report(
        NAME,
        L("contributor.title"),
        None,
        as_of,
        tuple(tables),
        subject=Territory(contributor.member_code) if contributor.member_code else contributor.name,
        notes=(Note(L("contributor.rule_title"), (L("contributor.rule"),)),),
        parameters={"contributor_id": str(contributor_id), "as_of": as_of.isoformat()},
    )


async def _pledges(ctx: ReportContext, contributor_id: int, as_of: date, names: dict[int | None, Cell]) -> Table:
    """Each pledge signed by ``as_of`` in its own currency: the amount and what deposits applied to it."""
    session = ctx.session
    pledges = (
        await session.execute(
            select(Pledge)
            .where(col(Pledge.contributor_id) == contributor_id, col(Pledge.signed_on) <= as_of)
            .order_by(col(Pledge.signed_on), col(Pledge.id))
        )
    ).scalars()
    applied: dict[int, int] = dict(
        (
            await session.execute(
                select(col(PledgeInstalment.pledge_id), func.sum(col(Contribution.applied)))
                .join(PledgeInstalment, col(PledgeInstalment.id) == col(Contribution.instalment_id))
                .where(col(Contribution.contributor_id) == contributor_id, col(Contribution.value_date) <= as_of)
                .group_by(col(PledgeInstalment.pledge_id))
            )
        ).all()
    )
    rows = [
        Row(
            (
                pledge.reference,
                names.get(pledge.window_id, ""),
                pledge.signed_on,
                Amount(pledge.amount, pledge.currency),
                Amount(int(applied.get(pledge.id or 0, 0) or 0), pledge.currency),
            )
        )
        for pledge in pledges
    ]
    return Table(
        "pledges",
        L("contributor.pledges"),
        (
            Column("reference", L("contributor.reference"), ColumnKind.TEXT),
            Column("fund", L("contributor.fund"), ColumnKind.TEXT),
            Column("signed_on", L("contributor.signed_on"), ColumnKind.DATE),
            Column("amount", L("contributor.pledge_amount"), ColumnKind.MONEY),
            Column("paid", L("contributor.pledge_paid"), ColumnKind.MONEY),
        ),
        tuple(rows),
    )


def _shares_table(
    ctx: ReportContext,
    contributor_id: int,
    as_of: date,
    shares: dict[int | None, FundShares],
    funds: list[int | None],
    names: dict[int | None, Cell],
) -> Table:
    """One row per fund the contributor deposited into or holds a part of (a pooled contributor's part of
    the windows that received pooled money), windows by code and the pooled fund last."""
    currency = ctx.currency
    deposits = Selection((chart.RESOURCES_RECEIVED,), as_of)
    rows: list[Row] = []
    parts = ("kept", "allocated", "income", "resources", "transferred", "pending")
    totals = dict.fromkeys(parts, 0)
    for fund in funds:
        its = shares.get(fund)
        if its is None or not its.has(contributor_id):
            continue
        weight = its.deposits.get(contributor_id, 0)
        fund_total = sum(its.deposits.values())
        cells: list[Cell] = [
            names[fund],
            figures.figure(weight, currency, deposits.but(contributor_id=contributor_id).for_window(fund)),
            figures.figure(fund_total, currency, deposits.for_window(fund)),
            figures.share(weight, fund_total),
        ]
        for name in parts:
            value = getattr(its, name).get(contributor_id, 0)
            totals[name] += value
            # The pooled fund receives no allocation: its cell stays empty rather than a misleading zero.
            cells.append(None if name == "allocated" and fund is None else figures.plain(value, currency))
        rows.append(Row(tuple(cells)))
    rows.append(
        Row(
            (L("common.total"), None, None, None, *(figures.plain(v, currency) for v in totals.values())),
            RowStyle.TOTAL,
        )
    )
    return Table(
        "shares",
        L("contributor.shares"),
        (
            Column("fund", L("contributor.fund"), ColumnKind.TEXT),
            Column("deposits", L("contributor.deposits"), ColumnKind.MONEY),
            Column("fund_deposits", L("contributor.fund_deposits"), ColumnKind.MONEY),
            Column("share", L("contributor.share"), ColumnKind.PERCENT),
            Column("kept", L("contributor.kept"), ColumnKind.MONEY),
            Column("allocated", L("contributor.allocated"), ColumnKind.MONEY),
            Column("income", L("contributor.income"), ColumnKind.MONEY),
            Column("resources", L("contributor.resources"), ColumnKind.MONEY),
            Column("transferred", L("contributor.transferred"), ColumnKind.MONEY),
            Column("pending", L("contributor.pending"), ColumnKind.MONEY),
        ),
        tuple(rows),
    )


async def _financed(
    ctx: ReportContext,
    contributor_id: int,
    as_of: date,
    shares: dict[int | None, FundShares],
    names: dict[int | None, Cell],
    concessional: set[int],
) -> Table:
    """The grants of the windows the contributor holds a part of: those it earmarked deposits to and, for a
    contributor to the pooled fund, those that received pooled money. Concessional operations' grants are
    left to their own table (:func:`_concessional_financed`)."""
    session, currency = ctx.session, ctx.currency
    windows = {fund for fund, its in shares.items() if fund is not None and its.has(contributor_id)}
    grants = (
        (
            await session.execute(
                select(Grant)
                .join(Window, col(Window.id) == col(Grant.window_id))
                .where(col(Grant.window_id).in_(sorted(windows)), col(Grant.start_date) <= as_of)
                .order_by(col(Window.code), col(Grant.id))
            )
        )
        .scalars()
        .all()
    )
    net = Selection((chart.DISBURSED,), as_of)
    transferred = {k[0]: v for k, v in (await figures.sums(session, net, ("grant",))).items()}
    spent = await figures.reported_expenditure(session, [g.id or 0 for g in grants], as_of)
    rows: list[Row] = []
    total_amount = total_transferred = total_spent = 0
    for grant in grants:
        if grant.id in concessional:
            continue
        moved = transferred.get(grant.id, 0)
        used = spent.get(grant.id or 0, 0)
        total_amount += grant.amount
        total_transferred += moved
        total_spent += used
        rows.append(
            Row(
                (
                    grant.title,
                    names.get(grant.window_id, ""),
                    figures.plain(grant.amount, currency),
                    figures.figure(moved, currency, net.but(grant_id=grant.id)),
                    figures.plain(used, currency),
                    figures.delivery_rate(used, moved),
                )
            )
        )
    rows.append(
        Row(
            (
                L("common.total"),
                None,
                figures.plain(total_amount, currency),
                figures.plain(total_transferred, currency),
                figures.plain(total_spent, currency),
                figures.delivery_rate(total_spent, total_transferred),
            ),
            RowStyle.TOTAL,
        )
    )
    return Table(
        "financed",
        L("contributor.financed"),
        (
            Column("grant", L("contributor.grant"), ColumnKind.TEXT),
            Column("window", L("common.window"), ColumnKind.TEXT),
            Column("amount", L("contributor.grant_amount"), ColumnKind.MONEY),
            Column("net_transfers", L("contributor.net_transfers"), ColumnKind.MONEY),
            Column("expenditure", L("contributor.expenditure"), ColumnKind.MONEY),
            Column("delivery", L("contributor.delivery"), ColumnKind.PERCENT),
        ),
        tuple(rows),
    )


def _concessional_financed(
    ctx: ReportContext,
    contributor_id: int,
    shares: dict[int | None, FundShares],
    names: dict[int | None, Cell],
    concessional: dict[int, Operation],
) -> Table:
    """The concessional operations of the windows the contributor holds a part of: agency, country, window,
    loan (its currency), concessionality, the contributor's share of the window's resources and its part of
    the concessionality (largest remainder across the window's contributors); the total of those two."""
    currency = ctx.currency
    rows: list[Row] = []
    total_concessionality = total_part = 0
    for op in concessional.values():
        r = op.request
        its = shares.get(r.window_id)
        if its is None or not its.has(contributor_id):
            continue
        part = figures.pro_rata(r.concessionality, currency, its.resources).get(contributor_id, 0)
        total_concessionality += r.concessionality
        total_part += part
        rows.append(
            Row(
                (
                    r.title,
                    op.agency,
                    Territory(r.country),
                    names.get(r.window_id, ""),
                    Amount(r.loan_amount, r.loan_currency),
                    figures.plain(r.concessionality, currency),
                    figures.share(its.resources.get(contributor_id, 0), sum(its.resources.values())),
                    figures.plain(part, currency),
                )
            )
        )
    rows.append(
        Row(
            (
                L("common.total"),
                None,
                None,
                None,
                None,
                figures.plain(total_concessionality, currency),
                None,
                figures.plain(total_part, currency),
            ),
            RowStyle.TOTAL,
        )
    )
    return Table(
        "concessional",
        L("contributor.concessional"),
        (
            Column("operation", L("contributor.operation"), ColumnKind.TEXT),
            Column("agency", L("contributor.agency"), ColumnKind.TEXT),
            Column("country", L("contributor.country"), ColumnKind.TEXT),
            Column("window", L("common.window"), ColumnKind.TEXT),
            Column("loan", L("contributor.loan"), ColumnKind.MONEY),
            Column("concessionality", L("contributor.concessionality"), ColumnKind.MONEY),
            Column("share", L("contributor.its_share"), ColumnKind.PERCENT),
            Column("its_concessionality", L("contributor.its_concessionality"), ColumnKind.MONEY),
        ),
        tuple(rows),
    )
