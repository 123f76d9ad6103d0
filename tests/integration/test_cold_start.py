"""A freshly started process answers its first request right, whatever that request is (issue 19: a deposit
as a new process's first request answered 500 until some read had configured the ORM's mappers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from fundapp.core.models import Role
from tests.support import Api, add_contributor

pytestmark = pytest.mark.usefixtures("backend")

FIRST_REQUESTS = textwrap.dedent(
    """
    import json, os, sys
    from litestar.testing import TestClient
    from fundapp.app import create_app
    from fundapp.core.config import load_settings

    from datetime import datetime
    from fundapp.core.clock import FrozenClock

    spec = json.loads(sys.argv[1])
    headers = {"Authorization": "Bearer " + spec["token"]}
    # The test's clock: the token was used a moment ago, so authenticating it writes nothing (no ORM call).
    clock = FrozenClock(datetime.fromisoformat(spec["now"]))
    with TestClient(create_app(load_settings(), clock=clock)) as client:
        first = client.post(spec["path"], json=spec["body"], headers={**headers, **spec.get("headers", {})})
    print(json.dumps({"status": first.status_code, "body": first.text[:500]}))
    """
)


def first_request_of_a_new_process(api: Api, path: str, body: dict[str, object], **headers: str) -> dict[str, object]:
    officer = api.create_user(Role.FINANCE_OFFICER)
    assert api.client.get("/api/v1/me", headers=officer.headers).status_code == 200  # the token's last use: now
    env = {
        **os.environ,
        "FUNDAPP_ENV": "test",
        "FUNDAPP_DATABASE_URL": api.settings.database_url,
        "FUNDAPP_SECRET_KEY": api.settings.secret_key,
        "FUNDAPP_VAR_DIR": str(api.settings.var_dir),
    }
    spec = {"token": officer.token, "path": path, "body": body, "headers": headers, "now": api.clock.now().isoformat()}
    done = subprocess.run(
        [sys.executable, "-c", FIRST_REQUESTS, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_deposit_is_the_first_request_of_a_new_process(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    body = {"contributor_id": donor, "value_date": "2026-03-16", "amount": "100.00", "currency": "USD"}

    first = first_request_of_a_new_process(api, "/api/v1/contributions", body, **{"Idempotency-Key": "cold-1"})

    assert first["status"] == 201, first
    assert api.db.count("contributions") == 1


def test_a_bank_statement_is_the_first_request_of_a_new_process(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    receipt = {"contributor_id": donor, "value_date": "2026-03-16", "amount": "5.00", "currency": "USD"}

    first = first_request_of_a_new_process(
        api, "/api/v1/contributions/bank-statement", {"receipts": [{**receipt, "idempotency_key": "bank-1"}]}
    )

    assert first["status"] == 201, first
