"""Governance's pages: the decisions of the member states (the register, a decision with its ballot, the
result and the record), a delegate's dashboard and its member's statement.

Each page calls the same services and permission predicates as its API twin (``governance/api.py``): a ballot
through ``Decisions.cast``, a statement behind ``governance.member_statement``. What a delegate may do on a
decision is asked of the service (``Decisions.participation``), which runs the checks a ballot runs, so a
page never offers a button the service would refuse, and says why instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from babel.numbers import format_decimal, format_percent
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from fundapp.core import web
from fundapp.core.errors import DomainError, FieldError, InvalidInput, NotFound
from fundapp.core.models import Role
from fundapp.core.security import Principal, current_user, ensure_permission, has_permission, require
from fundapp.core.unit import request_unit
from fundapp.core.web import N_, NavItem, gettext, i18n
from fundapp.core.web.pages import Panel
from governance import rules
from governance.decisions import (
    Decisions,
    HookContext,
    ProposalSummary,
    close_due_decisions,
    funding_handler,
    terms_of,
)
from governance.models import Decision, DecisionEvent, DecisionStatus, Member, Procedure, Window
from governance.schemas import BallotCast, ObjectionRaise, RecusalDeclare
from governance.service import Governance
from governance.statement import member_balance_due, member_statement
from governance.views import decision_record
from ledger import Money, MoneyOut, format_money, from_json

HERE = Path(__file__).resolve().parent
web.register_templates(HERE / "templates")
i18n.register_catalogue(HERE / "locale")

DECISIONS_PATH = f"{web.PAGE_PREFIX}/decisions"
AnyRequest = web.AnyRequest
Db = NamedDependency[AsyncSession]
# Provided by governance.api's dependencies.
GovernanceService = NamedDependency[Governance]
DecisionsService = NamedDependency[Decisions]
# How long a closed decision stays among the dashboard's recent results.
RECENT = timedelta(days=60)


def country_name(code: str | None) -> str:
    """A member state's or country's CLDR name in the page's language (the code when CLDR has none)."""
    if not code:
        return ""
    try:
        return rules.country_names(code)[i18n.current()]
    except KeyError:
        return code


def money(value: Money | None) -> str:
    """Money as people read it in the page's language (Babel)."""
    return "" if value is None else format_money(value, {"en": "en_GB"}.get(i18n.current(), i18n.current()))


def money_out(value: Any) -> str:
    """Money as the API answers it (``MoneyOut``: a decimal string and its currency), as people read it."""
    return "" if value is None else money(Money.of(value.amount, value.currency))


def percent(value: Decimal) -> str:
    return format_percent(value, locale={"en": "en_GB"}.get(i18n.current(), i18n.current()))


def share_of(points: Decimal) -> str:
    """A share given in percentage points (``60.00``, ``33.33``) as the page's language writes it, with the
    decimals it has."""
    fraction = (points / 100).normalize()
    return format_percent(
        fraction, locale={"en": "en_GB"}.get(i18n.current(), i18n.current()), decimal_quantization=False
    )


web.register_template_global("country_name", country_name)
web.register_template_global("money", money)
web.register_template_global("percent", percent)
web.register_template_global("money_out", money_out)


def _reads_decisions(user: Principal) -> bool:
    return has_permission("governance.decisions.read", user)[0]


web.register_nav(NavItem(N_("Decisions"), lambda _u: DECISIONS_PATH, _reads_decisions, order=10))
COUNTRIES_PATH = f"{web.PAGE_PREFIX}/countries"


def _reads_countries(user: Principal) -> bool:
    return has_permission("governance.read", user)[0]


web.register_nav(NavItem(N_("Benefitting countries"), lambda _u: COUNTRIES_PATH, _reads_countries, order=15))
web.register_nav(
    NavItem(
        N_("My member state"),
        lambda u: f"{web.PAGE_PREFIX}/members/{u.member_code}",
        lambda u: u.has_role(Role.MEMBER_DELEGATE) and u.member_code is not None,
        order=20,
    )
)

