"""Sources and uses of funds (the MPTF Office Gateway's layout), for a period and from inception to its end.

Cash basis: what came into the facility and what went out, in the reporting currency. Each line is a sum of
postings (``docs/reports.md`` names them):

- contributions: the cash lines of deposits, gross of the administrative-agent fee (1100 and 5200 in
  ``contribution`` entries: the fee is deducted from the cash and shown again as a use);
- investment income: 4200, credit shown positive;
- other income: the revaluation of cash and interest receivable at closing rates (1100 and 1210 in
  ``revaluation`` entries), a gain positive and a loss negative;
- transfers to implementing partners: 8500 in ``grant_disbursement`` entries; refunds from them: 8500 in
  ``grant_refund`` entries (negative);
- administrative-agent fee 5200, secretariat direct costs 5300, bank charges 5400.

The balance with the facility is the opening balance plus sources minus uses, exactly (the opening balance
is the same computation up to the day before the period); with every cash movement of these kinds, it
equals the balance of 1100 cash and 1210 interest receivable. Then: contributions and net transfers per
window (the pooled fund on its own row), deposits per contributor, and per implementing organisation the
transfers net of refunds, the expenditure its accepted reports declare (cumulative, the latest accepted by
the end of the period) and the delivery rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import col

from governance import Contributor
from ledger import chart
from proposals import Grant, Organisation
from reports import figures
from reports.document import Amount, Cell, Column, ColumnKind, Label, Report, Row, RowStyle, Table, Territory
from reports.figures import PostingSums, Selection
from reports.i18n import register
from reports.service import ReportContext

NAME = "sources-and-uses"

register(
    {
        "sources_uses.title": {
            "en": "Sources and uses of funds",
            "es": "Fuentes y usos de los fondos",
            "fr": "Sources et utilisations des fonds",
        },
        "sources_uses.summary": {
            "en": "Sources, uses and balance of funds",
            "es": "Fuentes, usos y saldo de los fondos",
            "fr": "Sources, utilisations et solde des fonds",
        },
        "sources_uses.period": {
            "en": "Reporting period",
            "es": "Período del informe",
            "fr": "Période considérée",
        },
        "sources_uses.inception": {
            "en": "Inception to date",
            "es": "Acumulado desde el inicio",
            "fr": "Cumul depuis la création",
        },
        "sources_uses.sources": {"en": "Sources of funds", "es": "Fuentes de fondos", "fr": "Sources des fonds"},
        "sources_uses.contributions": {
            "en": "Contributions from donors",
            "es": "Contribuciones de los donantes",
            "fr": "Contributions des donateurs",
        },
        "sources_uses.investment_income": {
            "en": "Investment income",
            "es": "Ingresos por inversiones",
            "fr": "Revenus des placements",
        },
        "sources_uses.other_income": {
            "en": "Other income (exchange differences on cash)",
            "es": "Otros ingresos (diferencias de cambio sobre el efectivo)",
            "fr": "Autres produits (écarts de change sur la trésorerie)",
        },
        "sources_uses.total_sources": {
            "en": "Total sources of funds",
            "es": "Total de fuentes de fondos",
            "fr": "Total des sources des fonds",
        },
        "sources_uses.uses": {"en": "Uses of funds", "es": "Usos de los fondos", "fr": "Utilisations des fonds"},
        "sources_uses.transfers": {
            "en": "Transfers to implementing partners",
            "es": "Transferencias a los asociados en la ejecución",
            "fr": "Transferts aux partenaires d'exécution",
        },
        "sources_uses.refunds": {
            "en": "Refunds from implementing partners",
            "es": "Reembolsos de los asociados en la ejecución",
            "fr": "Remboursements des partenaires d'exécution",
        },
        "sources_uses.fee": {
            "en": "Administrative agent fee",
            "es": "Comisión del agente administrativo",
            "fr": "Commission de l'agent administratif",
        },
        "sources_uses.direct_costs": {
            "en": "Direct costs of the secretariat",
            "es": "Costos directos de la secretaría",
            "fr": "Coûts directs du secrétariat",
        },
        "sources_uses.bank_charges": {"en": "Bank charges", "es": "Gastos bancarios", "fr": "Frais bancaires"},
        "sources_uses.total_uses": {
            "en": "Total uses of funds",
            "es": "Total de usos de los fondos",
            "fr": "Total des utilisations des fonds",
        },
        "sources_uses.net": {
            "en": "Sources less uses",
            "es": "Fuentes menos usos",
            "fr": "Sources moins utilisations",
        },
        "sources_uses.opening": {
            "en": "Balance at the beginning of the period",
            "es": "Saldo al inicio del período",
            "fr": "Solde en début de période",
        },
        "sources_uses.balance": {
            "en": "Balance with the facility",
            "es": "Saldo en poder del mecanismo",
            "fr": "Solde détenu par le mécanisme",
        },
        "sources_uses.balance_share": {
            "en": "Balance as a percentage of contributions",
            "es": "Saldo como porcentaje de las contribuciones",
            "fr": "Solde en pourcentage des contributions",
        },
        "sources_uses.by_window": {
            "en": "Contributions and transfers by window",
            "es": "Contribuciones y transferencias por ventanilla",
            "fr": "Contributions et transferts par guichet",
        },
        "sources_uses.pooled": {
            "en": "Pooled fund (not earmarked)",
            "es": "Fondo común (sin asignación específica)",
            "fr": "Fonds commun (non affecté)",
        },
        "sources_uses.contributions_period": {
            "en": "Contributions in the period",
            "es": "Contribuciones del período",
            "fr": "Contributions de la période",
        },
        "sources_uses.contributions_inception": {
            "en": "Contributions to date",
            "es": "Contribuciones acumuladas",
            "fr": "Contributions cumulées",
        },
        "sources_uses.transfers_period": {
            "en": "Net transfers in the period",
            "es": "Transferencias netas del período",
            "fr": "Transferts nets de la période",
        },
        "sources_uses.transfers_inception": {
            "en": "Net transfers to date",
            "es": "Transferencias netas acumuladas",
            "fr": "Transferts nets cumulés",
        },
        "sources_uses.by_contributor": {
            "en": "Contributions by contributor",
            "es": "Contribuciones por contribuyente",
            "fr": "Contributions par contributeur",
        },
        "sources_uses.contributor": {"en": "Contributor", "es": "Contribuyente", "fr": "Contributeur"},
        "sources_uses.by_organisation": {
            "en": "Transfers, expenditure and delivery by implementing organisation",
            "es": "Transferencias, gastos y ejecución por organización ejecutora",
            "fr": "Transferts, dépenses et taux d'exécution par organisation d'exécution",
        },
        "sources_uses.organisation": {
            "en": "Implementing organisation / grant",
            "es": "Organización ejecutora / subvención",
            "fr": "Organisation d'exécution / subvention",
        },
        "sources_uses.net_transfers": {
            "en": "Transfers net of refunds",
            "es": "Transferencias netas de reembolsos",
            "fr": "Transferts nets des remboursements",
        },
        "sources_uses.expenditure": {
            "en": "Reported expenditure",
            "es": "Gastos notificados",
            "fr": "Dépenses déclarées",
        },
        "sources_uses.delivery": {"en": "Delivery rate", "es": "Tasa de ejecución", "fr": "Taux d'exécution"},
    }
)

L = Label.of


@dataclass(frozen=True, slots=True)
class Lines:
    """The selections behind each line of the summary, for one column (its dates)."""

    contributions: Selection
    investment_income: Selection
    other_income: Selection
    transfers: Selection
    refunds: Selection
    fee: Selection
    direct_costs: Selection
    bank_charges: Selection

    @classmethod
    def of(cls, date_from: date | None, date_to: date) -> Lines:
        def s(*accounts: str, source_type: str | None = None) -> Selection:
            return Selection(accounts, date_to, date_from, source_type=source_type)

        return cls(
            contributions=s(chart.CASH, chart.ADMIN_AGENT_FEE, source_type="contribution"),
            investment_income=s(chart.INVESTMENT_INCOME),
            other_income=s(chart.CASH, chart.INTEREST_RECEIVABLE, source_type="revaluation"),
            transfers=s(chart.DISBURSED, source_type="grant_disbursement"),
            refunds=s(chart.DISBURSED, source_type="grant_refund"),
            fee=s(chart.ADMIN_AGENT_FEE),
            direct_costs=s(chart.SECRETARIAT_DIRECT_COSTS),
            bank_charges=s(chart.BANK_CHARGES),
        )


@dataclass(frozen=True, slots=True)
class Summary:
    """The summary's figures for one column, each with its entries."""

    contributions: Amount
    investment_income: Amount
    other_income: Amount
    transfers: Amount
    refunds: Amount
    fee: Amount
    direct_costs: Amount
    bank_charges: Amount

    @property
    def sources(self) -> int:
        return self.contributions.minor + self.investment_income.minor + self.other_income.minor

    @property
    def uses(self) -> int:
        return (
            self.transfers.minor
            + self.refunds.minor
            + self.fee.minor
            + self.direct_costs.minor
            + self.bank_charges.minor
        )

    @property
    def net(self) -> int:
        return self.sources - self.uses


