"""A window's portfolio as of a date: its proposals by state, what the members approved and committed, what
was disbursed and spent, and the grants by country, gender marker, GCM objective, SDG target and planned
beneficiaries (``docs/reports.md``).

Money comes from the ledger for the window dimension: approved is 8300 debited by funding decisions,
committed 8400 debited by agreements, disbursed the 8500 balance (transfers net of refunds), pending transfer
the 8400 balance. The breakdowns cover the window's grants (proposals the members approved): a grant's
amount and its net transfers are split across its countries by their shares (``proposal_countries``, by
largest remainder so the parts sum to the grant's figures); objectives, targets, the gender marker and the
planned beneficiaries come from the proposal's current content. A grant with several objectives (or
targets) counts under each, so those tables have no total.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from fundapp.core.errors import NotFound
from governance import Window
from ledger import Money, chart
from proposals import Grant, Proposal, ProposalCountry, ProposalVersion, Transition
from reports import figures
from reports.document import Cell, Column, ColumnKind, Label, Name, Report, Row, RowStyle, Table, Territory
from reports.figures import Selection
from reports.i18n import register
from reports.service import ReportContext

NAME = "window-portfolio"

STATES = (
    "draft",
    "submitted",
    "screening",
    "returned",
    "in_review",
    "recommended",
    "not_recommended",
    "under_decision",
    "approved",
    "rejected",
    "withdrawn",
)
STATE_WORDS = {
    "draft": ("Draft", "Borrador", "Brouillon"),
    "submitted": ("Submitted", "Presentada", "Soumise"),
    "screening": ("Screening", "En examen preliminar", "En présélection"),
    "returned": ("Returned for changes", "Devuelta para cambios", "Renvoyée pour modification"),
    "in_review": ("In review", "En evaluación", "En évaluation"),
    "recommended": ("Recommended", "Recomendada", "Recommandée"),
    "not_recommended": ("Not recommended", "No recomendada", "Non recommandée"),
    "under_decision": ("Under decision", "En decisión", "En cours de décision"),
    "approved": ("Approved", "Aprobada", "Approuvée"),
    "rejected": ("Rejected", "Rechazada", "Rejetée"),
    "withdrawn": ("Withdrawn", "Retirada", "Retirée"),
}
MARKER_WORDS = {
    0: (
        "0: not targeting gender equality",
        "0: no orientado a la igualdad de género",
        "0 : ne vise pas l'égalité des sexes",
    ),
    1: (
        "1: gender equality a significant objective",
        "1: la igualdad de género es un objetivo importante",
        "1 : l'égalité des sexes est un objectif important",
    ),
    2: (
        "2: gender equality the principal objective",
        "2: la igualdad de género es el objetivo principal",
        "2 : l'égalité des sexes est l'objectif principal",
    ),
}
SEX_WORDS = {
    "female": ("Female", "Mujeres", "Femmes"),
    "male": ("Male", "Hombres", "Hommes"),
    "other": ("Other", "Otro", "Autre"),
}

register(
    {
        "portfolio.title": {
            "en": "Window portfolio",
            "es": "Cartera de la ventanilla",
            "fr": "Portefeuille du guichet",
        },
        "portfolio.by_state": {
            "en": "Proposals by state",
            "es": "Propuestas por estado",
            "fr": "Propositions par état",
        },
        "portfolio.state": {"en": "State", "es": "Estado", "fr": "État"},
        "portfolio.proposals": {"en": "Proposals", "es": "Propuestas", "fr": "Propositions"},
        "portfolio.requested": {"en": "Amount requested", "es": "Importe solicitado", "fr": "Montant demandé"},
        "portfolio.figures": {"en": "Financial status", "es": "Situación financiera", "fr": "Situation financière"},
        "portfolio.approved": {
            "en": "Approved by the members",
            "es": "Aprobado por los miembros",
            "fr": "Approuvé par les membres",
        },
        "portfolio.committed": {
            "en": "Committed (agreements signed)",
            "es": "Comprometido (acuerdos firmados)",
            "fr": "Engagé (accords signés)",
        },
        "portfolio.disbursed": {
            "en": "Disbursed, net of refunds",
            "es": "Desembolsado, deducidos los reembolsos",
            "fr": "Décaissé, net des remboursements",
        },
        "portfolio.pending": {
            "en": "Committed, not yet disbursed",
            "es": "Comprometido, aún no desembolsado",
            "fr": "Engagé, non encore décaissé",
        },
        "portfolio.expenditure": {"en": "Reported expenditure", "es": "Gastos notificados", "fr": "Dépenses déclarées"},
        "portfolio.delivery": {"en": "Delivery rate", "es": "Tasa de ejecución", "fr": "Taux d'exécution"},
        "portfolio.grants": {"en": "Grants", "es": "Subvenciones", "fr": "Subventions"},
        "portfolio.by_country": {
            "en": "Grants by country",
            "es": "Subvenciones por país",
            "fr": "Subventions par pays",
        },
        "portfolio.country": {"en": "Country", "es": "País", "fr": "Pays"},
        "portfolio.by_marker": {
            "en": "Grants by gender marker",
            "es": "Subvenciones por marcador de género",
            "fr": "Subventions par marqueur de genre",
        },
        "portfolio.marker": {"en": "Gender marker", "es": "Marcador de género", "fr": "Marqueur de genre"},
        "portfolio.by_objective": {
            "en": "Grants by objective of the Global Compact for Migration",
            "es": "Subvenciones por objetivo del Pacto Mundial para la Migración",
            "fr": "Subventions par objectif du Pacte mondial sur les migrations",
        },
        "portfolio.objective": {"en": "Objective", "es": "Objetivo", "fr": "Objectif"},
        "portfolio.objective_n": {"en": "Objective {n}", "es": "Objetivo {n}", "fr": "Objectif {n}"},
        "portfolio.by_target": {
            "en": "Grants by Sustainable Development Goal target",
            "es": "Subvenciones por meta de los Objetivos de Desarrollo Sostenible",
            "fr": "Subventions par cible des objectifs de développement durable",
        },
        "portfolio.target": {"en": "Target", "es": "Meta", "fr": "Cible"},
        "portfolio.beneficiaries": {
            "en": "Planned beneficiaries by sex and age",
            "es": "Beneficiarios previstos por sexo y edad",
            "fr": "Bénéficiaires prévus par sexe et âge",
        },
        "portfolio.sex": {"en": "Sex", "es": "Sexo", "fr": "Sexe"},
        "portfolio.age": {"en": "Age group", "es": "Grupo de edad", "fr": "Tranche d'âge"},
        "portfolio.people": {"en": "People", "es": "Personas", "fr": "Personnes"},
        **{
            f"portfolio.state.{state}": dict(zip(("en", "es", "fr"), words, strict=True))
            for state, words in STATE_WORDS.items()
        },
        **{
            f"portfolio.marker.{marker}": dict(zip(("en", "es", "fr"), words, strict=True))
            for marker, words in MARKER_WORDS.items()
        },
        **{
            f"portfolio.sex.{sex}": dict(zip(("en", "es", "fr"), words, strict=True))
            for sex, words in SEX_WORDS.items()
        },
    }
)

L = Label.of


def _grant_table(key: str, first: Column, rows: Iterable[Row]) -> Table:
    return Table(
        key,
        L(f"portfolio.{key}"),
        (
            first,
            Column("grants", L("portfolio.grants"), ColumnKind.COUNT),
            Column("approved", L("portfolio.approved"), ColumnKind.MONEY),
            Column("disbursed", L("portfolio.disbursed"), ColumnKind.MONEY),
        ),
        tuple(rows),
    )


async def build(ctx: ReportContext, window_code: str, *, as_of: date) -> Report:
    session, currency = ctx.session, ctx.currency
    window = (await session.execute(select(Window).where(col(Window.code) == window_code))).scalar_one_or_none()
    if window is None or window.id is None:
        raise NotFound(f"no window with code {window_code!r}", field="window_code", rule="window-exists")
    window_id = window.id
    state_table = _state_table(await proposals_by_state(ctx, window_id, as_of), currency)
    grants = await _grants(ctx, window_id, as_of)
    figures_table = await _figures_table(ctx, window_id, as_of, grants)
    tallies = await _tallies(ctx, window_id, as_of, grants)
    tables = (state_table, figures_table, *_grant_tables(tallies, currency), _beneficiaries_table(tallies.people))
    named = dict(await figures.windows_as_of(session, as_of))
    return await ctx.report(
        NAME,
        L("portfolio.title"),
        None,
        as_of,
        tables,
        subject=named.get(window_id, Name(window.name_en, window.name_es, window.name_fr, window.code)),
        parameters={"window": window.code, "as_of": as_of.isoformat()},
    )


def _state_table(by_state: dict[str, tuple[int, int]], currency: str) -> Table:
    """The window's proposals by state, with what they requested, and their total."""
    state_rows = [
        Row((L(f"portfolio.state.{state}"), *_count_money(by_state[state], currency)))
        for state in STATES
        if state in by_state
    ]
    totals = (sum(c for c, _ in by_state.values()), sum(r for _, r in by_state.values()))
    state_rows.append(Row((L("common.total"), *_count_money(totals, currency)), RowStyle.TOTAL))
    return Table(
        "by_state",
        L("portfolio.by_state"),
        (
            Column("state", L("portfolio.state"), ColumnKind.TEXT),
            Column("proposals", L("portfolio.proposals"), ColumnKind.COUNT),
            Column("requested", L("portfolio.requested"), ColumnKind.MONEY),
        ),
        tuple(state_rows),
    )


