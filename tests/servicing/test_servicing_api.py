"""The public API of openmbs.servicing changes only on purpose."""

from __future__ import annotations

import openmbs.servicing as servicing


def test_public_names() -> None:
    assert set(servicing.__all__) == {
        "BUCKETS", "CREDIT_EVENT_STATES", "FANNIE_ACQUISITION_FIELDS",
        "FANNIE_PERFORMANCE_FIELDS", "FREDDIE_SERVICING_FIELDS", "HISTORY_SCHEMA",
        "LIVE_STATES", "LOANS_SCHEMA", "LOSS_COMPONENTS", "RECORD_SCHEMA", "TERMINAL_STATES",
        "ZERO_BALANCE_STATES", "LoanHistory", "LoanState", "StateMachine", "TransitionMatrix",
        "classify_states", "estimate_transitions", "read_fannie_performance",
        "read_freddie_servicing", "records_for_period", "scheduled_balance",
    }  # fmt: skip
    assert len(servicing.__all__) == len(set(servicing.__all__))
    for name in servicing.__all__:
        obj = getattr(servicing, name)
        if callable(obj):
            assert obj.__doc__