# Every account the report reads; one pass over their postings gives every ledger figure (``_read``).
ACCOUNTS = (
    chart.CASH,
    chart.INTEREST_RECEIVABLE,
    chart.INVESTMENT_INCOME,
    chart.ADMIN_AGENT_FEE,
    chart.SECRETARIAT_DIRECT_COSTS,
    chart.BANK_CHARGES,
    chart.DISBURSED,
)


async def _read(ctx: ReportContext, date_from: date | None, date_to: date) -> PostingSums:
    """The postings behind every figure of the report, read once and cut into the spans its columns need:
    before the period (the opening balance) and the period itself (with the first, inception to date).
    A period that starts after it ends (refused by the API, possible for a direct caller) still has an
    opening balance up to the day before its start."""
    if date_from is None:
        return await figures.posting_sums(ctx.session, ACCOUNTS, date_to)
    if date_from <= date_to:
        return await figures.posting_sums(ctx.session, ACCOUNTS, date_to, [date_from])
    return await figures.posting_sums(
        ctx.session, ACCOUNTS, date_from - timedelta(days=1), [date_to + timedelta(days=1)]
    )


def summary(postings: PostingSums, currency: str, date_from: date | None, date_to: date) -> Summary:
    """Sources and uses of one column: the postings dated ``date_from`` (None: since inception) to ``date_to``."""
    lines = Lines.of(date_from, date_to)

    def get(selection: Selection, sign: int = 1) -> Amount:
        return postings.amount(currency, selection, sign=sign)

    return Summary(
        contributions=get(lines.contributions),
        investment_income=get(lines.investment_income, -1),
        other_income=get(lines.other_income),
        transfers=get(lines.transfers),
        refunds=get(lines.refunds),
        fee=get(lines.fee),
        direct_costs=get(lines.direct_costs),
        bank_charges=get(lines.bank_charges),
    )


