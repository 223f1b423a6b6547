"""The public API of ``openmbs.servicing`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.servicing as servicing
from api_pin import check_public_api

PUBLIC = [
    "BUCKETS",
    "CREDIT_EVENT_STATES",
    "FANNIE_ACQUISITION_FIELDS",
    "FANNIE_PERFORMANCE_FIELDS",
    "FREDDIE_SERVICING_FIELDS",
    "HISTORY_RECORD_COLUMNS",
    "HISTORY_SCHEMA",
    "LIVE_STATES",
    "LOANS_SCHEMA",
    "LOSS_COMPONENTS",
    "RECORD_SCHEMA",
    "TERMINAL_STATES",
    "ZERO_BALANCE_STATES",
    "LoanHistory",
    "LoanState",
    "MitigationEstimate",
    "StateMachine",
    "TransitionMatrix",
    "classify_states",
    "estimate_loss_mitigation",
    "estimate_transitions",
    "read_fannie_performance",
    "read_freddie_servicing",
    "records_for_period",
    "scheduled_balance",
]

SIGNATURES = {
    "read_fannie_performance": "(acquisition: 'str | os.PathLike[str] | None', performance: 'str | os.PathLike[str]') -> 'LoanHistory'",
    "read_freddie_servicing": "(origination: 'str | os.PathLike[str] | None', servicing: 'str | os.PathLike[str]') -> 'LoanHistory'",
    "records_for_period": "(history: 'LoanHistory', period: 'int', *, start: 'dt.date | str | None' = None, decimals: 'int' = 6, servicing_fee: 'float' = 0.0, skip_truncated: 'bool' = False) -> 'pa.Table'",
    "estimate_loss_mitigation": "(history: 'LoanHistory') -> 'MitigationEstimate'",
    "estimate_transitions": "(history: 'LoanHistory', by: 'Sequence[str]' = ('age', 'ltv', 'fico')) -> 'TransitionMatrix'",
}


def test_servicing_public_api() -> None:
    check_public_api(servicing, PUBLIC, SIGNATURES)
