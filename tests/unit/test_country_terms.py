"""The terms a benefitting country's loans are measured against (governance.rules.applicable_terms): the OECD
DAC's discount rates and grant-element thresholds by income group since 2018, the GCFF's groups measured as the
income group they resemble, and the IMF's single rate and threshold; the charter's method setting."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from fundapp.core.config import SettingsError, load_settings
from governance import ConcessionalityMethod, CountryGroup, CountryTerms, applicable_terms

OECD_DAC = {
    CountryGroup.LDC_LIC: ("0.09", "0.45"),
    CountryGroup.LMIC: ("0.07", "0.15"),
    CountryGroup.UMIC: ("0.06", "0.10"),
    CountryGroup.GCFF_A: ("0.07", "0.15"),  # as a lower-middle-income country
    CountryGroup.GCFF_B: ("0.06", "0.10"),  # as an upper-middle-income country
}


@pytest.mark.parametrize(("group", "expected"), OECD_DAC.items())
def test_the_oecd_dac_terms_follow_the_income_group(group: CountryGroup, expected: tuple[str, str]) -> None:
    terms = applicable_terms(group, ConcessionalityMethod.OECD_DAC)
    assert terms == CountryTerms(Decimal(expected[0]), Decimal(expected[1]))


@pytest.mark.parametrize("group", list(CountryGroup))
def test_the_imf_terms_are_five_and_thirty_five_percent_for_every_group(group: CountryGroup) -> None:
    assert applicable_terms(group, ConcessionalityMethod.IMF) == CountryTerms(Decimal("0.05"), Decimal("0.35"))


def test_groups_and_methods_may_be_given_as_stored_strings() -> None:
    assert applicable_terms("gcff_a", "oecd_dac") == applicable_terms(CountryGroup.LMIC, ConcessionalityMethod.OECD_DAC)
    with pytest.raises(ValueError):
        applicable_terms("hic", "oecd_dac")
    with pytest.raises(ValueError):
        applicable_terms("lmic", "world_bank")


def test_every_group_has_terms_under_every_method() -> None:
    for method in ConcessionalityMethod:
        for group in CountryGroup:
            terms = applicable_terms(group, method)
            assert Decimal(0) < terms.discount_rate < 1 and Decimal(0) < terms.threshold < 1


def test_the_charter_method_is_read_from_the_environment_and_checked(tmp_path: Path) -> None:
    assert load_settings({"FUNDAPP_VAR_DIR": str(tmp_path)}).charter.concessionality_method == "oecd_dac"
    chosen = load_settings({"FUNDAPP_VAR_DIR": str(tmp_path), "FUNDAPP_CHARTER_CONCESSIONALITY_METHOD": "imf"})
    assert chosen.charter.concessionality_method == "imf"
    with pytest.raises(SettingsError, match="CONCESSIONALITY_METHOD"):
        load_settings({"FUNDAPP_VAR_DIR": str(tmp_path), "FUNDAPP_CHARTER_CONCESSIONALITY_METHOD": "hipc"})
