"""IATI 2.03 publishing: the activity file (the facility's funds and its grants) and the organisation file.

Both documents are built at request time from the domain tables and the ledger, with the standard library's
ElementTree (it escapes every text and attribute value; the exports need no third-party library), and
validate against the official schemas kept in ``reports/standards/iati-2.03/``. docs/iati.md maps every
element to its source and names the codelist values chosen and why.

The activity file follows the pooled-fund model of the MPTF Office's IATI data: one fund activity per
window and one for the pooled fund (hierarchy 1) receive the contributors' deposits as incoming funds, which
is where they are traceable to; each grant is an activity of its own (hierarchy 2, a child of its window's
fund) with the outgoing commitment at the agreement's signature, the disbursements to the grantee and the
refunds it sent back. Contributions are never spread over grants pro rata: the ledger does not trace a
donor's money to a grant, so the file does not claim it.

A concessional operation (DESIGN §12) is its grant's activity: the grant to the implementation support agency
(participating-org implementing, type 40 multilateral), the loan's benefitting country as the recipient country,
finance type 110; its commitment and transfers are the grant's. The development bank's loan is not the
facility's to report: it is named as a related activity (type 4, co-funded) by its identifier, with the loan's
finance type (421, standard loan), amount and terms in a ``fundapp:loan`` extension element inside that
``related-activity`` (the schema admits elements of other namespaces there) and in a description of type 4.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from concessional import FinancingRequest
from governance import (
    AdminBudget,
    Contribution,
    Contributor,
    Decision,
    DecisionKind,
    DecisionResult,
    Window,
    WindowStatus,
    country_names,
    iso_alpha3,
)
from ledger import JournalEntry, LedgerAccount, Money, Posting, allocate, chart
from proposals import (
    Disbursement,
    Grant,
    GrantStatus,
    Organisation,
    OrganisationType,
    Proposal,
    ProposalCountry,
    Refund,
    Tranche,
)
from reports.concessional import Operation, operations
from reports.document import Amount
from reports.i18n import decimal_string
from reports.service import ReportContext

VERSION = "2.03"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
LANGUAGES = ("en", "es", "fr")

# OrganisationType codelist. The facility is an intergovernmental fund set up by its member states.
MULTILATERAL = "40"
ORGANISATION_TYPES = {
    OrganisationType.GOVERNMENT.value: "10",  # Government
    OrganisationType.INTERNATIONAL_ORGANISATION.value: "40",  # Multilateral
    OrganisationType.ACADEMIA.value: "80",  # Academic, Training and Research
    OrganisationType.IMPLEMENTATION_SUPPORT_AGENCY.value: "40",  # a development bank: Multilateral
}
# An NGO or a company based in one of the activity's recipient countries has its own code.
NGO_INTERNATIONAL, NGO_PARTNER_COUNTRY = "21", "24"
PRIVATE_SECTOR, PRIVATE_SECTOR_RECIPIENT_COUNTRY = "70", "72"
OTHER_ORGANISATION = "90"
CONTRIBUTOR_TYPES = {
    "member_state": "10",
    "government": "10",
    "multilateral": "40",
    "foundation": "60",
    "private_sector": "70",
}

# OrganisationRole codelist.
ROLE_FUNDING, ROLE_ACCOUNTABLE, ROLE_EXTENDING, ROLE_IMPLEMENTING = "1", "2", "3", "4"

# ActivityStatus codelist.
STATUS_PIPELINE, STATUS_IMPLEMENTATION, STATUS_FINALISATION, STATUS_CLOSED, STATUS_SUSPENDED = "1", "2", "3", "4", "6"

# ActivityDateType codelist.
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"

# TransactionType codelist.
INCOMING_FUNDS, OUTGOING_COMMITMENT, DISBURSEMENT, INCOMING_COMMITMENT = "1", "2", "3", "11"

# RelatedActivityType codelist; 4 (co-funded) links a concessional grant to the loan it buys down.
RELATED_PARENT, RELATED_CHILD, RELATED_CO_FUNDED = "1", "2", "4"
# DescriptionType 4 (Other): the loan a concessional grant buys down. FinanceType 421: standard loan.
DESCRIPTION_OTHER = "4"
FINANCE_STANDARD_LOAN = "421"
# The namespace of the facility's own extension elements (the schema admits other namespaces' elements).
EXTENSION_NS = "urn:fundapp:iati-extension:1"
ET.register_namespace("fundapp", EXTENSION_NS)

# DescriptionType 1 (General); SectorVocabulary 1 (OECD DAC CRS purpose codes, 5 digit): 15190 "Facilitation
# of orderly, safe, regular and responsible migration and mobility", the purpose code of migration work.
DESCRIPTION_GENERAL = "1"
SECTOR_VOCABULARY_DAC5 = "1"
SECTOR_MIGRATION = "15190"
SECTOR_MIGRATION_NAME = "Facilitation of orderly, safe, regular and responsible migration and mobility"
# PolicyMarkerVocabulary 1 (OECD DAC CRS), PolicyMarker 1 (gender equality); the proposal's gender marker
# 0/1/2 is the PolicySignificance code itself (not targeted / significant / principal objective).
POLICY_VOCABULARY_DAC, POLICY_GENDER_EQUALITY = "1", "1"
# TagVocabulary: 2 UN SDG goals, 3 UN SDG targets, 99 the reporting organisation's own (GCM objectives).
TAG_SDG_GOAL, TAG_SDG_TARGET, TAG_REPORTING_ORG = "2", "3", "99"
GCM_URI = "https://undocs.org/A/RES/73/195"
# FinanceType 110: standard grant. BudgetType 1: original; BudgetStatus 1 indicative, 2 committed.
FINANCE_STANDARD_GRANT = "110"
BUDGET_ORIGINAL, BUDGET_INDICATIVE, BUDGET_COMMITTED = "1", "1", "2"
# Organisation file: the expense accounts that make up total expenditure (spending; FX losses are valuation).
EXPENDITURE_ACCOUNTS = (
    chart.TRANSFERS_TO_PARTNERS,
    chart.ADMIN_AGENT_FEE,
    chart.SECRETARIAT_DIRECT_COSTS,
    chart.BANK_CHARGES,
)

# Characters XML 1.0 cannot carry at all; ElementTree would write them and produce an ill-formed document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def activity_identifier(organisation_id: str, grant_id: int) -> str:
    return f"{organisation_id}-GRANT-{grant_id}"


def window_identifier(organisation_id: str, window_code: str) -> str:
    return f"{organisation_id}-WINDOW-{window_code}"


def pooled_identifier(organisation_id: str) -> str:
    return f"{organisation_id}-POOLED"


def loan_identifier(organisation_id: str, request_id: int) -> str:
    """The identifier the file gives a concessional operation's loan: financing requests do not record the
    development bank's own IATI identifier, so the facility names the loan under its own prefix."""
    return f"{organisation_id}-LOAN-{request_id}"


