"""Behaviour assumptions: prepayment (SMM, CPR, PSA, ABS) and default (MDR, CDR, SDA).

Rates are decimals; PSA and SDA speeds are percent of the benchmark curve. Conventions
follow the SIFMA Uniform Practices, Standard Formulas (Ch. SF); see ``docs/cashflow.md``.
"""

from __future__ import annotations

from openmbs.behaviour._assumptions import Default, Prepayment
from openmbs.behaviour._rates import (
    abs_to_smm,
    balance_factor,
    cdr_to_mdr,
    cpr_to_psa,
    cpr_to_smm,
    historical_abs,
    historical_cpr,
    historical_psa,
    historical_smm,
    mdr_to_cdr,
    psa_to_cpr,
    psa_to_smm,
    sda_cdr,
    sda_mdr,
    smm_to_abs,
    smm_to_cpr,
)

__all__ = [
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
