"""Logs and metrics (docs/operations.md, "Logs" and "Metrics"): every request has an id (the client's
``X-Request-ID`` when sane, else a new one), echoed in the response and carried by each of its JSON log lines;
``/metrics`` in Prometheus's format, for auditors or the metrics token, added up over ``fundapp serve``'s workers.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import get
from litestar.testing import TestClient

from fundapp.app import create_app
from fundapp.core import metrics
from fundapp.core.clock import FrozenClock
from fundapp.core.config import Settings
from fundapp.core.logs import JsonFormatter
from fundapp.core.models import Role
from tests import conftest
from tests.integration.test_serve import FUNDAPP, free_port
from tests.support import Api, assert_problem

TOKEN = "metrics-token-" + "m" * 40


# ---------------------------------------------------------------- fundapp serve: JSON lines, ids, two workers


@pytest.fixture
def served(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[int, Path]]:
    database = tmp_path / "served.sqlite3"
    database.write_bytes(sqlite_template.read_bytes())
    env = {
        **conftest.TEST_ENV,
        "PATH": "/usr/bin:/bin",
        "FUNDAPP_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "FUNDAPP_VAR_DIR": str(tmp_path / "var"),
        "FUNDAPP_METRICS_TOKEN": TOKEN,
    }
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*FUNDAPP, "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 120  # two CPUs shared with other test processes
        while True:
            try:
                if _get(port, "/health", {"X-Request-ID": "warm-up"})[0] == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"fundapp serve did not answer: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(1.0)  # the second worker listens too
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=60)


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection: any worker
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _health_count(text: str) -> float:
    found = re.search(r'fundapp_http_requests_total\{method="GET",route="/health",status="200"\} ([0-9.e+]+)', text)
    assert found, text
    return float(found.group(1))


def test_served_requests_log_json_lines_with_their_id_and_metrics_add_up_over_the_workers(
    served: tuple[int, Path],
) -> None:
    port, log = served
    status, headers, _ = _get(port, "/health", {"X-Request-ID": "ops-test-42"})
    assert (status, headers["x-request-id"]) == (200, "ops-test-42")
    # Not sane (too long, or characters a log reader could trip on): a new id instead.
    status, headers, _ = _get(port, "/api/v1/me", {"X-Request-ID": "x" * 200})
    assert status == 401
    generated = headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)

    for _ in range(20):
        assert _get(port, "/health", {})[0] == 200
    # Whichever worker answers the scrape counts the requests of both.
    scrapes = [_get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"}) for _ in range(4)]
    assert {s[0] for s in scrapes} == {200}
    counts = {_health_count(s[2].decode()) for s in scrapes}
    assert counts == {22.0}, counts  # warm-up, ops-test-42 and 20 more
    assert "fundapp_db_pool_checked_out" in scrapes[0][2].decode()
    assert "fundapp_job_queue_depth 0.0" in scrapes[0][2].decode()

    time.sleep(0.5)
    # Every log line is one JSON object (the command's own notes before it serves are not log lines).
    lines = [line for line in log.read_text().splitlines() if line.strip() and not line.startswith("note: ")]
    records = [json.loads(line) for line in lines]
    mine = [r for r in records if r.get("request_id") == "ops-test-42"]
    assert [(r["logger"], r["route"], r["status"]) for r in mine] == [("fundapp.request", "/health", 200)]
    theirs = [r for r in records if r.get("request_id") == generated]
    assert [(r["path"], r["status"]) for r in theirs] == [("/api/v1/me", 401)]


# ---------------------------------------------------------------- every line of a request carries its id


@get("/test/fails", sync_to_thread=False, exclude_from_auth=True)
def fails() -> None:
    logging.getLogger("fundapp.test").warning("about to fail", extra={"step": 1})
    raise RuntimeError("the test's failure")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fundapp")
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def test_every_log_line_of_a_request_carries_its_id(
    settings: Settings, clock: FrozenClock, json_lines: io.StringIO
) -> None:
    app = create_app(settings, clock=clock, extra_route_handlers=[fails])
    with TestClient(app, base_url="http://testserver.local") as client:
        response = client.get("/test/fails", headers={"X-Request-ID": "req-7.a:b"})
        assert response.status_code == 500
        assert response.headers["x-request-id"] == "req-7.a:b"
        client.get("/health", headers={"X-Request-ID": "another"})
    records = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    mine = [r for r in records if r["request_id"] == "req-7.a:b"]
    assert [(r["logger"], r["message"][:20]) for r in mine] == [
        ("fundapp.test", "about to fail"),
        ("fundapp.errors", "unhandled error on G"),
        ("fundapp.request", "GET /test/fails 500"),
    ]
    assert mine[0]["step"] == 1
    assert "RuntimeError: the test's failure" in mine[1]["exception"]
    assert all(r["request_id"] is not None for r in records)


# ---------------------------------------------------------------- who may read /metrics


def test_metrics_are_for_auditors(api: Api) -> None:
    assert_problem(api.client.get("/metrics"), 401)
    officer = api.create_user(Role.FINANCE_OFFICER)
    assert_problem(api.client.get("/metrics", headers=officer.headers), 403)
    assert_problem(api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}), 401)  # no token set
    auditor = api.create_user(Role.AUDITOR)
    api.client.get(f"/api/v1/users/{auditor.id}", headers=auditor.headers)
    response = api.client.get("/metrics", headers=auditor.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # By the route's template, never the raw path.
    assert 'route="/api/v1/users/{user_id}"' in text
    assert f'route="/api/v1/users/{auditor.id}"' not in text
    assert "fundapp_http_request_duration_seconds_bucket" in text
    assert "fundapp_db_pool_size" in text
    assert "fundapp_job_queue_depth 0.0" in text


def test_the_metrics_token_and_a_plugged_queue_depth(
    database_url: str, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seven(_session: object) -> int:
        return 7

    monkeypatch.setattr(metrics, "_queue_depth", metrics._queue_depth)  # restored after the test
    metrics.set_queue_depth(seven)  # type: ignore[arg-type]
    settings = conftest.make_settings(database_url, tmp_path / "var", FUNDAPP_METRICS_TOKEN=TOKEN)
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver.local") as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        assert "fundapp_job_queue_depth 7.0" in response.text
        assert_problem(client.get("/metrics", headers={"Authorization": "Bearer " + "n" * 54}), 401)