# ---------------------------------------------------------------- XML helpers


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _sub(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k.replace("_", "-"): _clean(v) for k, v in attributes.items()})


def _narrative(parent: ET.Element, text: str, lang: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, "narrative", {XML_LANG: lang} if lang else {})
    element.text = _clean(text)
    return element


def _texts(parent: ET.Element, tag: str, texts: Sequence[tuple[str, str | None]], **attributes: str) -> ET.Element:
    element = _sub(parent, tag, **attributes)
    for text, lang in texts:
        _narrative(element, text, lang)
    return element


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _value(parent: ET.Element, minor: int, currency: str, value_date: date, tag: str = "value") -> None:
    element = _sub(parent, tag, currency=currency, value_date=value_date.isoformat())
    element.text = decimal_string(Amount(minor, currency))


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    written: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return written + b"\n"


# ---------------------------------------------------------------- what the files are made of


@dataclass(frozen=True, slots=True)
class Party:
    """An organisation as a transaction or a participating-org names it."""

    name: str
    type: str
    ref: str | None = None
    activity_id: str | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """One IATI transaction."""

    type: str
    on: date
    minor: int
    currency: str
    description: str
    provider: Party
    receiver: Party
    ref: str


def _party(parent: ET.Element, tag: str, party: Party, activity_attribute: str) -> None:
    attributes: dict[str, str] = {"type": party.type}
    if party.ref:
        attributes["ref"] = party.ref
    if party.activity_id:
        attributes[activity_attribute] = party.activity_id
    _texts(parent, tag, [(party.name, None)], **attributes)


def _transactions(activity: ET.Element, flows: Iterable[Flow]) -> None:
    # Stable: flows of one day and type keep the order they were read in (their records' ids).
    for flow in sorted(flows, key=lambda f: (f.on, int(f.type))):
        transaction = _sub(activity, "transaction", ref=flow.ref)
        _sub(transaction, "transaction-type", code=flow.type)
        _sub(transaction, "transaction-date", iso_date=flow.on.isoformat())
        _value(transaction, flow.minor, flow.currency, flow.on)
        _texts(transaction, "description", [(flow.description, None)])
        _party(transaction, "provider-org", flow.provider, "provider-activity-id")
        _party(transaction, "receiver-org", flow.receiver, "receiver-activity-id")


def _reporting_org(parent: ET.Element, ctx: ReportContext) -> None:
    _texts(parent, "reporting-org", [(ctx.settings.facility_name, None)], ref=_org_id(ctx), type=MULTILATERAL)


def _org_id(ctx: ReportContext) -> str:
    return ctx.settings.iati_organisation_id


def _facility(ctx: ReportContext, activity_id: str | None = None) -> Party:
    return Party(ctx.settings.facility_name, MULTILATERAL, _org_id(ctx), activity_id)


def _sector(activity: ET.Element) -> None:
    _texts(
        activity,
        "sector",
        [(SECTOR_MIGRATION_NAME, None)],
        vocabulary=SECTOR_VOCABULARY_DAC5,
        code=SECTOR_MIGRATION,
        percentage="100",
    )


