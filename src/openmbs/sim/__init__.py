"""Simulation: loan-level monthly performance of a tape (and, later, the lifecycle).

See ``docs/simulation.md``.
"""

from __future__ import annotations

from openmbs.sim._loansim import (
    LOAN_RECORD_SCHEMA,
    POOL_PERIOD_COLUMNS,
    STATUS_CURRENT,
    STATUS_DEFAULTED,
    STATUS_DELINQUENT,
    STATUS_LIQUIDATED,
    STATUS_MATURED,
    STATUS_PREPAID,
    DelinquencyAssumptions,
    LoanSimulator,
    PeriodRecords,
    PoolPeriod,
    SimulationResult,
    pool_table,
)

__all__ = [
    "LOAN_RECORD_SCHEMA",
    "POOL_PERIOD_COLUMNS",
    "STATUS_CURRENT",
    "STATUS_DEFAULTED",
    "STATUS_DELINQUENT",
    "STATUS_LIQUIDATED",
    "STATUS_MATURED",
    "STATUS_PREPAID",
    "DelinquencyAssumptions",
    "LoanSimulator",
    "PeriodRecords",
    "PoolPeriod",
    "SimulationResult",
    "pool_table",
]
