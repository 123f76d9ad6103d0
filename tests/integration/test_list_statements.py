"""List reads without N+1, on SQLite and PostgreSQL: the statements a list request runs do not grow with the
rows it lists (counted on the service's own engine around one request)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from fundapp.core.models import Role
from tests.support import V1, Actor, Api, accepted, add_contributor, admit_member, set_fee

pytestmark = pytest.mark.usefixtures("backend")


@contextmanager
def counted(api: Api) -> Iterator[list[str]]:
    """The SQL statements the service runs while the block runs."""
    engine = api.client.app.state.db.engine.sync_engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_of(api: Api, actor: Actor, path: str) -> tuple[int, int]:
    """(statements, items) of one GET of a list (after one untimed GET: a token's first use of the minute
    records it, a write the next request does not make)."""
    api.client.get(f"{V1}{path}", headers=actor.headers)
    with counted(api) as statements:
        page = accepted(api.client.get(f"{V1}{path}", headers=actor.headers))
    return len(statements), len(page if isinstance(page, list) else page["items"])


def sign_pledges(api: Api, admin: Actor, donor: int, count: int) -> None:
    for n in range(count):
        pledge = {
            "contributor_id": donor,
            "amount": "3000.00",
            "currency": "USD",
            "signed_on": "2026-03-02",
            "window_code": "SKL" if n % 2 else None,
            "instalments": [
                {"due_on": "2026-04-01", "amount": "1000.00"},
                {"due_on": "2026-05-01", "amount": "1000.00"},
                {"due_on": "2026-06-01", "amount": "1000.00"},
            ],
        }
        accepted(api.client.post(f"{V1}/pledges", json=pledge, headers=admin.headers), 201)


def test_the_pledges_list_reads_the_same_statements_for_two_pledges_or_ten(api: Api) -> None:
    admin, officer = api.create_user(Role.SECRETARIAT_ADMIN), api.create_user(Role.FINANCE_OFFICER)
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")
    sign_pledges(api, admin, donor, 2)
    small = statements_of(api, officer, "/pledges")
    sign_pledges(api, admin, donor, 8)
    large = statements_of(api, officer, "/pledges")
    assert (small[1], large[1]) == (2, 10)
    assert large[0] == small[0]


def test_the_other_money_lists_read_the_same_statements_for_few_rows_or_many(api: Api) -> None:
    admin, officer = api.create_user(Role.SECRETARIAT_ADMIN), api.create_user(Role.FINANCE_OFFICER)
    set_fee(api, admin, 2026, "II", "25000.00")
    donor = add_contributor(api, admin, "Government of Norway", country="NOR")

    def deposit(n: int) -> None:
        body = {"contributor_id": donor, "value_date": "2026-03-10", "currency": "USD", "amount": f"{100 + n}.00"}
        accepted(api.client.post(f"{V1}/contributions", json=body, headers=officer.headers), 201)

    admit_member(api, admin, "SEN", "II")
    accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    for n in range(2):
        deposit(n)
    small = {path: statements_of(api, officer, path) for path in ("/contributions", "/assessments", "/members")}
    for code in ("MEX", "PHL", "KEN", "IND"):
        admit_member(api, admin, code, "II")
    accepted(api.client.post(f"{V1}/assessments", json={"year": 2026}, headers=officer.headers))
    for n in range(2, 10):
        deposit(n)
    large = {path: statements_of(api, officer, path) for path in small}
    assert [large[path][1] > small[path][1] for path in small] == [True, True, True]
    assert {path: large[path][0] for path in small} == {path: small[path][0] for path in small}
