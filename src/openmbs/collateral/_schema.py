"""The canonical loan record: one row per loan, held as an Arrow table.

Units follow DESIGN.md: balances in currency units (float64), rates and ratios as
decimals (a 5.5% note rate is ``0.055``, an 80% LTV is ``0.80``), terms and ages in
months. Optional fields may be null; required fields may not.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "CANONICAL_FIELDS",
    "CANONICAL_SCHEMA",
    "CATEGORY_VALUES",
    "FIELD_NAMES",
    "REQUIRED_FIELDS",
    "US_STATE_CODES",
    "FieldSpec",
]


@dataclass(frozen=True)
class FieldSpec:
    """One canonical field: name, Arrow type, whether required, and its meaning."""

    name: str
    type: pa.DataType
    required: bool
    doc: str


CANONICAL_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("loan_id", pa.string(), True, "unique loan identifier"),
    FieldSpec("current_balance", pa.float64(), True, "current unpaid principal balance"),
    FieldSpec("original_balance", pa.float64(), True, "original principal balance"),
    FieldSpec("note_rate", pa.float64(), True, "gross note rate, decimal per year"),
    FieldSpec("net_rate", pa.float64(), False, "net (pass-through) rate, decimal per year"),
    FieldSpec("servicing_fee", pa.float64(), False, "servicing + guarantee fee strip, decimal"),
    FieldSpec("original_term", pa.int32(), True, "original amortization term, months"),
    FieldSpec("remaining_term", pa.int32(), True, "remaining term to maturity, months"),
    FieldSpec("loan_age", pa.int32(), True, "months since first payment (WALA component)"),
    FieldSpec("first_payment_date", pa.date32(), False, "date of first scheduled payment"),
    FieldSpec("maturity_date", pa.date32(), False, "date of last scheduled payment"),
    FieldSpec("amortization_type", pa.string(), True, "'fixed' | 'arm' | 'interest_only'"),
    FieldSpec("credit_score", pa.int32(), False, "borrower credit score at origination (FICO)"),
    FieldSpec("ltv", pa.float64(), False, "original loan-to-value, decimal"),
    FieldSpec("cltv", pa.float64(), False, "original combined loan-to-value, decimal"),
    FieldSpec("dti", pa.float64(), False, "original debt-to-income, decimal"),
    FieldSpec("occupancy", pa.string(), False, "'primary' | 'second_home' | 'investor'"),
    FieldSpec(
        "purpose",
        pa.string(),
        False,
        "'purchase' | 'cash_out_refi' | 'no_cash_out_refi' | 'refi_unspecified'",
    ),
    FieldSpec(
        "property_type",
        pa.string(),
        False,
        "'single_family' | 'condo' | 'pud' | 'manufactured' | 'coop'",
    ),
    FieldSpec("units", pa.int32(), False, "number of units, 1-4"),
    FieldSpec("state", pa.string(), False, "two-letter US state or territory code"),
    FieldSpec("zip3", pa.string(), False, "first three digits of the property ZIP code"),
    FieldSpec("first_time_buyer", pa.bool_(), False, "first-time home buyer flag"),
    FieldSpec("channel", pa.string(), False, "'retail' | 'broker' | 'correspondent' | 'tpo'"),
    FieldSpec(
        "delinquency_status",
        pa.int32(),
        True,
        "months delinquent: 0 current, 1 = 30 days, 2 = 60, 3 = 90+ ...",
    ),
    FieldSpec("mi_pct", pa.float64(), False, "mortgage insurance coverage, decimal"),
    FieldSpec("num_borrowers", pa.int32(), False, "number of borrowers"),
    FieldSpec("seller", pa.string(), False, "seller name"),
    FieldSpec("servicer", pa.string(), False, "servicer name"),
    FieldSpec("msa", pa.string(), False, "metropolitan statistical area code"),
    FieldSpec("origination_date", pa.date32(), False, "note date"),
)

CANONICAL_SCHEMA: pa.Schema = pa.schema(
    [pa.field(f.name, f.type, nullable=not f.required) for f in CANONICAL_FIELDS]
)

REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in CANONICAL_FIELDS if f.required)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in CANONICAL_FIELDS)

CATEGORY_VALUES: dict[str, tuple[str, ...]] = {
    "amortization_type": ("fixed", "arm", "interest_only"),
    "occupancy": ("primary", "second_home", "investor"),
    "purpose": ("purchase", "cash_out_refi", "no_cash_out_refi", "refi_unspecified"),
    "property_type": ("single_family", "condo", "pud", "manufactured", "coop"),
    "channel": ("retail", "broker", "correspondent", "tpo"),
}
"""Allowed values of each categorical canonical field (anything else is an error)."""

US_STATE_CODES: frozenset[str] = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "VI",
        "GU",
        "AS",
        "MP",
    ]
)
"""USPS codes of the 50 states, DC and the five inhabited territories."""