def grantee_type(organisation_type: str, organisation_country: str, recipient_countries: Iterable[str]) -> str:
    """The OrganisationType code of a grantee: NGOs and companies based in a recipient country of the grant
    are partner-country based; elsewhere they are international NGOs and private sector in general."""
    local = organisation_country in set(recipient_countries)
    if organisation_type == OrganisationType.NGO.value:
        return NGO_PARTNER_COUNTRY if local else NGO_INTERNATIONAL
    if organisation_type == OrganisationType.PRIVATE_SECTOR.value:
        return PRIVATE_SECTOR_RECIPIENT_COUNTRY if local else PRIVATE_SECTOR
    return ORGANISATION_TYPES.get(organisation_type, OTHER_ORGANISATION)


def share_percentage(share_bp: int) -> str:
    """A country's share in hundredths of a percent as the decimal IATI wants ("33.33", "60")."""
    whole, hundredths = divmod(share_bp, 100)
    return f"{whole}.{hundredths:02d}" if hundredths else str(whole)


def grant_status(grant: Grant, today: date) -> str:
    """The ActivityStatus of a grant: pipeline until its agreement is signed, implementation while active
    (finalisation once its end date has passed and it is not yet closed), suspended, closed."""
    if grant.status == GrantStatus.AWAITING_AGREEMENT.value:
        return STATUS_PIPELINE
    if grant.status == GrantStatus.SUSPENDED.value:
        return STATUS_SUSPENDED
    if grant.status == GrantStatus.CLOSED.value:
        return STATUS_CLOSED
    return STATUS_FINALISATION if today > grant.end_date else STATUS_IMPLEMENTATION


def budget_years(start: date, end: date, minor: int, currency: str) -> list[tuple[date, date, int]]:
    """The amount over ``start``..``end`` (inclusive) split into calendar-year periods (IATI budgets cover at
    most a year) in proportion to their days, by largest remainder so the parts sum to the amount."""
    periods: list[tuple[date, date]] = []
    cursor = start
    while cursor <= end:
        period_end = min(end, date(cursor.year, 12, 31))
        periods.append((cursor, period_end))
        cursor = period_end + timedelta(days=1)
    if not periods:  # an end before the start: one period on the start date
        periods = [(start, start)]
    weights = [(b - a).days + 1 for a, b in periods]
    parts = allocate(Money.from_minor(minor, currency), weights)
    return [(a, b, part.minor) for (a, b), part in zip(periods, parts, strict=True)]


def _content(proposal: Proposal | None) -> dict[str, Any]:
    if proposal is None:
        return {}
    try:
        content = json.loads(proposal.content)
    except ValueError:
        return {}
    return content if isinstance(content, dict) else {}


def _window_names(window: Window) -> list[tuple[str, str | None]]:
    return [(window.name_en, "en"), (window.name_es, "es"), (window.name_fr, "fr")]


# ---------------------------------------------------------------- reads


async def _all(ctx: ReportContext, statement: Any) -> list[Any]:
    return list((await ctx.session.execute(statement)).scalars().all())


async def _entry_dates(ctx: ReportContext, ids: Iterable[int | None]) -> dict[int, date]:
    wanted = sorted({i for i in ids if i is not None})
    dates: dict[int, date] = {}
    for chunk in range(0, len(wanted), 1000):
        rows = await ctx.session.execute(
            select(col(JournalEntry.id), col(JournalEntry.entry_date)).where(
                col(JournalEntry.id).in_(wanted[chunk : chunk + 1000])
            )
        )
        dates.update({int(i): d for i, d in rows.all()})
    return dates


async def _account_ids(ctx: ReportContext, codes: Iterable[str]) -> dict[int, str]:
    rows = await ctx.session.execute(
        select(col(LedgerAccount.id), col(LedgerAccount.code)).where(col(LedgerAccount.code).in_(list(codes)))
    )
    return {i: c for i, c in rows.all() if i is not None}


async def _account_names(ctx: ReportContext, codes: Iterable[str]) -> dict[str, str]:
    rows = await ctx.session.execute(
        select(col(LedgerAccount.code), col(LedgerAccount.name)).where(col(LedgerAccount.code).in_(list(codes)))
    )
    return {c: n for c, n in rows.all()}


async def _released_commitments(ctx: ReportContext, grants: Sequence[Grant]) -> dict[int, tuple[date, int]]:
    """Per closed grant, the date and amount of the commitment its closure released (8400 credited)."""
    closures = [g.close_entry_id for g in grants if g.close_entry_id is not None]
    if not closures:
        return {}
    committed = await _account_ids(ctx, [chart.COMMITTED])
    rows = await ctx.session.execute(
        select(col(Posting.grant_id), col(Posting.entry_date), func.sum(col(Posting.amount)))
        .where(col(Posting.entry_id).in_(closures), col(Posting.account_id).in_(list(committed)))
        .group_by(col(Posting.grant_id), col(Posting.entry_date))
    )
    return {int(g): (d, -int(s)) for g, d, s in rows.all() if g is not None and s}


# ---------------------------------------------------------------- the activity file


