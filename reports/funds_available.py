"""Status of funds available for decisions (the GCFF's table), per window, for the pooled fund and in total.

Read from both books as of a date, in the reporting currency (``docs/reports.md`` names every line):

- contributions: pledges signed (1200 debits of ``pledge`` entries, at the signing rate) and fees assessed
  (1200 debits of ``assessment`` entries); what is still receivable (the 1200 balance, revalued);
- resources received for decisions: deposits net of the administrative-agent fee (8100, credit positive);
- pooled funds allocated to windows by the members (8200 lines of ``window_allocation`` entries: negative
  in the pooled fund, positive in the window, nil in total);
- funding decisions: grants approved and not yet signed (8300), signed and not yet transferred (8400):
  together the amounts pending cash transfer; transferred net of refunds (8500);
- funds available for decisions: resources received plus allocations less the funding decisions, which
  the budgetary book keeps as 8200; the report computes it from the other lines and it equals the 8200
  balance of each fund exactly (a test checks it).

Investment income allocated to a fund by its time-weighted balance (``investment_income`` entries, 8100) is
part of its resources received and shown beside them; the memorandum's investment income is all income earned
(4200, interest posted by hand included). The secretariat's administrative budget (and its direct costs, 5300)
is a memorandum line: the ledger keeps it outside the budgetary book (the budget is paid from the facility's
cash, not from a window), so it is not part of the funds available.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from ledger import chart
from reports import figures
from reports.document import Amount, Cell, Column, ColumnKind, Label, Note, Report, Row, RowStyle, Table
from reports.figures import Selection
from reports.i18n import register
from reports.service import ReportContext

NAME = "funds-available"

register(
    {
        "funds_available.title": {
            "en": "Status of funds available for decisions",
            "es": "Situación de los fondos disponibles para decisiones",
            "fr": "État des fonds disponibles pour décision",
        },
        "funds_available.table": {
            "en": "Funds available by window",
            "es": "Fondos disponibles por ventanilla",
            "fr": "Fonds disponibles par guichet",
        },
        "funds_available.contributions": {"en": "Contributions", "es": "Contribuciones", "fr": "Contributions"},
        "funds_available.pledges": {
            "en": "Pledges signed",
            "es": "Promesas de contribución firmadas",
            "fr": "Annonces de contributions signées",
        },
        "funds_available.assessments": {
            "en": "Membership fees assessed",
            "es": "Cuotas de miembros fijadas",
            "fr": "Contributions statutaires mises en recouvrement",
        },
        "funds_available.total_contributions": {
            "en": "Total contributions",
            "es": "Total de contribuciones",
            "fr": "Total des contributions",
        },
        "funds_available.outstanding": {
            "en": "Contributions outstanding",
            "es": "Contribuciones pendientes de pago",
            "fr": "Contributions restant à recevoir",
        },
        "funds_available.resources": {
            "en": "Cash receipts made available (net of the administrative agent fee)",
            "es": "Ingresos en efectivo disponibles (deducida la comisión del agente administrativo)",
            "fr": "Encaissements mis à disposition (nets de la commission de l'agent administratif)",
        },
        "funds_available.income_received": {
            "en": "of which investment income allocated to the fund",
            "es": "de los cuales, ingresos por inversiones asignados al fondo",
            "fr": "dont revenus des placements alloués au fonds",
        },
        "funds_available.allocations": {
            "en": "Pooled funds allocated to windows",
            "es": "Fondos comunes asignados a las ventanillas",
            "fr": "Fonds communs alloués aux guichets",
        },
        "funds_available.total_resources": {
            "en": "Total resources for decisions",
            "es": "Total de recursos para decisiones",
            "fr": "Total des ressources pour décision",
        },
        "funds_available.decisions": {
            "en": "Funding decisions",
            "es": "Decisiones de financiación",
            "fr": "Décisions de financement",
        },
        "funds_available.approved": {
            "en": "Grants approved, agreement not yet signed",
            "es": "Subvenciones aprobadas, acuerdo aún no firmado",
            "fr": "Subventions approuvées, accord non encore signé",
        },
        "funds_available.committed": {
            "en": "Grants committed, not yet transferred",
            "es": "Subvenciones comprometidas, aún no transferidas",
            "fr": "Subventions engagées, non encore transférées",
        },
        "funds_available.pending": {
            "en": "Amounts pending cash transfer",
            "es": "Importes pendientes de transferencia",
            "fr": "Montants en attente de transfert",
        },
        "funds_available.transferred": {
            "en": "Transferred to implementing partners, net of refunds",
            "es": "Transferido a los asociados en la ejecución, deducidos los reembolsos",
            "fr": "Transféré aux partenaires d'exécution, net des remboursements",
        },
        "funds_available.total_decisions": {
            "en": "Total funding decisions",
            "es": "Total de decisiones de financiación",
            "fr": "Total des décisions de financement",
        },
        "funds_available.available": {
            "en": "Funds available for decisions",
            "es": "Fondos disponibles para decisiones",
            "fr": "Fonds disponibles pour décision",
        },
        "funds_available.memo": {
            "en": "Memorandum items (outside the funds available)",
            "es": "Partidas pro memoria (fuera de los fondos disponibles)",
            "fr": "Pour mémoire (hors fonds disponibles)",
        },
        "funds_available.investment_income": {
            "en": "Investment income to date",
            "es": "Ingresos por inversiones acumulados",
            "fr": "Revenus des placements cumulés",
        },
        "funds_available.admin_budget": {
            "en": "Administrative budget approved for {year}",
            "es": "Presupuesto administrativo aprobado para {year}",
            "fr": "Budget administratif approuvé pour {year}",
        },
        "funds_available.direct_costs": {
            "en": "Direct costs of the secretariat in {year}",
            "es": "Costos directos de la secretaría en {year}",
            "fr": "Coûts directs du secrétariat en {year}",
        },
        "funds_available.note_title": {
            "en": "How the funds available are derived",
            "es": "Cómo se obtienen los fondos disponibles",
            "fr": "Mode de calcul des fonds disponibles",
        },
        "funds_available.note": {
            "en": "Funds available are the resources received for decisions (deposits net of the administrative "
            "agent fee, and the investment income allocated to each fund by its time-weighted balance), plus or "
            "minus the pooled funds the members allocated, less the funding decisions; they equal the balance "
            "of the budgetary account 8200. The memorandum's investment income is all income earned (4200); "
            "the administrative budget is kept outside the budgetary book.",
            "es": "Los fondos disponibles son los recursos recibidos para decisiones (los depósitos, deducida la "
            "comisión del agente administrativo, y los ingresos por inversiones asignados a cada fondo según su "
            "saldo ponderado en el tiempo), más o menos los fondos comunes asignados por los miembros, menos "
            "las decisiones de financiación; equivalen al saldo de la cuenta presupuestaria 8200. Los ingresos "
            "por inversiones pro memoria son todos los ingresos obtenidos (4200); el presupuesto "
            "administrativo se lleva fuera del libro presupuestario.",
            "fr": "Les fonds disponibles sont les ressources reçues pour décision (les dépôts nets de la "
            "commission de l'agent administratif, et les revenus des placements alloués à chaque fonds selon "
            "son solde moyen pondéré dans le temps), plus ou moins les fonds communs alloués par les membres, "
            "moins les décisions de financement ; ils égalent le solde du compte budgétaire 8200. Les revenus "
            "des placements pour mémoire sont tous les revenus perçus (4200) ; le budget administratif est "
            "tenu hors du livre budgétaire.",
        },
    }
)

L = Label.of
# The accounts of the report's lines (the direct costs are a year's, read apart).
ACCOUNTS = (
    chart.CONTRIBUTIONS_RECEIVABLE,
    chart.RESOURCES_RECEIVED,
    chart.AVAILABLE,
    chart.ALLOCATED,
    chart.COMMITTED,
    chart.DISBURSED,
    chart.INVESTMENT_INCOME,
)


async def build(ctx: ReportContext, *, as_of: date) -> Report:
    session, currency = ctx.session, ctx.currency
    windows = await figures.windows_as_of(session, as_of)
    funds: list[int | None] = [wid for wid, _ in windows] + [None]

    # Every line below but the direct costs, from one read of the posting totals.
    read = await figures.totals_pass(session, ACCOUNTS, as_of)

    async def line(selection: Selection, *, sign: int = 1) -> tuple[list[Amount], list[int]]:
        """One amount per fund (windows, pooled) and the total: the selection's sums by window."""
        by_window = {k[0]: v for k, v in read.sums(selection, ("window",)).items()}
        values = [sign * by_window.get(fund, 0) for fund in funds]
        cells = [
            figures.figure(by_window.get(fund, 0), currency, selection.for_window(fund), sign=sign) for fund in funds
        ]
        cells.append(figures.figure(sum(by_window.values()), currency, selection, sign=sign))
        return cells, [*values, sum(values)]

    def s(*accounts: str, source_type: str | None = None) -> Selection:
        return Selection(accounts, as_of, source_type=source_type)

    pledges, pledged = await line(s(chart.CONTRIBUTIONS_RECEIVABLE, source_type="pledge"))
    assessments, assessed = await line(s(chart.CONTRIBUTIONS_RECEIVABLE, source_type="assessment"))
    outstanding, _ = await line(s(chart.CONTRIBUTIONS_RECEIVABLE))
    resources, received = await line(s(chart.RESOURCES_RECEIVED), sign=-1)
    income_received, _ = await line(s(chart.RESOURCES_RECEIVED, source_type="investment_income"), sign=-1)
    allocations, allocated = await line(s(chart.AVAILABLE, source_type="window_allocation"))
    approved, approved_values = await line(s(chart.ALLOCATED))
    committed, committed_values = await line(s(chart.COMMITTED))
    transferred, transferred_values = await line(s(chart.DISBURSED))
    income = read.amount(currency, s(chart.INVESTMENT_INCOME), sign=-1)
    year_start = date(as_of.year, 1, 1)
    direct_costs = await figures.amount(
        session, currency, Selection((chart.SECRETARIAT_DIRECT_COSTS,), as_of, year_start)
    )
    budget = await admin_budget(session, as_of)

    def plain(values: list[int]) -> list[Cell]:
        return [figures.plain(v, currency) for v in values]

    columns_count = len(funds) + 1
    blank: list[Cell] = [None] * columns_count
    contributions = [a + b for a, b in zip(pledged, assessed, strict=True)]
    total_resources = [a + b for a, b in zip(received, allocated, strict=True)]
    pending = [a + b for a, b in zip(approved_values, committed_values, strict=True)]
    decisions = [a + b for a, b in zip(pending, transferred_values, strict=True)]
    available = [a - b for a, b in zip(total_resources, decisions, strict=True)]

    def memo(cell: Cell) -> list[Cell]:
        return [*([None] * (columns_count - 1)), cell]

    rows = (
        Row((L("funds_available.contributions"), *blank), RowStyle.HEADING),
        Row((L("funds_available.pledges"), *pledges), level=1),
        Row((L("funds_available.assessments"), *assessments), level=1),
        Row((L("funds_available.total_contributions"), *plain(contributions)), RowStyle.SUBTOTAL),
        Row((L("funds_available.outstanding"), *outstanding), level=1),
        Row((L("funds_available.resources"), *resources), RowStyle.SUBTOTAL),
        Row((L("funds_available.income_received"), *income_received), level=2),
        Row((L("funds_available.allocations"), *allocations), level=1),
        Row((L("funds_available.total_resources"), *plain(total_resources)), RowStyle.SUBTOTAL),
        Row((L("funds_available.decisions"), *blank), RowStyle.HEADING),
        Row((L("funds_available.approved"), *approved), level=1),
        Row((L("funds_available.committed"), *committed), level=1),
        Row((L("funds_available.pending"), *plain(pending)), RowStyle.SUBTOTAL),
        Row((L("funds_available.transferred"), *transferred), level=1),
        Row((L("funds_available.total_decisions"), *plain(decisions)), RowStyle.SUBTOTAL),
        Row((L("funds_available.available"), *plain(available)), RowStyle.TOTAL),
        Row((L("funds_available.memo"), *blank), RowStyle.HEADING),
        Row((L("funds_available.investment_income"), *memo(income)), level=1),
        Row(
            (
                L("funds_available.admin_budget", year=as_of.year),
                *memo(None if budget is None else figures.plain(budget, currency)),
            ),
            level=1,
        ),
        Row((L("funds_available.direct_costs", year=as_of.year), *memo(direct_costs)), level=1),
    )
    columns = (
        Column("item", L("common.item"), ColumnKind.TEXT),
        *(Column(name.code, name, ColumnKind.MONEY) for _, name in windows),
        Column("pooled", L("common.pooled_fund"), ColumnKind.MONEY),
        Column("total", L("common.total"), ColumnKind.MONEY),
    )
    return await ctx.report(
        NAME,
        L("funds_available.title"),
        None,
        as_of,
        (Table("funds", L("funds_available.table"), columns, rows),),
        notes=(Note(L("funds_available.note_title"), (L("funds_available.note"),)),),
        parameters={"as_of": as_of.isoformat()},
    )


async def admin_budget(session: AsyncSession, as_of: date) -> int | None:
    """The administrative budget of the year of ``as_of`` as it stood at the end of that day, in minor units
    of the reporting currency."""
    decision = await figures.adopted_budget(session, as_of.year, figures.end_of(as_of))
    return None if decision is None else decision.amount