KIND_LABELS = {
    "fund_proposal": N_("Funding of a proposal"),
    "admit_member": N_("Admission of a member state"),
    "set_tier": N_("Change of a member's tier"),
    "fee_schedule": N_("Fee schedule"),
    "admin_budget": N_("Secretariat budget"),
    "window_allocation": N_("Allocation of pooled funds to a window"),
    "policy": N_("Policy"),
    "concessional_financing": N_("Concessional financing"),
    "cancel_concessional": N_("Cancellation of a concessional operation"),
    "restructure_concessional": N_("Restructuring of a concessional operation"),
    "add_country": N_("Addition of a benefitting country"),
    "remove_country": N_("Removal of a benefitting country"),
    "set_country_group": N_("Change of a benefitting country's group"),
}
# A benefitting country's group (``governance.models.CountryGroup``) and the charter's method, in words.
GROUP_LABELS = {
    "ldc_lic": N_("Least developed or low-income country"),
    "lmic": N_("Lower-middle-income country"),
    "umic": N_("Upper-middle-income country"),
    "gcff_a": N_("GCFF group A (as a lower-middle-income country)"),
    "gcff_b": N_("GCFF group B (as an upper-middle-income country)"),
}
METHOD_LABELS = {
    "oecd_dac": N_("the OECD DAC's discount rates and thresholds by income group"),
    "imf": N_("the IMF's one discount rate and threshold for every country"),
}
PROCEDURE_LABELS = {
    "vote": N_("Vote"),
    "no_objection": N_("Written no-objection procedure"),
    "consensus": N_("Consensus at a meeting"),
}
CHOICE_LABELS = {"yes": N_("Yes"), "no": N_("No"), "abstain": N_("Abstain")}
# A statement line's kind (``governance.statement.KINDS``), in words; the line's own description is the
# ledger's, in English.
STATEMENT_KINDS = {
    "assessment": N_("Annual fee"),
    "pledge": N_("Pledge"),
    "payment": N_("Payment"),
    "revaluation": N_("Exchange revaluation"),
    "correction": N_("Correction of an entry"),
}
# The reasons the service writes for the recusals the charter makes (``Decisions.open``), in the reader's words.
AUTOMATIC_RECUSAL_REASONS = {
    "a country of the proposal (automatic recusal by charter)": N_("a country of the proposal, recused by the charter"),
}
STATUS_LABELS = {"draft": N_("draft"), "open": N_("open"), "closed": N_("closed")}
RESULT_LABELS = {"adopted": N_("adopted"), "not_adopted": N_("not adopted")}
CATEGORY_LABELS = {
    "staff": N_("Staff"),
    "travel": N_("Travel"),
    "equipment": N_("Equipment"),
    "contracts": N_("Contracts"),
    "training": N_("Training"),
    "operating_costs": N_("Operating costs"),
    "monitoring_evaluation": N_("Monitoring and evaluation"),
    "indirect_support_costs": N_("Indirect support costs"),
}

web.register_rule_messages(
    {
        "delegate-only": N_("Only a delegate of a member state acts for a member on a decision."),
        "own-member-only": N_("A delegate acts only for its own member state."),
        "not-on-roll": N_(
            "Your member state is not on this decision's roll: only the members eligible when it opened take part."
        ),
        "recused": N_("Your member state is recused from this decision."),
        "active-member": N_("Only active member states take part."),
        "arrears": N_("Your member state's voting rights are suspended for arrears, as the charter provides."),
        "decision-open": N_("This decision is not open: nothing is accepted after its close."),
        "procedure-vote": N_("This decision is not decided by vote."),
        "procedure-no-objection": N_("Objections are for the written no-objection procedure."),
        "recused-once": N_("Your member state is already recused from this decision."),
        "no-ballot": N_("Your member state has no ballot to withdraw."),
        "governance.member_statement": N_("Only the member's own delegates, the secretariat and auditors read it."),
        "choice": N_("Choose yes, no or abstain."),
        "string_pattern_mismatch": N_("Choose one of the options offered."),
    }
)
web.register_flash_messages(
    {
        "ballot-cast": N_("Your member's ballot was recorded: %(choice)s. Its receipt is %(receipt)s."),
        "ballot-changed": N_("Your member's ballot was changed to %(choice)s. Its new receipt is %(receipt)s."),
        "ballot-withdrawn": N_("Your member's ballot was withdrawn; your member has no ballot on this decision."),
        "recused": N_("Your member state's recusal was recorded."),
        "objected": N_("Your member state's objection was recorded."),
    }
)


async def _close_if_due(request: AnyRequest, decision_ids: list[int] | None = None) -> None:
    """As the API does: reading a decision whose deadline passed closes it first."""
    await close_due_decisions(request.app.state.db, request.app.state.settings, web.now_of(request), decision_ids)


# ---------------------------------------------------------------- what a page shows of a decision


