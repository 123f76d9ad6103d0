"""Settings: one typed object read from ``FUNDAPP_*`` environment variables.

Every setting has a documented default (see docs/architecture.md, "Settings"). The charter settings are
the facility's rules that member states may change by decision; they live here so every domain reads the
same values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "FUNDAPP_"
# Where PDF reports are rendered (Settings.pdf_rendering).
PDF_RENDERINGS = ("pool", "thread")


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the service refuses to start."""


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """The charter's rule for one kind of decision: its default procedure, the procedures the secretariat
    may pick instead, the quorum (a share of eligible members) and the majority a vote needs."""

    kind: str
    default_procedure: str
    allowed_procedures: tuple[str, ...]
    quorum: Decimal
    majority: str  # "simple" (more yes than no) or "qualified" (yes at least two thirds of yes + no)


DEFAULT_DECISION_RULES: tuple[DecisionRule, ...] = (
    DecisionRule("fund_proposal", "vote", ("vote", "no_objection"), Decimal("0.5"), "simple"),
    DecisionRule("admit_member", "vote", ("vote", "consensus"), Decimal("0.5"), "qualified"),
    DecisionRule("set_tier", "vote", ("vote", "no_objection", "consensus"), Decimal("0.5"), "simple"),
    DecisionRule("fee_schedule", "vote", ("vote", "consensus"), Decimal("0.5"), "qualified"),
    DecisionRule("admin_budget", "vote", ("vote", "no_objection", "consensus"), Decimal("0.5"), "simple"),
    DecisionRule("window_allocation", "no_objection", ("vote", "no_objection"), Decimal("0.5"), "simple"),
    DecisionRule("policy", "consensus", ("vote", "no_objection", "consensus"), Decimal("0.5"), "qualified"),
    DecisionRule("concessional_financing", "vote", ("vote", "no_objection"), Decimal("0.5"), "simple"),
    DecisionRule("cancel_concessional", "vote", ("vote", "no_objection"), Decimal("0.5"), "simple"),
    DecisionRule("restructure_concessional", "vote", ("vote", "no_objection"), Decimal("0.5"), "simple"),
    # The list of benefitting countries (docs/governance.md, "Benefitting countries"): no money moves.
    DecisionRule("add_country", "vote", ("vote", "no_objection", "consensus"), Decimal("0.5"), "simple"),
    DecisionRule("remove_country", "vote", ("vote", "no_objection", "consensus"), Decimal("0.5"), "simple"),
    DecisionRule("set_country_group", "vote", ("vote", "no_objection", "consensus"), Decimal("0.5"), "simple"),
)
# How the discount rate and grant-element threshold of a benefitting country are chosen
# (CharterSettings.concessionality_method; governance.rules.applicable_terms).
CONCESSIONALITY_METHODS = ("oecd_dac", "imf")


@dataclass(frozen=True, slots=True)
class CharterSettings:
    """The facility's charter rules (changed by member-state decision, not by code)."""

    # Administrative-agent fee deducted from each deposit.
    admin_agent_fee_rate: Decimal = Decimal("0.01")
    # Cap on implementing organisations' indirect support costs, as a share of direct costs.
    indirect_support_cost_cap: Decimal = Decimal("0.07")
    # Participation is unconditional by default: arrears never suspend a vote unless this is on.
    arrears_suspend_voting: bool = False
    # With the rule on, a member this many full years in arrears loses its vote.
    arrears_years_before_suspension: int = 2
    # Automatic recusal of member states among a proposal's countries.
    auto_recuse_beneficiary_members: bool = False
    # Assessed fees fall due this many days after the assessment.
    fee_due_days: int = 60
    # Above this amount (reporting currency, major units) a disbursement needs a second approver.
    second_approver_threshold: Decimal = Decimal("1000000")
    # Grantee reporting: a progress report every N months of the grant, due D days after its period ends;
    # the final report is due F days after the grant's end date.
    grant_report_interval_months: int = 12
    grant_report_due_days: int = 30
    grant_final_report_due_days: int = 90
    # Decisions: per kind, the default procedure, the procedures allowed, quorum and majority.
    decision_rules: tuple[DecisionRule, ...] = DEFAULT_DECISION_RULES
    # Under the written (no-objection) procedure an objection opens a vote at once, unless this is on,
    # in which case one objection rejects the proposal.
    objection_rejects: bool = False
    # Running tallies stay hidden until a decision closes, unless this is on.
    results_visible_before_close: bool = False
    # Concessional financing: a request whose concessional terms do not reach the benefitting country's
    # grant-element threshold is refused at submission (and at restructuring) unless this is off.
    concessional_threshold_required: bool = True
    # The discount rate and grant-element threshold of concessional loans: "oecd_dac" (by the country's income
    # group, the OECD DAC's since 2018) or "imf" (5% and 35% for every country); docs/governance.md.
    concessionality_method: str = "oecd_dac"

    def decision_rule(self, kind: str) -> DecisionRule:
        for rule in self.decision_rules:
            if rule.kind == kind:
                return rule
        raise KeyError(kind)


