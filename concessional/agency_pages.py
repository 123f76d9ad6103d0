"""The secretariat's pages of implementation support agencies: the agencies with their due diligence and
financial procedures agreement, and the form that records the agreement (date, document), calling
``Concessional.record_procedures_agreement`` behind ``proposals.manage`` as the API's twin does."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath

from concessional.request_pages import ConcessionalService, Refusal, refusal, validated
from concessional.schemas import ProceduresAgreementIn
from concessional.service import Concessional
from fundapp.core import web
from fundapp.core.errors import DomainError
from fundapp.core.security import has_permission, require
from fundapp.core.web import N_, NavItem, gettext

AGENCIES_PATH = f"{web.PAGE_PREFIX}/concessional/agencies"
AnyRequest = web.AnyRequest
DUE_DILIGENCE_LABELS = {
    "pending": N_("Pending"),
    "cleared": N_("Cleared"),
    "refused": N_("Refused"),
}

web.register_nav(
    NavItem(
        N_("Agencies"),
        lambda _u: AGENCIES_PATH,
        lambda u: has_permission("proposals.manage", u)[0],
        order=37,
    )
)
web.register_flash_messages({"procedures-agreement-recorded": N_("The financial procedures agreement was recorded.")})


class AgencyPages(Controller):
    path = AGENCIES_PATH
    include_in_schema = False
    guards = [require("proposals.manage")]

    @get("/")
    async def agencies(self, request: AnyRequest, concessional: ConcessionalService) -> Response[str]:
        rows = [
            {
                "id": a.id,
                "name": a.name,
                "country": a.country,
                "due_diligence": gettext(DUE_DILIGENCE_LABELS.get(a.due_diligence, a.due_diligence)),
                "agreed_on": a.procedures_agreement_on,
                "document": a.procedures_agreement_document,
            }
            for a in await concessional.agencies()
        ]
        return web.render(request, "concessional/agencies.html", title=N_("Implementation support agencies"), rows=rows)

    @get("/{organisation_id:int}")
    async def agency(
        self, request: AnyRequest, concessional: ConcessionalService, organisation_id: FromPath[int]
    ) -> Response[str]:
        return await self._page(request, concessional, organisation_id)

    async def _page(
        self, request: AnyRequest, concessional: Concessional, organisation_id: int, refused: Refusal | None = None
    ) -> Response[str]:
        agency = await concessional.agency(organisation_id)
        form = (
            refused.form
            if refused
            else {
                "agreed_on": agency.procedures_agreement_on.isoformat() if agency.procedures_agreement_on else "",
                "document": agency.procedures_agreement_document,
            }
        )
        return web.render(
            request,
            "concessional/agency.html",
            status=refused.status if refused else 200,
            title=agency.name,
            errors=refused.errors if refused else [],
            form=form,
            agency=agency,
            due_diligence=gettext(DUE_DILIGENCE_LABELS.get(agency.due_diligence, agency.due_diligence)),
        )

    @post("/{organisation_id:int}/procedures-agreement", status_code=303)
    async def record(
        self, request: AnyRequest, concessional: ConcessionalService, organisation_id: FromPath[int]
    ) -> Response[Any]:
        fields = await web.form_of(request)
        try:
            data = validated(
                ProceduresAgreementIn,
                {"agreed_on": fields.get("agreed_on", "").strip(), "document": fields.get("document", "").strip()},
            )
            await concessional.record_procedures_agreement(organisation_id, data)
        except DomainError as error:
            await concessional.session.rollback()  # a refused form changes nothing
            found = refusal(error, fields, known=("agreed_on", "document"), fallback="agreed_on")
            return await self._page(request, Concessional.of(concessional.unit), organisation_id, found)
        return web.redirect(f"{AGENCIES_PATH}/{organisation_id}", flash="procedures-agreement-recorded")


page_handlers = [AgencyPages]