def _columns(first: Label) -> tuple[Column, ...]:
    return (
        Column("item", first, ColumnKind.TEXT),
        Column("period", L("sources_uses.period"), ColumnKind.MONEY),
        Column("inception", L("sources_uses.inception"), ColumnKind.MONEY),
    )


async def build(ctx: ReportContext, *, date_from: date | None, date_to: date) -> Report:
    currency = ctx.currency
    postings = await _read(ctx, date_from, date_to)
    period = summary(postings, currency, date_from, date_to)
    inception = summary(postings, currency, None, date_to)
    opening = 0 if date_from is None else summary(postings, currency, None, date_from - timedelta(days=1)).net

    def money(minor: int) -> Amount:
        return figures.plain(minor, currency)

    def line(key: str, name: str) -> Row:
        return Row((L(f"sources_uses.{key}"), getattr(period, name), getattr(inception, name)), level=1)

    rows = (
        Row((L("sources_uses.sources"), None, None), RowStyle.HEADING),
        line("contributions", "contributions"),
        line("investment_income", "investment_income"),
        line("other_income", "other_income"),
        Row((L("sources_uses.total_sources"), money(period.sources), money(inception.sources)), RowStyle.SUBTOTAL),
        Row((L("sources_uses.uses"), None, None), RowStyle.HEADING),
        line("transfers", "transfers"),
        line("refunds", "refunds"),
        line("fee", "fee"),
        line("direct_costs", "direct_costs"),
        line("bank_charges", "bank_charges"),
        Row((L("sources_uses.total_uses"), money(period.uses), money(inception.uses)), RowStyle.SUBTOTAL),
        Row((L("sources_uses.net"), money(period.net), money(inception.net)), RowStyle.SUBTOTAL),
        Row((L("sources_uses.opening"), money(opening), None)),
        Row((L("sources_uses.balance"), money(opening + period.net), money(inception.net)), RowStyle.TOTAL),
        Row(
            (
                L("sources_uses.balance_share"),
                None,
                figures.share(inception.net, inception.contributions.minor),
            )
        ),
    )
    tables = (
        Table("summary", L("sources_uses.summary"), _columns(L("common.item")), rows),
        await _by_window(ctx, postings, date_from, date_to),
        await _by_contributor(ctx, postings, date_from, date_to),
        await _by_organisation(ctx, postings, date_to),
    )
    return await ctx.report(
        NAME,
        L("sources_uses.title"),
        date_from,
        date_to,
        tables,
        parameters={
            "date_from": "" if date_from is None else date_from.isoformat(),
            "date_to": date_to.isoformat(),
        },
    )


