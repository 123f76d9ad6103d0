"""The audit log: every change leaves a chained event; tampering is named; the database refuses edits."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from fundapp import cli
from fundapp.core.models import Role
from tests.support import Api

pytestmark = pytest.mark.usefixtures("backend")


def _verify(api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("FUNDAPP_DATABASE_URL", api.settings.database_url)
    monkeypatch.setenv("FUNDAPP_SECRET_KEY", api.settings.secret_key)
    monkeypatch.setenv("FUNDAPP_VAR_DIR", str(api.settings.var_dir))
    code = cli.main(["verify-audit"])
    return code, capsys.readouterr().out


def _make_history(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    for n in range(3):
        response = api.client.post(
            "/api/v1/users",
            headers=admin.headers,
            json={
                "username": f"officer-{n}",
                "full_name": f"Officer {n}",
                "email": f"officer{n}@example.org",
                "password": "a long enough password",
                "roles": ["finance_officer"],
            },
        )
        assert response.status_code == 201, response.text


def test_state_changes_are_chained_and_verify(api: Api, capsys, monkeypatch) -> None:
    _make_history(api)
    events = api.db.rows("SELECT seq, prev_hash, hash, action FROM audit_events ORDER BY seq")
    assert [e.action for e in events].count("user.create") == 4
    for previous, current in itertools.pairwise(events):
        assert current.prev_hash == previous.hash
    code, out = _verify(api, capsys, monkeypatch)
    assert code == 0
    assert out.startswith(f"OK: {len(events)} audit events verified")


def test_an_edited_audit_row_is_named_by_verify_audit(api: Api, capsys, monkeypatch) -> None:
    _make_history(api)
    target = 3
    if api.db.dialect == "postgresql":
        # Only a superuser who switches the guard off can do this; the verifier must still notice.
        api.db.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        api.db.execute("DROP TRIGGER audit_events_no_update")
    api.db.execute('UPDATE audit_events SET after = \'{"roles":["secretariat_admin"]}\' WHERE seq = :s', s=target)
    code, out = _verify(api, capsys, monkeypatch)
    assert code == 1
    assert f"BROKEN at audit event {target}: its content does not match its hash" in out


def test_a_deleted_audit_row_is_named_by_verify_audit(api: Api, capsys, monkeypatch) -> None:
    _make_history(api)
    if api.db.dialect == "postgresql":
        api.db.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        api.db.execute("DROP TRIGGER audit_events_no_delete")
    api.db.execute("DELETE FROM audit_events WHERE seq = 2")
    code, out = _verify(api, capsys, monkeypatch)
    assert code == 1
    assert "BROKEN at audit event 2: event 2 is missing" in out


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"])
def test_the_database_refuses_to_change_audit_rows(api: Api, statement: str) -> None:
    _make_history(api)
    before = api.db.rows("SELECT seq, action, hash FROM audit_events ORDER BY seq")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        api.db.execute(statement)
    assert api.db.rows("SELECT seq, action, hash FROM audit_events ORDER BY seq") == before


def test_the_audit_api_verifies_the_chain(api: Api) -> None:
    _make_history(api)
    auditor = api.create_user(Role.AUDITOR)
    response = api.client.get("/api/v1/audit/verify", headers=auditor.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["events"] == api.db.count("audit_events")


def test_the_audit_log_lists_newest_first_and_filters(api: Api) -> None:
    _make_history(api)
    auditor = api.create_user(Role.AUDITOR)
    response = api.client.get("/api/v1/audit", headers=auditor.headers, params={"action": "user.create", "limit": 2})
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 5  # the admin, three officers, the auditor
    assert [e["action"] for e in page["items"]] == ["user.create", "user.create"]
    assert page["items"][0]["seq"] > page["items"][1]["seq"]
