"""The public API of openmbs.behaviour changes only on purpose."""

from __future__ import annotations

import openmbs.behaviour as behaviour


def test_public_names() -> None:
    assert behaviour.__all__ == sorted(behaviour.__all__)
    assert set(behaviour.__all__) == {
        "Default", "Prepayment", "abs_to_smm", "balance_factor", "cdr_to_mdr", "cpr_to_psa",
        "cpr_to_smm", "historical_abs", "historical_cpr", "historical_psa", "historical_smm",
        "mdr_to_cdr", "psa_to_cpr", "psa_to_smm", "sda_cdr", "sda_mdr", "smm_to_abs",
        "smm_to_cpr",
    }
    for name in behaviour.__all__:
        assert getattr(behaviour, name).__doc__
