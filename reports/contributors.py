"""The contributor report: what one contributor pledged, paid and still owes, its exchange effects, its share
of each fund and what the money of those funds financed, as of a date (``docs/reports.md``).

The share rule: each fund (a window, or the pooled fund) is attributed to the contributors that deposited
into it, pro rata to their deposits made available to it (the budgetary 8100 credits by contributor and
window; deposits to the pooled fund count toward the pooled fund). The fund's resources for decisions
(8100 plus the pooled money the members allocated to it, or less what the pooled fund gave), what it
transferred to implementing partners net of refunds (8500) and what it has approved or committed and not
yet transferred (8300 and 8400) are shared by largest remainder (``ledger.money.allocate``), so the
contributors' shares of a fund always sum exactly to the fund's totals.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlmodel import col

from fundapp.core.errors import NotFound
from governance.models import Contribution, Contributor, Pledge, PledgeInstalment, Window
from ledger import chart
from proposals.models import Grant
from reports import figures
from reports.document import Amount, Cell, Column, ColumnKind, Label, Note, Report, Row, RowStyle, Table
from reports.figures import Selection
from reports.i18n import register
from reports.service import ReportContext
from reports.sources_uses import reported_expenditure, window_names

NAME = "contributor"

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
        "contributor.item": {"en": "Item", "es": "Concepto", "fr": "Poste"},
        "contributor.amount": {"en": "Amount", "es": "Importe", "fr": "Montant"},
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
        "contributor.pooled": {"en": "Pooled fund", "es": "Fondo común", "fr": "Fonds commun"},
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
        "contributor.total": {"en": "Total", "es": "Total", "fr": "Total"},
        "contributor.financed": {
            "en": "Grants of the funds it contributed to",
            "es": "Subvenciones de los fondos a los que contribuyó",
            "fr": "Subventions des fonds auxquels il a contribué",
        },
        "contributor.grant": {"en": "Grant", "es": "Subvención", "fr": "Subvention"},
        "contributor.window": {"en": "Window", "es": "Ventanilla", "fr": "Guichet"},
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
        "contributor.rule_title": {
            "en": "How shares are computed",
            "es": "Cómo se calculan las participaciones",
            "fr": "Mode de calcul des parts",
        },
        "contributor.rule": {
            "en": "Each fund is shared among the contributors that deposited into it, in proportion to their "
            "deposits made available to it (net of the administrative agent fee); deposits that are not "
            "earmarked count toward the pooled fund. Shares are rounded by largest remainder so that they add "
            "up exactly to the fund's totals.",
            "es": "Cada fondo se reparte entre los contribuyentes que depositaron en él, en proporción a sus "
            "depósitos puestos a disposición (deducida la comisión del agente administrativo); los depósitos "
            "sin asignación específica cuentan para el fondo común. Las participaciones se redondean por el "
            "mayor resto, de modo que suman exactamente los totales del fondo.",
            "fr": "Chaque fonds est réparti entre les contributeurs qui y ont déposé, au prorata de leurs "
            "dépôts mis à disposition (nets de la commission de l'agent administratif) ; les dépôts non "
            "affectés comptent pour le fonds commun. Les parts sont arrondies au plus fort reste, de sorte "
            "qu'elles totalisent exactement les montants du fonds.",
        },
    }
)

L = Label.of


async def fund_shares(ctx: ReportContext, as_of: date) -> dict[int | None, dict[str, dict[int, int]]]:
    """Per fund (window id, None for the pooled fund): the deposits of each contributor (``weights``) and
    each contributor's share of the fund's ``resources``, ``transferred`` and ``pending`` (see the rule)."""
    session = ctx.session

    deposits = await figures.sums(session, Selection((chart.RESOURCES_RECEIVED,), as_of), ("window", "contributor"))
    totals: dict[str, dict[int | None, int]] = {}
    # A fund's resources for decisions: what its budgetary accounts hold (8200 to 8500 balance 8100 plus
    # the pooled money allocated to it, or less what the pooled fund gave).
    for name, selection in (
        ("resources", Selection((chart.AVAILABLE, chart.ALLOCATED, chart.COMMITTED, chart.DISBURSED), as_of)),
        ("transferred", Selection((chart.DISBURSED,), as_of)),
        ("pending", Selection((chart.ALLOCATED, chart.COMMITTED), as_of)),
    ):
        found = await figures.sums(session, selection, ("window",))
        totals[name] = {key[0]: value for key, value in found.items()}
    weights: dict[int | None, dict[int, int]] = {}
    for (window_id, contributor_id), value in deposits.items():
        if contributor_id is not None and -value > 0:
            weights.setdefault(window_id, {})[int(contributor_id)] = -value
    result: dict[int | None, dict[str, dict[int, int]]] = {}
    for fund, its_weights in weights.items():
        result[fund] = {"weights": its_weights}
        for name, per_fund in totals.items():
            result[fund][name] = figures.pro_rata(per_fund.get(fund, 0), ctx.currency, its_weights)
    return result


async def build(ctx: ReportContext, contributor_id: int, *, as_of: date) -> Report:
    session, currency = ctx.session, ctx.currency
    contributor = await session.get(Contributor, contributor_id) if contributor_id > 0 else None
    if contributor is None:
        raise NotFound(f"no contributor with id {contributor_id}", field="contributor_id", rule="contributor-exists")

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
        Row((L("contributor.unapplied"), await get(s(chart.UNAPPLIED_CONTRIBUTIONS), -1)), level=1),
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
    windows = await window_names(ctx)
    names: dict[int | None, Cell] = {wid: name for wid, name in windows}
    names[None] = L("contributor.pooled")
    tables = [
        Table(
            "summary",
            L("contributor.summary"),
            (
                Column("item", L("contributor.item"), ColumnKind.TEXT),
                Column("amount", L("contributor.amount"), ColumnKind.MONEY),
            ),
            summary_rows,
        ),
        await _pledges(ctx, contributor_id, as_of, names),
    ]
    shares = await fund_shares(ctx, as_of)
    tables.append(_shares_table(ctx, contributor_id, as_of, shares, [*[w for w, _ in windows], None], names))
    tables.append(await _financed(ctx, contributor_id, as_of, shares, names))
    return Report(
        name=NAME,
        title=L("contributor.title"),
        currency=currency,
        generated_at=ctx.now,
        ledger_head=ctx.ledger_head,
        date_from=None,
        date_to=as_of,
        tables=tuple(tables),
        subject=contributor.name,
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
    shares: dict[int | None, dict[str, dict[int, int]]],
    funds: list[int | None],
    names: dict[int | None, Cell],
) -> Table:
    currency = ctx.currency
    deposits = Selection((chart.RESOURCES_RECEIVED,), as_of)
    rows: list[Row] = []
    totals = {"resources": 0, "transferred": 0, "pending": 0}
    for fund in funds:
        its = shares.get(fund, {})
        weight = its.get("weights", {}).get(contributor_id, 0)
        if weight <= 0:
            continue
        fund_total = sum(its["weights"].values())
        cells: list[Cell] = [
            names[fund],
            figures.figure(weight, currency, deposits.but(contributor_id=contributor_id).for_window(fund)),
            figures.figure(fund_total, currency, deposits.for_window(fund)),
            figures.share(weight, fund_total),
        ]
        for name in totals:
            value = its[name].get(contributor_id, 0)
            totals[name] += value
            cells.append(figures.plain(value, currency))
        rows.append(Row(tuple(cells)))
    rows.append(
        Row(
            (L("contributor.total"), None, None, None, *(figures.plain(v, currency) for v in totals.values())),
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
    shares: dict[int | None, dict[str, dict[int, int]]],
    names: dict[int | None, Cell],
) -> Table:
    """The grants of the windows the contributor has a share of (the grants the pooled fund financed are
    those of the windows it gave money to)."""
    session, currency = ctx.session, ctx.currency
    windows = {fund for fund, its in shares.items() if its["weights"].get(contributor_id, 0) > 0 and fund is not None}
    if shares.get(None, {}).get("weights", {}).get(contributor_id, 0) > 0:
        allocated = await figures.sums(
            session, Selection((chart.AVAILABLE,), as_of, source_type="window_allocation"), ("window",)
        )
        windows |= {int(key[0]) for key, value in allocated.items() if key[0] is not None and value > 0}
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
    spent = await reported_expenditure(ctx, [g.id or 0 for g in grants], as_of)
    rows: list[Row] = []
    total_amount = total_transferred = total_spent = 0
    for grant in grants:
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
                L("contributor.total"),
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
            Column("window", L("contributor.window"), ColumnKind.TEXT),
            Column("amount", L("contributor.grant_amount"), ColumnKind.MONEY),
            Column("net_transfers", L("contributor.net_transfers"), ColumnKind.MONEY),
            Column("expenditure", L("contributor.expenditure"), ColumnKind.MONEY),
            Column("delivery", L("contributor.delivery"), ColumnKind.PERCENT),
        ),
        tuple(rows),
    )