@dataclass
class Rules:
    """A decision's procedure, quorum and threshold in words."""

    procedure: str
    quorum: str
    threshold: str


def rules_in_words(decision: Decision, eligible: int | None) -> Rules:
    quorum = Decimal(decision.quorum)
    needed = rules.quorum_needed(eligible, quorum) if eligible else None
    share = percent(quorum)
    if needed is None or eligible is None:
        quorum_text = gettext("A quorum of %(share)s of the members on the roll, not recused.") % {"share": share}
    else:
        quorum_text = i18n.ngettext(
            "A quorum of %(share)s of the %(eligible)d member on the roll, not recused: %(needed)d.",
            "A quorum of %(share)s of the %(eligible)d members on the roll, not recused: %(needed)d of them.",
            eligible,
        ) % {"share": share, "eligible": eligible, "needed": needed}
    if decision.procedure == Procedure.VOTE.value:
        threshold = (
            gettext("A qualified majority: at least two thirds of the yes and no votes are yes.")
            if decision.majority == "qualified"
            else gettext("A simple majority: more yes than no.")
        )
        threshold += " " + gettext("Abstentions count for the quorum only; a tie fails.")
    elif decision.procedure == Procedure.NO_OBJECTION.value:
        threshold = gettext(
            "Adopted at the deadline unless a member on the roll objects; an objection turns it into a vote."
        )
    else:
        threshold = gettext("Adopted at a meeting with a quorum present and no objection from those present.")
    return Rules(gettext(PROCEDURE_LABELS.get(decision.procedure, decision.procedure)), quorum_text, threshold)


async def _terms_view(request: AnyRequest, decisions: Decisions, decision: Decision) -> dict[str, Any]:
    """What is decided, for the page: the terms of its kind in words and figures."""
    terms = terms_of(decision)
    keys = ("proposal", "budget", "countries", "score", "recommendation", "window", "member", "tier", "year")
    view: dict[str, Any] = dict.fromkeys(keys) | {"kind": decision.kind, "available_before": None}
    view["joined_on"] = view["available_after"] = None
    amount = rules.terms_money(terms)
    view["amount"] = money(amount)
    if decision.kind == "fund_proposal":
        ctx = HookContext(decisions.session, decisions.settings, decisions.user, decisions.now)
        try:
            summary: ProposalSummary | None = await funding_handler().summary(ctx, int(str(terms["proposal_id"])))
        except DomainError:
            summary = None
        view["proposal"] = summary
        if summary is not None:
            view["budget"] = [(gettext(CATEGORY_LABELS.get(c, c)), money(m)) for c, m in summary.budget]
            view["countries"] = [(country_name(code), share_of(share)) for code, share in summary.countries]
        score = terms.get("consolidated_score")
        view["score"] = web.fmt_number(Decimal(str(score))) if score not in (None, "") else None
        view["recommendation"] = terms.get("tag_recommendation")
        if decision.status != DecisionStatus.CLOSED.value and decision.window_id is not None and amount is not None:
            available = Money.from_minor(await decisions.available(decision.window_id), amount.currency)
            view["available_before"] = money(available)
            view["available_after"] = money(available - amount)
        view["window"] = await _window_name(decisions.session, decision.window_id)
    elif decision.kind in ("admit_member", "set_tier"):
        view["member"] = country_name(str(terms.get("member_code")))
        view["tier"] = terms.get("tier")
        view["joined_on"] = date.fromisoformat(str(terms["joined_on"])) if terms.get("joined_on") else None
    elif decision.kind in ("fee_schedule", "admin_budget"):
        view["year"] = terms.get("year")
        view["tier"] = terms.get("tier")
    elif decision.kind == "window_allocation":
        view["window"] = await _window_name(decisions.session, decision.window_id)
    elif decision.kind in COUNTRY_KINDS:
        view.update(_country_terms(decisions, terms))
    elif decision.kind in CONCESSIONAL_KINDS:
        view["concessional"] = _concessional_terms(terms)
        view["window"] = await _window_name(decisions.session, decision.window_id)
        if decision.kind == "concessional_financing":
            view["recommendation"] = terms.get("tag_recommendation")
            score = terms.get("consolidated_score")
            view["score"] = web.fmt_number(Decimal(str(score))) if score not in (None, "") else None
        open_now = decision.status != DecisionStatus.CLOSED.value
        if open_now and decision.window_id is not None and amount is not None and amount.is_positive:
            available = Money.from_minor(await decisions.available(decision.window_id), amount.currency)
            view["available_before"] = money(available)
            view["available_after"] = money(available - amount)
    return view


