"""Pure rules of proposals: what a submission must satisfy, how review scores consolidate, which files
are accepted; for grants, the report schedule, maker-checker approval, cumulative expenditure, the
delivery rate and the statement's figures. No I/O."""

from __future__ import annotations

import calendar
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any
from xml.etree import ElementTree

from fundapp.core.errors import Conflict, FieldError, InvalidInput, PermissionDenied, refuse_future
from ledger import EntryDraft, Line, Money, chart, to_json
from ledger import rules as ledger_rules
from proposals import grant_workflow as gw
from proposals import workflow
from proposals.models import OrganisationType
from proposals.schemas import BudgetCategory, ProposalContent, TrancheCondition

# ---------------------------------------------------------------- submission


@dataclass(frozen=True, slots=True)
class CallTerms:
    opens_at: datetime
    closes_at: datetime
    min_grant: int
    max_grant: int
    eligible_types: frozenset[str]
    eligible_countries: frozenset[str]


@dataclass(frozen=True, slots=True)
class Applicant:
    type: str
    country: str
    due_diligence: str


def call_is_open(terms: CallTerms, now: datetime) -> bool:
    return terms.opens_at <= now < terms.closes_at


def isc_cap(direct_costs: int, cap: Decimal) -> int:
    """The most indirect support costs may be: ``cap`` of the direct costs, rounded down to a minor unit."""
    return int(Fraction(direct_costs) * Fraction(cap))


def submission_problems(
    *,
    content: ProposalContent,
    terms: CallTerms,
    applicant: Applicant,
    now: datetime,
    isc_rate_cap: Decimal,
    currency: str,
    endorsed: Iterable[str],
) -> list[FieldError]:
    """Every rule a submission breaks, each naming its field and rule; empty when it may be submitted."""
    problems: list[FieldError] = []

    def fail(field: str, rule: str, message: str) -> None:
        problems.append(FieldError(field, rule, message))

    if not call_is_open(terms, now):
        fail("call_id", "call-open", f"the call accepts submissions from {terms.opens_at} until {terms.closes_at}")
    if terms.eligible_types and applicant.type not in terms.eligible_types:
        fail(
            "organisation",
            "organisation-type-eligible",
            f"the call is open to {', '.join(sorted(terms.eligible_types))}, not {applicant.type}",
        )
    if terms.eligible_countries and applicant.country not in terms.eligible_countries:
        fail(
            "organisation", "organisation-country-eligible", f"organisations from {applicant.country} are not eligible"
        )
    if applicant.due_diligence != "cleared":
        fail(
            "organisation",
            "due-diligence-cleared",
            f"the organisation's due diligence is {applicant.due_diligence}; it must be cleared",
        )

    requested = Money.of(content.requested_amount, currency)
    if not terms.min_grant <= requested.minor <= terms.max_grant:
        fail(
            "content.requested_amount",
            "amount-within-call-limits",
            f"the call funds from {Money.from_minor(terms.min_grant, currency)} "
            f"to {Money.from_minor(terms.max_grant, currency)}",
        )
    budget = [Money.of(line.amount, currency) for line in content.budget]
    if any(not b.is_positive for b in budget):
        fail("content.budget", "positive-budget-lines", "every budget line is above zero")
    if sum(b.minor for b in budget) != requested.minor:
        fail(
            "content.budget",
            "budget-sums-to-requested",
            f"the budget sums to {Money.from_minor(sum(b.minor for b in budget), currency)}, not {requested}",
        )
    isc = sum(
        b.minor
        for b, line in zip(budget, content.budget, strict=True)
        if line.category == BudgetCategory.INDIRECT_SUPPORT_COSTS
    )
    direct = sum(
        b.minor
        for b, line in zip(budget, content.budget, strict=True)
        if line.category != BudgetCategory.INDIRECT_SUPPORT_COSTS
    )
    if isc > isc_cap(direct, isc_rate_cap):
        fail(
            "content.budget",
            "indirect-costs-within-cap",
            f"indirect support costs may be at most {isc_rate_cap * 100}% of direct costs "
            f"({Money.from_minor(isc_cap(direct, isc_rate_cap), currency)})",
        )
    shares = sum(Decimal(c.share) for c in content.countries)
    if shares != 100:
        fail("content.countries", "shares-sum-to-100", f"country shares sum to {shares}, not 100")
    tranches = [Money.of(t.amount, currency) for t in content.tranches]
    if any(not t.is_positive for t in tranches) or sum(t.minor for t in tranches) != requested.minor:
        fail(
            "content.tranches",
            "tranches-sum-to-requested",
            f"the tranches sum to {Money.from_minor(sum(t.minor for t in tranches), currency)}, not {requested}",
        )
    missing = sorted({c.country for c in content.countries} - set(endorsed))
    if missing:
        fail("endorsements", "every-country-endorsed", f"not yet endorsed by: {', '.join(missing)}")
    return problems


# ---------------------------------------------------------------- review scores

SCORE_PLACES = Decimal("0.01")