async def _grants(ctx: ReportContext, window_id: int, as_of: date) -> list[tuple[Grant, Proposal]]:
    """The window's grants started by ``as_of``, each with its proposal, in the order they were made."""
    rows = await ctx.session.execute(
        select(Grant, Proposal)
        .join(Proposal, col(Proposal.id) == col(Grant.proposal_id))
        .where(col(Grant.window_id) == window_id, col(Grant.start_date) <= as_of)
        .order_by(col(Grant.id))
    )
    return [(grant, proposal) for grant, proposal in rows.all()]


async def _figures_table(
    ctx: ReportContext, window_id: int, as_of: date, grants: Sequence[tuple[Grant, Proposal]]
) -> Table:
    """Approved, committed, disbursed, pending transfer, the grantees' reported expenditure and the delivery
    rate (expenditure over disbursed)."""
    session, currency = ctx.session, ctx.currency

    def s(account: str, source_type: str | None = None) -> Selection:
        return Selection((account,), as_of, window_id=window_id, source_type=source_type)

    approved = await figures.amount(session, currency, s(chart.ALLOCATED, "funding_decision"))
    committed = await figures.amount(session, currency, s(chart.COMMITTED, "grant_agreement"))
    disbursed = await figures.amount(session, currency, s(chart.DISBURSED))
    pending = await figures.amount(session, currency, s(chart.COMMITTED))
    spent = await figures.reported_expenditure(session, [g.id or 0 for g, _ in grants], as_of)
    expenditure = sum(spent.values())
    money_rows = (
        Row((L("portfolio.approved"), approved)),
        Row((L("portfolio.committed"), committed)),
        Row((L("portfolio.disbursed"), disbursed)),
        Row((L("portfolio.pending"), pending)),
        Row((L("portfolio.expenditure"), figures.plain(expenditure, currency))),
        Row((L("portfolio.delivery"), figures.delivery_rate(expenditure, disbursed.minor))),
    )
    return Table(
        "figures",
        L("portfolio.figures"),
        (
            Column("item", L("common.item"), ColumnKind.TEXT),
            Column("amount", L("common.amount"), ColumnKind.MONEY),
        ),
        money_rows,
    )