CONCESSIONAL_KINDS = ("concessional_financing", "cancel_concessional", "restructure_concessional")


def _terms_amount(value: object) -> str:
    """An amount of a decision's terms (``{"amount": "1000.00", "currency": "USD"}``) in words."""
    return money(from_json(value)) if isinstance(value, Mapping) else ""


def _points(value: object) -> str:
    """A grant element written in percentage points ("26.3417") as the page's language writes it."""
    if value in (None, ""):
        return ""
    return format_decimal(Decimal(str(value)), format="#,##0.0000", locale=_babel()) + "\u00a0%"


def _rate(value: object) -> str:
    """A rate written as a fraction ("0.015") as a percentage with the decimals it has."""
    return "" if value in (None, "") else share_of(Decimal(str(value)) * 100)


def _concessional_terms(terms: Mapping[str, Any]) -> dict[str, Any]:
    """A concessional decision's terms as the members read them: the agency, the country, the loan, the
    concessionality and the agency's costs, the grant element before and after against the threshold, the
    leverage; a restructuring's terms as adopted beside the new ones."""

    def rates(base: object, spread: object) -> str:
        if base in (None, "") or spread in (None, ""):
            return ""
        total = Decimal(str(base)) + Decimal(str(spread))
        return gettext("%(total)s (base rate %(base)s, spread %(spread)s)") % {
            "total": _rate(total),
            "base": _rate(base),
            "spread": _rate(spread),
        }

    leverage = terms.get("leverage")
    previous_leverage = terms.get("previous_leverage")
    return {
        "agency": terms.get("agency") or "",
        "country": country_name(str(terms.get("country") or "")),
        "country_code": terms.get("country") or "",
        "request_id": terms.get("request_id"),
        "loan": _terms_amount(terms.get("loan_amount")),
        "maturity_months": terms.get("maturity_months"),
        "grace_months": terms.get("grace_months"),
        "repayments_per_year": terms.get("repayments_per_year"),
        "concessionality": _terms_amount(terms.get("concessionality")),
        "agency_costs": _terms_amount(terms.get("agency_costs")),
        "before": _points(terms.get("grant_element_before")),
        "after": _points(terms.get("grant_element_after")),
        "threshold": _rate(terms.get("threshold")),
        "discount_rate": _rate(terms.get("discount_rate")),
        "leverage": web.fmt_number(Decimal(str(leverage))) if leverage not in (None, "") else "",
        "grant": _terms_amount(terms.get("grant_amount")),
        "transferred": _terms_amount(terms.get("transferred")),
        "to_release": _terms_amount(terms.get("to_release")),
        "previous_grant": _terms_amount(terms.get("previous_grant_amount")),
        "previous_loan": _terms_amount(terms.get("previous_loan_amount")),
        "previous_rate": rates(terms.get("previous_concessional_base_rate"), terms.get("previous_concessional_spread")),
        "new_rate": rates(terms.get("concessional_base_rate"), terms.get("concessional_spread")),
        "previous_concessionality": _terms_amount(terms.get("previous_concessionality")),
        "previous_after": _points(terms.get("previous_grant_element_after")),
        "previous_leverage": web.fmt_number(Decimal(str(previous_leverage)))
        if previous_leverage not in (None, "")
        else "",
    }


def _babel() -> str:
    return {"en": "en_GB"}.get(i18n.current(), i18n.current())


COUNTRY_KINDS = ("add_country", "remove_country", "set_country_group")


def _group_terms(decisions: Decisions, group: object) -> dict[str, str] | None:
    """A group in words with the discount rate and threshold it brings under the charter's method."""
    if not group:
        return None
    terms = rules.applicable_terms(str(group), decisions.charter.concessionality_method)
    return {
        "label": gettext(GROUP_LABELS.get(str(group), str(group))),
        "discount_rate": percent(terms.discount_rate),
        "threshold": percent(terms.threshold),
    }


def _country_terms(decisions: Decisions, terms: Mapping[str, Any]) -> dict[str, Any]:
    """A decision on the list of benefitting countries: the country, its group before and after, the terms."""
    return {
        "country": country_name(str(terms.get("country"))),
        "country_code": terms.get("country"),
        "group": _group_terms(decisions, terms.get("group")),
        "from_group": _group_terms(decisions, terms.get("from_group")),
        "reason": terms.get("reason"),
    }