def weighted_score(scores: Mapping[str, int], rubric: Sequence[tuple[str, int]]) -> Fraction:
    """One review's score: the rubric-weighted mean of its criterion scores (0-5), exactly."""
    total_weight = sum(weight for _, weight in rubric)
    return Fraction(sum(scores[key] * weight for key, weight in rubric), total_weight)


def consolidated_score(review_scores: Sequence[Fraction]) -> Fraction:
    """The TAG's consolidated score: the mean of the reviews' weighted scores, exactly."""
    if not review_scores:
        raise ValueError("no reviews to consolidate")
    return sum(review_scores, Fraction(0)) / len(review_scores)


def score_text(value: Fraction) -> str:
    """A score as stored and shown: two decimals, half to even."""
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(SCORE_PLACES, ROUND_HALF_EVEN))


# ---------------------------------------------------------------- attachments

PDF, DOCX, XLSX, PNG, JPEG = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "image/png",
    "image/jpeg",
)
EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", XLSX: ".xlsx", PNG: ".png", JPEG: ".jpg"}


class PackageRefused(Exception):
    """An Office package that is not accepted, with the rule it breaks (``attachment-macro`` ...)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


# An Office package: at most this many parts and, as their headers declare them, this many bytes once
# uncompressed (in all) and this ratio of any part's uncompressed to compressed size (a ZIP bomb exceeds one).
MAX_PACKAGE_PARTS = 2000
MAX_PACKAGE_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
MAX_PART_COMPRESSION_RATIO = 200
MAX_CONTENT_TYPES_BYTES = 1024 * 1024
CONTENT_TYPES = "[Content_Types].xml"
_CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
# The main part of each accepted package and its content type (the macro-enabled ones differ: refused).
MAIN_PARTS = {
    "/word/document.xml": (DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    "/xl/workbook.xml": (XLSX, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
}
# Parts that run code or carry programs: by extension anywhere in the package, and by content type.
# (.bin is not one: printer settings are .bin parts of ordinary documents; vbaProject.bin is refused by name.)
EXECUTABLE_EXTENSIONS = frozenset(
    (
        *(".exe", ".dll", ".com", ".scr", ".pif", ".cpl", ".msi", ".msp", ".ocx", ".sys", ".drv", ".so", ".dylib"),
        *(".bat", ".cmd", ".ps1", ".psm1", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh", ".hta", ".lnk", ".reg"),
        *(".jar", ".class", ".sh", ".bash", ".py", ".pl", ".rb", ".php", ".elf", ".app"),
    )
)
_EXECUTABLE_TYPE = re.compile(
    r"macroenabled|vbaproject|vbadata|activex|oleobject|ms-office\.vba|x-msdownload|x-dosexec|x-executable|"
    r"x-sharedlib|x-sh\b|x-shellscript|javascript|ecmascript|java-archive|x-msi|vnd\.microsoft\.portable-executable",
    re.IGNORECASE,
)
_MACRO_NAMES = re.compile(r"(^|/)(vbaProject|vbaData)\.(bin|xml)$", re.IGNORECASE)


def _safe_part_name(name: str) -> bool:
    """A part name inside the package: relative, with no parent step, drive, backslash or control character."""
    if not name or name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return False
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return False
    return all(segment not in ("..", ".") for segment in name.split("/"))


def _extension(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return "." + last.rsplit(".", 1)[-1].lower() if "." in last else ""


def inspect_office_package(data: bytes) -> str | None:
    """DOCX or XLSX when ``data`` is an Office Open XML package that is safe to keep; None when it is no Office
    package at all; :class:`PackageRefused` when it is one that carries macros, programs, names outside the
    package, or more than the bounds (its declared sizes; nothing is decompressed but the content types)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            infos = package.infolist()
            names = {info.filename for info in infos}
            if CONTENT_TYPES not in names or not any(main[1:] in names for main in MAIN_PARTS):
                return None
            if len(infos) > MAX_PACKAGE_PARTS:
                raise PackageRefused("attachment-parts", f"an Office file has at most {MAX_PACKAGE_PARTS} parts")
            if sum(info.file_size for info in infos) > MAX_PACKAGE_UNCOMPRESSED_BYTES:
                raise PackageRefused(
                    "attachment-uncompressed-size",
                    f"an Office file holds at most {MAX_PACKAGE_UNCOMPRESSED_BYTES // (1024 * 1024)} MiB uncompressed",
                )
            for info in infos:
                if info.file_size > 1024 * 1024 and info.file_size > MAX_PART_COMPRESSION_RATIO * max(
                    info.compress_size, 1
                ):
                    raise PackageRefused(
                        "attachment-uncompressed-size",
                        f"the part {info.filename!r} expands more than {MAX_PART_COMPRESSION_RATIO} times",
                    )
                if not _safe_part_name(info.filename):
                    raise PackageRefused(
                        "attachment-path", f"the part name {info.filename!r} points outside the package"
                    )
                if _MACRO_NAMES.search(info.filename):
                    raise PackageRefused("attachment-macro", "Office files with macros are not accepted")
                if _extension(info.filename) in EXECUTABLE_EXTENSIONS:
                    raise PackageRefused(
                        "attachment-executable", f"the part {info.filename!r} is a program or a script"
                    )
            types_info = package.getinfo(CONTENT_TYPES)
            if types_info.file_size > MAX_CONTENT_TYPES_BYTES:
                raise PackageRefused("attachment-type", "the package's content types are too large")
            with package.open(types_info) as stream:
                text = stream.read(MAX_CONTENT_TYPES_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, NotImplementedError, OSError):
        return None
    defaults, overrides = _content_types(text)
    for content_type in [*defaults.values(), *overrides.values()]:
        if _EXECUTABLE_TYPE.search(content_type):
            rule = (
                "attachment-macro" if re.search("macro|vba", content_type, re.IGNORECASE) else "attachment-executable"
            )
            raise PackageRefused(rule, f"the package declares content of type {content_type!r}")
    media_type = None
    for part, (kind, main_type) in MAIN_PARTS.items():
        if part[1:] in names:
            declared = overrides.get(part.lower())
            if declared is None or declared.lower() != main_type:
                raise PackageRefused(
                    "attachment-type", f"the package's main part {part} is not declared as {main_type}"
                )
            media_type = media_type or kind
    for name in names:
        if name == CONTENT_TYPES or name.endswith("/"):
            continue
        if ("/" + name).lower() not in overrides and _extension(name)[1:] not in defaults:
            raise PackageRefused("attachment-type", f"the part {name!r} has no declared content type")
    return media_type


