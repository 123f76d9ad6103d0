"""Grantees are told once when a report of their grant becomes overdue, and finance approvers once when a
transfer awaits their approval (not the officer who prepared it, nor the first approver for the second
approval); in their own language, through the local SMTP server. On both backends, through the API and the
job functions on the test's clock."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fundapp.core.config import Settings
from fundapp.core.models import Role
from tests.grants_support import (
    adopt_funding,
    approve,
    grant_world,
    prepare,
    recommended_proposal,
    reports,
    sign,
    submit_report,
)
from tests.jobs_support import Inbox, set_language, smtp, smtp_settings, tick
from tests.support import Actor, Api, accepted

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.timeout(180)]
__all__ = ["smtp"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp: Inbox) -> Settings:
    # A transfer above 50,000.00 needs a second approver (the first tranche is 64,200.00).
    return smtp_settings(database_url, tmp_path / "var", smtp, FUNDAPP_CHARTER_SECOND_APPROVER_THRESHOLD="50000")


def address(actor: Actor) -> str:
    return f"{actor.username}@example.org"


def test_a_report_that_becomes_overdue_is_told_to_its_grantees_once(api: Api, smtp: Inbox) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    colleague = api.create_user(Role.GRANTEE, organisation_id=gw.world.organisation_id)
    set_language(api, gw.grantee.headers, "fr")
    assert tick(api).sent == []  # nothing is due yet
    progress = reports(api, gw.grantee, gid)[0]
    due_on = date.fromisoformat(progress["due_on"])

    # On its due day it is not overdue yet; the day after it is, and each grantee of the organisation is told.
    api.clock.advance(days=(due_on - api.clock.now().date()).days)
    assert tick(api).sent == []
    api.clock.advance(days=1)
    sent = tick(api).sent
    assert sorted(e.to for e in sent) == sorted([address(gw.grantee), address(colleague)])
    assert address(gw.world.other_grantee) not in {e.to for e in sent}  # another organisation's grantee
    french = smtp.to(address(gw.grantee))
    assert len(french) == 1 and french[0]["Content-Language"] == "fr"
    assert str(french[0]["Subject"]).startswith("Rapport en retard : ")
    body = french[0].get_content()
    assert "pas été reçu" in body and due_on.year == 2027 and "2027" in body
    english = smtp.to(address(colleague))[0]
    assert str(english["Subject"]).startswith("Report overdue: ") and "was due on" in english.get_content()
    assert tick(api).sent == []  # once

    # Submitted, it is no longer overdue; nothing more is sent.
    accepted(submit_report(api, gw.grantee, gid, progress["id"], {"staff": "1000.00"}))
    assert tick(api).sent == []
    assert len(smtp.received()) == 2


def test_a_transfer_awaiting_approval_is_told_to_each_approver_who_may_approve_it_once(api: Api, smtp: Inbox) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    set_language(api, gw.approvers[1].headers, "es")
    prepared = accepted(prepare(api, gw.officer, gid, 1, "50000.00"), 201)
    assert prepared["status"] == "prepared"

    sent = tick(api).sent
    approvers = [*gw.approvers, gw.dual]  # the dual-role user did not prepare it: it may approve
    assert sorted(e.to for e in sent) == sorted(address(a) for a in approvers)
    assert address(gw.officer) not in {e.to for e in sent}
    spanish = smtp.to(address(gw.approvers[1]))
    assert len(spanish) == 1 and str(spanish[0]["Subject"]).startswith("Transferencia pendiente de su aprobación: ")
    assert "espera aprobación" in spanish[0].get_content()
    english = smtp.to(address(gw.approvers[0]))[0].get_content()
    assert "A transfer of US$50,000.00 for the grant" in english and "awaits approval" in english
    assert tick(api).sent == []  # once

    # Approved, it awaits nothing; no one is told again.
    assert accepted(approve(api, gw.approvers[0], prepared["id"]))["status"] == "approved"
    assert tick(api).sent == []
    assert len(smtp.received()) == len(approvers)


def test_a_transfer_above_the_threshold_tells_the_other_approvers_of_its_second_approval(api: Api, smtp: Inbox) -> None:
    gw = grant_world(api)
    gid = adopt_funding(api, recommended_proposal(api, gw), gw.admin)
    accepted(sign(api, gw.admin, gid))
    prepared = accepted(prepare(api, gw.officer, gid, 1), 201)
    first = accepted(approve(api, gw.approvers[0], prepared["id"]))
    assert first["status"] == "awaiting_second_approval", first
    sent = tick(api).sent
    second = [e for e in sent if e.key.startswith(f"disbursement-awaiting:{prepared['id']}:2:")]
    assert sorted(e.to for e in second) == sorted(address(a) for a in (gw.approvers[1], gw.approvers[2], gw.dual))
    assert all("US$64,200.00" in e.body and "awaits a second approval" in e.body for e in second)