@dataclass
class _Tallies:
    """The window's grants counted by country, gender marker, GCM objective and SDG target, each as [grants,
    approved, net transferred]; and the planned beneficiaries by (sex, age group)."""

    by_country: dict[str, list[int]] = field(default_factory=dict)
    by_marker: dict[int, list[int]] = field(default_factory=dict)
    by_objective: dict[int, list[int]] = field(default_factory=dict)
    by_target: dict[str, list[int]] = field(default_factory=dict)
    people: dict[tuple[str, str], int] = field(default_factory=dict)


async def _tallies(
    ctx: ReportContext, window_id: int, as_of: date, grants: Sequence[tuple[Grant, Proposal]]
) -> _Tallies:
    """Each grant tallied with its net transfers: split across its countries by their shares, counted whole
    under its marker, each objective and each target, its planned beneficiaries added up."""
    session, currency = ctx.session, ctx.currency
    transferred = {
        k[0]: v
        for k, v in (
            await figures.sums(session, Selection((chart.DISBURSED,), as_of, window_id=window_id), ("grant",))
        ).items()
    }
    countries = await _countries(ctx, [p.id for _, p in grants])
    found = _Tallies()
    for grant, proposal in grants:
        moved = transferred.get(grant.id, 0)
        its_countries = countries.get(proposal.id or 0, [])
        weights = {n: share for n, (_, share) in enumerate(its_countries)}
        amount_parts = figures.pro_rata(grant.amount, currency, weights)
        moved_parts = figures.pro_rata(moved, currency, weights)
        for n, (country, _share) in enumerate(its_countries):
            _tally(found.by_country, country, amount_parts.get(n, 0), moved_parts.get(n, 0))
        content: dict[str, Any] = json.loads(proposal.content)
        _tally(found.by_marker, int(content.get("gender_marker", proposal.gender_marker)), grant.amount, moved)
        for objective in sorted(set(content.get("gcm_objectives", []))):
            _tally(found.by_objective, int(objective), grant.amount, moved)
        for target in sorted(set(content.get("sdg_targets", []))):
            _tally(found.by_target, str(target), grant.amount, moved)
        for group in content.get("beneficiaries", []):
            key = (str(group["sex"]), str(group["age_group"]))
            found.people[key] = found.people.get(key, 0) + int(group["count"])
    return found


