"""`fundapp worker` runs by itself until stopped: started as its own process on the wall clock, it closes a
decision whose deadline has passed without any request and tells the delegates, then stops on SIGTERM. On
both backends (on PostgreSQL as a procrastinate worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fundapp.core.config import Settings
from fundapp.core.models import Role
from tests.decision_support import create_decision, delegates_for, iso
from tests.jobs_support import Inbox, smtp, smtp_settings, wait_until
from tests.support import Api

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(180)]
__all__ = ["smtp"]
FUNDAPP = [sys.executable, "-c", "import sys; from fundapp.cli import main; sys.exit(main())"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp: Inbox) -> Settings:
    return smtp_settings(database_url, tmp_path / "var", smtp)


def test_fundapp_worker_closes_a_due_decision_by_itself_and_stops_on_sigterm(
    api: Api, smtp: Inbox, tmp_path: Path
) -> None:
    # The facility's story is set two hours before the wall clock: the decision's deadline, an hour after its
    # opening, has passed for the worker, which runs on the wall clock.
    api.clock.current = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    delegates = delegates_for(api, admin, ["MEX", "SEN"])
    decision = create_decision(
        api,
        admin,
        kind="admin_budget",
        year=2027,
        amount="1000.00",
        open=True,
        closes_at=iso(api.clock.now() + timedelta(hours=1)),
    )
    env = {
        **os.environ,
        "FUNDAPP_ENV": "test",
        "FUNDAPP_DATABASE_URL": api.settings.database_url,
        "FUNDAPP_SECRET_KEY": api.settings.secret_key,
        "FUNDAPP_VAR_DIR": str(tmp_path / "var"),
        "FUNDAPP_SCHEDULER_INTERVAL_SECONDS": "1",
        "FUNDAPP_SMTP_HOST": smtp.host,
        "FUNDAPP_SMTP_PORT": str(smtp.port),
    }
    worker = subprocess.Popen(
        [*FUNDAPP, "worker", "--name", "test-worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = "SELECT status FROM decisions WHERE id = :d"
        wait_until(lambda: api.db.scalar(status, d=decision["id"]) == "closed", 60.0, "the close")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "fundapp worker:" in out and "stopped" in out
    closed = "SELECT count(*) FROM decision_events WHERE decision_id = :d AND kind = 'closed'"
    assert api.db.scalar(closed, d=decision["id"]) == 1
    # The tick closes first: no delegate is told of a decision that is over.
    assert delegates and smtp.received() == []
