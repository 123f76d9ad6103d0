"""Funds available in the GCFF's own layout (``funds-available-gcff``): the trustee's summary table of the Global
Concessional Financing Facility, one column of cumulative figures as of a date, in the reporting currency,
in whole units or (``unit=millions``) in millions with two decimals, each line rounded on its own.

Every line is read as of ``as_of`` (postings dated on or before it; domain rows as they stood at the end of
that day, except where said), in the reporting currency (``docs/reports.md`` has the same list):

Supporting contributions
- contributions: what contributors have firmly agreed to give: pledges signed (1200 in ``pledge`` entries,
  at the signing rate) plus membership fees assessed (1200 in ``assessment`` entries), less the conditional
  pledges whose condition is not met yet (they are the pledges outstanding below);
- pledges outstanding: pledged and not yet firm, i.e. conditional pledges whose condition is not met: the
  credit balance of deferred revenue, 2300 (a conditional pledge credits it when signed, the condition met
  moves it to revenue). The facility records no pledge before it is signed, so there is nothing else
  announced and not yet receivable to add; contributions and pledges outstanding never count the same money;
- cash receipts: money received from contributors, gross of the administrative-agent fee (1100 and 5200 in
  ``contribution`` entries, as in sources and uses);
- investment income: the credit balance of 4200 (the ``investment_income`` entries, and interest posted by
  hand);
- total potential resources = contributions + pledges outstanding + investment income (cash receipts are a
  part of the contributions, not added).

Funding decisions (cumulative, net of cancellations and restructurings)
- concessionality: per financing request (``concessional.FinancingRequest``) adopted by ``as_of`` (its grant
  holds 8300 postings of a ``concessional_decision`` entry dated by then): its ``concessionality``, or, when
  it was cancelled on or before ``as_of`` (``cancelled_on``), what its grant transferred net of refunds (its
  8500 balance); a request cancelled later counts in full;
- MDB costs: the ``agency_costs`` of the same requests not cancelled by ``as_of``;
- grants to implementing partners: the facility's own grants (every grant that is not a financing request's),
  what their funding decisions allocated and still stands: their 8300 + 8400 + 8500 balances (net of the
  commitments released at closure and of refunds);
- administrative budget: for every year up to that of ``as_of``, the amount of the last ``admin_budget``
  decision adopted by the end of ``as_of`` (the ``admin_budgets`` row as it stood then);
- total funding decisions: the sum of the four.

- funds held in trust: the cash at the trustee, the 1100 balance in the reporting currency (revaluations
  included);
- approved amounts pending cash transfer: decided and not yet paid: every grant's 8300 + 8400 balance
  (concessional and ordinary), plus each year's administrative budget not yet spent (the year's budget less
  its secretariat direct costs, 5300, never below nil);
- funds available = funds held in trust - approved amounts pending cash transfer.

A financing request's amounts are read as they stand now: a restructuring recorded after ``as_of`` changes
the concessionality and MDB costs of an earlier report (the ledger lines do not change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from concessional import FinancingRequest
from fundapp.core.errors import InvalidInput
from governance import Decision, DecisionKind, DecisionResult
from ledger import chart, exponent
from reports import figures
from reports.document import (
    Amount,
    Column,
    ColumnKind,
    EntryQuery,
    Label,
    Note,
    Report,
    Row,
    RowStyle,
    Table,
    in_millions,
)
from reports.figures import Selection
from reports.i18n import register
from reports.service import ReportContext

NAME = "funds-available-gcff"
CONCESSIONAL_DECISION = "concessional_decision"


class Unit(StrEnum):
    """How the figures are shown: in whole units of the currency (with its decimals), or in millions."""

    UNITS = "units"
    MILLIONS = "millions"


def check_unit(unit: str | None) -> Unit:
    """The display unit asked for (whole units by default); anything else is refused."""
    if unit is None or unit == "":
        return Unit.UNITS
    try:
        return Unit(unit)
    except ValueError:
        raise InvalidInput(
            f"unit must be one of {', '.join(u.value for u in Unit)}, not {unit[:20]!r}", field="unit", rule="one_of"
        ) from None


register(
    {
        "gcff.title": {
            "en": "Funds available for funding decisions: summary",
            "es": "Fondos disponibles para decisiones de financiación: resumen",
            "fr": "Fonds disponibles pour les décisions de financement : synthèse",
        },
        "gcff.table": {
            "en": "Resources, funding decisions and funds available (cumulative)",
            "es": "Recursos, decisiones de financiación y fondos disponibles (acumulado)",
            "fr": "Ressources, décisions de financement et fonds disponibles (cumul)",
        },
        "gcff.supporting": {
            "en": "Supporting contributions",
            "es": "Contribuciones de los países de apoyo",
            "fr": "Contributions des pays d'appui",
        },
        "gcff.contributions": {"en": "Contributions", "es": "Contribuciones", "fr": "Contributions"},
        "gcff.pledges_outstanding": {
            "en": "Pledges outstanding",
            "es": "Promesas de contribución pendientes",
            "fr": "Annonces de contributions en attente",
        },
        "gcff.cash_receipts": {
            "en": "Cash receipts",
            "es": "Ingresos en efectivo",
            "fr": "Encaissements",
        },
        "gcff.investment_income": {
            "en": "Investment income",
            "es": "Ingresos por inversiones",
            "fr": "Revenus des placements",
        },
        "gcff.total_resources": {
            "en": "Total potential resources",
            "es": "Total de recursos potenciales",
            "fr": "Total des ressources potentielles",
        },
        "gcff.decisions": {
            "en": "Funding decisions (net of cancellations and restructurings)",
            "es": "Decisiones de financiación (deducidas las cancelaciones y reestructuraciones)",
            "fr": "Décisions de financement (nettes des annulations et restructurations)",
        },
        "gcff.concessionality": {"en": "Concessionality", "es": "Concesionalidad", "fr": "Concessionnalité"},
        "gcff.mdb_costs": {
            "en": "MDB costs",
            "es": "Costos de los bancos multilaterales de desarrollo",
            "fr": "Coûts des banques multilatérales de développement",
        },
        "gcff.partner_grants": {
            "en": "Grants to implementing partners",
            "es": "Subvenciones a los asociados en la ejecución",
            "fr": "Subventions aux partenaires d'exécution",
        },
        "gcff.admin_budget": {
            "en": "Administrative budget",
            "es": "Presupuesto administrativo",
            "fr": "Budget administratif",
        },
        "gcff.total_decisions": {
            "en": "Total funding decisions",
            "es": "Total de decisiones de financiación",
            "fr": "Total des décisions de financement",
        },
        "gcff.position": {
            "en": "Funds held in trust and funds available",
            "es": "Fondos mantenidos en fideicomiso y fondos disponibles",
            "fr": "Fonds détenus en fiducie et fonds disponibles",
        },
        "gcff.held_in_trust": {
            "en": "Funds held in trust",
            "es": "Fondos mantenidos en fideicomiso",
            "fr": "Fonds détenus en fiducie",
        },
        "gcff.pending": {
            "en": "Approved amounts pending cash transfer",
            "es": "Importes aprobados pendientes de transferencia",
            "fr": "Montants approuvés en attente de transfert",
        },
        "gcff.available": {
            "en": "Funds available",
            "es": "Fondos disponibles",
            "fr": "Fonds disponibles",
        },
        "gcff.note_title": {
            "en": "How the lines are read",
            "es": "Cómo se obtienen las partidas",
            "fr": "Mode de calcul des postes",
        },
        "gcff.note_resources": {
            "en": "Contributions are the pledges signed and the membership fees assessed, less the conditional "
            "pledges whose condition is not yet met, which are the pledges outstanding. Cash receipts are the "
            "part of the contributions received in cash; total potential resources are the contributions, the "
            "pledges outstanding and the investment income.",
            "es": "Las contribuciones son las promesas firmadas y las cuotas de miembros fijadas, deducidas las "
            "promesas condicionales cuya condición aún no se ha cumplido, que son las promesas pendientes. Los "
            "ingresos en efectivo son la parte de las contribuciones recibida en efectivo; el total de recursos "
            "potenciales suma las contribuciones, las promesas pendientes y los ingresos por inversiones.",
            "fr": "Les contributions sont les annonces signées et les contributions statutaires mises en "
            "recouvrement, moins les annonces conditionnelles dont la condition n'est pas encore remplie, qui "
            "sont les annonces en attente. Les encaissements sont la part des contributions reçue en espèces ; "
            "le total des ressources potentielles additionne les contributions, les annonces en attente et les "
            "revenus des placements.",
        },
        "gcff.note_decisions": {
            "en": "Funding decisions are cumulative: concessionality and MDB costs of the financing requests "
            "adopted (of a cancelled one, only what was transferred), the facility's own grants and the "
            "administrative budgets approved. Funds available are the funds held in trust less the amounts "
            "approved and not yet transferred (grants not yet paid and administrative budget not yet spent).",
            "es": "Las decisiones de financiación son acumuladas: la concesionalidad y los costos de los bancos "
            "multilaterales de desarrollo de las solicitudes de financiación aprobadas (de una cancelada, solo lo "
            "transferido), las subvenciones propias del mecanismo y los presupuestos administrativos aprobados. "
            "Los fondos disponibles son los fondos mantenidos en fideicomiso menos los importes aprobados aún no "
            "transferidos (subvenciones no pagadas y presupuesto administrativo no gastado).",
            "fr": "Les décisions de financement sont cumulées : concessionnalité et coûts des banques "
            "multilatérales de développement des demandes de financement adoptées (d'une demande annulée, "
            "seulement ce qui a été transféré), subventions propres du mécanisme et budgets administratifs "
            "approuvés. Les fonds disponibles sont les fonds détenus en fiducie moins les montants approuvés "
            "non encore transférés (subventions non payées et budget administratif non dépensé).",
        },
        "gcff.note_millions": {
            "en": "Amounts in millions, each line rounded on its own to two decimals (half up): a total may "
            "differ by a cent from the sum of the lines shown.",
            "es": "Importes en millones, cada partida redondeada por separado a dos decimales (la mitad hacia "
            "arriba): un total puede diferir en un céntimo de la suma de las partidas mostradas.",
            "fr": "Montants en millions, chaque poste arrondi séparément à deux décimales (au plus proche, la "
            "moitié vers le haut) : un total peut différer d'un centime de la somme des postes affichés.",
        },
    }
)

L = Label.of


@dataclass(frozen=True, slots=True)
class GcffFigures:
    """The table's figures in minor units of the reporting currency, exact (before any display rounding)."""

    contributions: int
    pledges_outstanding: int
    cash_receipts: int
    investment_income: int
    concessionality: int
    mdb_costs: int
    partner_grants: int
    admin_budget: int
    held_in_trust: int
    pending: int

    @property
    def total_resources(self) -> int:
        return self.contributions + self.pledges_outstanding + self.investment_income

    @property
    def total_decisions(self) -> int:
        return self.concessionality + self.mdb_costs + self.partner_grants + self.admin_budget

    @property
    def available(self) -> int:
        return self.held_in_trust - self.pending


