"""The demo facility's data: its accounts, members, donors, pledges, organisations, proposals, grants and the
secretariat's entries, as plain tables. ``fundapp.demo`` loads them; the story's dates are written in its own
calendar (``fundapp.demo.Timeline`` moves them to the day the demo is loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fundapp.core.models import Role

DEMO_PASSWORD = "fundapp-demo-2026"  # noqa: S105 - documented demo credential, refused in production


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[Role, ...]
    member_code: str | None = None
    organisation_id: int | None = None


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Secretariat administrator", (Role.SECRETARIAT_ADMIN,)),
    DemoUser("finance", "Finance officer", (Role.FINANCE_OFFICER,)),
    DemoUser("approver", "Finance approver", (Role.FINANCE_APPROVER,)),
    DemoUser("reviewer", "Technical Advisory Group reviewer", (Role.TAG_REVIEWER,)),
    DemoUser("reviewer2", "Technical Advisory Group reviewer", (Role.TAG_REVIEWER,)),
    DemoUser("delegate.mex", "Delegate of Mexico", (Role.MEMBER_DELEGATE,), member_code="MEX"),
    DemoUser("delegate.sen", "Delegate of Senegal", (Role.MEMBER_DELEGATE,), member_code="SEN"),
    # Every other member state has a delegate too, so the demo's decisions are voted by real accounts.
    *(
        DemoUser(f"delegate.{code.lower()}", f"Delegate of {name}", (Role.MEMBER_DELEGATE,), member_code=code)
        for code, name in (
            ("DEU", "Germany"),
            ("CHE", "Switzerland"),
            ("SWE", "Sweden"),
            ("JPN", "Japan"),
            ("GBR", "the United Kingdom"),
            ("PHL", "the Philippines"),
            ("MAR", "Morocco"),
            ("GTM", "Guatemala"),
            ("BGD", "Bangladesh"),
            ("ECU", "Ecuador"),
        )
    ),
    DemoUser("grantee", "Officer of Red de Apoyo al Migrante", (Role.GRANTEE,), organisation_id=1),
    DemoUser("grantee2", "Officer of the Ministry of Labour of Senegal", (Role.GRANTEE,), organisation_id=2),
    DemoUser(
        "grantee3", "Officer of the International Centre for Migration Policy", (Role.GRANTEE,), organisation_id=3
    ),
    DemoUser("grantee4", "Officer of Remit Fair Ltd", (Role.GRANTEE,), organisation_id=4),
    DemoUser("grantee5", "Officer of the University of Dakar Migration Lab", (Role.GRANTEE,), organisation_id=5),
    DemoUser(
        "worldbank", "Officer of the World Bank (implementation support agency)", (Role.GRANTEE,), organisation_id=6
    ),
    DemoUser("auditor", "External auditor", (Role.AUDITOR,)),
)


# The demo's story is written in its own calendar, from November 2024 to STORY_END. Loaded on any day it is
# moved by whole months so that its last day falls before the day it is loaded (nothing is ever dated after
# the facility's clock), and the fee years it names move with it.
STORY_END = date(2026, 12, 31)
STORY_START = date(2024, 11, 4)

# Part I members pay the higher fee; both tiers vote with the same weight.
DEMO_MEMBERS: tuple[tuple[str, str, date], ...] = (
    ("DEU", "I", date(2024, 1, 1)),
    ("CHE", "I", date(2024, 1, 1)),
    ("SWE", "I", date(2024, 1, 1)),
    ("JPN", "I", date(2024, 1, 1)),
    ("MEX", "I", date(2024, 1, 1)),
    ("GBR", "I", date(2024, 6, 1)),
    ("SEN", "II", date(2024, 1, 1)),
    ("PHL", "II", date(2024, 1, 1)),
    ("MAR", "II", date(2024, 1, 1)),
    ("GTM", "II", date(2025, 3, 1)),
    ("BGD", "II", date(2024, 1, 1)),
    ("ECU", "II", date(2026, 4, 15)),
)
DEMO_FEES = {"I": "150000.00", "II": "25000.00"}
# Units of USD per unit of each currency, one rate a month (indicative demo values).
DEMO_RATES = {"EUR": "1.0850", "GBP": "1.2700", "CHF": "1.1300", "JPY": "0.006700", "SEK": "0.095000"}
DEMO_DONORS = (
    ("government", "Government of Norway", "NOR"),
    ("foundation", "Nordic Migration Foundation", "NOR"),
    ("multilateral", "Asian Development Partnership", "PHL"),
    ("private_sector", "Global Remittance Alliance", "SGP"),
)


@dataclass(frozen=True, slots=True)
class DemoPledge:
    contributor: str  # a member code or a donor's name
    amount: str
    currency: str
    window: str | None
    signed_on: date
    instalments: tuple[tuple[date, str], ...]
    paid: tuple[int, ...]  # instalment numbers paid
    condition: str = ""


DEMO_PLEDGES: tuple[DemoPledge, ...] = (
    DemoPledge(
        "DEU",
        "2000000.00",
        "EUR",
        "SKL",
        date(2026, 1, 20),
        ((date(2026, 2, 1), "1200000.00"), (date(2026, 8, 1), "800000.00")),
        (1,),
    ),
    DemoPledge(
        "CHE",
        "1500000.00",
        "CHF",
        None,
        date(2026, 1, 25),
        ((date(2026, 3, 1), "500000.00"), (date(2026, 6, 1), "500000.00"), (date(2026, 12, 1), "500000.00")),
        (1, 2),
    ),
    DemoPledge(
        "SWE",
        "10000000.00",
        "SEK",
        "PRO",
        date(2026, 2, 3),
        ((date(2026, 3, 1), "5000000.00"), (date(2026, 9, 1), "5000000.00")),
        (1, 2),
    ),
    DemoPledge("JPN", "150000000", "JPY", "TEC", date(2026, 2, 10), ((date(2026, 4, 1), "150000000"),), (1,)),
    DemoPledge(
        "GBR",
        "1000000.00",
        "GBP",
        "LMG",
        date(2026, 3, 2),
        ((date(2026, 4, 1), "600000.00"), (date(2026, 10, 1), "400000.00")),
        (1,),
    ),
    DemoPledge(
        "Government of Norway",
        "3000000.00",
        "USD",
        "PAR",
        date(2026, 1, 12),
        ((date(2026, 2, 1), "1500000.00"), (date(2026, 7, 1), "1500000.00")),
        (1, 2),
    ),
    DemoPledge(
        "Nordic Migration Foundation",
        "500000.00",
        "USD",
        None,
        date(2026, 2, 14),
        ((date(2026, 5, 1), "500000.00"),),
        (),
        condition="subject to the foundation board's approval",
    ),
    DemoPledge(
        "Global Remittance Alliance",
        "250000.00",
        "USD",
        "IRR",
        date(2026, 4, 1),
        ((date(2026, 6, 30), "250000.00"),),
        (),
    ),
)


# ---------------------------------------------------------------- calls, organisations, proposals

DEMO_ORGANISATIONS = (
    ("Red de Apoyo al Migrante", "ngo", "MEX"),
    ("Ministry of Labour of Senegal", "government", "SEN"),
    ("International Centre for Migration Policy", "international_organisation", "CHE"),
    ("Remit Fair Ltd", "private_sector", "PHL"),
    ("University of Dakar Migration Lab", "academia", "SEN"),
    ("World Bank", "implementation_support_agency", "USA"),
)
RUBRIC = [
    {"key": "relevance", "label": "Relevance to the window", "weight": 3},
    {"key": "feasibility", "label": "Feasibility and budget", "weight": 2},
    {"key": "results", "label": "Results framework", "weight": 2},
    {"key": "gender", "label": "Gender responsiveness", "weight": 1},
]

# (window, title, story day it opens, story day it closes): the calls, titled with the year they open.
DEMO_CALLS: tuple[tuple[str, str, date, date], ...] = (
    ("SKL", "Skills and employment", date(2026, 2, 1), date(2027, 12, 31)),
    ("PRO", "Closing protection gaps", date(2026, 2, 1), date(2027, 12, 31)),
    ("LMG", "Labour migration governance", date(2026, 2, 1), date(2027, 12, 31)),
    ("TEC", "New technologies", date(2025, 2, 1), date(2025, 6, 30)),
)

# (title, amount, countries, organisation index, the actions that bring it to its state)
DEMO_PROPOSALS: tuple[tuple[str, str, list[tuple[str, str]], int, tuple[str, ...]], ...] = (
    ("Skills passports for returning migrants", "250000.00", [("MEX", "100")], 0, ()),
    ("Fair recruitment corridor Senegal-Spain", "300000.00", [("SEN", "100")], 1, ("submit",)),
    ("Remittance price transparency", "150000.00", [("KEN", "100")], 3, ("submit", "screen")),
    ("Labour migration statistics", "200000.00", [("SEN", "70"), ("NGA", "30")], 4, ("submit", "screen", "return")),
    (
        "Protection desks at border crossings",
        "400000.00",
        [("MEX", "60"), ("HND", "40")],
        0,
        ("submit", "screen", "pass", "review-one"),
    ),
    (
        "Digital identity for migrant workers",
        "350000.00",
        [("SEN", "100")],
        1,
        ("submit", "screen", "pass", "review-all", "recommend"),
    ),
    (
        "Recruitment fee reimbursement pilot",
        "120000.00",
        [("KEN", "100")],
        3,
        ("submit", "screen", "pass", "review-all", "not_recommend"),
    ),
    (
        "Regional policy dialogue on labour mobility",
        "180000.00",
        [("COL", "100")],
        2,
        ("submit", "screen", "pass", "review-all", "recommend", "refer"),
    ),
    (
        "Vocational training in origin communities",
        "220000.00",
        [("MEX", "100")],
        0,
        ("submit", "screen", "pass", "review-all", "recommend", "refer"),
    ),
    ("Information campaign on irregular routes", "90000.00", [("SEN", "100")], 1, ("submit", "screen", "reject")),
    ("Remittance app for seasonal workers", "110000.00", [("KEN", "100")], 3, ("submit", "withdraw")),
    (
        "Shelter network for migrants in transit",
        "500000.00",
        [("MEX", "50"), ("GTM", "50")],
        0,
        ("submit", "screen", "pass", "review-all", "recommend"),
    ),
)


# A minimal PDF, for the endorsement letters of non-member countries.
LETTER = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


# ---------------------------------------------------------------- decisions of the member states

# The ballots of most member states on the story's decisions (others are added per decision).
YES_MOSTLY = {"DEU": "yes", "CHE": "yes", "SWE": "yes", "JPN": "yes", "GBR": "yes", "SEN": "yes"}
# The member states present at the members' meetings in Geneva.
MEETING_PRESENT = ("DEU", "CHE", "SWE", "JPN", "MEX", "GBR", "SEN", "PHL", "MAR")

# The benefitting countries the members added by vote, as the GCFF's: (code, group, the decision's text).
DEMO_COUNTRIES = (
    ("JOR", "gcff_a", "Jordan hosts refugees from Syria; it borrows on the terms of group A."),
    ("LBN", "gcff_a", "Lebanon hosts refugees from Syria; it borrows on the terms of group A."),
    ("COL", "umic", "Colombia hosts migrants and refugees from Venezuela, as an upper-middle-income country."),
    ("ECU", "umic", "Ecuador hosts migrants and refugees from Venezuela, as an upper-middle-income country."),
)


# ---------------------------------------------------------------- grants at every stage

# (title, window, amount, duration in months, organisation index, countries)
DEMO_GRANT_PROPOSALS: tuple[tuple[str, str, str, int, int, list[tuple[str, str]]], ...] = (
    ("Emergency assistance to stranded migrants", "SKL", "120000.00", 3, 1, [("SEN", "100")]),
    ("Ethical recruitment training for employers", "LMG", "200000.00", 24, 3, [("PHL", "100")]),
    ("Diaspora skills exchange pilot", "SKL", "100000.00", 6, 4, [("SEN", "100")]),
)

# The member states voting for the funding of those proposals.
GRANT_VOTERS = ("DEU", "CHE", "SWE", "JPN", "MEX", "GBR", "SEN", "MAR")


# ---------------------------------------------------------------- the secretariat's finances for the statements

# (idempotency key, story date, what it is, lines as (account, amount, currency)): what the finance officer
# records through POST /ledger/entries; interest on the trustee's cash, its bank charges, the secretariat's
# costs (some paid in Swiss francs from the CHF cash), and interest accrued at the end of the story. The
# description names the real date the entry falls on ("Secretariat costs to 31 March 2026").
DEMO_FINANCE_ENTRIES: tuple[tuple[str, date, str, tuple[tuple[str, str, str], ...]], ...] = tuple(
    (key, day, what, ((debit, amount, currency), (credit, f"-{amount}", currency)))
    for key, day, what, debit, credit, amount, currency in (
        ("demo-costs-2025-1", date(2025, 4, 30), "Secretariat costs", "5300", "1100", "95000.00", "USD"),
        ("demo-costs-2025-2", date(2025, 7, 31), "Secretariat costs", "5300", "1100", "98500.00", "USD"),
        ("demo-costs-2025-3", date(2025, 10, 31), "Secretariat costs", "5300", "1100", "92250.00", "USD"),
        ("demo-costs-2025-4", date(2025, 12, 15), "Secretariat costs", "5300", "1100", "81400.00", "USD"),
        ("demo-interest-2025-1", date(2025, 6, 30), "Interest on cash", "1100", "4200", "6420.00", "USD"),
        ("demo-interest-2025-2", date(2025, 12, 31), "Interest on cash", "1100", "4200", "9815.00", "USD"),
        ("demo-charges-2025-1", date(2025, 6, 30), "Bank charges", "5400", "1100", "1250.00", "USD"),
        ("demo-charges-2025-2", date(2025, 12, 31), "Bank charges", "5400", "1100", "1380.00", "USD"),
        ("demo-costs-2026-1", date(2026, 3, 31), "Secretariat costs", "5300", "1100", "104300.00", "USD"),
        ("demo-costs-2026-2", date(2026, 6, 30), "Geneva office", "5300", "1100", "88000.00", "CHF"),
        ("demo-costs-2026-3", date(2026, 9, 30), "Secretariat costs", "5300", "1100", "112600.00", "USD"),
        ("demo-costs-2026-4", date(2026, 12, 15), "Geneva office", "5300", "1100", "91500.00", "CHF"),
        ("demo-interest-2026-1", date(2026, 6, 30), "Interest on cash", "1100", "4200", "24880.00", "USD"),
        ("demo-interest-2026-2", date(2026, 12, 31), "Interest on EUR cash", "1100", "4200", "8650.00", "EUR"),
        ("demo-interest-2026-3", date(2026, 12, 31), "Interest accrued", "1210", "4200", "7300.00", "USD"),
        ("demo-charges-2026-1", date(2026, 6, 30), "Bank charges", "5400", "1100", "1940.00", "USD"),
        ("demo-charges-2026-2", date(2026, 12, 31), "Bank charges", "5400", "1100", "2215.00", "USD"),
    )
)
# Prepared on the story's last day and waiting for the finance approver.
DEMO_PENDING_ENTRY = (
    "demo-charges-pending",
    STORY_END,
    "Bank charges",
    (("5400", "310.00", "USD"), ("1100", "-310.00", "USD")),
)
# Why each kind of entry is made: what the finance approver reads before approving it.
DEMO_ENTRY_REASONS = {
    "Secretariat costs": "the secretariat's invoices for the quarter, paid from the trustee's account",
    "Geneva office": "the Geneva office's rent and services for the quarter, paid in Swiss francs",
    "Interest on cash": "interest credited by the trustee's bank on the statement",
    "Interest on EUR cash": "interest credited on the euro account on the statement",
    "Interest accrued": "interest earned to the year end, credited by the bank in January",
    "Bank charges": "charges debited by the trustee's bank on the statement",
}
# The secretariat's budgets, adopted by vote of the members before each year (the next one's is in
# fundapp.demo._load_decisions): (story year, amount, story day of the vote's opening).
DEMO_ADMIN_BUDGETS = ((2025, "400000.00", date(2024, 11, 4)), (2026, "430000.00", date(2025, 11, 3)))
# The member states voting for those budgets.
BUDGET_VOTERS = ("DEU", "CHE", "SWE", "JPN", "MEX", "SEN", "PHL", "MAR")


# ---------------------------------------------------------------- concessional financing

# The World Bank's request for Jordan (GCFF group A: the OECD DAC's LMIC terms, 7% and 15%) in the SKL window:
# a loan of 1,000,000.00 over 10 years, first repayment after 2.5 years, semi-annual, market 3.5% + 1.5%,
# concessional 3.5% - 2.0%: concessionality 171,316.74, grant element from 9.21% to 26.34%, leverage 5.84;
# with the agency's costs the grant is 175,000.00.
DEMO_CONCESSIONAL_TITLE = "Jordan: economic opportunities for refugees and host communities"
DEMO_CONCESSIONAL_REQUEST: dict[str, object] = {
    "window_code": "SKL",
    "country": "JOR",
    "title": DEMO_CONCESSIONAL_TITLE,
    "description": "Work permits, skills and jobs for Syrian refugees and Jordanians in host communities.",
    "results": "10,000 work permits; 4,000 people trained",
    "endorsement_reference": "MOPIC/2026/114",
    "loan_amount": "1000000.00",
    "loan_currency": "USD",
    "maturity_months": 120,
    "grace_months": 30,
    "repayments_per_year": 2,
    "method": "equal_principal",
    "market_base_rate": "0.035",
    "market_spread": "0.015",
    "concessional_base_rate": "0.035",
    "concessional_spread": "-0.02",
    "agency_costs": "3683.26",
}
# The grant's tranches (story dates), following the loan's disbursement.
DEMO_CONCESSIONAL_TRANCHES = ((date(2026, 9, 1), "100000.00"), (date(2027, 3, 1), "75000.00"))
