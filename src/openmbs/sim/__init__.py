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
    legacy_loans_path,
    loans_path,
    read_loans,
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
from openmbs.sim._replay import HistoryRecords, replay
from openmbs.sim._servicing_cash import ServicingTerms
from openmbs.sim._stages import FileRecords, LifecycleRun, RecordSource, SimulatedRecords
from openmbs.sim._states import LossMitigation, simulator_matrix

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
    "FileRecords",
    "HistoryRecords",
    "LifecycleConfig",
    "LifecycleResult",
    "LifecycleRun",
    "LoanSimulator",
    "LossMitigation",
    "NodeKeys",
    "PeriodRecords",
    "PoolPeriod",
    "ReconCheck",
    "RecordSource",
    "ServicingTerms",
    "SimulatedRecords",
    "SimulationResult",
    "dev_chain_keys",
    "exact_remittance",
    "legacy_loans_path",
    "loans_path",
    "node_keys_from_env",
    "pool_table",
    "read_loans",
    "replay",
    "run_lifecycle",
    "simulator_matrix",
]
