"""The IATI 2.03 exports (``reports/iati.py``) on both backends: both documents validate against the official
schemas of ``reports/standards/iati-2.03`` (loaded offline), and their figures equal independent sums of the
ledger's postings and the domain tables, on a grant taken through its life by the API (with a grantee whose
name is hostile markup) and on the demo facility.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fundapp.core.db import Database
from fundapp.core.models import Role
from ledger.money import exponent
from reports import iati
from reports.service import report_context
from tests.grants_support import (
    adopt_funding,
    approve,
    disburse,
    grant_world,
    prepare,
    recommended_proposal,
    refund,
    sign,
)
from tests.reports_support import ALLOCATIONS, GRANT_PLANS, Facility
from tests.support import Api, accepted, create_organisation, load_demo

pytestmark = pytest.mark.usefixtures("backend")

SCHEMAS = Path(iati.__file__).resolve().parent / "standards" / "iati-2.03"
HOSTILE = '<script>alert("x")</script> & Sons <b>Ltd</b> ]]> \' "'
ORG = "XI-IATI-CMFF"


class OnlyTheSchemaDirectory(etree.Resolver):
    """Serves the schema files of ``SCHEMAS`` and nothing else; anything else is recorded and answered with
    an empty document, so a schema that reached for the network fails to compile instead of fetching."""

    def __init__(self) -> None:
        super().__init__()
        self.served: list[str] = []
        self.refused: list[str] = []

    def resolve(self, url: str | None, pubid: str | None, context: Any) -> Any:
        path = Path(url or "").resolve() if url and "://" not in url else None
        if path is not None and path.parent == SCHEMAS and path.is_file():
            self.served.append(path.name)
            return self.resolve_filename(str(path), context)
        self.refused.append(str(url))
        return self.resolve_string("", context)


@cache
def schema(name: str) -> tuple[etree.XMLSchema, OnlyTheSchemaDirectory]:
    resolver = OnlyTheSchemaDirectory()
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(resolver)
    compiled = etree.XMLSchema(etree.parse(str(SCHEMAS / name), parser))
    return compiled, resolver


def validated(document: bytes, name: str) -> etree._Element:
    compiled, resolver = schema(name)
    assert resolver.refused == [], resolver.refused
    assert {"iati-common.xsd", "xml.xsd"} <= set(resolver.served)
    root = etree.fromstring(document, etree.XMLParser(no_network=True, resolve_entities=False))
    assert compiled.validate(root), "\n".join(str(e) for e in compiled.error_log)
    return root


def exports(api: Api) -> tuple[bytes, bytes]:
    async def work(database: Database) -> tuple[bytes, bytes]:
        async with database.session() as session:
            ctx = await report_context(session, api.settings, api.clock.now())
            return await iati.activities(ctx), await iati.organisation(ctx)

    return api.db.run(work)


def minor(element: etree._Element) -> int:
    """A ``value`` element in minor units of its currency (exactly; a fraction of a minor unit fails)."""
    units = Decimal(element.text).scaleb(exponent(element.get("currency")))
    assert units == units.to_integral_value(), element.text
    return int(units)


def by_identifier(root: etree._Element) -> dict[str, etree._Element]:
    return {a.findtext("iati-identifier"): a for a in root.iter("iati-activity")}


def flows(activity: etree._Element, kind: str) -> list[etree._Element]:
    return [t for t in activity.iter("transaction") if t.find("transaction-type").get("code") == kind]


def total(transactions: Iterable[etree._Element]) -> int:
    return sum(minor(t.find("value")) for t in transactions)


def grant_id_of(identifier: str) -> int:
    return int(identifier.rsplit("-GRANT-", 1)[1])


# ---------------------------------------------------------------- independent sums (raw SQL)


def ledger_by_grant(api: Api, account: str, condition: str, *source_types: str) -> dict[int, int]:
    """Sum of ``amount`` of one account's postings per grant, for lines matching ``condition``."""
    sources = ""
    if source_types:
        sources = " AND e.source_type IN (" + ", ".join(f"'{s}'" for s in source_types) + ")"
    rows = api.db.rows(
        "SELECT p.grant_id, SUM(p.amount) FROM postings p "
        "JOIN ledger_accounts a ON a.id = p.account_id JOIN journal_entries e ON e.id = p.entry_id "
        f"WHERE a.code = :code AND p.grant_id IS NOT NULL AND {condition}{sources} GROUP BY p.grant_id",
        code=account,
    )
    return {int(g): int(s) for g, s in rows}


