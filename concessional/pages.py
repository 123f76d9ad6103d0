"""Concessional financing's pages: the calculator (DESIGN §12; docs/concessional.md).

The page computes through the same function as its API twin (``concessional.calculator.run``, which calls
``concessional.rules.calculate``) behind the same permission (``concessional.calculate``) and saves nothing.
People type rates as percentages ("2.5" or "2,5"); the page turns them into the API's fractions before the
same input model reads them, so a refusal names the same field and rule as the API's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from litestar import Controller, Response, get, post
from pydantic import ValidationError

import concessional.permissions  # noqa: F401 - registers the concessional actions
from concessional.calculator import run
from concessional.models import RepaymentMethod
from concessional.schemas import CalculatorIn, CalculatorOut
from fundapp.core import web
from fundapp.core.errors import FieldError, InvalidInput
from fundapp.core.security import Principal, has_permission, require
from fundapp.core.web import N_, NavItem, gettext, i18n
from fundapp.core.web.pages import field_errors
from ledger import Money, format_money

HERE = Path(__file__).resolve().parent
web.register_templates(HERE / "templates")
i18n.register_catalogue(HERE / "locale")

CALCULATOR_PATH = f"{web.PAGE_PREFIX}/concessional/calculator"
AnyRequest = web.AnyRequest
# The form's fields typed as percentages on the page (fractions in the API).
PERCENT_FIELDS = (
    "market_base_rate",
    "market_spread",
    "concessional_base_rate",
    "concessional_spread",
    "discount_rate",
    "threshold",
)
FIELDS = ("loan_amount", "currency", "maturity_months", "grace_months", "repayments_per_year", "method")
DEFAULTS = {"currency": "USD", "repayments_per_year": "2", "method": RepaymentMethod.EQUAL_PRINCIPAL.value}
FREQUENCY_LABELS = {
    "1": N_("Once a year"),
    "2": N_("Twice a year (semi-annual)"),
    "4": N_("Four times a year (quarterly)"),
    "12": N_("Every month"),
}
METHOD_LABELS = {
    RepaymentMethod.EQUAL_PRINCIPAL.value: N_("Equal principal repayments"),
    RepaymentMethod.ANNUITY.value: N_("Annuity (equal instalments of principal and interest)"),
}


def _calculates(user: Principal) -> bool:
    return has_permission("concessional.calculate", user)[0]


web.register_nav(NavItem(N_("Concessionality calculator"), lambda _u: CALCULATOR_PATH, _calculates, order=40))
web.register_rule_messages(
    {
        "positive": N_("Give a number greater than zero."),
        "at-most-50-years": N_("The maturity is at most 600 months (50 years)."),
        "grace-within-maturity": N_(
            "The first repayment falls at the end of the first repayment period at the earliest, and at maturity "
            "at the latest."
        ),
        "schedule-adds-up": N_(
            "The schedule does not add up: the first repayment and maturity must each fall at the end of a "
            "repayment period (12 months divided by the repayments a year)."
        ),
        "known-frequency": N_("Repayments are made once, twice, four or twelve times a year."),
        "known-method": N_("Choose one of the options offered."),
        "rate-range": N_("Give a rate of at least zero and below 100%."),
        "not-above-market": N_("The concessional terms may not be dearer than the market terms."),
        "threshold-range": N_("Give a threshold from 0% to 100%."),
        "excess_precision": N_("The amount has more decimals than its currency has."),
        "unknown_currency": N_("Give a currency's three-letter ISO code, such as USD or EUR."),
        "number-format": N_("Give a number, such as 2.5."),
    }
)


def _fraction(text: str) -> str:
    """A percentage as people type it ("2.5", "2,5 %") as the API's fraction ("0.025"); text that is no
    number is passed on for the input model to refuse."""
    cleaned = text.replace("%", "").replace(",", ".").strip()
    try:
        number = Decimal(cleaned) / 100
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    return "0" if number == 0 else format(number.normalize(), "f")


def _input_of(fields: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in FIELDS:
        value = fields.get(name, "").strip()
        if value:
            data[name] = value.upper() if name == "currency" else value
    for name in PERCENT_FIELDS:
        value = fields.get(name, "").strip()
        if value:
            data[name] = _fraction(value)
    return data


def _page_errors(refused: ValidationError) -> list[FieldError]:
    """pydantic's refusals of the form's fields, a number that is not one said as such."""
    errors = []
    for error in field_errors(refused):
        rule = error.rule
        if error.field in (*PERCENT_FIELDS, "loan_amount", "maturity_months", "grace_months") and rule not in (
            "missing",
            "excess_precision",
        ):
            rule = "number-format"
        errors.append(FieldError(error.field, rule, error.message))
    return errors


def _locale() -> str:
    return {"en": "en_GB"}.get(i18n.current(), i18n.current())


def percent_text(fraction: str | None) -> str:
    """A fraction ("0.025") as the percentage people typed ("2.5")."""
    if fraction is None:
        return ""
    return format((Decimal(fraction) * 100).normalize(), "f")


def _view(result: CalculatorOut) -> dict[str, Any]:
    """The results as the page's language writes them."""

    def pct(value: str | None, places: str = "#,##0.0000") -> str:
        return "" if value is None else format_decimal(Decimal(value), format=places, locale=_locale()) + " %"

    def amount(value: str) -> str:
        return format_decimal(Decimal(value), format="#,##0.00###", locale=_locale())

    currency = result.loan_amount.currency

    def rows(schedule: list[Any]) -> list[dict[str, str]]:
        return [
            {
                "period": str(r.period),
                "months": str(r.months),
                "principal": amount(r.principal),
                "interest": amount(r.interest),
                "debt_service": amount(r.debt_service),
                "outstanding": amount(r.outstanding),
            }
            for r in schedule
        ]

    return {
        "loan": format_money(Money.of(result.loan_amount.amount, currency), _locale()),
        "concessionality": format_money(Money.of(result.concessionality.amount, currency), _locale()),
        "currency": currency,
        "market_rate": pct(str(Decimal(result.market_rate) * 100), "#,##0.00##########"),
        "concessional_rate": pct(str(Decimal(result.concessional_rate) * 100), "#,##0.00##########"),
        "discount_rate": pct(str(Decimal(result.discount_rate) * 100), "#,##0.00##########"),
        "per_period": pct(str(Decimal(result.per_period_discount_rate) * 100), "#,##0.0000"),
        "threshold": None if result.threshold is None else pct(str(Decimal(result.threshold) * 100), "#,##0.00##"),
        "before": pct(result.grant_element_before),
        "after": pct(result.grant_element_after),
        "leverage": None
        if result.leverage is None
        else format_decimal(Decimal(result.leverage), format="#,##0.00", locale=_locale()),
        "meets_threshold": result.meets_threshold,
        "market_schedule": rows(result.market_schedule),
        "concessional_schedule": rows(result.concessional_schedule),
    }