async def _by_window(ctx: ReportContext, postings: PostingSums, date_from: date | None, date_to: date) -> Table:
    session, currency = ctx.session, ctx.currency
    period, inception = Lines.of(date_from, date_to), Lines.of(None, date_to)
    # Net transfers: every 8500 posting is a transfer (debit) or a refund (credit); a closure releases 8400.
    columns = {
        "contributions_period": period.contributions,
        "contributions_inception": inception.contributions,
        "transfers_period": Selection((chart.DISBURSED,), date_to, date_from),
        "transfers_inception": Selection((chart.DISBURSED,), date_to),
    }
    values = {
        key: {k[0]: v for k, v in postings.sums(selection, ("window",)).items()} for key, selection in columns.items()
    }
    rows: list[Row] = []
    windows: list[tuple[int | None, Cell]] = list(await figures.windows_as_of(session, date_to))
    windows.append((None, L("sources_uses.pooled")))
    for window_id, name in windows:
        cells: list[Cell] = [name]
        for key, selection in columns.items():
            cells.append(figures.figure(values[key].get(window_id, 0), currency, selection.for_window(window_id)))
        rows.append(Row(tuple(cells), level=1))
    totals = [figures.plain(sum(values[key].values()), currency) for key in columns]
    rows.append(Row((L("common.total"), *totals), RowStyle.TOTAL))
    return Table(
        "by_window",
        L("sources_uses.by_window"),
        (
            Column("window", L("common.window"), ColumnKind.TEXT),
            *(Column(key, L(f"sources_uses.{key}"), ColumnKind.MONEY) for key in columns),
        ),
        tuple(rows),
    )


async def _by_contributor(ctx: ReportContext, postings: PostingSums, date_from: date | None, date_to: date) -> Table:
    session, currency = ctx.session, ctx.currency
    period, inception = Lines.of(date_from, date_to), Lines.of(None, date_to)

    def grouped(selection: Selection) -> dict[int | None, int]:
        return {key[0]: value for key, value in postings.sums(selection, ("contributor",)).items()}

    in_period = grouped(period.contributions)
    to_date = grouped(inception.contributions)
    # Member states by their CLDR names in the reader's language; listed in the order of the recorded names.
    names: dict[int | None, tuple[str, Cell]] = {
        contributor_id: (name, Territory(member) if member else name)
        for contributor_id, name, member in (
            await session.execute(select(col(Contributor.id), col(Contributor.name), col(Contributor.member_code)))
        ).all()
        if contributor_id in to_date
    }
    rows: list[Row] = []
    for contributor_id, (_, name) in sorted(names.items(), key=lambda item: (item[1][0], item[0])):
        rows.append(
            Row(
                (
                    name,
                    figures.figure(
                        in_period.get(contributor_id, 0),
                        currency,
                        period.contributions.but(contributor_id=contributor_id),
                    ),
                    figures.figure(
                        to_date.get(contributor_id, 0),
                        currency,
                        inception.contributions.but(contributor_id=contributor_id),
                    ),
                ),
                level=1,
            )
        )
    rows.append(
        Row(
            (
                L("common.total"),
                figures.plain(sum(in_period.values()), currency),
                figures.plain(sum(to_date.values()), currency),
            ),
            RowStyle.TOTAL,
        )
    )
    return Table(
        "by_contributor",
        L("sources_uses.by_contributor"),
        (
            Column("contributor", L("sources_uses.contributor"), ColumnKind.TEXT),
            Column("period", L("sources_uses.contributions_period"), ColumnKind.MONEY),
            Column("inception", L("sources_uses.contributions_inception"), ColumnKind.MONEY),
        ),
        tuple(rows),
    )