def contributions_by_fund(api: Api) -> dict[tuple[str, str], int]:
    rows = api.db.rows(
        "SELECT w.code, c.currency, SUM(c.amount) FROM contributions c "
        "LEFT JOIN windows w ON w.id = c.window_id GROUP BY w.code, c.currency"
    )
    return {(code or "", currency): int(s) for code, currency, s in rows}


def expenditure_by_year(api: Api) -> dict[int, dict[str, int]]:
    rows = api.db.rows(
        "SELECT p.entry_date, a.code, p.reporting_amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE a.code IN ('5100', '5200', '5300', '5400')"
    )
    years: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for on, code, amount in rows:
        day = on if isinstance(on, date) else date.fromisoformat(str(on))
        years[day.year][code] += int(amount)
    return {year: dict(codes) for year, codes in years.items()}


# ---------------------------------------------------------------- checks shared by every facility


def assert_activities_are_the_ledger(api: Api, root: etree._Element) -> dict[str, etree._Element]:
    """Every grant is one activity; its transactions are the ledger's grant lines; the funds receive every
    deposit; country shares sum to 100."""
    activities = by_identifier(root)
    grants = {
        int(g): (status, int(amount)) for g, status, amount in api.db.rows("SELECT id, status, amount FROM grants")
    }
    windows = [code for (code,) in api.db.rows("SELECT code FROM windows")]
    grant_activities = {grant_id_of(i): a for i, a in activities.items() if "-GRANT-" in i}
    assert set(grant_activities) == set(grants)
    assert len(root.findall("iati-activity")) == len(grants) + len(windows) + 1
    assert {i for i in activities if "-GRANT-" not in i} == {f"{ORG}-POOLED"} | {f"{ORG}-WINDOW-{w}" for w in windows}

    disbursed = ledger_by_grant(api, "8500", "p.amount > 0")
    refunded = ledger_by_grant(api, "8500", "p.amount < 0")
    committed = ledger_by_grant(api, "8400", "1 = 1", "grant_agreement", "grant_closure")
    for grant_id, activity in grant_activities.items():
        assert activity.get("hierarchy") == "2"
        assert total(flows(activity, "3")) == disbursed.get(grant_id, 0)
        assert total(flows(activity, "1")) == -refunded.get(grant_id, 0)
        assert total(flows(activity, "2")) == committed.get(grant_id, 0)
        for refund_flow in flows(activity, "1"):
            assert refund_flow.find("receiver-org").get("ref") == ORG
        budgets = activity.findall("budget")
        assert sum(minor(b.find("value")) for b in budgets) == grants[grant_id][1]
        for budget in budgets:
            start, end = (date.fromisoformat(budget.find(t).get("iso-date")) for t in ("period-start", "period-end"))
            assert start.year == end.year and start <= end
        shares = [Decimal(c.get("percentage")) for c in activity.findall("recipient-country")]
        assert shares and sum(shares) == 100
        assert {p.get("role") for p in activity.findall("participating-org")} == {"1", "3", "4"}
        closed = activity.find("activity-date[@type='4']") is not None
        assert closed == (grants[grant_id][0] == "closed") == (activity.find("activity-status").get("code") == "4")

    received: dict[tuple[str, str], int] = defaultdict(int)
    for identifier, activity in activities.items():
        if "-GRANT-" in identifier:
            continue
        fund = "" if identifier.endswith("-POOLED") else identifier.rsplit("-WINDOW-", 1)[1]
        for flow in flows(activity, "1"):
            received[fund, flow.find("value").get("currency")] += minor(flow.find("value"))
    assert dict(received) == contributions_by_fund(api)
    return activities


def assert_organisation_is_the_ledger(api: Api, root: etree._Element) -> None:
    (facility,) = root.findall("iati-organisation")
    assert facility.findtext("organisation-identifier") == ORG
    expected = expenditure_by_year(api)
    found: dict[int, dict[str, int]] = {}
    for spent in facility.findall("total-expenditure"):
        year = date.fromisoformat(spent.find("period-start").get("iso-date")).year
        lines = {line.get("ref"): minor(line.find("value")) for line in spent.findall("expense-line")}
        assert minor(spent.find("value")) == sum(lines.values())
        found[year] = lines
    assert found == expected

    admin = {int(y): int(a) for y, a in api.db.rows("SELECT year, amount FROM admin_budgets")}
    grants_total = int(api.db.scalar("SELECT COALESCE(SUM(amount), 0) FROM grants"))
    budgets = facility.findall("total-budget")
    by_ref: dict[str, dict[int, int]] = defaultdict(dict)
    for budget in budgets:
        year = date.fromisoformat(budget.find("period-start").get("iso-date")).year
        for line in budget.findall("budget-line"):
            by_ref[line.get("ref")][year] = minor(line.find("value"))
        assert minor(budget.find("value")) == by_ref["ADMIN"].get(year, 0) + by_ref["GRANTS"].get(year, 0)
    assert by_ref["ADMIN"] == admin
    assert sum(by_ref["GRANTS"].values()) == grants_total