def _content_types(text: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """``[Content_Types].xml``: (extension -> type, part name -> type), both keys lower case. No DTD."""
    if len(text) > MAX_CONTENT_TYPES_BYTES or b"<!DOCTYPE" in text.upper() or b"<!ENTITY" in text.upper():
        raise PackageRefused("attachment-type", "the package's content types are not plain XML")
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - no DTD (refused above), at most 1 MiB
    except ElementTree.ParseError as exc:
        raise PackageRefused("attachment-type", "the package's content types are not XML") from exc
    if root.tag != f"{_CT_NS}Types":
        raise PackageRefused("attachment-type", "the package's content types are not OPC content types")
    defaults = {e.get("Extension", "").lower(): e.get("ContentType", "") for e in root.iter(f"{_CT_NS}Default")}
    overrides = {e.get("PartName", "").lower(): e.get("ContentType", "") for e in root.iter(f"{_CT_NS}Override")}
    return defaults, overrides


def sniff(data: bytes) -> str | None:
    """The file's real type from its content (magic bytes, and for Office files the package's declared content
    types); :class:`PackageRefused` for an Office package that may not be kept."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return inspect_office_package(data)
    return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str, media_type: str) -> str:
    """A display name with no path, no control characters, and the extension of its real type."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _UNSAFE.sub("_", base).strip(" .") or "attachment"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem[:100]}{EXTENSIONS[media_type]}"


# ---------------------------------------------------------------- grants


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it is shorter (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True, slots=True)
class ScheduledReport:
    number: int
    kind: str  # "progress" or "final"
    period_start: date
    period_end: date
    due_on: date


def report_schedule(
    start: date, end: date, *, interval_months: int, due_days: int, final_due_days: int
) -> list[ScheduledReport]:
    """A grant's reports: a progress report for every ``interval_months`` period that ends before the grant
    does (due ``due_days`` after its period), then the final report over the whole grant, due
    ``final_due_days`` after its end."""
    if interval_months < 1:
        raise ValueError("the reporting interval is at least one month")
    reports: list[ScheduledReport] = []
    period_start = start
    k = 1
    while (period_end := add_months(start, k * interval_months)) < end:
        reports.append(ScheduledReport(k, "progress", period_start, period_end, period_end + timedelta(days=due_days)))
        period_start, k = period_end, k + 1
    reports.append(ScheduledReport(k, "final", start, end, end + timedelta(days=final_due_days)))
    return reports


RATE_PLACES = Decimal("0.0001")


def isc_rate(budget: Sequence[tuple[str, int]]) -> Decimal:
    """Indirect support costs over direct costs of a budget [(category, minor units)], to 4 places half to
    even (0 when there are no direct costs)."""
    isc = sum(amount for category, amount in budget if category == BudgetCategory.INDIRECT_SUPPORT_COSTS)
    direct = sum(amount for category, amount in budget if category != BudgetCategory.INDIRECT_SUPPORT_COSTS)
    if direct <= 0:
        return Decimal(0).quantize(RATE_PLACES)
    return (Decimal(isc) / Decimal(direct)).quantize(RATE_PLACES, ROUND_HALF_EVEN)


def delivery_rate(expenditure: int, transferred: int) -> Decimal | None:
    """Expenditure reported over money transferred (net of refunds), to 4 places; None before any transfer."""
    if transferred <= 0:
        return None
    return (Decimal(expenditure) / Decimal(transferred)).quantize(RATE_PLACES, ROUND_HALF_EVEN)


def is_overdue(status: str, due_on: date, today: date) -> bool:
    """A report is overdue when its due date has passed and nothing acceptable is in: not submitted yet, or
    returned for changes."""
    return status in gw.AWAITING_SUBMISSION and today > due_on


def tranche_state(status: str, paid: int, amount: int) -> str:
    """What a tranche shows: pending, recognised, partly_paid, paid or released."""
    if status == gw.T.RECOGNISED and 0 < paid < amount:
        return "partly_paid"
    return status


def approvals_needed(amount: Money, threshold: Decimal) -> int:
    """One approver, or two different ones when the transfer is above the charter's threshold (major units
    of the grant's currency): the ledger's rule for every money movement a person prepares."""
    return ledger_rules.approvals_needed(amount.amount, threshold)


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """The outcome of one approval: the disbursement's next status and whether the transfer is posted now;
    or the rule that refuses it."""

    status: str | None = None
    pays: bool = False
    refused: str | None = None  # rule name
    reason: str = ""


def approval_step(
    *, status: str, needed: int, approver: int, prepared_by: int, first_approver: int | None
) -> ApprovalStep:
    """Maker-checker as a pure function: who may approve a disbursement in this status, and what follows
    (the disbursement workflow's approve, first_approval or second_approval step)."""
    if not any(gw.DISBURSEMENT.step(status, action) for action in APPROVALS):
        return ApprovalStep(refused="disbursement-open", reason=f"the disbursement is {status}")
    second = gw.DISBURSEMENT.step(status, "second_approval") is not None  # the last one, whoever gave the first
    step = ledger_rules.checker_step(
        needed=1 if second else needed,
        approver=approver,
        prepared_by=prepared_by,
        first_approver=first_approver if second else None,
    )
    if step.refused is not None:
        return ApprovalStep(refused=step.refused, reason=step.reason)
    action = "second_approval" if second else "approve" if step.final else "first_approval"
    to = gw.advance(gw.DISBURSEMENT, status, action).to
    return ApprovalStep(status=to, pays=to == gw.D.APPROVED)


# The disbursement workflow's approvals: one approver, or the first and the second of two.
APPROVALS = ("approve", "first_approval", "second_approval")


def expenditure_problems(
    new: Mapping[str, int], previous: Mapping[str, int], *, budget_categories: Iterable[str]
) -> list[FieldError]:
    """Cumulative expenditure by budget category: each category from the grant's budget, never negative and
    never below what the last accepted report said."""
    problems: list[FieldError] = []
    allowed = set(budget_categories)
    for category, amount in sorted(new.items()):
        if category not in allowed:
            problems.append(
                FieldError(
                    "expenditure",
                    "category-in-budget",
                    f"{category} is not a category of the grant's budget ({', '.join(sorted(allowed))})",
                )
            )
        if amount < 0:
            problems.append(FieldError("expenditure", "non-negative", f"{category}: expenditure is never negative"))
    for category, before in sorted(previous.items()):
        if new.get(category, 0) < before:
            problems.append(
                FieldError(
                    "expenditure",
                    "cumulative-expenditure",
                    f"{category}: expenditure is cumulative and was already {before} minor units in the last "
                    "accepted report",
                )
            )
    return problems


# Figures of a grant statement, each read from one account of the ledger under the grant dimension.
FIGURE_ACCOUNTS = {
    "allocated": chart.ALLOCATED,
    "committed": chart.COMMITTED,
    "recognised": chart.TRANSFERS_TO_PARTNERS,
}


@dataclass(frozen=True, slots=True)
class GrantPosting:
    entry_id: int
    account: str
    amount: int  # signed, debit positive, in the grant's currency


@dataclass
class Figure:
    amount: int = 0
    entry_ids: list[int] = field(default_factory=list)

    def add(self, amount: int, entry_id: int) -> None:
        self.amount += amount
        if entry_id not in self.entry_ids:
            self.entry_ids.append(entry_id)


def grant_figures(postings: Iterable[GrantPosting]) -> dict[str, Figure]:
    """The statement's ledger figures from the grant dimension's postings, each with the entries behind it:

    - allocated (8300), committed (8400): their balances (debit);
    - disbursed: transfers, the debits of 8500; refunded: the credits of 8500 (refunds);
    - recognised: the expense (5100) balance; payable: the grants payable (2100) balance, as a credit;
    - remaining: what the grant may still pay out, allocated + committed.
    """
    figures = {name: Figure() for name in ("allocated", "committed", "disbursed", "refunded", "recognised", "payable")}
    remaining = Figure()
    for p in postings:
        if p.account == chart.DISBURSED:
            if p.amount > 0:
                figures["disbursed"].add(p.amount, p.entry_id)
            else:
                figures["refunded"].add(-p.amount, p.entry_id)
        elif p.account == chart.GRANTS_PAYABLE:
            figures["payable"].add(-p.amount, p.entry_id)
        else:
            for name, account in FIGURE_ACCOUNTS.items():
                if p.account == account:
                    figures[name].add(p.amount, p.entry_id)
        if p.account in {chart.ALLOCATED, chart.COMMITTED}:
            remaining.add(p.amount, p.entry_id)
    figures["remaining"] = remaining
    return figures


# ---------------------------------------------------------------- grant money commands: facts -> plan
#
# Each money command of a grant (agreement, recognition of a conditional tranche, transfer, refund,
# closure) reads its facts (the service, under the grant's locks), plans here, and writes the plan in one
# go (``Grants._write``): the ledger entry, the rows it sets, the audit events. Values equal to
# ``ENTRY_ID`` stand for the id the plan's entry receives when it is posted (None when there is none).


class _EntryId:
    def __repr__(self) -> str:
        return "ENTRY_ID"


ENTRY_ID: Any = _EntryId()


@dataclass(frozen=True, slots=True)
class GrantBook:
    """A grant's row as its money commands see it."""

    grant_id: int
    window_id: int
    currency: str
    status: str
    amount: int  # minor units
    start_date: date


@dataclass(frozen=True, slots=True)
class TrancheFacts:
    id: int
    number: int
    amount: int
    paid: int
    status: str
    condition: str  # "none" or "progress_report"

    @property
    def unpaid(self) -> int:
        return self.amount - self.paid


@dataclass(frozen=True, slots=True)
class RowWrite:
    """Values for one row of a table: an update of row ``id``, or an insert when ``id`` is None."""

    table: str
    id: int | None
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GrantEvent:
    """One audit event of a plan."""

    action: str
    object_type: str
    object_id: int
    after: Mapping[str, Any]
    before: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class GrantPlan:
    entry: EntryDraft | None
    rows: tuple[RowWrite, ...]
    events: tuple[GrantEvent, ...]


def grant_line(account: str, amount: Money, book: GrantBook) -> Line:
    """A line under the grant's dimensions (its window and itself)."""
    return Line(account, amount, window_id=book.window_id, grant_id=book.grant_id)


def plan_agreement(
    book: GrantBook,
    tranches: Sequence[TrancheFacts],
    *,
    allocated: int,
    signed_on: date,
    reference: str,
    today: date,
    now: datetime,
) -> GrantPlan:
    """The signed agreement commits the grant (8400 / 8300) and recognises its tranches without a condition
    (5100 / 2100). ``allocated`` is the grant's balance of 8300, which the funding decision posted."""
    step = gw.advance(gw.GRANT, book.status, "sign_agreement", book.grant_id)
    refuse_future(signed_on, today, field="signed_on", what="the agreement")
    if signed_on < book.start_date:
        raise InvalidInput(
            f"the agreement follows the funding decision of {book.start_date}", field="signed_on", rule="after-decision"
        )
    if allocated != book.amount:
        raise Conflict(
            f"the ledger holds {Money.from_minor(allocated, book.currency)} allocated to this grant, not its "
            f"{Money.from_minor(book.amount, book.currency)}: the funding decision's allocation is missing",
            field="grant",
            rule="allocated-by-decision",
        )
    unconditional = [t for t in tranches if t.condition == TrancheCondition.NONE]
    amount = Money.from_minor(book.amount, book.currency)
    lines = [grant_line(chart.COMMITTED, amount, book), grant_line(chart.ALLOCATED, -amount, book)]
    recognised = sum(t.amount for t in unconditional)
    if recognised:
        payable = Money.from_minor(recognised, book.currency)
        lines += [
            grant_line(chart.TRANSFERS_TO_PARTNERS, payable, book),
            grant_line(chart.GRANTS_PAYABLE, -payable, book),
        ]
    entry = EntryDraft(
        entry_date=signed_on,
        description=f"Grant {book.grant_id} agreement signed ({reference})"[:500],
        lines=tuple(lines),
        source_type="grant_agreement",
        source_id=str(book.grant_id),
        idempotency_key=f"grant:{book.grant_id}:agreement",
    )
    recognise = {
        "status": gw.advance(gw.TRANCHE, gw.T.PENDING, "recognise").to,
        "recognised_on": signed_on,
        "recognised_entry_id": ENTRY_ID,
    }
    grant_values = {
        "status": step.to,
        "agreement_signed_on": signed_on,
        "agreement_reference": reference,
        "agreement_entry_id": ENTRY_ID,
        "updated_at": now,
    }
    event = GrantEvent(
        "grant.agreement",
        "grant",
        book.grant_id,
        before={"status": book.status},
        after={
            "status": step.to,
            "signed_on": signed_on,
            "reference": reference,
            "entry_id": ENTRY_ID,
            "recognised_tranches": [t.number for t in unconditional],
        },
    )
    rows = (
        *(RowWrite("grant_tranches", t.id, recognise) for t in unconditional),
        RowWrite("grants", book.grant_id, grant_values),
    )
    return GrantPlan(entry, rows, (event,))


def plan_recognition(
    book: GrantBook, tranches: Sequence[TrancheFacts], *, report_id: int, report_number: int, today: date
) -> GrantPlan | None:
    """An accepted report meets the condition of the grant's earliest conditional tranche still pending, if
    the grant is signed and not closed: that tranche is recognised now (5100 / 2100). None when none is."""
    conditional = [
        t
        for t in sorted(tranches, key=lambda t: t.number)
        if t.condition == TrancheCondition.PROGRESS_REPORT and gw.TRANCHE.step(t.status, "recognise") is not None
    ]
    if not conditional or gw.GRANT.step(book.status, "recognise_tranche") is None:
        return None
    tranche = conditional[0]
    amount = Money.from_minor(tranche.amount, book.currency)
    entry = EntryDraft(
        entry_date=today,
        description=f"Grant {book.grant_id} tranche {tranche.number} recognised: report {report_number} accepted",
        lines=(
            grant_line(chart.TRANSFERS_TO_PARTNERS, amount, book),
            grant_line(chart.GRANTS_PAYABLE, -amount, book),
        ),
        source_type="grant_tranche",
        source_id=str(tranche.id),
        idempotency_key=f"grant-tranche:{tranche.id}",
    )
    values = {
        "status": gw.advance(gw.TRANCHE, tranche.status, "recognise").to,
        "recognised_on": today,
        "recognised_entry_id": ENTRY_ID,
        "met_by_report_id": report_id,
    }
    event = GrantEvent(
        "grant.tranche.recognise",
        "grant",
        book.grant_id,
        after={"tranche": tranche.number, "amount": to_json(amount), "report_id": report_id, "entry_id": ENTRY_ID},
    )
    return GrantPlan(entry, (RowWrite("grant_tranches", tranche.id, values),), (event,))


@dataclass(frozen=True, slots=True)
class TransferFacts:
    """A disbursement awaiting an approval, and who approves it."""

    id: int
    status: str
    amount: int
    currency: str
    reference: str
    prepared_by: int
    approved_by: int | None  # the first approver, once there is one
    approver: int  # the person approving now
    organisation: str
    due_diligence: str


def require_cleared(
    organisation: str,
    due_diligence: str,
    *,
    field: str = "organisation",
    why: str = "money moves only to a cleared organisation",
) -> None:
    """The one due-diligence rule: an organisation whose due diligence is not cleared is refused (409
    ``due-diligence-cleared``) where money or a commitment would follow."""
    if due_diligence != "cleared":
        raise Conflict(
            f"the due diligence of {organisation} is {due_diligence}; {why}", field=field, rule="due-diligence-cleared"
        )


def require_procedures_agreement(organisation: str, kind: str, agreed_on: date | None) -> None:
    """The trustee commits funds to an implementation support agency only under its financial procedures
    agreement (DESIGN §12): refused until the secretariat has recorded it."""
    if kind == OrganisationType.IMPLEMENTATION_SUPPORT_AGENCY and agreed_on is None:
        raise Conflict(
            f"{organisation} has no financial procedures agreement with the trustee; record it first",
            field="organisation",
            rule="procedures-agreement",
        )


def plan_transfer(
    book: GrantBook, tranche: TrancheFacts, row: TransferFacts, *, threshold: Decimal, today: date, now: datetime
) -> GrantPlan:
    """One approval of a disbursement (maker-checker, a second approver above ``threshold``); the last one
    posts the transfer (2100 / 1100; 8500 / 8400) and pays the tranche, never over its unpaid amount."""
    step = approval_step(
        status=row.status,
        needed=approvals_needed(Money.from_minor(row.amount, row.currency), threshold),
        approver=row.approver,
        prepared_by=row.prepared_by,
        first_approver=row.approved_by,
    )
    if step.refused is not None:
        error = Conflict if step.refused == "disbursement-open" else PermissionDenied
        raise error(step.reason, field="disbursement", rule=step.refused, disbursement_status=row.status)
    gw.advance(gw.GRANT, book.status, "transfer", book.grant_id)
    require_cleared(row.organisation, row.due_diligence)
    if step.pays and row.amount > tranche.unpaid:
        raise Conflict(
            f"tranche {tranche.number} has {Money.from_minor(tranche.unpaid, book.currency)} unpaid; this transfer "
            f"of {Money.from_minor(row.amount, row.currency)} would pay it twice or over its amount",
            field="disbursement",
            rule="within-tranche",
        )
    first = row.status == gw.D.PREPARED
    values: dict[str, Any] = {"status": step.status}
    values.update(
        {"approved_by": row.approver, "approved_at": now}
        if first
        else {"second_approved_by": row.approver, "second_approved_at": now}
    )
    rows: list[RowWrite] = []
    entry = None
    if step.pays:
        amount = Money.from_minor(row.amount, row.currency)
        entry = EntryDraft(
            entry_date=today,
            description=f"Grant {book.grant_id} tranche {tranche.number} transfer"
            + (f" ({row.reference})" if row.reference else ""),
            lines=(
                grant_line(chart.GRANTS_PAYABLE, amount, book),
                grant_line(chart.CASH, -amount, book),
                grant_line(chart.DISBURSED, amount, book),
                grant_line(chart.COMMITTED, -amount, book),
            ),
            source_type="grant_disbursement",
            source_id=str(row.id),
            idempotency_key=f"grant-disbursement:{row.id}",
        )
        values["entry_id"] = ENTRY_ID
        paid = tranche.paid + row.amount
        pay = gw.advance(gw.TRANCHE, tranche.status, "pay_off" if paid == tranche.amount else "pay")
        rows.append(RowWrite("grant_tranches", tranche.id, {"paid": paid, "status": pay.to}))
    rows.insert(0, RowWrite("disbursements", row.id, values))
    event = GrantEvent(
        "grant.disbursement.approve",
        "disbursement",
        row.id,
        before={"status": row.status},
        after={
            "status": step.status,
            "grant_id": book.grant_id,
            "tranche": tranche.number,
            "amount": to_json(Money.from_minor(row.amount, row.currency)),
            "approval": 1 if first else 2,
            "entry_id": ENTRY_ID if step.pays else None,
        },
    )
    return GrantPlan(entry, tuple(rows), (event,))


def plan_refund(
    book: GrantBook,
    *,
    refund_id: int,
    amount: Money,
    disbursed: int,
    received_on: date,
    reference: str,
    recorded_by: int | None,
    today: date,
    now: datetime,
) -> GrantPlan:
    """Money the grantee returned (1100 / 5100; 8200 / 8500): positive, dated today or before, and at most
    ``disbursed``, the grant's balance of 8500 (transferred and not yet refunded)."""
    gw.advance(gw.GRANT, book.status, "refund", book.grant_id)
    if not amount.is_positive:
        raise InvalidInput("a refund is a positive amount", field="amount", rule="positive-amount")
    refuse_future(received_on, today, field="received_on", what="the refund")
    if amount.minor > disbursed:
        raise InvalidInput(
            f"the grantee holds {Money.from_minor(disbursed, book.currency)} transferred and not refunded; "
            f"{amount} is more",
            field="amount",
            rule="within-disbursed",
        )
    entry = EntryDraft(
        entry_date=received_on,
        description=f"Grant {book.grant_id} refund from the grantee" + (f" ({reference})" if reference else ""),
        lines=(
            grant_line(chart.CASH, amount, book),
            grant_line(chart.TRANSFERS_TO_PARTNERS, -amount, book),
            Line(chart.AVAILABLE, amount, window_id=book.window_id),
            grant_line(chart.DISBURSED, -amount, book),
        ),
        source_type="grant_refund",
        source_id=str(refund_id),
        idempotency_key=f"grant-refund:{refund_id}",
    )
    row = {
        "id": refund_id,
        "grant_id": book.grant_id,
        "amount": amount.minor,
        "currency": book.currency,
        "received_on": received_on,
        "reference": reference,
        "entry_id": ENTRY_ID,
        "recorded_by": recorded_by,
        "recorded_at": now,
    }
    event = GrantEvent(
        "grant.refund",
        "grant",
        book.grant_id,
        after={
            "refund_id": refund_id,
            "amount": to_json(amount),
            "received_on": received_on,
            "reference": reference,
            "entry_id": ENTRY_ID,
        },
    )
    return GrantPlan(entry, (RowWrite("grant_refunds", None, row),), (event,))


@dataclass(frozen=True, slots=True)
class ClosureFacts:
    final_report: str  # the final report's status
    pending: int  # disbursements awaiting approval
    committed: int  # the grant's balance of 8400: committed and not transferred
    payable: int  # the grant's credit balance of 2100: recognised and not paid


def plan_closure(
    book: GrantBook, tranches: Sequence[TrancheFacts], facts: ClosureFacts, *, reason: str, today: date, now: datetime
) -> GrantPlan:
    """Closure: what was committed and not transferred goes back to the window (8200 / 8400), what was
    recognised and not paid is reversed (2100 / 5100), the unpaid tranches are released."""
    step = gw.advance(gw.GRANT, book.status, "close", book.grant_id)
    if facts.final_report != gw.P.ACCEPTED:
        raise Conflict(
            f"the final report is {facts.final_report}; a grant closes after its final report is accepted",
            field="status",
            rule="final-report-accepted",
        )
    if facts.pending:
        raise Conflict(
            f"{facts.pending} disbursement(s) await approval; approve or reject them first",
            field="status",
            rule="no-pending-disbursements",
        )
    lines: list[Line] = []
    if facts.committed:
        released = Money.from_minor(facts.committed, book.currency)
        lines += [
            Line(chart.AVAILABLE, released, window_id=book.window_id),
            grant_line(chart.COMMITTED, -released, book),
        ]
    if facts.payable:
        unpaid = Money.from_minor(facts.payable, book.currency)
        lines += [
            grant_line(chart.GRANTS_PAYABLE, unpaid, book),
            grant_line(chart.TRANSFERS_TO_PARTNERS, -unpaid, book),
        ]
    entry = (
        EntryDraft(
            entry_date=today,
            description=f"Grant {book.grant_id} closed: unused commitment released to the window",
            lines=tuple(lines),
            source_type="grant_closure",
            source_id=str(book.grant_id),
            idempotency_key=f"grant:{book.grant_id}:closure",
        )
        if lines
        else None
    )
    released_tranches = [t for t in tranches if gw.TRANCHE.step(t.status, "release") is not None]
    rows = [
        RowWrite("grant_tranches", t.id, {"status": gw.advance(gw.TRANCHE, t.status, "release").to})
        for t in released_tranches
    ]
    grant_values = {
        "status": step.to,
        "closed_on": today,
        "close_entry_id": ENTRY_ID,
        "status_reason": reason,
        "updated_at": now,
    }
    rows.append(RowWrite("grants", book.grant_id, grant_values))
    event = GrantEvent(
        "grant.close",
        "grant",
        book.grant_id,
        before={"status": book.status},
        after={
            "status": step.to,
            "released": to_json(Money.from_minor(facts.committed, book.currency)),
            "payable_reversed": to_json(Money.from_minor(facts.payable, book.currency)),
            "released_tranches": [t.number for t in released_tranches],
            "entry_id": ENTRY_ID,
            "reason": reason,
        },
    )
    return GrantPlan(entry, tuple(rows), (event,))


@dataclass(frozen=True, slots=True)
class ProposalFacts:
    """What an adopted funding decision makes a grant of."""

    id: int
    state: str
    organisation_id: int
    window_id: int
    title: str
    requested: int  # minor units
    content: ProposalContent
    grant_id: int | None  # the grant already made of it, if any


@dataclass(frozen=True, slots=True)
class ReportTerms:
    """The charter's report schedule."""

    interval_months: int
    due_days: int
    final_due_days: int


@dataclass(frozen=True, slots=True)
class GrantCreation:
    """The rows of a new grant: the grant, then its tranches and reports (each without its grant's id), and
    the audit event's values."""

    grant: Mapping[str, Any]
    tranches: tuple[Mapping[str, Any], ...]
    reports: tuple[Mapping[str, Any], ...]
    after: Mapping[str, Any]


def plan_grant(
    proposal: ProposalFacts,
    *,
    currency: str,
    decision_id: int | None,
    start: date,
    terms: ReportTerms,
    now: datetime,
) -> GrantCreation:
    """The grant an adopted funding decision makes of a proposal under decision or approved: amount, window
    and tranches from the proposal, the budget's indirect support cost rate, ``start`` to the end of the
    proposal's duration, and the charter's report schedule. Posts nothing (the decision posts 8200 -> 8300)."""
    if proposal.state not in {workflow.State.APPROVED, workflow.State.UNDER_DECISION}:
        raise Conflict(
            f"proposal {proposal.id} is {proposal.state}; a grant is made from a proposal under decision or approved",
            field="proposal_id",
            rule="proposal-approved",
        )
    if proposal.grant_id is not None:
        raise Conflict(
            f"proposal {proposal.id} already has grant {proposal.grant_id}",
            field="proposal_id",
            rule="one-grant-per-proposal",
        )
    content = proposal.content
    amount = Money.from_minor(proposal.requested, currency)
    tranches = [(t, Money.of(t.amount, currency)) for t in content.tranches]
    if sum(m.minor for _, m in tranches) != amount.minor or any(not m.is_positive for _, m in tranches):
        raise Conflict(
            "the proposal's tranches do not sum to its amount", field="proposal_id", rule="tranches-sum-to-amount"
        )
    end = add_months(start, content.duration_months)
    rate = isc_rate([(b.category.value, Money.of(b.amount, currency).minor) for b in content.budget])
    ordered = [tm for _, tm in sorted(enumerate(tranches), key=lambda item: (item[1][0].planned_date, item[0]))]
    schedule = report_schedule(
        start, end, interval_months=terms.interval_months, due_days=terms.due_days, final_due_days=terms.final_due_days
    )
    grant = {
        "proposal_id": proposal.id,
        "decision_id": decision_id,
        "organisation_id": proposal.organisation_id,
        "window_id": proposal.window_id,
        "title": proposal.title,
        "amount": amount.minor,
        "currency": currency,
        "isc_rate": str(rate),
        "start_date": start,
        "end_date": end,
        "status": gw.GRANT.initial,
        "created_at": now,
        "updated_at": now,
    }
    tranche_rows = tuple(
        {
            "number": number,
            "amount": money.minor,
            "planned_date": tranche.planned_date,
            "condition": tranche.condition.value,
            "status": gw.TRANCHE.initial,
        }
        for number, (tranche, money) in enumerate(ordered, start=1)
    )
    report_rows = tuple(
        {
            "number": s.number,
            "kind": s.kind,
            "period_start": s.period_start,
            "period_end": s.period_end,
            "due_on": s.due_on,
            "status": gw.REPORT.initial,
        }
        for s in schedule
    )
    after = {
        "proposal_id": proposal.id,
        "decision_id": decision_id,
        "organisation_id": proposal.organisation_id,
        "window_id": proposal.window_id,
        "amount": to_json(amount),
        "isc_rate": str(rate),
        "start_date": start,
        "end_date": end,
        "tranches": [
            {"amount": to_json(m), "planned_date": t.planned_date, "condition": t.condition.value} for t, m in ordered
        ],
        "reports": [{"kind": s.kind, "due_on": s.due_on} for s in schedule],
    }
    return GrantCreation(grant, tranche_rows, report_rows, after)
