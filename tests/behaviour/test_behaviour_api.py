"""The public API of ``openmbs.behaviour`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.behaviour as behaviour
from api_pin import check_public_api

PUBLIC = [
    "Default",
    "Prepayment",
    "abs_to_smm",
    "balance_factor",
    "cdr_to_mdr",
    "cpr_to_psa",
    "cpr_to_smm",
    "historical_abs",
    "historical_cpr",
    "historical_psa",
    "historical_smm",
    "mdr_to_cdr",
    "psa_to_cpr",
    "psa_to_smm",
    "sda_cdr",
    "sda_mdr",
    "smm_to_abs",
    "smm_to_cpr",
]

SIGNATURES = {
    "Prepayment.psa": "(speed: 'npt.ArrayLike') -> 'Prepayment'",
    "Default.cdr": "(cdr: 'npt.ArrayLike') -> 'Default'",
    "cpr_to_smm": "(cpr: 'npt.ArrayLike') -> 'float | FloatArray'",
    "psa_to_smm": "(psa: 'npt.ArrayLike', month: 'npt.ArrayLike') -> 'float | FloatArray'",
}


def test_behaviour_public_api() -> None:
    check_public_api(behaviour, PUBLIC, SIGNATURES)