# ---------------------------------------------------------------- one grant through its life


@pytest.fixture
def hostile_grant(api: Api) -> dict[str, Any]:
    """One SKL grant of a grantee whose name is markup: signed, its first tranche paid, 1,000.00 refunded."""
    gw = grant_world(api)
    organisation_id = create_organisation(api, gw.admin, HOSTILE, type="ngo", country="SEN")
    grantee = api.create_user(Role.GRANTEE, organisation_id=organisation_id)
    gw.world = dataclasses.replace(gw.world, grantee=grantee, organisation_id=organisation_id)
    proposal_id = recommended_proposal(api, gw)
    grant_id = adopt_funding(api, proposal_id, gw.admin)
    signed_on = api.clock.now().date()
    accepted(sign(api, gw.admin, grant_id))
    disburse(api, gw, grant_id, 1, "30000.00")
    second = accepted(prepare(api, gw.officer, grant_id, 1, "34200.00"), 201)
    accepted(approve(api, gw.approvers[1], second["id"]))
    accepted(refund(api, gw.officer, grant_id, "1000.00"), 201)
    return {"grant_id": grant_id, "signed_on": signed_on}


def test_a_grant_through_its_life_is_published_as_the_ledger_holds_it(api: Api, hostile_grant: dict[str, Any]) -> None:
    activities_xml, organisation_xml = exports(api)
    root = validated(activities_xml, "iati-activities-schema.xsd")
    organisation = validated(organisation_xml, "iati-organisations-schema.xsd")
    assert root.get("version") == "2.03"
    assert datetime.fromisoformat(root.get("generated-datetime")) == api.clock.now().replace(microsecond=0)
    activities = assert_activities_are_the_ledger(api, root)
    assert_organisation_is_the_ledger(api, organisation)

    grant = activities[f"{ORG}-GRANT-{hostile_grant['grant_id']}"]
    signed_on = hostile_grant["signed_on"].isoformat()
    assert grant.find("reporting-org").get("ref") == ORG and grant.find("reporting-org").get("type") == "40"
    assert grant.findtext("title/narrative") == "Skills for returning migrants"
    assert grant.findtext("description/narrative").startswith("Vocational training and job placement")
    assert grant.find("activity-status").get("code") == "2"
    assert grant.find("activity-date[@type='2']").get("iso-date") == signed_on

    # The grantee's name is text: escaped on the way out, the same string on the way back.
    implementing = grant.find("participating-org[@role='4']")
    assert implementing.findtext("narrative") == HOSTILE
    assert implementing.get("type") == "24"  # an NGO based in one of the grant's countries (SEN)
    assert b"<script>" not in activities_xml and b"&lt;script&gt;" in activities_xml
    for transaction in flows(grant, "3"):
        assert transaction.findtext("receiver-org/narrative") == HOSTILE
        assert transaction.find("provider-org").get("ref") == ORG

    assert [(c.get("code"), c.get("percentage")) for c in grant.findall("recipient-country")] == [
        ("MX", "60"),
        ("SN", "40"),
    ]
    assert grant.findtext(
        "recipient-country[@code='SN']/narrative[@{http://www.w3.org/XML/1998/namespace}lang='fr']"
    ) == ("Sénégal")
    sector = grant.find("sector")
    assert (sector.get("vocabulary"), sector.get("code"), sector.get("percentage")) == ("1", "15190", "100")
    tags = {(t.get("vocabulary"), t.get("code")) for t in grant.findall("tag")}
    assert tags == {("2", "8"), ("2", "10"), ("3", "8.8"), ("3", "10.7.2"), ("99", "GCM-18"), ("99", "GCM-21")}
    marker = grant.find("policy-marker")
    assert (marker.get("vocabulary"), marker.get("code"), marker.get("significance")) == ("1", "1", "2")

    assert [(minor(t.find("value")), t.find("transaction-date").get("iso-date")) for t in flows(grant, "2")] == [
        (10_700_000, signed_on)
    ]
    assert sorted(minor(t.find("value")) for t in flows(grant, "3")) == [3_000_000, 3_420_000]
    (refunded,) = flows(grant, "1")
    assert minor(refunded.find("value")) == 100_000
    assert refunded.findtext("provider-org/narrative") == HOSTILE
    assert [minor(p.find("value")) for p in grant.findall("planned-disbursement")] == [6_420_000, 4_280_000]
    assert grant.find("related-activity").get("ref") == f"{ORG}-WINDOW-SKL"

    skl = activities[f"{ORG}-WINDOW-SKL"]
    assert [(t.findtext("provider-org/narrative"), minor(t.find("value"))) for t in flows(skl, "1")] == [
        ("Donor for SKL 1000000.00", 100_000_000)
    ]
    assert f"{ORG}-GRANT-{hostile_grant['grant_id']}" in {r.get("ref") for r in skl.findall("related-activity")}