async def activities(ctx: ReportContext) -> bytes:
    """``iati-activities``: the pooled fund, one fund per window, and one activity per grant."""
    windows = await _all(ctx, select(Window).order_by(col(Window.id)))
    grants = await _all(ctx, select(Grant).order_by(col(Grant.id)))
    proposals = {
        p.id: p for p in await _all(ctx, select(Proposal).where(col(Proposal.id).in_([g.proposal_id for g in grants])))
    }
    organisations = {o.id: o for o in await _all(ctx, select(Organisation))}
    countries: dict[int, list[ProposalCountry]] = defaultdict(list)
    for row in await _all(ctx, select(ProposalCountry).order_by(col(ProposalCountry.country))):
        countries[row.proposal_id].append(row)
    tranches: dict[int, list[Tranche]] = defaultdict(list)
    for tranche in await _all(ctx, select(Tranche).order_by(col(Tranche.grant_id), col(Tranche.number))):
        tranches[tranche.grant_id].append(tranche)
    disbursements: dict[int, list[Disbursement]] = defaultdict(list)
    for paid in await _all(
        ctx, select(Disbursement).where(col(Disbursement.entry_id).is_not(None)).order_by(col(Disbursement.id))
    ):
        disbursements[paid.grant_id].append(paid)
    refunds: dict[int, list[Refund]] = defaultdict(list)
    for refund in await _all(ctx, select(Refund).where(col(Refund.entry_id).is_not(None)).order_by(col(Refund.id))):
        refunds[refund.grant_id].append(refund)
    paid_on = await _entry_dates(ctx, (d.entry_id for rows in disbursements.values() for d in rows))
    released = await _released_commitments(ctx, grants)
    contributors = {c.id: c for c in await _all(ctx, select(Contributor))}
    contributions = await _all(ctx, select(Contribution).order_by(col(Contribution.id)))
    allocations = await _all(
        ctx,
        select(Decision)
        .where(
            col(Decision.kind) == DecisionKind.WINDOW_ALLOCATION.value,
            col(Decision.result) == DecisionResult.ADOPTED.value,
            col(Decision.entry_id).is_not(None),
        )
        .order_by(col(Decision.id)),
    )
    allocated_on = await _entry_dates(ctx, (d.entry_id for d in allocations))
    concessional = {op.grant_id: op for op in await operations(ctx.session)}

    root = ET.Element("iati-activities", {"version": VERSION, "generated-datetime": _iso(ctx.now)})
    funds = _FundActivities(ctx, windows, grants, contributors)
    funds.pooled(root, [c for c in contributions if c.window_id is None], allocations, allocated_on)
    for window in windows:
        funds.window(
            root,
            window,
            [c for c in contributions if c.window_id == window.id],
            [a for a in allocations if a.window_id == window.id],
            allocated_on,
        )
    windows_by_id = {w.id: w for w in windows}
    for grant in grants:
        assert grant.id is not None
        _grant_activity(
            root,
            ctx,
            grant,
            proposal=proposals.get(grant.proposal_id),
            organisation=organisations[grant.organisation_id],
            window=windows_by_id[grant.window_id],
            countries=countries.get(grant.proposal_id, []),
            tranches=tranches.get(grant.id, []),
            disbursements=[(d, paid_on[d.entry_id]) for d in disbursements.get(grant.id, []) if d.entry_id],
            refunds=refunds.get(grant.id, []),
            released=released.get(grant.id),
            operation=concessional.get(grant.id),
        )
    return _document(root)