# The table's lines in order: (label key, the figure's name, row style, level); None: a heading.
LINES: tuple[tuple[str, str | None, RowStyle, int], ...] = (
    ("gcff.supporting", None, RowStyle.HEADING, 0),
    ("gcff.contributions", "contributions", RowStyle.LINE, 1),
    ("gcff.pledges_outstanding", "pledges_outstanding", RowStyle.LINE, 1),
    ("gcff.cash_receipts", "cash_receipts", RowStyle.LINE, 1),
    ("gcff.investment_income", "investment_income", RowStyle.LINE, 1),
    ("gcff.total_resources", "total_resources", RowStyle.SUBTOTAL, 0),
    ("gcff.decisions", None, RowStyle.HEADING, 0),
    ("gcff.concessionality", "concessionality", RowStyle.LINE, 1),
    ("gcff.mdb_costs", "mdb_costs", RowStyle.LINE, 1),
    ("gcff.partner_grants", "partner_grants", RowStyle.LINE, 1),
    ("gcff.admin_budget", "admin_budget", RowStyle.LINE, 1),
    ("gcff.total_decisions", "total_decisions", RowStyle.SUBTOTAL, 0),
    ("gcff.position", None, RowStyle.HEADING, 0),
    ("gcff.held_in_trust", "held_in_trust", RowStyle.LINE, 1),
    ("gcff.pending", "pending", RowStyle.LINE, 1),
    ("gcff.available", "available", RowStyle.TOTAL, 0),
)