class CalculatorPages(Controller):
    path = CALCULATOR_PATH
    include_in_schema = False
    guards = [require("concessional.calculate")]

    @get("/")
    async def form(self, request: AnyRequest) -> Response[str]:
        return self._page(request, dict(DEFAULTS))

    @post("/", status_code=200)
    async def compute(self, request: AnyRequest) -> Response[str]:
        """The results beside the kept inputs; a refusal beside its field (nothing is saved either way)."""
        fields = await web.form_of(request)
        shown = {name: fields.get(name, "") for name in FIELDS + PERCENT_FIELDS}
        try:
            result = run(CalculatorIn.model_validate(_input_of(fields)))
        except ValidationError as refused:
            return self._page(request, shown, errors=_page_errors(refused), status=422)
        except InvalidInput as refused:
            return self._page(request, shown, errors=refused.errors, status=422)
        return self._page(request, shown, result=_view(result))

    def _page(
        self,
        request: AnyRequest,
        form: dict[str, str],
        *,
        result: dict[str, Any] | None = None,
        errors: list[FieldError] | None = None,
        status: int = 200,
    ) -> Response[str]:
        return web.render(
            request,
            "concessional/calculator.html",
            status=status,
            title=gettext("Concessionality calculator"),
            errors=errors or [],
            form=form,
            result=result,
            frequencies=[(value, gettext(label)) for value, label in FREQUENCY_LABELS.items()],
            methods=[(value, gettext(label)) for value, label in METHOD_LABELS.items()],
        )


page_handlers = [CalculatorPages]