async def _window_name(session: AsyncSession, window_id: int | None) -> str:
    """A window as people name it: its code and its name in the page's language."""
    window = await session.get(Window, window_id) if window_id else None
    if window is None:
        return ""
    return f"{window.code} \u2013 {getattr(window, 'name_' + i18n.current(), window.name_en)}"


async def decision_view(
    request: AnyRequest, decisions: Decisions, decision: Decision, user: Principal
) -> dict[str, Any]:
    """Everything the decision page shows, asked of the services."""
    assert decision.id is not None
    roll = await decisions.roll(decision.id)
    recusals = await decisions.recusals(decision.id)
    recused = {r.member_code for r in recusals}
    eligible = len([code for code in roll if code not in recused]) if roll else None
    blocked, why = await decisions.participation(decision, user.member_code)
    my_ballot = await decisions.ballot_of(decision.id, user.member_code) if user.member_code else None
    receipt = await decisions.receipt_of(decision.id, user.member_code) if user.member_code else None
    visible = decisions.results_visible(decision)
    tally = None
    if visible:
        tally = json.loads(decision.tally) if decision.tally else await decisions.running_tally(decision)
    record = await decision_record(decisions, decision) if decision.status == DecisionStatus.CLOSED.value else None
    return {
        "decision": decision,
        "kind": gettext(KIND_LABELS.get(decision.kind, decision.kind)),
        "status_label": gettext(STATUS_LABELS.get(decision.status, decision.status)),
        "result": gettext(RESULT_LABELS[decision.result]) if decision.result in RESULT_LABELS else "",
        "terms": await _terms_view(request, decisions, decision),
        "rules": rules_in_words(decision, eligible),
        "roll": sorted(((code, country_name(code)) for code in roll), key=lambda item: item[1]),
        "on_roll": user.member_code in roll if user.member_code else False,
        "recusals": [(country_name(r.member_code), _recusal_reason(r.reason, r.automatic)) for r in recusals],
        "my_member": country_name(user.member_code) if user.member_code else "",
        "may_act": blocked is None,
        "why_not": web.rule_message(blocked, why) if blocked else "",
        "my_choice": my_ballot.choice if my_ballot else None,
        "my_choice_label": gettext(CHOICE_LABELS[my_ballot.choice]) if my_ballot else "",
        "receipt": receipt.hash if receipt else "",
        "choices": [(value, gettext(label)) for value, label in CHOICE_LABELS.items()],
        "tally": tally,
        "roll_call": sorted(
            (country_name(row["member"]), gettext(CHOICE_LABELS.get(str(row["choice"]), str(row["choice"]))))
            for row in (record or {}).get("roll_call", [])
        ),
        "record": record,
        "time_left": web.fmt_time_left(decision.closes_at, decisions.now),
        "open": decision.status == DecisionStatus.OPEN.value and decision.closes_at > decisions.now,
    }


def _recusal_reason(reason: str, automatic: bool) -> str:
    """A recusal's reason: a member's own as written; one the charter made, in the page's language."""
    if automatic and reason in AUTOMATIC_RECUSAL_REASONS:
        return gettext(AUTOMATIC_RECUSAL_REASONS[reason])
    return reason


# ---------------------------------------------------------------- the pages


CHOICE_FIELD = Annotated[str | None, QueryParameter(max_length=100, required=False)]


