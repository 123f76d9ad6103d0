"""Concessional financing HTTP API: the calculator (DESIGN §12; docs/concessional.md)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import RequestBody
from litestar.status_codes import HTTP_200_OK

import concessional.permissions  # noqa: F401 - registers the concessional actions
from concessional.calculator import run
from concessional.schemas import CalculatorIn, CalculatorOut
from fundapp.core.api import API_PREFIX
from fundapp.core.security import require


class CalculatorController(Controller):
    path = f"{API_PREFIX}/concessional"
    tags = ["concessional"]

    @post("/calculator", guards=[require("concessional.calculate")], status_code=HTTP_200_OK, sync_to_thread=False)
    def calculate(self, data: RequestBody[CalculatorIn]) -> CalculatorOut:
        """Compute a loan's grant element before and after the buy-down, the concessionality amount and the
        leverage, with both schedules, saving nothing. Every refusal names its field and rule (422)."""
        return run(data)


route_handlers = [CalculatorController]
