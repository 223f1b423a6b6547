"""Loan tapes: canonical loan records, readers, validation, pool statistics, generator.

See docs/collateral.md for the formats, code mappings, validation rules and formulas.
"""

from __future__ import annotations

from openmbs.collateral._generate import AS_OF, CONFORMING_LIMIT, generate_tape
from openmbs.collateral._read import TapeBatch, iter_tape_batches, read_tape, write_tape
from openmbs.collateral._schema import (
    CANONICAL_FIELDS,
    CANONICAL_SCHEMA,
    CATEGORY_VALUES,
    REQUIRED_FIELDS,
    US_STATE_CODES,
    FieldSpec,
)
from openmbs.collateral._stats import PoolStats, Stratification, StratRow, pool_stats
from openmbs.collateral._tape import LoanTape
from openmbs.collateral._validate import validate_table

__all__ = [
    "AS_OF",
    "CANONICAL_FIELDS",
    "CANONICAL_SCHEMA",
    "CATEGORY_VALUES",
    "CONFORMING_LIMIT",
    "REQUIRED_FIELDS",
    "US_STATE_CODES",
    "FieldSpec",
    "LoanTape",
    "PoolStats",
    "StratRow",
    "Stratification",
    "TapeBatch",
    "generate_tape",
    "iter_tape_batches",
    "pool_stats",
    "read_tape",
    "validate_table",
    "write_tape",
]