class DecisionPages(Controller):
    path = DECISIONS_PATH
    include_in_schema = False
    guards = [require("governance.decisions.read")]

    @get("/")
    async def register(self, request: AnyRequest, db_session: Db, decisions: DecisionsService) -> Response[str]:
        """Open decisions (each with what the reader's member has done) and the closed ones, newest first."""
        await _close_if_due(request)
        user = current_user(request)
        rows = (
            (await db_session.execute(select(Decision).where(col(Decision.status) != DecisionStatus.DRAFT.value)))
            .scalars()
            .all()
        )
        open_rows = sorted((d for d in rows if d.status == DecisionStatus.OPEN.value), key=lambda d: d.closes_at)
        closed = sorted(
            (d for d in rows if d.status == DecisionStatus.CLOSED.value),
            key=lambda d: d.closed_at or d.closes_at,
            reverse=True,
        )
        choices = await decisions.participation_many([*open_rows, *closed], user.member_code)
        return web.render(
            request,
            "governance/decisions.html",
            title=N_("Decisions of the member states"),
            open_decisions=[self._row(decisions, d, choices[d.id or 0][2]) for d in open_rows],
            closed_decisions=[self._row(decisions, d, choices[d.id or 0][2]) for d in closed],
        )

    @staticmethod
    def _row(decisions: Decisions, decision: Decision, choice: str | None) -> dict[str, Any]:
        assert decision.id is not None
        return {
            "id": decision.id,
            "title": decision.title,
            "kind": gettext(KIND_LABELS.get(decision.kind, decision.kind)),
            "procedure": gettext(PROCEDURE_LABELS.get(decision.procedure, decision.procedure)),
            "closes_at": decision.closes_at,
            "closed_at": decision.closed_at or decision.closes_at,
            "time_left": web.fmt_time_left(decision.closes_at, decisions.now),
            "result": gettext(RESULT_LABELS[decision.result]) if decision.result in RESULT_LABELS else "",
            "result_key": decision.result or "",
            "my_choice": gettext(CHOICE_LABELS[choice]) if choice else "",
        }

    @get("/{decision_id:int}")
    async def decision(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int], receipt: CHOICE_FIELD = None
    ) -> Response[str]:
        return await self._page(request, decisions, decision_id, check=receipt)

    async def _page(
        self,
        request: AnyRequest,
        decisions: Decisions,
        decision_id: int,
        *,
        status: int = 200,
        errors: list[FieldError] | None = None,
        form: dict[str, str] | None = None,
        check: str | None = None,
    ) -> Response[str]:
        await _close_if_due(request, [decision_id])
        decision = await decisions.get(decision_id if 0 < decision_id < 2**31 else 0)
        if decision.status == DecisionStatus.DRAFT.value:
            raise NotFound(f"no decision with id {decision_id}")
        view = await decision_view(request, decisions, decision, current_user(request))
        checked = None
        if check is not None and view["record"] is not None:
            event, counted = rules.find_receipt(view["record"], check)
            checked = {
                "receipt": check.strip(),
                "found": event is not None,
                "counted": counted,
                "member": country_name(str(event.get("member"))) if event else "",
                "choice": gettext(CHOICE_LABELS.get(str(event.get("choice")), "")) if event else "",
                "at": event.get("at") if event else "",
            }
        return web.render(
            request,
            "governance/decision.html",
            status=status,
            title=decision.title,
            errors=errors or [],
            form=form or {},
            checked=checked,
            **view,
        )

    async def _refused(
        self, request: AnyRequest, decisions: Decisions, decision_id: int, error: DomainError, form: dict[str, str]
    ) -> Response[str]:
        await decisions.session.rollback()  # a refused form changes nothing
        errors = error.errors or [FieldError("", error.rule or error.slug, error.detail)]
        # The page is read afresh (nothing the refused service read in the rolled-back transaction is kept).
        fresh = Decisions.of(decisions.unit)
        return await self._page(request, fresh, decision_id, status=error.status, errors=errors, form=form)

    @post("/{decision_id:int}/ballot", status_code=303)
    async def cast(self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int]) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            data = _validated(
                BallotCast, {"choice": fields.get("choice", ""), "member_code": fields.get("member_code")}
            )
            # (a member_code in the form is the API's field: the service refuses any other member than one's own)
            cast = await decisions.cast(decision_id, data.choice, member_code=data.member_code)
        except DomainError as refused:
            return await self._refused(request, decisions, decision_id, refused, fields)
        flash = "ballot-changed" if cast.replaced else "ballot-cast"
        with i18n.using(web.page_locale(request, current_user(request))):
            choice = gettext(CHOICE_LABELS[data.choice])
        return web.redirect(f"{DECISIONS_PATH}/{decision_id}", flash=flash, choice=choice, receipt=cast.event.hash)

    @post("/{decision_id:int}/ballot/withdraw", status_code=303)
    async def withdraw(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int]
    ) -> Response[Any]:
        try:
            await decisions.withdraw_ballot(decision_id)
        except DomainError as refused:
            return await self._refused(request, decisions, decision_id, refused, {})
        return web.redirect(f"{DECISIONS_PATH}/{decision_id}", flash="ballot-withdrawn")

    @post("/{decision_id:int}/recusal", status_code=303)
    async def recuse(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int]
    ) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            data = _validated(RecusalDeclare, {"reason": fields.get("reason", "").strip()}, prefix="recusal_")
            await decisions.recuse(decision_id, data.reason)
        except DomainError as refused:
            return await self._refused(request, decisions, decision_id, refused, fields)
        return web.redirect(f"{DECISIONS_PATH}/{decision_id}", flash="recused")

    @post("/{decision_id:int}/objection", status_code=303)
    async def object(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int]
    ) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            data = _validated(ObjectionRaise, {"reason": fields.get("objection", "").strip()}, prefix="objection_")
            await decisions.object(decision_id, data.reason)
        except DomainError as refused:
            return await self._refused(request, decisions, decision_id, refused, fields)
        return web.redirect(f"{DECISIONS_PATH}/{decision_id}", flash="objected")

    @get("/{decision_id:int}/receipt.txt")
    async def receipt(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int]
    ) -> Response[str]:
        """The reader's member's receipt, to keep: what was cast, when, and how to check it in the record."""
        user = current_user(request)
        event: DecisionEvent | None = (
            await decisions.receipt_of(decision_id, user.member_code) if user.member_code else None
        )
        if event is None:
            raise NotFound("your member has no ballot on this decision")
        decision = await decisions.get(decision_id)
        text = (
            f"Decision {decision_id}: {decision.title}\n"
            f"Member: {event.member_code}\nChoice: {event.choice}\nCast at: {event.at.isoformat()}\n"
            f"Event: {event.seq}\nReceipt: {event.hash}\n\n"
            "After the close, the published record lists this receipt as the hash of its ballot event:\n"
            f"{DECISIONS_PATH}/{decision_id}?receipt={event.hash} checks it, and\n"
            "`fundapp governance verify-record FILE` checks the downloaded record offline.\n"
        )
        return Response(
            text,
            media_type="text/plain",
            headers={"Content-Disposition": f'attachment; filename="decision-{decision_id}-receipt.txt"'},
        )

    @get("/{decision_id:int}/record.json")
    async def record(
        self, request: AnyRequest, decisions: DecisionsService, decision_id: FromPath[int]
    ) -> Response[Any]:
        """The published record, to verify offline (``fundapp governance verify-record FILE``)."""
        await _close_if_due(request, [decision_id])
        decision = await decisions.get(decision_id)
        decisions.ensure_record_published(decision)
        return Response(
            await decision_record(decisions, decision),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="decision-{decision_id}-record.json"'},
        )