class _FundActivities:
    """The fund-level activities (hierarchy 1): where the contributors' deposits are received."""

    def __init__(
        self,
        ctx: ReportContext,
        windows: Sequence[Window],
        grants: Sequence[Grant],
        contributors: dict[Any, Contributor],
    ) -> None:
        self.ctx = ctx
        self.org_id = _org_id(ctx)
        self.windows = {w.id: w for w in windows}
        self.grants = grants
        self.contributors = contributors

    def _start(self, root: ET.Element, identifier: str, last_updated: datetime) -> ET.Element:
        activity = _sub(
            root,
            "iati-activity",
            last_updated_datetime=_iso(last_updated),
            default_currency=self.ctx.currency,
            hierarchy="1",
        )
        activity.set(XML_LANG, "en")
        _sub(activity, "iati-identifier").text = identifier
        _reporting_org(activity, self.ctx)
        return activity

    def _participants(self, activity: ET.Element, contributions: Sequence[Contribution]) -> None:
        facility = self.ctx.settings.facility_name
        donors = sorted({c.contributor_id for c in contributions})
        for donor_id in donors:
            donor = self.contributors[donor_id]
            _texts(activity, "participating-org", [(donor.name, None)], role=ROLE_FUNDING, type=_donor_type(donor))
        _texts(
            activity, "participating-org", [(facility, None)], ref=self.org_id, role=ROLE_ACCOUNTABLE, type=MULTILATERAL
        )
        _texts(
            activity, "participating-org", [(facility, None)], ref=self.org_id, role=ROLE_EXTENDING, type=MULTILATERAL
        )

    def _dates(self, activity: ET.Element, started: date) -> None:
        _sub(activity, "activity-date", type=ACTUAL_START, iso_date=started.isoformat())

    def _incoming(self, contributions: Sequence[Contribution], activity_id: str) -> list[Flow]:
        return [
            Flow(
                INCOMING_FUNDS,
                c.value_date,
                c.amount,
                c.currency,
                f"Contribution received from {self.contributors[c.contributor_id].name}"
                + (f" ({c.reference})" if c.reference else ""),
                Party(self.contributors[c.contributor_id].name, _donor_type(self.contributors[c.contributor_id])),
                _facility(self.ctx, activity_id),
                f"{activity_id}-C{c.id}",
            )
            for c in contributions
        ]

    def _children(self, activity: ET.Element, window_id: int | None) -> None:
        if window_id is None:
            return
        for grant in self.grants:
            if grant.window_id == window_id and grant.id is not None:
                _sub(activity, "related-activity", ref=activity_identifier(self.org_id, grant.id), type=RELATED_CHILD)

    def pooled(
        self,
        root: ET.Element,
        contributions: Sequence[Contribution],
        allocations: Sequence[Decision],
        allocated_on: dict[int, date],
    ) -> None:
        identifier = pooled_identifier(self.org_id)
        started = [c.value_date for c in contributions] + [w.created_at.date() for w in self.windows.values()]
        updated = [c.created_at for c in contributions] + [a.closed_at for a in allocations if a.closed_at]
        activity = self._start(root, identifier, max(updated, default=self.ctx.now))
        facility = self.ctx.settings.facility_name
        _texts(
            activity,
            "title",
            [
                (f"{facility}: pooled fund", "en"),
                (f"{facility}: fondo común", "es"),
                (f"{facility} : fonds commun", "fr"),
            ],
        )
        _texts(
            activity,
            "description",
            [
                (
                    "Contributions not earmarked to a window. The member states allocate them to the thematic "
                    "windows by decision; the windows' fund activities report those allocations as incoming "
                    "commitments.",
                    "en",
                )
            ],
            type=DESCRIPTION_GENERAL,
        )
        self._participants(activity, contributions)
        _sub(activity, "activity-status", code=STATUS_IMPLEMENTATION)
        self._dates(activity, min(started, default=self.ctx.today))
        _sector(activity)
        flows = self._incoming(contributions, identifier)
        for decision in allocations:
            window = self.windows[decision.window_id]
            assert decision.entry_id is not None
            flows.append(
                Flow(
                    OUTGOING_COMMITMENT,
                    allocated_on[decision.entry_id],
                    decision.amount or 0,
                    self.ctx.currency,
                    f"Allocation to the {window.name_en} window (decision {decision.id})",
                    _facility(self.ctx, identifier),
                    _facility(self.ctx, window_identifier(self.org_id, window.code)),
                    f"{identifier}-A{decision.id}",
                )
            )
        _transactions(activity, flows)
        for window in self.windows.values():
            _sub(activity, "related-activity", ref=window_identifier(self.org_id, window.code), type=RELATED_CHILD)

    def window(
        self,
        root: ET.Element,
        window: Window,
        contributions: Sequence[Contribution],
        allocations: Sequence[Decision],
        allocated_on: dict[int, date],
    ) -> None:
        identifier = window_identifier(self.org_id, window.code)
        updated = [window.created_at] + [c.created_at for c in contributions]
        updated += [a.closed_at for a in allocations if a.closed_at]
        activity = self._start(root, identifier, max(updated))
        _texts(activity, "title", _window_names(window))
        _texts(activity, "description", [(window.description or window.name_en, "en")], type=DESCRIPTION_GENERAL)
        self._participants(activity, contributions)
        closed = window.status == WindowStatus.CLOSED.value
        _sub(activity, "activity-status", code=STATUS_CLOSED if closed else STATUS_IMPLEMENTATION)
        self._dates(activity, window.created_at.date())
        _sector(activity)
        flows = self._incoming(contributions, identifier)
        pooled = pooled_identifier(self.org_id)
        for decision in allocations:
            assert decision.entry_id is not None
            flows.append(
                Flow(
                    INCOMING_COMMITMENT,
                    allocated_on[decision.entry_id],
                    decision.amount or 0,
                    self.ctx.currency,
                    f"Allocation from the pooled fund (decision {decision.id})",
                    _facility(self.ctx, pooled),
                    _facility(self.ctx, identifier),
                    f"{identifier}-A{decision.id}",
                )
            )
        _transactions(activity, flows)
        _sub(activity, "related-activity", ref=pooled, type=RELATED_PARENT)
        self._children(activity, window.id)


def _donor_type(contributor: Contributor) -> str:
    return CONTRIBUTOR_TYPES.get(contributor.kind, OTHER_ORGANISATION)


