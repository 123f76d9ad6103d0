"""The ``fundapp`` command, as an operator uses it."""

from __future__ import annotations

import pytest

from fundapp import cli
from fundapp.core.models import Role
from fundapp.demo import DEMO_PASSWORD, DEMO_USERS, Timeline
from tests.support import Api, admit_member, demo_day

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def fundapp(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``fundapp ARGS...`` against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("FUNDAPP_DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("FUNDAPP_SECRET_KEY", api.settings.secret_key)
    monkeypatch.setenv("FUNDAPP_VAR_DIR", str(api.settings.var_dir))
    monkeypatch.setenv("FUNDAPP_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("FUNDAPP_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("FUNDAPP_ARGON2_PARALLELISM", "1")

    api.clock.current = demo_day()  # the demo's story ends before the day it is loaded

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args), clock=api.clock)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_demo_loads_every_role_once_and_a_second_run_adds_nothing(api: Api, fundapp) -> None:
    code, out, _ = fundapp("demo")
    assert code == 0
    assert DEMO_PASSWORD in out
    for user in DEMO_USERS:
        assert user.username in out
    assert api.db.count("users") == len(DEMO_USERS)
    roles = {r[0] for r in api.db.rows("SELECT DISTINCT role FROM user_roles")}
    assert roles == {
        "secretariat_admin",
        "finance_officer",
        "finance_approver",
        "tag_reviewer",
        "member_delegate",
        "grantee",
        "auditor",
    }
    before = api.db.snapshot("users", "user_roles")

    code, out, _ = fundapp("demo")
    assert code == 0
    assert "already loaded, nothing added" in out
    assert api.db.snapshot("users", "user_roles") == before


def test_demo_logins_work_through_the_api(api: Api, fundapp) -> None:
    fundapp("demo")
    csrf = api.login("admin", DEMO_PASSWORD)
    me = api.client.get("/api/v1/me").json()
    assert me["roles"] == ["secretariat_admin"]
    assert me["csrf_token"] == csrf


def test_demo_is_refused_in_production(api: Api, fundapp, monkeypatch) -> None:
    monkeypatch.setenv("FUNDAPP_ENV", "production")
    code, _, err = fundapp("demo")
    assert code == 2
    assert "production" in err
    assert api.db.count("users") == 0


def test_users_create_list_and_disable(api: Api, fundapp, monkeypatch) -> None:
    monkeypatch.setenv("FUNDAPP_NEW_PASSWORD", "a long enough password")
    admit_member(api, api.create_user(Role.SECRETARIAT_ADMIN), "SEN", "II")  # a delegate's member must exist
    code, out, _ = fundapp(
        "users", "create", "ana.delegate", "--email", "ana@example.org", "--role", "member_delegate", "--member", "SEN"
    )
    assert code == 0, out
    assert "ana.delegate" in out
    code, out, _ = fundapp("users", "list")
    assert "ana.delegate" in out and "SEN" in out and "active" in out

    api.login("ana.delegate", "a long enough password")
    assert api.client.get("/api/v1/me").status_code == 200
    code, out, _ = fundapp("users", "disable", "ana.delegate")
    assert code == 0
    assert api.client.get("/api/v1/me").status_code == 401
    code, out, _ = fundapp("users", "list")
    assert "disabled" in out


def test_users_create_refuses_a_delegate_without_a_member(api: Api, fundapp, monkeypatch) -> None:
    monkeypatch.setenv("FUNDAPP_NEW_PASSWORD", "a long enough password")
    code, _, err = fundapp("users", "create", "nobody", "--email", "n@example.org", "--role", "member_delegate")
    assert code == 2
    assert "member_code" in err
    assert api.db.count("users") == 0


def test_db_upgrade_is_idempotent(api: Api, fundapp) -> None:
    code, out, _ = fundapp("db", "upgrade")
    assert code == 0
    assert "database at head" in out
    assert api.db.scalar("SELECT version_num FROM alembic_version")


def test_assess_runs_once_per_year_from_the_command_line(api: Api, fundapp) -> None:
    fundapp("demo")  # the demo's members adopted the next year's fee schedule by decision; the one after, none
    year = Timeline.loaded_on(api.clock.now().date()).year(2027) + 1
    code, _, err = fundapp("assess", str(year))
    assert code == 1
    assert "no fee is set for tier" in err and "year: fee-schedule-set" in err
    assert api.db.scalar("SELECT count(*) FROM assessments WHERE year = :y", y=year) == 0

    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    for tier, amount in (("I", "160000.00"), ("II", "26000.00")):
        response = api.client.post(
            "/api/v1/tiers",
            headers=admin.headers,
            json={"year": year, "tier": tier, "amount": amount, "currency": "USD"},
        )
        assert response.status_code == 200, response.text
    code, out, _ = fundapp("assess", str(year))
    assert code == 0
    assert f"{year}: assessed 13 members" in out
    assert "DEU  12 months  160000.00 USD" in out
    assert "SEN  12 months  26000.00 USD" in out
    # A year that has not begun is assessed as notices, posted when it opens; nothing is dated after today.
    assert (f"fee notices: posted on 1 January {year}" in out) == (year > api.clock.now().year)
    today = api.clock.now().date()
    assert api.db.scalar("SELECT count(*) FROM journal_entries WHERE entry_date > :d", d=today) == 0

    before = api.db.snapshot("assessments", "journal_entries")
    code, out, _ = fundapp("assess", str(year))
    assert code == 0
    assert f"{year}: assessed 0 members" in out
    assert "already assessed: BGD, CHE, CRI, DEU" in out
    assert api.db.snapshot("assessments", "journal_entries") == before
