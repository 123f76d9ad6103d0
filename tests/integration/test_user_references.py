"""A user's bindings name real records: a delegate's member and a grantee's organisation must exist, through
the API and the command line alike (422 naming the field and the rule; nothing written)."""

from __future__ import annotations

from typing import Any

import pytest

from fundapp import cli
from fundapp.core.models import Role
from tests.support import Api, admit_member, assert_refused, create_organisation

pytestmark = pytest.mark.usefixtures("backend")

TABLES = ("users", "user_roles")


def user_body(username: str, **binding: Any) -> dict[str, Any]:
    return {
        "username": username,
        "full_name": username,
        "email": f"{username}@example.org",
        "password": "a long enough password",
        **binding,
    }


def test_a_delegate_of_no_member_is_refused_and_a_delegate_of_a_member_is_created(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    before = api.db.snapshot(*TABLES)

    refused = api.client.post(
        "/api/v1/users",
        json=user_body("zed", roles=["member_delegate"], member_code="ZZZ"),
        headers=admin.headers,
    )

    body = assert_refused(refused, 422, "validation-failed", field="member_code", rule="member-exists")
    assert "ZZZ" in body["detail"]
    assert api.db.snapshot(*TABLES) == before
    admit_member(api, admin, "SEN", "II")
    created = api.client.post(
        "/api/v1/users", json=user_body("ana", roles=["member_delegate"], member_code="SEN"), headers=admin.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["member_code"] == "SEN"


def test_a_grantee_of_no_organisation_is_refused(api: Api) -> None:
    admin = api.create_user(Role.SECRETARIAT_ADMIN)
    before = api.db.snapshot(*TABLES)

    refused = api.client.post(
        "/api/v1/users", json=user_body("gus", roles=["grantee"], organisation_id=4242), headers=admin.headers
    )

    assert_refused(refused, 422, "validation-failed", field="organisation_id", rule="organisation-exists")
    assert api.db.snapshot(*TABLES) == before
    organisation_id = create_organisation(api, admin, "Red de Apoyo al Migrante")
    created = api.client.post(
        "/api/v1/users",
        json=user_body("gus", roles=["grantee"], organisation_id=organisation_id),
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text


def test_the_command_line_refuses_a_delegate_of_no_member(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (
        ("FUNDAPP_DATABASE_URL", api.settings.database_url),
        ("FUNDAPP_SECRET_KEY", api.settings.secret_key),
        ("FUNDAPP_VAR_DIR", str(api.settings.var_dir)),
        ("FUNDAPP_NEW_PASSWORD", "a long enough password"),
        ("FUNDAPP_ARGON2_MEMORY_KIB", "1024"),
        ("FUNDAPP_ARGON2_TIME_COST", "1"),
        ("FUNDAPP_ARGON2_PARALLELISM", "1"),
    ):
        monkeypatch.setenv(name, value)
    before = api.db.snapshot(*TABLES)

    code = cli.main(
        ["users", "create", "zed", "--email", "z@example.org", "--role", "member_delegate", "--member", "ZZZ"]
    )

    err = capsys.readouterr().err
    assert code == 1
    assert "member_code: member-exists" in err and "ZZZ" in err
    assert api.db.snapshot(*TABLES) == before
    code = cli.main(
        ["users", "create", "gus", "--email", "g@example.org", "--role", "grantee", "--organisation", "4242"]
    )
    assert code == 1
    assert "organisation_id: organisation-exists" in capsys.readouterr().err
    assert api.db.snapshot(*TABLES) == before