def _validated(model: Any, data: dict[str, Any], *, prefix: str = "") -> Any:
    """A form's answers through the API's own input model; its refusals named after the form's fields."""
    from pydantic import ValidationError

    try:
        return model.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as refused:
        errors = [
            FieldError(prefix + ".".join(str(p) for p in e.get("loc", ())), str(e.get("type")), str(e["msg"]))
            for e in refused.errors()
        ]
        raise InvalidInput(errors[0].message, errors=errors) from refused


# ---------------------------------------------------------------- a member's statement


class MemberPages(Controller):
    path = f"{web.PAGE_PREFIX}/members"
    include_in_schema = False

    @get("/{code:str}")
    async def statement(self, request: AnyRequest, governance: GovernanceService, code: FromPath[str]) -> Response[str]:
        """The member's fees, pledges, payments and arrears, in their currencies and the reporting currency."""
        code = code.upper()
        ensure_permission("governance.member_statement", current_user(request), code)
        member = await governance.session.get(Member, code)
        if member is None:
            raise NotFound(f"no member {code}")
        statement = await member_statement(governance, code, as_of=governance.today)
        arrears = (await governance.arrears(code)).get(code, [])
        suspended, reason = governance.voting_rights(arrears)
        return web.render(
            request,
            "governance/member.html",
            title=country_name(code),
            member=member,
            member_name=country_name(code),
            statement=statement,
            kinds={kind: gettext(label) for kind, label in STATEMENT_KINDS.items()},
            arrears=arrears,
            suspended=suspended,
            suspension_rule=reason,
            charter_suspends=governance.settings.charter.arrears_suspend_voting,
        )


# ---------------------------------------------------------------- benefitting countries


