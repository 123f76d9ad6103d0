"""Pure rules of proposals: what a submission must satisfy, how review scores consolidate, which files
are accepted. No I/O."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from fundapp.core.errors import FieldError
from ledger import Money
from proposals.schemas import BudgetCategory, ProposalContent

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


def sniff(data: bytes) -> str | None:
    """The file's real type from its content (magic bytes, and the package parts of Office files)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as package:
                names = set(package.namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return DOCX
        if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
            return XLSX
    return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str, media_type: str) -> str:
    """A display name with no path, no control characters, and the extension of its real type."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _UNSAFE.sub("_", base).strip(" .") or "attachment"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem[:100]}{EXTENSIONS[media_type]}"