async def _countries(ctx: ReportContext, proposal_ids: list[int | None]) -> dict[int, list[tuple[str, int]]]:
    """Per proposal, its countries and their shares (basis points), by country code."""
    countries: dict[int, list[tuple[str, int]]] = {}
    for proposal_id, country, share in (
        await ctx.session.execute(
            select(col(ProposalCountry.proposal_id), col(ProposalCountry.country), col(ProposalCountry.share_bp))
            .where(col(ProposalCountry.proposal_id).in_(proposal_ids))
            .order_by(col(ProposalCountry.country))
        )
    ).all():
        countries.setdefault(int(proposal_id), []).append((str(country), int(share)))
    return countries


def _grant_tables(t: _Tallies, currency: str) -> tuple[Table, ...]:
    """The grants by country and by gender marker (with totals), by GCM objective and by SDG target."""
    by_country, by_marker, by_objective, by_target = (t.by_country, t.by_marker, t.by_objective, t.by_target)

    def tallied(label: Cell, values: list[int]) -> Row:
        return _tallied_row(label, values, currency)

    return (
        _grant_table(
            "by_country",
            Column("country", L("portfolio.country"), ColumnKind.TEXT),
            [
                *(tallied(Territory(c), by_country[c]) for c in sorted(by_country)),
                _total_row(by_country.values(), currency),
            ],
        ),
        _grant_table(
            "by_marker",
            Column("marker", L("portfolio.marker"), ColumnKind.TEXT),
            [
                *(tallied(L(f"portfolio.marker.{m}"), by_marker[m]) for m in sorted(by_marker)),
                _total_row(by_marker.values(), currency),
            ],
        ),
        _grant_table(
            "by_objective",
            Column("objective", L("portfolio.objective"), ColumnKind.TEXT),
            [tallied(L("portfolio.objective_n", n=o), by_objective[o]) for o in sorted(by_objective)],
        ),
        _grant_table(
            "by_target",
            Column("target", L("portfolio.target"), ColumnKind.TEXT),
            [tallied(target, by_target[target]) for target in sorted(by_target, key=target_order)],
        ),
    )


def _tallied_row(label: Cell, values: list[int], currency: str) -> Row:
    return Row((label, values[0], figures.plain(values[1], currency), figures.plain(values[2], currency)))


