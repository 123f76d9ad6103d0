"""The fee year opens on 1 January by itself: next year's fee notices are posted by the scheduled work (here
`fundapp worker --once`, the command a cron or a process manager runs, on the test's clock), dated that day,
with no request arriving; not a day before, and once. On both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fundapp import cli
from fundapp.core.models import Role
from tests.support import V1, Api, accepted, admit_member, set_fee

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(180)]


def worker_once(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("FUNDAPP_DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("FUNDAPP_SECRET_KEY", api.settings.secret_key)
    monkeypatch.setenv("FUNDAPP_VAR_DIR", str(api.settings.var_dir))
    assert cli.main(["worker", "--once"], clock=api.clock) == 0
    return capsys.readouterr().out


def test_the_fee_year_opens_on_the_first_of_january_by_the_job(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    officer = api.create_user(Role.FINANCE_OFFICER)
    for tier, amount in (("I", "150000.00"), ("II", "25000.00")):
        set_fee(api, admin, 2027, tier, amount)
    admit_member(api, admin, "MEX", "I")
    admit_member(api, admin, "SEN", "II")
    run = accepted(api.client.post(f"{V1}/assessments", json={"year": 2027}, headers=officer.headers))
    assert {a["status"] for a in run["created"]} == {"notified"}
    notices = "SELECT count(*) FROM assessments WHERE year = 2027 AND entry_id IS NOT NULL"

    api.clock.current = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert "fee years opened: none" in worker_once(api, monkeypatch, capsys)
    assert api.db.scalar(notices) == 0

    api.clock.current = datetime(2027, 1, 1, 0, 1, tzinfo=UTC)
    assert "fee years opened: 2027" in worker_once(api, monkeypatch, capsys)
    assert api.db.scalar(notices) == 2
    assert api.db.rows("SELECT DISTINCT recognised_on FROM assessments WHERE year = 2027") in (
        [("2027-01-01",)],
        [(datetime(2027, 1, 1).date(),)],
    )
    assert api.db.scalar("SELECT count(*) FROM journal_entries WHERE entry_date > '2027-01-01'") == 0
    entries = api.db.count("journal_entries")
    assert "fee years opened: none" in worker_once(api, monkeypatch, capsys)  # once
    assert api.db.count("journal_entries") == entries