def _grant_activity(
    root: ET.Element,
    ctx: ReportContext,
    grant: Grant,
    *,
    proposal: Proposal | None,
    organisation: Organisation,
    window: Window,
    countries: Sequence[ProposalCountry],
    tranches: Sequence[Tranche],
    disbursements: Sequence[tuple[Disbursement, date]],
    refunds: Sequence[Refund],
    released: tuple[date, int] | None,
    operation: Operation | None = None,
) -> None:
    """One grant's activity; a concessional operation's grant also names the loan it buys down."""
    assert grant.id is not None
    org_id = _org_id(ctx)
    identifier = activity_identifier(org_id, grant.id)
    content = _content(proposal)
    if operation is not None:  # the loan's country, whole, whatever the proposal's countries say
        request = operation.request
        countries = [ProposalCountry(proposal_id=request.proposal_id, country=request.country, share_bp=10000)]
    touched = [grant.updated_at, *(d.second_approved_at or d.approved_at for d, _ in disbursements)]
    touched += [r.recorded_at for r in refunds]
    activity = _sub(
        root,
        "iati-activity",
        last_updated_datetime=_iso(max(t for t in touched if t is not None)),
        default_currency=grant.currency,
        hierarchy="2",
    )
    activity.set(XML_LANG, "en")
    _sub(activity, "iati-identifier").text = identifier
    _reporting_org(activity, ctx)
    _texts(activity, "title", [(grant.title, None)])
    summary = str(content.get("summary") or "") or grant.title
    if operation is not None:
        summary = operation.request.description or summary
    _texts(activity, "description", [(summary, None)], type=DESCRIPTION_GENERAL)
    if operation is not None:
        _texts(activity, "description", loan_description(operation, ctx.currency), type=DESCRIPTION_OTHER)
    recipient_codes = [c.country for c in countries]
    grantee = Party(organisation.name, grantee_type(organisation.type, organisation.country, recipient_codes))
    _grant_participants(activity, ctx, grantee)
    _grant_dates(activity, grant, ctx.today)
    _recipient_countries(activity, countries)
    _sector(activity)
    _tags(activity, content)
    marker = proposal.gender_marker if proposal is not None else content.get("gender_marker")
    if marker is not None:
        _sub(
            activity,
            "policy-marker",
            vocabulary=POLICY_VOCABULARY_DAC,
            code=POLICY_GENDER_EQUALITY,
            significance=str(int(marker)),
        )
    _sub(activity, "default-finance-type", code=FINANCE_STANDARD_GRANT)
    _grant_budgets(activity, grant)
    provider = _facility(ctx)
    _planned_disbursements(activity, grant, tranches, provider, grantee)
    flows = _commitment_flows(grant, identifier, provider, grantee, released)
    flows += _transfer_flows(identifier, provider, grantee, disbursements, refunds)
    _transactions(activity, flows)
    _sub(activity, "related-activity", ref=window_identifier(org_id, window.code), type=RELATED_PARENT)
    if operation is not None:
        _related_loan(activity, org_id, operation)


def _related_loan(activity: ET.Element, org_id: str, operation: Operation) -> None:
    """The loan as a co-funded related activity, its finance type, amount and terms in an extension element."""
    request = operation.request
    assert request.id is not None
    related = _sub(activity, "related-activity", ref=loan_identifier(org_id, request.id), type=RELATED_CO_FUNDED)
    ET.SubElement(
        related,
        f"{{{EXTENSION_NS}}}loan",
        {
            "finance-type": FINANCE_STANDARD_LOAN,
            "lender": _clean(operation.agency),
            "currency": request.loan_currency,
            "amount": decimal_string(Amount(request.loan_amount, request.loan_currency)),
            "maturity-months": str(request.maturity_months),
            "grace-months": str(request.grace_months),
            "repayments-per-year": str(request.repayments_per_year),
            "repayment-method": str(request.method),
            "grant-element-before": request.grant_element_before,
            "grant-element-after": request.grant_element_after,
        },
    )


def _rate_text(base: str, spread: str) -> str:
    """A base rate plus a spread (decimal fractions) as a percentage: "3.2%"."""
    try:
        total = (Decimal(base or "0") + Decimal(spread or "0")) * 100
    except InvalidOperation:
        return "?"
    return f"{total.normalize():f}%"


def loan_description(operation: Operation, currency: str) -> list[tuple[str, str | None]]:
    """The loan a concessional grant buys down, in English, Spanish and French: the lender, the amount, its
    finance type (421, standard loan), the schedule and terms, the grant element before and after."""
    r: FinancingRequest = operation.request
    amount = f"{decimal_string(Amount(r.loan_amount, r.loan_currency))} {r.loan_currency}"
    market = _rate_text(r.market_base_rate, r.market_spread)
    concessional = _rate_text(r.concessional_base_rate, r.concessional_spread)
    concessionality = f"{decimal_string(Amount(r.concessionality, currency))} {currency}"
    ge = (r.grant_element_before or "?", r.grant_element_after or "?")
    return [
        (
            f"Loan by {operation.agency} of {amount} (finance type {FINANCE_STANDARD_LOAN}, standard loan), "
            f"{r.maturity_months} months with {r.grace_months} months' grace, {r.repayments_per_year} repayments "
            f"a year; market rate {market}, concessional rate {concessional}. This grant pays its concessionality "
            f"of {concessionality}: grant element {ge[0]}% before, {ge[1]}% after.",
            "en",
        ),
        (
            f"Préstamo de {operation.agency} por {amount} (tipo de financiación {FINANCE_STANDARD_LOAN}, "
            f"préstamo estándar), {r.maturity_months} meses con {r.grace_months} meses de gracia, "
            f"{r.repayments_per_year} reembolsos al año; tasa de mercado {market}, tasa concesional "
            f"{concessional}. Esta donación paga su concesionalidad de {concessionality}: elemento de donación "
            f"{ge[0]} % antes, {ge[1]} % después.",
            "es",
        ),
        (
            f"Prêt de {operation.agency} de {amount} (type de financement {FINANCE_STANDARD_LOAN}, prêt "
            f"standard), {r.maturity_months} mois dont {r.grace_months} mois de grâce, {r.repayments_per_year} "
            f"remboursements par an ; taux du marché {market}, taux concessionnel {concessional}. Ce don en paie la "
            f"concessionnalité de {concessionality} : élément-don {ge[0]} % avant, {ge[1]} % après.",
            "fr",
        ),
    ]