class CountryPages(Controller):
    path = COUNTRIES_PATH
    include_in_schema = False
    guards = [require("governance.read")]

    @get("/")
    async def countries(
        self,
        request: AnyRequest,
        governance: GovernanceService,
        include_removed: Annotated[bool, QueryParameter(required=False)] = False,
    ) -> Response[str]:
        """The benefitting countries (the API's ``GET /countries``): group, discount rate, threshold, since when
        and by which decision; the removed ones too when asked."""
        found = await governance.benefitting_countries(include_removed=include_removed)
        method = governance.settings.charter.concessionality_method
        rows = [
            {
                "code": s.country.code,
                "name": country_name(s.country.code),
                "group": gettext(GROUP_LABELS.get(s.country.group, s.country.group)),
                "discount_rate": percent(s.terms.discount_rate),
                "threshold": percent(s.terms.threshold),
                "since": s.country.added_on,
                "decision_id": s.country.added_by_decision_id,
                "removed_on": s.country.removed_on,
                "removed_by": s.country.removed_by_decision_id,
            }
            for s in sorted(found, key=lambda s: country_name(s.country.code))
        ]
        return web.render(
            request,
            "governance/countries.html",
            title=N_("Benefitting countries"),
            countries=rows,
            method=gettext(METHOD_LABELS.get(method, method)),
            include_removed=include_removed,
            reads_decisions=_reads_decisions(current_user(request)),
        )


# ---------------------------------------------------------------- the delegate's dashboard


async def delegate_dashboard(request: AnyRequest, session: AsyncSession, user: Principal) -> list[Panel]:
    """For a delegate: the decisions awaiting its member's ballot (with the time left), those closed
    recently with their result, and its member's standing (tier, fees due, arrears, voting rights)."""
    if not user.has_role(Role.MEMBER_DELEGATE) or user.member_code is None:
        return []
    await _close_if_due(request)
    decisions = Decisions.of(request_unit(request, session))
    now = decisions.now
    awaiting, since = [], now - RECENT  # recent: closed since then
    # The open decisions and those closed recently (not every decision ever taken: a dashboard reads a few rows).
    closed_recently = and_(
        col(Decision.status) == DecisionStatus.CLOSED.value,
        func.coalesce(col(Decision.closed_at), col(Decision.closes_at)) >= since,
    )
    wanted = or_(col(Decision.status) == DecisionStatus.OPEN.value, closed_recently)
    rows = (await session.execute(select(Decision).where(wanted))).scalars().all()
    open_rows = sorted((d for d in rows if d.status == DecisionStatus.OPEN.value), key=lambda d: d.closes_at)
    part = await decisions.participation_many(open_rows, user.member_code)
    for decision in open_rows:
        assert decision.id is not None
        blocked, _why, choice = part[decision.id]
        if blocked is None and choice is None and decision.procedure != Procedure.CONSENSUS.value:
            awaiting.append(
                {
                    "id": decision.id,
                    "title": decision.title,
                    "procedure": gettext(PROCEDURE_LABELS.get(decision.procedure, decision.procedure)),
                    "closes_at": decision.closes_at,
                    "time_left": web.fmt_time_left(decision.closes_at, now),
                }
            )
    recent = [
        {
            "id": d.id,
            "title": d.title,
            "closed_at": d.closed_at,
            "result": gettext(RESULT_LABELS[d.result]) if d.result in RESULT_LABELS else "",
            "result_key": d.result or "",
        }
        for d in sorted(
            (d for d in rows if d.status == DecisionStatus.CLOSED.value and (d.closed_at or d.closes_at) >= since),
            key=lambda d: d.closed_at or d.closes_at,
            reverse=True,
        )
    ]
    gov = Governance.of(decisions.unit)
    member = await session.get(Member, user.member_code)
    arrears = (await gov.arrears(user.member_code)).get(user.member_code, [])
    suspended, reason = gov.voting_rights(arrears)
    due = await member_balance_due(gov, user.member_code, as_of=gov.today)
    standing = {
        "code": user.member_code,
        "name": country_name(user.member_code),
        "tier": member.tier if member else "",
        "due": MoneyOut.of(due, gov.settings.reporting_currency),
        "overdue_years": [
            {"year": a.year, "outstanding": money(Money.from_minor(a.outstanding, a.currency)), "days": a.days_overdue}
            for a in arrears
            if a.days_overdue > 0
        ],
        "due_years": [
            {"year": a.year, "outstanding": money(Money.from_minor(a.outstanding, a.currency)), "due_on": a.due_on}
            for a in arrears
            if a.outstanding > 0 and a.days_overdue == 0
        ],
        "suspended": suspended,
        "suspension_reason": reason,
        "charter_suspends": request.app.state.settings.charter.arrears_suspend_voting,
    }
    return [
        Panel("governance/panel_awaiting.html", {"awaiting": awaiting}),
        Panel("governance/panel_recent.html", {"recent": recent}),
        Panel("governance/panel_standing.html", {"standing": standing}),
    ]


page_handlers = [DecisionPages, MemberPages, CountryPages]