def table(found: GcffFigures, currency: str, unit: Unit, entries: Mapping[str, EntryQuery] | None = None) -> Table:
    """The GCFF's table of ``found`` (pure): one row per line of :data:`LINES`, each figure rounded on its own
    when shown in millions (a total is the rounding of the exact total, not the sum of rounded lines).
    ``entries`` gives the drill-down query of the lines read from one selection of the ledger."""
    links = entries or {}
    rows = []
    for key, name, style, level in LINES:
        if name is None:
            rows.append(Row((L(key), None), style, level))
            continue
        amount = Amount(getattr(found, name), currency, links.get(name))
        if unit is Unit.MILLIONS:
            amount = in_millions(amount, exponent(currency))
        rows.append(Row((L(key), amount), style, level))
    columns = (
        Column("item", L("common.item"), ColumnKind.TEXT),
        Column("amount", L("common.amount"), ColumnKind.MONEY),
    )
    return Table("gcff", L("gcff.table"), columns, tuple(rows))


def notes(unit: Unit) -> tuple[Note, ...]:
    paragraphs: tuple[Label, ...] = (L("gcff.note_resources"), L("gcff.note_decisions"))
    if unit is Unit.MILLIONS:
        paragraphs = (L("gcff.note_millions"), *paragraphs)
    return (Note(L("gcff.note_title"), paragraphs),)