def _grant_participants(activity: ET.Element, ctx: ReportContext, grantee: Party) -> None:
    """The facility funds and extends the grant; the grantee implements it."""
    facility = ctx.settings.facility_name
    for role in (ROLE_FUNDING, ROLE_EXTENDING):
        _texts(activity, "participating-org", [(facility, None)], ref=_org_id(ctx), role=role, type=MULTILATERAL)
    _texts(activity, "participating-org", [(grantee.name, None)], role=ROLE_IMPLEMENTING, type=grantee.type)


def _grant_dates(activity: ET.Element, grant: Grant, today: date) -> None:
    """The grant's status, its planned start and end, and its actual start (signed) and end (closed)."""
    _sub(activity, "activity-status", code=grant_status(grant, today))
    _sub(activity, "activity-date", type=PLANNED_START, iso_date=grant.start_date.isoformat())
    if grant.agreement_signed_on is not None:
        _sub(activity, "activity-date", type=ACTUAL_START, iso_date=grant.agreement_signed_on.isoformat())
    _sub(activity, "activity-date", type=PLANNED_END, iso_date=grant.end_date.isoformat())
    if grant.closed_on is not None:
        _sub(activity, "activity-date", type=ACTUAL_END, iso_date=grant.closed_on.isoformat())


def _recipient_countries(activity: ET.Element, countries: Sequence[ProposalCountry]) -> None:
    """Each recipient country by its ISO alpha-2 code (when known) with its share and its names."""
    alpha2 = iso_alpha3()
    for country in countries:
        names = country_names(country.country) if country.country in alpha2 else {}
        element = _sub(
            activity,
            "recipient-country",
            code=alpha2.get(country.country, country.country),
            percentage=share_percentage(country.share_bp),
        )
        for lang in LANGUAGES:
            if lang in names:
                _narrative(element, names[lang], lang)


def _grant_budgets(activity: ET.Element, grant: Grant) -> None:
    """The grant's amount by calendar year: committed once its agreement is signed, indicative before."""
    signed = grant.agreement_signed_on is not None
    for start, end, minor in budget_years(grant.start_date, grant.end_date, grant.amount, grant.currency):
        budget = _sub(
            activity, "budget", type=BUDGET_ORIGINAL, status=BUDGET_COMMITTED if signed else BUDGET_INDICATIVE
        )
        _sub(budget, "period-start", iso_date=start.isoformat())
        _sub(budget, "period-end", iso_date=end.isoformat())
        _value(budget, minor, grant.currency, start)


def _planned_disbursements(
    activity: ET.Element, grant: Grant, tranches: Sequence[Tranche], provider: Party, grantee: Party
) -> None:
    """Each tranche as a planned disbursement on its planned date."""
    for tranche in tranches:
        planned = _sub(activity, "planned-disbursement", type=BUDGET_ORIGINAL)
        _sub(planned, "period-start", iso_date=tranche.planned_date.isoformat())
        _sub(planned, "period-end", iso_date=tranche.planned_date.isoformat())
        _value(planned, tranche.amount, grant.currency, tranche.planned_date)
        _party(planned, "provider-org", provider, "provider-activity-id")
        _party(planned, "receiver-org", grantee, "receiver-activity-id")


def _commitment_flows(
    grant: Grant, identifier: str, provider: Party, grantee: Party, released: tuple[date, int] | None
) -> list[Flow]:
    """The commitment made when the agreement was signed and the part released at the grant's closure."""
    flows: list[Flow] = []
    if grant.agreement_signed_on is not None:
        reference = f" ({grant.agreement_reference})" if grant.agreement_reference else ""
        flows.append(
            Flow(
                OUTGOING_COMMITMENT,
                grant.agreement_signed_on,
                grant.amount,
                grant.currency,
                f"Grant agreement signed{reference}",
                provider,
                grantee,
                f"{identifier}-AGREEMENT",
            )
        )
    if released is not None:
        on, minor = released
        flows.append(
            Flow(
                OUTGOING_COMMITMENT,
                on,
                -minor,
                grant.currency,
                "Unused commitment released at the grant's closure",
                provider,
                grantee,
                f"{identifier}-CLOSURE",
            )
        )
    return flows