def _total_row(values: Iterable[list[int]], currency: str) -> Row:
    listed = list(values)
    return Row(
        (
            L("common.total"),
            sum(v[0] for v in listed),
            figures.plain(sum(v[1] for v in listed), currency),
            figures.plain(sum(v[2] for v in listed), currency),
        ),
        RowStyle.TOTAL,
    )


def _beneficiaries_table(people: dict[tuple[str, str], int]) -> Table:
    """The planned beneficiaries by sex and age group, and their total."""
    return Table(
        "beneficiaries",
        L("portfolio.beneficiaries"),
        (
            Column("sex", L("portfolio.sex"), ColumnKind.TEXT),
            Column("age", L("portfolio.age"), ColumnKind.TEXT),
            Column("people", L("portfolio.people"), ColumnKind.COUNT),
        ),
        (
            *(Row((L(f"portfolio.sex.{sex}"), age, people[(sex, age)])) for sex, age in sorted(people)),
            Row((L("common.total"), None, sum(people.values())), RowStyle.TOTAL),
        ),
    )


async def proposals_by_state(ctx: ReportContext, window_id: int, as_of: date) -> dict[str, tuple[int, int]]:
    """Per state, the window's proposals in it at the end of ``as_of`` and the amount they requested.

    A proposal's state then is the target of its last transition before that instant (``draft`` before
    any); what it requested is the amount of its last version submitted by then, so edits and steps taken
    later change nothing (a draft never submitted has requested nothing yet)."""
    session = ctx.session
    end = figures.end_of(as_of)
    created = await session.execute(
        select(col(Proposal.id))
        .where(col(Proposal.window_id) == window_id, col(Proposal.created_at) < end)
        .order_by(col(Proposal.id))
    )
    states: dict[int, str] = {pid: "draft" for pid in created.scalars() if pid is not None}
    for moved_id, to_state in (
        await session.execute(
            select(col(Transition.proposal_id), col(Transition.to_state))
            .join(Proposal, col(Proposal.id) == col(Transition.proposal_id))
            .where(col(Proposal.window_id) == window_id, col(Transition.at) < end)
            .order_by(col(Transition.proposal_id), col(Transition.at), col(Transition.id))
        )
    ).all():
        if moved_id in states:
            states[moved_id] = str(to_state)
    last = (
        select(col(ProposalVersion.proposal_id), func.max(col(ProposalVersion.version)).label("version"))
        .join(Proposal, col(Proposal.id) == col(ProposalVersion.proposal_id))
        .where(col(Proposal.window_id) == window_id, col(ProposalVersion.submitted_at) < end)
        .group_by(col(ProposalVersion.proposal_id))
        .subquery()
    )
    requested: dict[int, int] = {}
    for submitted_id, content in (
        await session.execute(
            select(col(ProposalVersion.proposal_id), col(ProposalVersion.content)).join(
                last,
                (col(ProposalVersion.proposal_id) == last.c.proposal_id)
                & (col(ProposalVersion.version) == last.c.version),
            )
        )
    ).all():
        requested[int(submitted_id)] = Money.of(str(json.loads(content)["requested_amount"]), ctx.currency).minor
    found: dict[str, tuple[int, int]] = {}
    for proposal_id, its_state in states.items():
        count, amount = found.get(its_state, (0, 0))
        found[its_state] = (count + 1, amount + requested.get(proposal_id, 0))
    return found


def _count_money(values: tuple[int, int], currency: str) -> tuple[int, Cell]:
    return values[0], figures.plain(values[1], currency)


def _tally(into: dict[Any, list[int]], key: Any, amount: int, moved: int) -> None:
    """Count one grant under ``key`` with its (part of the) approved amount and net transfers."""
    found = into.setdefault(key, [0, 0, 0])
    found[0] += 1
    found[1] += amount
    found[2] += moved


def target_order(target: str) -> tuple[int, ...]:
    """SDG targets in their natural order (8.8 before 10.7, 10.7 before 10.7.2, 10.c after the numbers)."""
    return tuple(int(part) if part.isdigit() else 100 + ord(part[0]) for part in target.split("."))