async def build(ctx: ReportContext, *, as_of: date, unit: Unit = Unit.UNITS) -> Report:
    found, entries = await read(ctx.session, as_of)
    return await ctx.report(
        NAME,
        L("gcff.title"),
        None,
        as_of,
        (table(found, ctx.currency, unit, entries),),
        notes=notes(unit),
        parameters={"as_of": as_of.isoformat(), "unit": unit.value},
    )


# ---------------------------------------------------------------- reads


async def read(session: AsyncSession, as_of: date) -> tuple[GcffFigures, dict[str, EntryQuery]]:
    """The figures as of ``as_of`` (the module's docstring names each), and the drill-down query of each line
    that is one selection of the ledger."""
    selections = {
        "pledges": Selection((chart.CONTRIBUTIONS_RECEIVABLE,), as_of, source_type="pledge"),
        "assessments": Selection((chart.CONTRIBUTIONS_RECEIVABLE,), as_of, source_type="assessment"),
        "pledges_outstanding": Selection((chart.DEFERRED_REVENUE,), as_of),
        "cash_receipts": Selection((chart.CASH, chart.ADMIN_AGENT_FEE), as_of, source_type="contribution"),
        "investment_income": Selection((chart.INVESTMENT_INCOME,), as_of),
        "held_in_trust": Selection((chart.CASH,), as_of),
    }
    accounts = {account for selection in selections.values() for account in selection.accounts}
    read_pass = await figures.totals_pass(session, sorted(accounts), as_of)
    sums = {name: read_pass.total(selection) for name, selection in selections.items()}
    outstanding = -sums["pledges_outstanding"]

    grants = await _grant_balances(session, as_of)
    operations = await _concessional(session, as_of, grants)
    own_grants = sum(total for grant_id, (total, _, _) in grants.items() if grant_id not in operations.grant_ids)
    budgets = await _admin_budgets(session, as_of)
    unspent = 0
    for year, budget in budgets.items():
        spent = await figures.total(
            session, Selection((chart.SECRETARIAT_DIRECT_COSTS,), min(as_of, date(year, 12, 31)), date(year, 1, 1))
        )
        unspent += max(0, budget - spent)

    found = GcffFigures(
        contributions=sums["pledges"] + sums["assessments"] - outstanding,
        pledges_outstanding=outstanding,
        cash_receipts=sums["cash_receipts"],
        investment_income=-sums["investment_income"],
        concessionality=operations.concessionality,
        mdb_costs=operations.mdb_costs,
        partner_grants=own_grants,
        admin_budget=sum(budgets.values()),
        held_in_trust=sums["held_in_trust"],
        pending=sum(pending for _, pending, _ in grants.values()) + unspent,
    )
    linked = ("pledges_outstanding", "cash_receipts", "investment_income", "held_in_trust")
    links = {name: selections[name].query() for name in linked}
    return found, links


