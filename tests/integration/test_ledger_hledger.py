"""hledger, an independent tool, re-derives the service's trial balances from the export (acceptance 6).

A ledger of a few dozen entries in USD, EUR, GBP, JPY and KWD (pledges with budgetary lines, receipts
settled at a later rate with realised FX lines, fees, grants, reversals, revaluations) is exported with
``fundapp ledger export --format hledger``; ``hledger balance`` must then give exactly the service's
trial balance of each book: per account and currency, and per account in the reporting currency
(``balance -B``, at cost).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fundapp.core.models import Role
from tests.support import LEDGER, Actor, Api, add_fx_rate, line, posted, reversed_entry, run_fundapp

HLEDGER = shutil.which("hledger")
pytestmark = [
    pytest.mark.usefixtures("backend"),
    pytest.mark.skipif(HLEDGER is None, reason="hledger is not installed"),
]

RATES = {
    "2026-01-01": {"EUR": "1.0835", "GBP": "1.2650", "JPY": "0.006712", "KWD": "3.2540"},
    "2026-02-01": {"EUR": "1.0790", "GBP": "1.2710", "JPY": "0.006650", "KWD": "3.2610"},
    "2026-02-28": {"EUR": "1.0912", "GBP": "1.2588", "JPY": "0.006801", "KWD": "3.2575"},
    "2026-03-13": {"EUR": "1.0871", "GBP": "1.2633", "JPY": "0.006733", "KWD": "3.2566"},
}
PLEDGES = {"USD": "125000.00", "EUR": "84250.55", "GBP": "40000.25", "JPY": "15000007", "KWD": "12500.125"}
FEES = {"USD": "1250.00", "EUR": "842.51", "GBP": "400.01", "JPY": "150001", "KWD": "125.001"}
CHARGES = {"USD": "12.50", "EUR": "3.33", "GBP": "7.77", "JPY": "333", "KWD": "0.777"}


def _reporting(entry: dict[str, Any], line_no: int) -> str:
    return str(entry["postings"][line_no - 1]["reporting_amount"]["amount"])


def _negate(amount: str) -> str:
    return amount[1:] if amount.startswith("-") else f"-{amount}"


def _build_ledger(api: Api, fo: Actor, currencies: tuple[str, ...]) -> None:
    foreign = [c for c in currencies if c != "USD"]
    for day, rates in RATES.items():
        for currency in foreign:
            add_fx_rate(api, fo, currency, day, rates[currency])

    reversible: list[int] = []
    for i, currency in enumerate(currencies):
        for contributor in (1, 2):
            cid = 10 * i + contributor
            window = contributor if contributor == 1 else None
            pledge = PLEDGES[currency]
            # A signed pledge: revenue in the financial book, resources available in the budgetary book.
            entry = posted(
                api,
                fo,
                line("1200", pledge, currency, contributor_id=cid, window_id=window),
                line("4100", _negate(pledge), currency, contributor_id=cid, window_id=window),
                entry_date=f"2026-01-{5 + 2 * i + contributor:02d}",
                description=f"Pledge of contributor {cid} ({currency})",
            )
            carrying = _reporting(entry, 1)
            posted(
                api,
                fo,
                line("8200", carrying, window_id=window),
                line("8100", _negate(carrying), window_id=window),
                entry_date=f"2026-01-{5 + 2 * i + contributor:02d}",
                description=f"Resources from contributor {cid}",
            )
            if contributor == 2:
                continue  # stays receivable: revalued at month end
            # Paid in February at the day's rate: the difference to the carrying amount is realised FX.
            posted(
                api,
                fo,
                line("1100", pledge, currency, contributor_id=cid, window_id=window),
                line(
                    "1200",
                    _negate(pledge),
                    currency,
                    contributor_id=cid,
                    window_id=window,
                    reporting_amount=_negate(carrying),
                ),
                entry_date=f"2026-02-{3 + 2 * i:02d}",
                description=f"Receipt from contributor {cid}",
                settle_fx=True,
            )
            fee = posted(
                api,
                fo,
                line("5200", FEES[currency], currency),
                line("1100", _negate(FEES[currency]), currency),
                entry_date=f"2026-02-{4 + 2 * i:02d}",
                description=f"Administrative agent fee; contributor {cid}",
            )
            charge = posted(
                api,
                fo,
                line("5400", CHARGES[currency], currency),
                line("1100", _negate(CHARGES[currency]), currency),
                entry_date=f"2026-02-{5 + 2 * i:02d}",
                description=f"Bank charges - transfer from contributor {cid}",
            )
            reversible += [fee["id"], charge["id"]]

    # Grants: recognised (payable), partly paid; a payable in a foreign currency is revalued too.
    grant_currency = foreign[0]
    posted(
        api, fo, line("5100", "20000.00", grant_id=1, window_id=1), line("2100", "-20000.00", grant_id=1, window_id=1)
    )
    posted(
        api,
        fo,
        line("5100", "15000.00", grant_currency, grant_id=2),
        line("2100", "-15000.00", grant_currency, grant_id=2),
        entry_date="2026-02-10",
        description="Grant tranche 2",
    )
    posted(
        api,
        fo,
        line("2100", "5000.00", grant_currency, grant_id=2),
        line("1100", "-5000.00", grant_currency),
        entry_date="2026-03-02",
        description="Transfer to partner, grant 2",
    )
    posted(api, fo, line("2100", "20000.00", grant_id=1), line("1100", "-20000.00"), entry_date="2026-03-03")
    # Budgetary life of the grants.
    posted(
        api, fo, line("8300", "40000.00", window_id=1), line("8200", "-40000.00", window_id=1), entry_date="2026-01-20"
    )
    posted(
        api, fo, line("8400", "35000.00", window_id=1), line("8300", "-35000.00", window_id=1), entry_date="2026-02-02"
    )
    posted(
        api, fo, line("8500", "20000.00", window_id=1), line("8400", "-20000.00", window_id=1), entry_date="2026-03-03"
    )
    # Interest accrued in the last foreign currency; a zero-sum rounding correction with signs that differ.
    posted(
        api,
        fo,
        line("1210", "12.34", "GBP"),
        line("4200", "-12.34", "GBP"),
        entry_date="2026-02-27",
    )
    posted(
        api,
        fo,
        line("1200", "0.01", "EUR", reporting_amount="-0.01"),
        line("4100", "-0.01", "EUR", reporting_amount="0.01"),
        entry_date="2026-02-27",
        description="Rounding correction",
    )
    # A settlement where the cash and the receivable differ in the reporting currency only, both ways.
    posted(
        api,
        fo,
        line("1100", "1000.00", "EUR", reporting_amount="1087.10"),
        line("2400", "-1000.00", "EUR", reporting_amount="-1090.00"),
        entry_date="2026-03-13",
        settle_fx=True,
    )
    posted(
        api,
        fo,
        line("1100", "1000.00", "EUR", reporting_amount="1093.00"),
        line("2400", "-1000.00", "EUR", reporting_amount="-1090.00"),
        entry_date="2026-03-13",
        settle_fx=True,
    )

    for entry_id in reversible[:3]:
        reversed_entry(api, fo, entry_id)
    for as_of in ("2026-02-28", "2026-03-15"):
        response = api.client.post(f"{LEDGER}/revaluations", json={"as_of": as_of}, headers=fo.headers)
        assert response.status_code == 201, response.text
        assert response.json()["entry"] is not None, as_of
    for period in ("2026-01", "2026-02"):
        assert api.client.post(f"{LEDGER}/periods/{period}/close", headers=fo.headers).status_code == 200


def _hledger(journal: Path, *args: str) -> list[list[str]]:
    assert HLEDGER is not None
    done = subprocess.run(
        [HLEDGER, "-f", str(journal), "--strict", *args, "-O", "csv"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    return rows[1:]  # without the header


def _nonzero(values: dict[Any, Decimal]) -> dict[Any, Decimal]:
    return {k: v for k, v in values.items() if v}


CURRENCY_SETS = [
    pytest.param(("USD", "EUR", "GBP", "KWD"), id="USD-EUR-GBP-KWD"),
    pytest.param(("USD", "EUR", "GBP", "JPY", "KWD"), id="with-JPY"),
]


@pytest.mark.parametrize("currencies", CURRENCY_SETS)
def test_hledger_rederives_both_trial_balances(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    currencies: tuple[str, ...],
) -> None:
    fo = api.create_user(Role.FINANCE_OFFICER)
    _build_ledger(api, fo, currencies)
    entries = api.db.count("journal_entries")
    assert entries >= 30

    journal = tmp_path / "journal.hledger"
    code, _, err = run_fundapp(api, monkeypatch, capsys, "ledger", "export", "--format", "hledger", "-o", str(journal))
    assert code == 0, err
    text = journal.read_text(encoding="utf-8")
    auditor = api.create_user(Role.AUDITOR)
    exported = api.client.get("/api/v1/exports/journal.hledger", headers=auditor.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/plain")
    assert exported.text == text
    assert text.count("; entry:") == entries

    # hledger's own view of the journal: every transaction balances at cost, or it would refuse the file.
    assert _hledger(journal, "print", "desc:nothing-matches-this") == []

    for book in ("financial", "budgetary"):
        response = api.client.get(f"{LEDGER}/trial-balance", params={"book": book}, headers=auditor.headers)
        assert response.status_code == 200
        tb = response.json()
        assert tb["balanced"] is True
        by_currency: dict[tuple[str, str], Decimal] = {}
        by_account: dict[str, Decimal] = defaultdict(Decimal)
        for row in tb["rows"]:
            name = f"{book}:{row['type']}:{row['account']}"
            by_currency[(name, row["balance"]["currency"])] = Decimal(row["balance"]["amount"])
            by_account[name] += Decimal(row["reporting_balance"]["amount"])

        query = f"^{book}:"
        hl_currency = {
            (account, commodity): Decimal(amount)
            for account, commodity, amount in _hledger(
                journal, "balance", "--flat", "--no-total", "--layout=bare", query
            )
        }
        assert _nonzero(hl_currency) == _nonzero(by_currency), book
        at_cost = _hledger(journal, "balance", "--flat", "--no-total", "--layout=bare", "-B", query)
        assert {commodity for _, commodity, _ in at_cost} <= {"USD"}
        hl_reporting = {account: Decimal(amount) for account, _, amount in at_cost}
        assert _nonzero(hl_reporting) == _nonzero(dict(by_account)), book
        assert sum(hl_reporting.values()) == 0

    # Both books together: every total hledger shows, per commodity and at cost, is zero.
    for cost in ((), ("-B",)):
        totals = [row for row in _hledger(journal, "balance", "--flat", "--layout=bare", *cost) if row[0] == "total"]
        assert totals, cost
        assert all(Decimal(amount) == 0 for _, _, amount in totals), totals
