"""Servicing: real monthly loan histories, loan states, realised losses, roll rates.

See docs/servicing.md for the file layouts, the state machine and the loss formulas.
"""

from __future__ import annotations

from openmbs.servicing._fannie import (
    FANNIE_ACQUISITION_FIELDS,
    FANNIE_PERFORMANCE_FIELDS,
    read_fannie_performance,
)
from openmbs.servicing._freddie import FREDDIE_SERVICING_FIELDS, read_freddie_servicing
from openmbs.servicing._history import (
    HISTORY_SCHEMA,
    LOANS_SCHEMA,
    LOSS_COMPONENTS,
    LoanHistory,
    scheduled_balance,
)
from openmbs.servicing._machine import StateMachine
from openmbs.servicing._mitigation import MitigationEstimate, estimate_loss_mitigation
from openmbs.servicing._records import HISTORY_RECORD_COLUMNS, RECORD_SCHEMA, records_for_period
from openmbs.servicing._states import (
    CREDIT_EVENT_STATES,
    LIVE_STATES,
    TERMINAL_STATES,
    ZERO_BALANCE_STATES,
    LoanState,
    classify_states,
)
from openmbs.servicing._transitions import BUCKETS, TransitionMatrix, estimate_transitions

__all__ = [
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
