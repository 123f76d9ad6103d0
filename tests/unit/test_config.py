"""Settings come from FUNDAPP_* variables, with safe defaults and refusals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from fundapp.core.config import SettingsError, load_settings


def test_defaults_give_an_embedded_database_and_a_kept_development_key(tmp_path: Path) -> None:
    settings = load_settings({"FUNDAPP_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'fundapp.sqlite3'}"
    assert settings.reporting_currency == "USD"
    assert settings.locales == ("en", "es", "fr")
    assert settings.charter.admin_agent_fee_rate == Decimal("0.01")
    assert settings.charter.indirect_support_cost_cap == Decimal("0.07")
    assert settings.charter.arrears_suspend_voting is False
    assert len(settings.secret_key) >= 32
    # The development key is generated once and kept, so sessions survive a restart.
    assert load_settings({"FUNDAPP_VAR_DIR": str(tmp_path)}).secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY is required"):
        load_settings({"FUNDAPP_ENV": "production", "FUNDAPP_VAR_DIR": str(tmp_path)})
    assert not (tmp_path / "secret_key").exists()


def test_production_marks_cookies_secure(tmp_path: Path) -> None:
    settings = load_settings(
        {"FUNDAPP_ENV": "production", "FUNDAPP_SECRET_KEY": "s" * 40, "FUNDAPP_VAR_DIR": str(tmp_path)}
    )
    assert settings.cookie_secure is True


def test_charter_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "FUNDAPP_VAR_DIR": str(tmp_path),
            "FUNDAPP_CHARTER_ADMIN_AGENT_FEE_RATE": "0.02",
            "FUNDAPP_CHARTER_ARREARS_SUSPEND_VOTING": "on",
            "FUNDAPP_CHARTER_ARREARS_YEARS_BEFORE_SUSPENSION": "3",
        }
    )
    assert settings.charter.admin_agent_fee_rate == Decimal("0.02")
    assert settings.charter.arrears_suspend_voting is True
    assert settings.charter.arrears_years_before_suspension == 3
    with pytest.raises(SettingsError, match="ADMIN_AGENT_FEE_RATE"):
        load_settings({"FUNDAPP_VAR_DIR": str(tmp_path), "FUNDAPP_CHARTER_ADMIN_AGENT_FEE_RATE": "1.5"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FUNDAPP_ENV", "staging", "ENV must be"),
        ("FUNDAPP_PORT", "eighty", "PORT"),
        ("FUNDAPP_SECRET_KEY", "short", "at least 32"),
        ("FUNDAPP_REPORTING_CURRENCY", "usd", "REPORTING_CURRENCY"),
        ("FUNDAPP_CHARTER_ARREARS_SUSPEND_VOTING", "perhaps", "ARREARS_SUSPEND_VOTING"),
        ("FUNDAPP_ARGON2_MAX_CONCURRENT", "0", "ARGON2_MAX_CONCURRENT must be at least 1"),
        ("FUNDAPP_DATABASE_LOCK_TIMEOUT_SECONDS", "0", "DATABASE_LOCK_TIMEOUT_SECONDS must be at least 1"),
    ],
)
def test_malformed_settings_are_refused_by_name(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"FUNDAPP_VAR_DIR": str(tmp_path), name: value})


def test_the_pdf_rendering_settings_are_read_and_checked(tmp_path: Path) -> None:
    defaults = load_settings({"FUNDAPP_VAR_DIR": str(tmp_path)})
    assert (defaults.pdf_rendering, defaults.pdf_worker_niceness) == ("pool", 0)
    settings = load_settings(
        {"FUNDAPP_VAR_DIR": str(tmp_path), "FUNDAPP_PDF_RENDERING": "thread", "FUNDAPP_PDF_WORKER_NICENESS": "10"}
    )
    assert (settings.pdf_rendering, settings.pdf_worker_niceness) == ("thread", 10)
    with pytest.raises(SettingsError, match="PDF_RENDERING must be one of pool, thread"):
        load_settings({"FUNDAPP_VAR_DIR": str(tmp_path), "FUNDAPP_PDF_RENDERING": "inline"})
    with pytest.raises(SettingsError, match="PDF_WORKER_NICENESS must be from 0 to 19"):
        load_settings({"FUNDAPP_VAR_DIR": str(tmp_path), "FUNDAPP_PDF_WORKER_NICENESS": "20"})