async def _by_organisation(ctx: ReportContext, postings: PostingSums, date_to: date) -> Table:
    session, currency = ctx.session, ctx.currency
    net = Selection((chart.DISBURSED,), date_to)
    transferred = {key[0]: value for key, value in postings.sums(net, ("grant",)).items()}
    # Plain columns, not ORM objects: a facility has thousands of grants and this reads two fields of each.
    grants = [
        (grant_id or 0, title, organisation_id or 0, organisation_name)
        for grant_id, title, organisation_id, organisation_name in (
            await session.execute(
                select(col(Grant.id), col(Grant.title), col(Organisation.id), col(Organisation.name))
                .join(Organisation, col(Organisation.id) == col(Grant.organisation_id))
                .where(col(Grant.start_date) <= date_to)
                .order_by(col(Organisation.name), col(Organisation.id), col(Grant.id))
            )
        ).all()
    ]
    spent = await figures.reported_expenditure(session, [grant_id for grant_id, *_ in grants], date_to)
    rows: list[Row] = []
    grand_transferred = grand_spent = 0
    by_organisation: dict[int, list[tuple[int, str]]] = {}
    names: dict[int, str] = {}
    for grant_id, title, organisation_id, organisation_name in grants:
        by_organisation.setdefault(organisation_id, []).append((grant_id, title))
        names[organisation_id] = organisation_name
    for organisation_id, its_grants in by_organisation.items():
        org_transferred = sum(transferred.get(grant_id, 0) for grant_id, _ in its_grants)
        org_spent = sum(spent.get(grant_id, 0) for grant_id, _ in its_grants)
        grand_transferred += org_transferred
        grand_spent += org_spent
        rows.append(
            Row(
                (
                    names[organisation_id],
                    figures.plain(org_transferred, currency),
                    figures.plain(org_spent, currency),
                    figures.delivery_rate(org_spent, org_transferred),
                ),
                RowStyle.SUBTOTAL,
            )
        )
        for grant_id, title in its_grants:
            grant_transferred = transferred.get(grant_id, 0)
            grant_spent = spent.get(grant_id, 0)
            rows.append(
                Row(
                    (
                        title,
                        figures.figure(grant_transferred, currency, net.but(grant_id=grant_id)),
                        figures.plain(grant_spent, currency),
                        figures.delivery_rate(grant_spent, grant_transferred),
                    ),
                    level=1,
                )
            )
    rows.append(
        Row(
            (
                L("common.total"),
                figures.plain(grand_transferred, currency),
                figures.plain(grand_spent, currency),
                figures.delivery_rate(grand_spent, grand_transferred),
            ),
            RowStyle.TOTAL,
        )
    )
    return Table(
        "by_organisation",
        L("sources_uses.by_organisation"),
        (
            Column("organisation", L("sources_uses.organisation"), ColumnKind.TEXT),
            Column("net_transfers", L("sources_uses.net_transfers"), ColumnKind.MONEY),
            Column("expenditure", L("sources_uses.expenditure"), ColumnKind.MONEY),
            Column("delivery", L("sources_uses.delivery"), ColumnKind.PERCENT),
        ),
        tuple(rows),
    )
