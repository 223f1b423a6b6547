"""The public API of ``openmbs.rates`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.rates as rates
from api_pin import check_public_api

PUBLIC = [
    "HullWhite",
    "HullWhitePaths",
    "mortgage_rate_paths",
]

SIGNATURES = {
    "HullWhite": "(curve: 'Any', a: 'float', sigma: 'float') -> None",
    "mortgage_rate_paths": "(model: 'HullWhite', paths: 'HullWhitePaths', *, tenor_years: 'float' = 10.0, spread_bp: 'float' = 170.0, frequency: 'int' = 2) -> 'FloatArray'",
}


def test_rates_public_api() -> None:
    check_public_api(rates, PUBLIC, SIGNATURES)
