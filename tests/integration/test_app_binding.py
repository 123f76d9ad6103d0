"""One built app bound to another run's settings and clock (``fundapp.app.bind``) answers from that run's
database, on that run's clock, with metrics of its own; settings that change the routes or middleware are
refused (the tests build one app per shape and process, docs/architecture.md "The app and its run")."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient

from fundapp.app import bind, create_app
from fundapp.core.clock import FrozenClock
from fundapp.core.models import Role
from tests.conftest import START, make_settings
from tests.support import Api, DatabaseProbe


def run_of(template: Path, folder: Path) -> tuple[str, Path]:
    folder.mkdir()
    shutil.copyfile(template, folder / "fundapp.sqlite3")
    return f"sqlite+aiosqlite:///{folder / 'fundapp.sqlite3'}", folder / "var"


def test_a_rebound_app_answers_from_the_new_run_only(sqlite_template: Path, tmp_path: Path) -> None:
    first_url, first_var = run_of(sqlite_template, tmp_path / "first")
    second_url, second_var = run_of(sqlite_template, tmp_path / "second")
    first, second = make_settings(first_url, first_var), make_settings(second_url, second_var)
    app = create_app(first, clock=FrozenClock(START))
    with TestClient(app) as client:
        probe = DatabaseProbe(first)
        try:
            auditor = Api(client, probe, first, FrozenClock(START)).create_user(Role.AUDITOR)
        finally:
            probe.close()
        assert client.get("/api/v1/me", headers=auditor.headers).status_code == 200
        metrics = client.get("/metrics", headers=auditor.headers).content
        assert b'fundapp_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1.0' in metrics

    later = FrozenClock(START + timedelta(days=40))
    bind(app, second, later)
    with TestClient(app) as client:
        # The first run's token means nothing in the second run's database.
        assert client.get("/api/v1/me", headers=auditor.headers).status_code == 401
        probe = DatabaseProbe(second)
        try:
            other = Api(client, probe, second, later).create_user(Role.AUDITOR)
        finally:
            probe.close()
        me = client.get("/api/v1/me", headers=other.headers)
        assert me.status_code == 200 and me.json()["username"] == other.username
        metrics = client.get("/metrics", headers=other.headers).content
        # The second run counts its own requests only: one refused and one answered.
        assert b'route="/api/v1/me",status="200"} 1.0' in metrics
        assert b'route="/api/v1/me",status="401"} 1.0' in metrics
    assert app.state.clock is later and app.state.settings is second


def test_settings_that_change_the_routes_or_middleware_need_an_app_of_their_own(
    sqlite_template: Path, tmp_path: Path
) -> None:
    url, var = run_of(sqlite_template, tmp_path / "run")
    app = create_app(make_settings(url, var), clock=FrozenClock(START))
    for change in ({"FUNDAPP_SESSION_COOKIE_NAME": "other"}, {"FUNDAPP_MAX_REQUEST_BODY_BYTES": "2048"}):
        with pytest.raises(ValueError, match="an app of their own"):
            bind(app, make_settings(url, var, **change), FrozenClock(START))