# ---------------------------------------------------------------- the demo facility


@pytest.fixture
def demo(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo loaded through the command line today (or on FUNDAPP_TEST_DEMO_DAY), read on that day."""
    load_demo(api, monkeypatch, capsys)


@pytest.mark.usefixtures("demo")
def test_the_demo_facility_validates_and_equals_the_ledger(api: Api) -> None:
    activities_xml, organisation_xml = exports(api)
    root = validated(activities_xml, "iati-activities-schema.xsd")
    organisation = validated(organisation_xml, "iati-organisations-schema.xsd")
    activities = assert_activities_are_the_ledger(api, root)
    assert_organisation_is_the_ledger(api, organisation)

    statuses = {
        a.findtext("title/narrative"): a.find("activity-status").get("code")
        for i, a in activities.items()
        if "-GRANT-" in i
    }
    assert statuses["Digital identity for migrant workers"] == "1"  # awaiting its agreement: pipeline
    assert statuses["Diaspora skills exchange pilot"] == "4"  # closed
    closed = next(a for a in activities.values() if a.findtext("title/narrative") == "Diaspora skills exchange pilot")
    released = [minor(t.find("value")) for t in flows(closed, "2") if minor(t.find("value")) < 0]
    assert len(released) == 1  # the unused commitment went back at the closure
    refunded = next(
        a for a in activities.values() if a.findtext("title/narrative") == "Ethical recruitment training for employers"
    )
    assert total(flows(refunded, "1")) == 1_500_000
    assert organisation.find("iati-organisation/total-expenditure") is not None


# ---------------------------------------------------------------- the generated facility


def test_the_generated_facility_validates_and_equals_the_ledger(facility: Facility) -> None:
    api = facility.api
    activities_xml, organisation_xml = exports(api)
    root = validated(activities_xml, "iati-activities-schema.xsd")
    organisation = validated(organisation_xml, "iati-organisations-schema.xsd")
    activities = assert_activities_are_the_ledger(api, root)
    assert_organisation_is_the_ledger(api, organisation)
    assert len([i for i in activities if "-GRANT-" in i]) == len(GRANT_PLANS)

    # Deposits in six currencies reach the funds in their own currency, never converted.
    currencies = {t.find("value").get("currency") for a in activities.values() for t in flows(a, "1")}
    assert {"EUR", "CHF", "SEK", "JPY", "GBP", "USD"} <= currencies
    # The pooled allocations to IRR and PAR: an outgoing commitment of the pooled fund, an incoming one of each.
    pooled = activities[f"{ORG}-POOLED"]
    for (on, code, amount), outgoing in zip(ALLOCATIONS, flows(pooled, "2"), strict=True):
        window = activities[f"{ORG}-WINDOW-{code}"]
        (incoming,) = flows(window, "11")
        for flow in (outgoing, incoming):
            assert flow.find("transaction-date").get("iso-date") == on.isoformat()
            assert flow.find("value").text == amount
        assert outgoing.find("receiver-org").get("receiver-activity-id") == f"{ORG}-WINDOW-{code}"
        assert incoming.find("provider-org").get("provider-activity-id") == f"{ORG}-POOLED"

    stages = {facility.facts.grant_stages[g]: activities[f"{ORG}-GRANT-{g}"] for g in facility.grant_ids.values()}
    assert stages["awaiting"].find("activity-status").get("code") == "1"
    assert flows(stages["awaiting"], "2") == [] and stages["awaiting"].find("budget").get("status") == "1"
    assert stages["closed"].find("activity-status").get("code") == "4"
    # After the closure the commitment net of its release is what was transferred (refunds do not touch it).
    assert total(flows(stages["closed"], "2")) == total(flows(stages["closed"], "3"))
    assert total(flows(stages["refunded"], "1")) > 0