async def _grant_balances(session: AsyncSession, as_of: date) -> dict[int, tuple[int, int, int]]:
    """Per grant: its 8300 + 8400 + 8500 balance (what its decisions allocated and still stands), its 8300 +
    8400 balance (decided, not yet transferred) and its 8500 balance (transferred net of refunds)."""
    by_grant = await figures.sums(
        session, Selection((chart.ALLOCATED, chart.COMMITTED, chart.DISBURSED), as_of), ("account", "grant")
    )
    balances: dict[int, tuple[int, int, int]] = {}
    for (account, grant_id), amount in by_grant.items():
        if grant_id is None:
            continue
        total, pending, transferred = balances.get(grant_id, (0, 0, 0))
        if account == chart.DISBURSED:
            balances[grant_id] = (total + amount, pending, transferred + amount)
        else:
            balances[grant_id] = (total + amount, pending + amount, transferred)
    return balances


@dataclass(frozen=True, slots=True)
class _Operations:
    concessionality: int
    mdb_costs: int
    grant_ids: frozenset[int]


async def _concessional(session: AsyncSession, as_of: date, grants: Mapping[int, tuple[int, int, int]]) -> _Operations:
    """Concessionality and MDB costs of the financing requests adopted by ``as_of`` (see the module's
    docstring); ``grant_ids``: every financing request's grant, adopted or not, so none is counted among the
    facility's own grants."""
    adopted = await figures.sums(
        session, Selection((chart.ALLOCATED,), as_of, source_type=CONCESSIONAL_DECISION), ("grant",)
    )
    adopted_grants = {grant_id for (grant_id,), amount in adopted.items() if grant_id is not None and amount}
    rows = (
        await session.execute(
            select(
                col(FinancingRequest.grant_id),
                col(FinancingRequest.concessionality),
                col(FinancingRequest.agency_costs),
                col(FinancingRequest.cancelled_on),
            ).where(col(FinancingRequest.grant_id).is_not(None))
        )
    ).all()
    concessionality = mdb_costs = 0
    grant_ids: set[int] = set()
    for grant, amount, costs, cancelled_on in rows:
        grant_id = int(grant or 0)
        grant_ids.add(grant_id)
        if grant_id not in adopted_grants:
            continue
        if cancelled_on is not None and cancelled_on <= as_of:
            concessionality += grants.get(grant_id, (0, 0, 0))[2]
        else:
            concessionality += int(amount)
            mdb_costs += int(costs)
    return _Operations(concessionality, mdb_costs, frozenset(grant_ids))


async def _admin_budgets(session: AsyncSession, as_of: date) -> dict[int, int]:
    """Per year up to that of ``as_of``, the amount of the last ``admin_budget`` decision adopted by the end of
    ``as_of`` (minor units of the reporting currency)."""
    decisions = (
        (
            await session.execute(
                select(Decision)
                .where(
                    col(Decision.kind) == DecisionKind.ADMIN_BUDGET.value,
                    col(Decision.result) == DecisionResult.ADOPTED.value,
                    col(Decision.closed_at) < figures.end_of(as_of),
                )
                .order_by(col(Decision.closed_at), col(Decision.id))
            )
        )
        .scalars()
        .all()
    )
    budgets: dict[int, int] = {}
    for decision in decisions:  # later ones replace earlier ones of the same year
        prefix, _, year = decision.subject.partition(":")
        if prefix == "budget" and year.isdigit() and int(year) <= as_of.year and decision.amount is not None:
            budgets[int(year)] = decision.amount
    return dict(sorted(budgets.items()))
