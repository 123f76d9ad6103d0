"""Who sees and does what with grants, on both backends: a grantee sees and reports on its own
organisation's grants only (another organisation's are 404, as if they did not exist); the secretariat,
finance staff, auditors and member delegates read every grant; TAG reviewers read none; each role acts
only where DESIGN §8 lets it.
"""

from __future__ import annotations

import pytest

from fundapp.core.models import Role
from tests.grants_support import (
    DISBURSEMENTS,
    GRANTS,
    adopt_funding,
    grant_world,
    prepare,
    recommended_proposal,
    reports,
    sign,
    submit_report,
)
from tests.support import Api, accepted, assert_problem

pytestmark = pytest.mark.usefixtures("backend")


def test_grantees_see_and_report_on_their_own_grants_only(api: Api) -> None:
    gw = grant_world(api)
    mine = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    theirs = adopt_funding(api, recommended_proposal(api, gw, other=True, title="Teranga skills"), gw.admin)
    for gid in (mine, theirs):
        accepted(sign(api, gw.admin, gid))
    disbursement = accepted(prepare(api, gw.officer, theirs, 1, "10.00"), 201)
    grantee, other = gw.grantee, gw.world.other_grantee

    listed = accepted(api.client.get(GRANTS, headers=grantee.headers))
    assert [g["id"] for g in listed["items"]] == [mine] and listed["total"] == 1
    # Asking for the other organisation's grants by filter still shows only one's own (none).
    filtered = accepted(
        api.client.get(GRANTS, params={"organisation_id": gw.world.other_organisation_id}, headers=grantee.headers)
    )
    assert filtered["items"] == [] and filtered["total"] == 0
    assert accepted(api.client.get(f"{GRANTS}/{mine}", headers=grantee.headers))["id"] == mine

    for path in (
        f"{GRANTS}/{theirs}",
        f"{GRANTS}/{theirs}/reports",
        f"{GRANTS}/{theirs}/disbursements",
        f"{GRANTS}/{theirs}/refunds",
        f"{DISBURSEMENTS}/{disbursement['id']}",
    ):
        assert_problem(api.client.get(path, headers=grantee.headers), 404)
    their_report = reports(api, other, theirs)[0]
    before = api.db.snapshot("grant_reports")
    assert_problem(submit_report(api, grantee, theirs, their_report["id"]), 404)
    # Its own grant's id with the other's report id: no such report on this grant.
    assert_problem(submit_report(api, grantee, mine, their_report["id"]), 404)
    assert api.db.snapshot("grant_reports") == before
    assert accepted(submit_report(api, other, theirs, their_report["id"]))["status"] == "submitted"


def test_oversight_roles_and_delegates_read_every_grant_and_act_only_by_role(api: Api) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    readers = [gw.admin, gw.officer, gw.approvers[0], gw.auditor, gw.world.delegates["SEN"]]
    for reader in readers:
        assert accepted(api.client.get(GRANTS, headers=reader.headers))["total"] == 1
        assert accepted(api.client.get(f"{GRANTS}/{gid}", headers=reader.headers))["status"] == "awaiting_agreement"
        assert len(accepted(api.client.get(f"{GRANTS}/{gid}/reports", headers=reader.headers))) == 2
    reviewer = gw.world.reviewers[0]
    assert_problem(api.client.get(GRANTS, headers=reviewer.headers), 403)
    assert_problem(api.client.get(f"{GRANTS}/{gid}", headers=reviewer.headers), 403)
    # Only the secretariat records the agreement; the auditor, a delegate and finance staff may not.
    for actor in (gw.auditor, gw.world.delegates["SEN"], gw.officer, gw.approvers[0], gw.grantee):
        assert_problem(sign(api, actor, gid), 403)
    accepted(sign(api, gw.admin, gid))
    # Delegates and auditors only read: they cannot prepare, approve or refund.
    for actor in (gw.auditor, gw.world.delegates["SEN"]):
        assert_problem(prepare(api, actor, gid, 1), 403)
    ready = accepted(prepare(api, gw.officer, gid, 1, "100.00"), 201)
    for actor in (gw.auditor, gw.world.delegates["SEN"], gw.admin, gw.grantee):
        assert_problem(api.client.post(f"{DISBURSEMENTS}/{ready['id']}/approve", headers=actor.headers), 403)


def test_grants_are_listed_by_status_window_and_organisation(api: Api) -> None:
    gw = grant_world(api)
    first = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    second = adopt_funding(api, recommended_proposal(api, gw, other=True, title="Teranga skills"), gw.admin)
    accepted(sign(api, gw.admin, second))

    def ids(**params: object) -> list[int]:
        page = accepted(api.client.get(GRANTS, params=params, headers=gw.auditor.headers))
        return [g["id"] for g in page["items"]]

    assert ids() == [first, second]
    assert ids(status="active") == [second]
    assert ids(status="awaiting_agreement") == [first]
    assert ids(window="SKL") == [first, second]
    assert ids(window="PRO") == []
    assert ids(organisation_id=gw.world.other_organisation_id) == [second]
    assert ids(limit=1, offset=1) == [second]
    item = accepted(api.client.get(GRANTS, headers=gw.auditor.headers))["items"][1]
    assert item["organisation_name"] == "Association Teranga"
    assert item["amount"] == {"amount": "107000.00", "currency": "USD"}
    # A user with no grant role at all is refused the list.
    nobody = api.create_user(Role.TAG_REVIEWER)
    assert_problem(api.client.get(GRANTS, headers=nobody.headers), 403)