@dataclass(frozen=True, slots=True)
class Settings:
    env: str = "development"
    database_url: str = ""
    secret_key: str = ""
    var_dir: Path = Path("var")
    reporting_currency: str = "USD"
    # The facility as reports and IATI files name it; the IATI identifier is the registered
    # organisation identifier (XI-IATI prefix for organisations without a national registry).
    facility_name: str = "Concessional Migration Financing Facility"
    iati_organisation_id: str = "XI-IATI-CMFF"
    locales: tuple[str, ...] = ("en", "es", "fr")
    default_locale: str = "en"
    host: str = "127.0.0.1"
    port: int = 8000
    # Browser sessions: idle and absolute lifetimes, in seconds.
    session_idle_timeout: int = 30 * 60
    session_absolute_timeout: int = 12 * 60 * 60
    session_cookie_name: str = "fundapp_session"
    # Cookies are marked Secure unless running in development over plain HTTP.
    cookie_secure: bool = False
    # Failed-login throttling: at most N failures within the window, per account and per client.
    login_window_seconds: int = 15 * 60
    login_max_failures_per_account: int = 5
    login_max_failures_per_client: int = 20
    # Argon2id cost (RFC 9106 second recommended profile by default); tests lower it.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    # At most this many passwords are hashed or verified at the same moment per process (each takes
    # argon2_memory_kib of memory and a core while it runs); the others wait their turn.
    argon2_max_concurrent: int = 2
    max_request_body_bytes: int = 1_048_576
    # SQLite: how long a writer waits for the write lock (held by another writer) before it is answered 503.
    database_lock_timeout_seconds: int = 30
    # Attachments of one proposal: at most this many files and this many bytes in all (409 beyond).
    max_attachments_per_proposal: int = 20
    max_attachment_bytes_per_proposal: int = 50 * 1024 * 1024
    cors_allowed_origins: tuple[str, ...] = ()
    # Time-driven work (docs/operations.md): the scheduler runs it every interval (a divisor of 60 below a
    # minute, else whole minutes) in `fundapp serve` and `fundapp worker`; off, only `fundapp worker` does.
    scheduler: bool = True
    scheduler_interval_seconds: int = 60
    # E-mail notifications through SMTP; no host: nothing is sent (nor recorded as sent).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "fundapp@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    # The service's address as its users reach it, for the links in e-mails.
    public_url: str = "http://127.0.0.1:8000"
    # Keys the seals of the audit log's and the journal's hash chains (HMAC-SHA256; docs/operations.md, "Audit
    # verification"). Kept outside the database; derived from the secret key when not given.
    chain_key: str = ""
    # Prometheus /metrics: a bearer token that may read them besides auditors (empty: auditors only).
    metrics_token: str = ""
    # A separate database URL for migrations (the tables' owner); the service's URL when empty.
    migration_database_url: str = ""
    # Where the API renders a PDF report: "pool" (worker processes of reports/pdf_pool.py, so the event loop
    # keeps answering) or "thread" (WeasyPrint in a worker thread of the service process); and the value added
    # to the pool's workers' nice value when the pool starts (0: the service's priority).
    pdf_rendering: str = "pool"
    pdf_worker_niceness: int = 0
    charter: CharterSettings = field(default_factory=CharterSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def migration_url(self) -> str:
        """The URL migrations connect with: the owner of the tables (FUNDAPP_MIGRATION_DATABASE_URL)."""
        return self.migration_database_url or self.database_url

    @property
    def chain_key_bytes(self) -> bytes:
        """The key of the hash chains' seals: FUNDAPP_CHAIN_KEY, or one derived from the secret key."""
        if self.chain_key:
            return self.chain_key.encode("utf-8")
        return hmac.new(self.secret_key.encode("utf-8"), b"fundapp chain seal", hashlib.sha256).digest()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _convert(raw: str, target: Any, name: str) -> Any:
    try:
        if target is bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if target is int:
            return int(raw)
        if target is Decimal:
            return Decimal(raw)
        if target is Path:
            return Path(raw)
        if target == tuple[str, ...]:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if target is str:
            return raw
    except (ValueError, InvalidOperation) as exc:
        raise SettingsError(f"{ENV_PREFIX}{name}: cannot read {raw!r} as {target}") from exc
    # Structured settings (the decision rules) are charter text in code, not environment variables.
    raise SettingsError(f"{ENV_PREFIX}{name} cannot be set from the environment")


def _from_env(cls: type[Any], environ: dict[str, str], prefix: str) -> dict[str, Any]:
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = prefix + f.name.upper()
        if key in environ:
            values[f.name] = _convert(environ[key], hints[f.name], f.name.upper())
    return values


def _development_secret(var_dir: Path) -> str:
    """Generate once and keep under var/, so sessions survive restarts on a developer's machine."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment; refuse to start on anything unsafe."""
    env = dict(os.environ if environ is None else environ)
    charter = CharterSettings(**_from_env(CharterSettings, env, ENV_PREFIX + "CHARTER_"))
    values = _from_env(Settings, env, ENV_PREFIX)
    values.pop("charter", None)
    settings = Settings(charter=charter, **values)

    if settings.env not in {"development", "test", "production"}:
        raise SettingsError(f"{ENV_PREFIX}ENV must be development, test or production, not {settings.env!r}")
    var_dir = settings.var_dir.resolve()
    updates: dict[str, Any] = {"var_dir": var_dir}
    if not settings.database_url:
        var_dir.mkdir(parents=True, exist_ok=True)
        updates["database_url"] = f"sqlite+aiosqlite:///{var_dir / 'fundapp.sqlite3'}"
    if not settings.secret_key:
        if settings.is_production:
            raise SettingsError(f"{ENV_PREFIX}SECRET_KEY is required when {ENV_PREFIX}ENV=production")
        updates["secret_key"] = _development_secret(var_dir)
    elif len(settings.secret_key) < 32:
        raise SettingsError(f"{ENV_PREFIX}SECRET_KEY must be at least 32 characters")
    if settings.chain_key and len(settings.chain_key) < 32:
        raise SettingsError(f"{ENV_PREFIX}CHAIN_KEY must be at least 32 characters")
    if settings.metrics_token and len(settings.metrics_token) < 32:
        raise SettingsError(f"{ENV_PREFIX}METRICS_TOKEN must be at least 32 characters")
    if settings.is_production and not settings.cookie_secure:
        updates["cookie_secure"] = True
    if settings.database_lock_timeout_seconds < 1:
        raise SettingsError(f"{ENV_PREFIX}DATABASE_LOCK_TIMEOUT_SECONDS must be at least 1")
    if settings.argon2_max_concurrent < 1:
        raise SettingsError(f"{ENV_PREFIX}ARGON2_MAX_CONCURRENT must be at least 1")
    if settings.pdf_rendering not in PDF_RENDERINGS:
        raise SettingsError(f"{ENV_PREFIX}PDF_RENDERING must be one of {', '.join(PDF_RENDERINGS)}")
    if not 0 <= settings.pdf_worker_niceness <= 19:
        raise SettingsError(f"{ENV_PREFIX}PDF_WORKER_NICENESS must be from 0 to 19")
    if settings.default_locale not in settings.locales:
        raise SettingsError(f"{ENV_PREFIX}DEFAULT_LOCALE must be one of {settings.locales}")
    if not (len(settings.reporting_currency) == 3 and settings.reporting_currency.isupper()):
        raise SettingsError(f"{ENV_PREFIX}REPORTING_CURRENCY must be an ISO 4217 code")
    interval = settings.scheduler_interval_seconds
    if not (0 < interval < 60 and 60 % interval == 0) and not (interval >= 60 and interval % 60 == 0):
        raise SettingsError(
            f"{ENV_PREFIX}SCHEDULER_INTERVAL_SECONDS must divide a minute or be whole minutes, not {interval}"
        )
    if charter.concessionality_method not in CONCESSIONALITY_METHODS:
        raise SettingsError(
            f"{ENV_PREFIX}CHARTER_CONCESSIONALITY_METHOD must be one of {', '.join(CONCESSIONALITY_METHODS)}"
        )
    rate_fields = ("admin_agent_fee_rate", "indirect_support_cost_cap")
    for name in rate_fields:
        rate = getattr(charter, name)
        if not Decimal(0) <= rate < Decimal(1):
            raise SettingsError(f"{ENV_PREFIX}CHARTER_{name.upper()} must be in [0, 1)")
    return replace(settings, **updates)