def _transfer_flows(
    identifier: str,
    provider: Party,
    grantee: Party,
    disbursements: Sequence[tuple[Disbursement, date]],
    refunds: Sequence[Refund],
) -> list[Flow]:
    """The transfers to the grantee (on the dates they were paid) and the refunds it made."""
    flows: list[Flow] = []
    for disbursement, on in disbursements:
        reference = f" ({disbursement.reference})" if disbursement.reference else ""
        flows.append(
            Flow(
                DISBURSEMENT,
                on,
                disbursement.amount,
                disbursement.currency,
                f"Transfer to the grantee{reference}",
                provider,
                grantee,
                f"{identifier}-D{disbursement.id}",
            )
        )
    for refund in refunds:
        reference = f" ({refund.reference})" if refund.reference else ""
        flows.append(
            Flow(
                INCOMING_FUNDS,
                refund.received_on,
                refund.amount,
                refund.currency,
                f"Unspent funds refunded by the grantee{reference}",
                grantee,
                provider,
                f"{identifier}-R{refund.id}",
            )
        )
    return flows


def _tags(activity: ET.Element, content: dict[str, Any]) -> None:
    targets = [str(t) for t in content.get("sdg_targets") or []]
    goals = sorted({t.split(".")[0] for t in targets}, key=int)
    for goal in goals:
        _sub(activity, "tag", vocabulary=TAG_SDG_GOAL, code=goal)
    for target in dict.fromkeys(targets):
        _sub(activity, "tag", vocabulary=TAG_SDG_TARGET, code=target)
    for objective in sorted({int(o) for o in content.get("gcm_objectives") or []}):
        _texts(
            activity,
            "tag",
            [(f"Global Compact for Safe, Orderly and Regular Migration, objective {objective}", "en")],
            vocabulary=TAG_REPORTING_ORG,
            vocabulary_uri=GCM_URI,
            code=f"GCM-{objective}",
        )


# ---------------------------------------------------------------- the organisation file


async def organisation(ctx: ReportContext) -> bytes:
    """``iati-organisations`` with the facility: its budgets per year (the approved administrative budget and
    the grants' budgets falling in the year) and its expenditure per year from the ledger."""
    org_id = _org_id(ctx)
    currency = ctx.currency
    admin = {b.year: b for b in await _all(ctx, select(AdminBudget).order_by(col(AdminBudget.year)))}
    grant_budgets: dict[int, int] = defaultdict(int)
    for grant in await _all(ctx, select(Grant).order_by(col(Grant.id))):
        for start, _end, minor in budget_years(grant.start_date, grant.end_date, grant.amount, grant.currency):
            grant_budgets[start.year] += minor
    expenditure = await _expenditure_by_year(ctx)
    names = await _account_names(ctx, EXPENDITURE_ACCOUNTS)

    root = ET.Element("iati-organisations", {"version": VERSION, "generated-datetime": _iso(ctx.now)})
    element = _sub(root, "iati-organisation", last_updated_datetime=_iso(ctx.now), default_currency=currency)
    element.set(XML_LANG, "en")
    _sub(element, "organisation-identifier").text = org_id
    _texts(element, "name", [(ctx.settings.facility_name, None)])
    _reporting_org(element, ctx)

    for year in sorted(set(admin) | set(grant_budgets)):
        start, end = date(year, 1, 1), date(year, 12, 31)
        admin_minor = admin[year].amount if year in admin else 0
        budget = _sub(element, "total-budget", status=BUDGET_INDICATIVE)
        _sub(budget, "period-start", iso_date=start.isoformat())
        _sub(budget, "period-end", iso_date=end.isoformat())
        _value(budget, admin_minor + grant_budgets.get(year, 0), currency, start)
        for ref, minor, label in (
            ("ADMIN", admin_minor, "Approved administrative budget of the secretariat"),
            ("GRANTS", grant_budgets.get(year, 0), "Grants, their amounts spread over their periods by day"),
        ):
            if not minor:
                continue
            line = _sub(budget, "budget-line", ref=ref)
            _value(line, minor, currency, start)
            _narrative(line, label, "en")

    for year in sorted(expenditure):
        start, end = date(year, 1, 1), date(year, 12, 31)
        total = _sub(element, "total-expenditure")
        _sub(total, "period-start", iso_date=start.isoformat())
        _sub(total, "period-end", iso_date=end.isoformat())
        _value(total, sum(expenditure[year].values()), currency, start)
        for code in EXPENDITURE_ACCOUNTS:
            if code in expenditure[year]:
                line = _sub(total, "expense-line", ref=code)
                _value(line, expenditure[year][code], currency, start)
                _narrative(line, names.get(code, code), "en")
    return _document(root)


async def _expenditure_by_year(ctx: ReportContext) -> dict[int, dict[str, int]]:
    """Debits net of credits on the expense accounts, in the reporting currency, per calendar year."""
    accounts = await _account_ids(ctx, EXPENDITURE_ACCOUNTS)
    if not accounts:
        return {}
    rows = await ctx.session.execute(
        select(col(Posting.account_id), col(Posting.entry_date), func.sum(col(Posting.reporting_amount)))
        .where(col(Posting.account_id).in_(list(accounts)))
        .group_by(col(Posting.account_id), col(Posting.entry_date))
    )
    by_year: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for account_id, on, total in rows.all():
        by_year[on.year][accounts[int(account_id)]] += int(total or 0)
    return {year: dict(lines) for year, lines in by_year.items()}
