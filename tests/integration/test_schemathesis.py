"""The API against its own OpenAPI description (issue 19): schemathesis generates requests for every
operation, valid and invalid, sends them to a live server with an administrator's token (every role that
needs no binding: the secretariat, finance officer and approver, auditor), and every answer must be one the
description documents: no server error (5xx), a documented status code and media type, a body of the
documented schema. Bounded: a few examples per operation, at most about three minutes in all (on SQLite;
PostgreSQL runs the same operations with fewer examples)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests as requests_library
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fundapp.app import create_app
from fundapp.core.models import Role
from tests.support import Api, LiveServer, proposal_world

pytestmark = pytest.mark.usefixtures("backend")

# Operations that would end the run's own credentials: its session or token, or its account.
EXCLUDED = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/tokens/{token_id}/revoke"),
    ("POST", "/api/v1/users/{user_id}/disable"),
    ("POST", "/api/v1/me/password"),
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BUDGET_S = 170.0


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    proposal_world(api, reviewers=1)  # members, windows, organisations, a call: ids that exist
    with LiveServer(create_app(api.settings, clock=api.clock)) as live:
        yield live.url


def test_every_answer_is_documented_and_none_is_a_server_error(api: Api, server: str, backend: str) -> None:
    # One token that reaches every operation: the approver's role is written beside the officer's by SQL (the
    # services never give both to one user; this run checks answers' shapes, not duties).
    admin = api.create_user(Role.SECRETARIAT_ADMIN, Role.FINANCE_OFFICER, Role.AUDITOR)
    api.add_role_by_sql(admin.id, Role.FINANCE_APPROVER)
    headers = {"Authorization": f"Bearer {admin.token}"}
    schema = schemathesis.openapi.from_url(f"{server}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100
    examples = 8 if backend == "sqlite" else 4
    started = time.monotonic()
    failures: list[str] = []
    requests = 0

    for operation in operations:
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            requests += run_operation(operation, mode, examples, server, headers, failures)
        assert time.monotonic() - started < BUDGET_S, f"over the time budget after {operation.label}"

    elapsed = time.monotonic() - started
    print(f"schemathesis: {requests} requests, {len(operations)} operations, {elapsed:.1f} s, {len(failures)} failures")
    assert not failures, f"{len(failures)} failures:\n" + "\n\n".join(failures[:40])


def run_operation(
    operation: Any, mode: GenerationMode, examples: int, server: str, headers: dict[str, str], failures: list[str]
) -> int:
    """Up to ``examples`` generated requests for one operation; each failed check is added to ``failures``
    (so one run reports them all); returns how many requests were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        try:
            case.call_and_validate(base_url=server, headers=headers, checks=CHECKS, timeout=30)
        except (FailureGroup, AssertionError, requests_library.RequestException) as failure:
            failures.append(f"{case.method} {case.formatted_path} [{mode.value}]: {failure}"[:1500])

    run()
    return sent
