"""Simulation: loan-level monthly performance of a tape, and the deal's whole lifecycle.

See ``docs/simulation.md`` (``LoanSimulator``) and ``docs/demo.md`` (``run_lifecycle``).
"""

from __future__ import annotations

from openmbs.sim._keys import INVESTOR_KEYS_ENV, NodeKeys, dev_chain_keys, node_keys_from_env
from openmbs.sim._lifecycle import (
    LifecycleConfig,
    LifecycleResult,
    ReconCheck,
    exact_remittance,
    loans_path,
    run_lifecycle,
)
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
    "INVESTOR_KEYS_ENV",
    "LOAN_RECORD_SCHEMA",
    "POOL_PERIOD_COLUMNS",
    "STATUS_CURRENT",
    "STATUS_DEFAULTED",
    "STATUS_DELINQUENT",
    "STATUS_LIQUIDATED",
    "STATUS_MATURED",
    "STATUS_PREPAID",
    "DelinquencyAssumptions",
    "LifecycleConfig",
    "LifecycleResult",
    "LoanSimulator",
    "NodeKeys",
    "PeriodRecords",
    "PoolPeriod",
    "ReconCheck",
    "SimulationResult",
    "dev_chain_keys",
    "exact_remittance",
    "loans_path",
    "node_keys_from_env",
    "pool_table",
    "run_lifecycle",
]
