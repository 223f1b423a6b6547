"""Loan states of a monthly performance history, and the zero-balance codes that end one.

A loan-month is in exactly one :class:`LoanState`. Live states follow the months past
due reported by the servicer (the MBA convention: one missed installment is 30 days);
terminal states follow the zero-balance code of the month the loan leaves the pool.
The codes are the agencies' published ones (Fannie Mae's Single-Family Loan
Performance glossary, Freddie Mac's SFLLD user guide); docs/servicing.md lists them.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "CREDIT_EVENT_STATES",
    "LIVE_STATES",
    "TERMINAL_STATES",
    "ZERO_BALANCE_STATES",
    "LoanState",
    "classify_states",
]


class LoanState(IntEnum):
    """The state of a loan at the end of a reporting month.

    ``UNKNOWN`` marks a live month whose delinquency the file does not give (Freddie's
    ``XX``, Fannie's ``X`` or a blank); transitions from or to it are not counted.
    """

    CURRENT = 0
    D30 = 1
    D60 = 2
    D90 = 3
    D120P = 4
    FORECLOSURE = 5
    REO = 6
    LIQUIDATED = 7
    PREPAID = 8
    SHORT_SALE = 9
    THIRD_PARTY_SALE = 10
    NOTE_SALE = 11
    REPURCHASED = 12
    UNKNOWN = 13

    @property
    def label(self) -> str:
        """Short display name ("current", "30", "120+", "REO", ...)."""
        return _LABELS[self]


_LABELS = {
    LoanState.CURRENT: "current",
    LoanState.D30: "30",
    LoanState.D60: "60",
    LoanState.D90: "90",
    LoanState.D120P: "120+",
    LoanState.FORECLOSURE: "foreclosure",
    LoanState.REO: "REO",
    LoanState.LIQUIDATED: "liquidated",
    LoanState.PREPAID: "prepaid",
    LoanState.SHORT_SALE: "short sale",
    LoanState.THIRD_PARTY_SALE: "third-party sale",
    LoanState.NOTE_SALE: "note sale",
    LoanState.REPURCHASED: "repurchased",
    LoanState.UNKNOWN: "unknown",
}

#: States of a loan that is still in the pool.
LIVE_STATES: tuple[LoanState, ...] = (
    LoanState.CURRENT,
    LoanState.D30,
    LoanState.D60,
    LoanState.D90,
    LoanState.D120P,
    LoanState.FORECLOSURE,
)

#: States in which a loan has left the pool (absorbing in a transition matrix).
TERMINAL_STATES: tuple[LoanState, ...] = (
    LoanState.REO,
    LoanState.LIQUIDATED,
    LoanState.PREPAID,
    LoanState.SHORT_SALE,
    LoanState.THIRD_PARTY_SALE,
    LoanState.NOTE_SALE,
    LoanState.REPURCHASED,
)

#: Terminal states that end a loan with a credit loss (the liquidations of the report).
CREDIT_EVENT_STATES: tuple[LoanState, ...] = (
    LoanState.REO,
    LoanState.LIQUIDATED,
    LoanState.SHORT_SALE,
    LoanState.THIRD_PARTY_SALE,
    LoanState.NOTE_SALE,
)

#: Zero-balance code -> terminal state, per agency. Fannie Mae: 01 prepaid or matured,
#: 02 third-party sale, 03 short sale, 06 repurchased, 09 deed-in-lieu or REO, 15 note
#: sale, 16 reperforming loan sale. Freddie Mac: 01 prepaid or matured, 02 third-party
#: sale, 03 short sale or charge-off, 09 REO disposition, 15 whole-loan (note) sale,
#: 16 reperforming loan sale, 96 repurchased before disposition.
ZERO_BALANCE_STATES: dict[str, dict[str, LoanState]] = {
    "fannie": {
        "01": LoanState.PREPAID,
        "02": LoanState.THIRD_PARTY_SALE,
        "03": LoanState.SHORT_SALE,
        "06": LoanState.REPURCHASED,
        "09": LoanState.REO,
        "15": LoanState.NOTE_SALE,
        "16": LoanState.NOTE_SALE,
    },
    "freddie": {
        "01": LoanState.PREPAID,
        "02": LoanState.THIRD_PARTY_SALE,
        "03": LoanState.SHORT_SALE,
        "09": LoanState.REO,
        "15": LoanState.NOTE_SALE,
        "16": LoanState.NOTE_SALE,
        "96": LoanState.REPURCHASED,
    },
}


def classify_states(
    delinquency: npt.NDArray[np.int16],
    terminal: npt.NDArray[np.int8],
    in_foreclosure: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int8]:
    """The state of every loan-month (arrays in, array out).

    Parameters
    ----------
    delinquency : int array
        Months past due; negative when unknown.
    terminal : int8 array
        The terminal :class:`LoanState` of a zero-balance month, -1 on live months.
    in_foreclosure : bool array
        Live months the file reports in foreclosure (after a foreclosure referral or
        sale date, or Freddie's ``RA`` status) that have not left the pool.

    Returns
    -------
    numpy.ndarray
        ``int8`` state codes.

    Examples
    --------
    >>> import numpy as np
    >>> classify_states(np.array([0, 1, 5, -1, 2], np.int16),
    ...     np.array([-1, -1, -1, -1, 8], np.int8), np.zeros(5, bool)).tolist()
    [0, 1, 4, 13, 8]
    """
    dq = delinquency.astype(np.int16)
    state = np.where(dq < 0, LoanState.UNKNOWN, np.minimum(dq, 4)).astype(np.int8)
    state[in_foreclosure] = LoanState.FORECLOSURE
    ended = terminal >= 0
    state[ended] = terminal[ended]
    return state
