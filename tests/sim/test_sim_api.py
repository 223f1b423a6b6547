"""The public API of ``openmbs.sim`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.sim as sim
from api_pin import check_public_api

PUBLIC = [
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

SIGNATURES = {
    "run_lifecycle": "(out: 'str | os.PathLike[str]', config: 'LifecycleConfig | None' = None, *, fresh: 'bool' = False, progress: 'Progress | None' = None, log: 'Callable[[str], None] | None' = None, write_outputs: 'bool' = True, keys: 'NodeKeys | None' = None) -> 'LifecycleResult'",
    "LifecycleConfig": "(tape: 'str | None' = None, deal: 'str' = 'four_tranche', loans: 'int' = 2000, investors: 'int' = 20, months: 'int' = 360, psa: 'float' = 150.0, sda: 'float' = 100.0, severity: 'float' = 0.35, lag: 'int' = 6, seed: 'int' = 7, chain: 'bool' = True, trade_probability: 'float' = 0.3, quorum: 'int' = 3, attestors: 'int' = 5, test_waterfall: 'bool' = False, verify_limit: 'int' = 64, rpc: 'str | None' = None, advance: 'str' = 'none', acquisition: 'str | None' = None, performance: 'str | None' = None, cutoff: 'str | None' = None, transitions: 'str | None' = None, servicing: 'ServicingTerms | None' = None, loan_sales: 'bool' = False, mitigation: 'str | None' = None) -> None",
}


def test_sim_public_api() -> None:
    check_public_api(sim, PUBLIC, SIGNATURES)
