"""One month of a real history as the loan records the servicer bridge consumes.

The output has the columns and types of ``openmbs.sim.LOAN_RECORD_SCHEMA`` (the
simulator's loan records, which ``openmbs.agents.record_columns`` maps to the oracle's
leaves), in integer base units, so that a replay can feed real months where the demo
feeds simulated ones. Every record satisfies, exactly in integers::

    balance_begin - scheduled_principal - prepaid_principal - default_writeoff
        == balance_end
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.errors import DataIntegrityError, InputError
from openmbs.servicing._history import LoanHistory, date_of, month_of
from openmbs.servicing._states import CREDIT_EVENT_STATES, LIVE_STATES, LoanState
from openmbs.servicing._text import month_index

__all__ = ["RECORD_SCHEMA", "records_for_period"]

#: The loan record schema of ``openmbs.sim.LOAN_RECORD_SCHEMA`` (a test keeps the two equal).
RECORD_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("loan_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("period", pa.int32(), nullable=False),
        pa.field("status", pa.int8(), nullable=False),
        pa.field("delinquency", pa.int8(), nullable=False),
        *[
            pa.field(name, pa.int64(), nullable=False)
            for name in (
                "balance_begin", "scheduled_principal", "prepaid_principal", "curtailment",
                "interest", "net_interest", "servicing_fee", "advanced_principal",
                "advanced_interest", "default_writeoff", "loss", "recovery", "balance_end",
            )
        ],
        pa.field("default_flag", pa.bool_(), nullable=False),
        pa.field("liquidation_flag", pa.bool_(), nullable=False),
        pa.field("advance_reimbursed", pa.int64(), nullable=False),
        pa.field("prepayment_penalty", pa.int64(), nullable=False),
        pa.field("late_fee", pa.int64(), nullable=False),
    ]
)  # fmt: skip

# the simulator's status codes (openmbs.sim.STATUS_*)
_CURRENT, _DELINQUENT, _DEFAULTED, _LIQUIDATED, _PREPAID, _MATURED = range(6)
_LIVE = [int(s) for s in LIVE_STATES] + [int(LoanState.UNKNOWN)]
_CREDIT = [int(s) for s in CREDIT_EVENT_STATES]
_DEFAULTED_STATES = [int(LoanState.D120P), int(LoanState.FORECLOSURE)]


def records_for_period(
    history: LoanHistory,
    period: int,
    *,
    start: dt.date | str | None = None,
    decimals: int = 6,
    servicing_fee: float = 0.0,
    skip_truncated: bool = False,
) -> pa.Table:
    """The loan records of month ``start + period`` of a real history.

    Parameters
    ----------
    history : LoanHistory
        A history from one of the readers.
    period : int
        1 is the first month after ``start`` (the simulator's numbering).
    start : date or str, optional
        The cut-off month (``"2009-04"``); default the history's first month.
    decimals : int, default 6
        Decimals of the settlement asset (``10**decimals`` units per currency unit).
    servicing_fee : float, default 0.0
        Servicing and guarantee strip (decimal a year) taken from the gross interest.
    skip_truncated : bool, default False
        Leave out, in every period, the loans whose history stops while they are live
        (no zero-balance month, last month before the file's last month: a truncated
        extract). Without it such a loan is an error in the month after its last row.

    Returns
    -------
    pyarrow.Table
        One row per loan live at the end of the previous month, schema
        :data:`RECORD_SCHEMA`; ``loan_id`` indices are rows of ``history.loans``.

    Raises
    ------
    InputError
        ``period < 1``, or a bad ``start``.
    DataIntegrityError
        A loan live in the previous month has no row this month, or a UPB is unknown
        (masked with no acquisition file to rebuild it).

    Notes
    -----
    * ``balance_begin`` is last month's UPB; a modification that capitalises arrears
      raises it by ``capitalised_arrears`` (so the pool's beginning balance then exceeds
      the previous ending balance by that amount).
    * A live loan's fall in UPB is split into the scheduled principal of one level
      payment (at the note rate over the remaining term, times the installments paid:
      ``previous months past due + 1 - months past due``) and a curtailment.
    * Prepaid (and repurchased) loans pay their UPB as ``prepaid_principal``; a credit
      event writes the UPB off: ``loss = min(realised loss, UPB)`` (the principal part of
      the agency's loss; accrued interest and expenses beyond the UPB are not principal),
      ``recovery = UPB - loss``. The loss is known from the disposition, possibly months
      later: a replay reports it in the zero-balance month, with hindsight.
    * ``interest`` is the gross interest of the installments paid on last month's
      balance; nothing is advanced (actual/actual).
    """
    if not isinstance(period, int) or period < 1:
        raise InputError(f"period must be an integer >= 1, got {period!r}")
    if start is None:
        m0 = month_of(history.first_month)
    elif isinstance(start, dt.date):
        m0 = month_of(start)
    else:
        try:
            m0 = month_index(start)
        except ValueError as exc:
            raise InputError(f"start {start!r}: {exc}") from None
    month_t = m0 + period
    months = history.months
    mo = months.column("month").to_numpy().astype("datetime64[M]").astype(np.int64)
    mo = mo + 1970 * 12
    loan = np.asarray(months.column("loan_id").to_numpy(zero_copy_only=False))
    state = months.column("state").to_numpy().astype(np.int64)
    at_prev = (mo == month_t - 1) & np.isin(state, _LIVE)
    if skip_truncated:
        last = np.r_[loan[1:] != loan[:-1], True]
        cut = last & np.isin(state, _LIVE) & (mo < mo.max())
        at_prev &= ~np.isin(loan, loan[cut])
    prev = np.flatnonzero(at_prev)
    nxt = prev + 1
    ok = (nxt < len(loan)) & (loan[np.minimum(nxt, len(loan) - 1)] == loan[prev])
    ok &= mo[np.minimum(nxt, len(loan) - 1)] == month_t
    if not ok.all():
        bad = prev[~ok][0]
        raise DataIntegrityError(
            f"file {history.source!r}: loan {loan[bad]!r} is live in "
            f"{date_of(month_t - 1):%m/%Y} but has no row for {date_of(month_t):%m/%Y} "
            "(a gap, or a truncated file: see skip_truncated)"
        )

    def col(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(months.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    upb = col("upb")
    for ix in (prev, nxt):
        if np.isnan(upb[ix]).any():
            bad = ix[np.isnan(upb[ix])][0]
            raise DataIntegrityError(
                f"file {history.source!r}: loan {loan[bad]!r} has no UPB in "
                f"{date_of(int(mo[bad])):%m/%Y} (masked; read it with the acquisition file)"
            )
    scale = 10.0**decimals

    def units(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.rint(np.nan_to_num(x) * scale).astype(np.int64)

    s1 = state[nxt]
    dq0 = np.maximum(col("delinquency")[prev], 0)
    dq1 = np.maximum(col("delinquency")[nxt], 0)
    rate = np.nan_to_num(col("note_rate")[nxt])
    rate0 = np.nan_to_num(col("note_rate")[prev])
    rem = np.maximum(np.nan_to_num(col("remaining_term")[prev]), 1)
    live1 = np.isin(s1, _LIVE)
    credit = np.isin(s1, _CREDIT)
    paid_off = (s1 == int(LoanState.PREPAID)) | (s1 == int(LoanState.REPURCHASED))

    b0 = units(upb[prev] + col("capitalised_arrears")[nxt])
    zb_upb = units(upb[nxt])
    b1 = np.where(live1, zb_upb, 0)
    installments = np.where(live1, np.maximum(dq0 + 1 - dq1, 0), np.where(paid_off, dq0 + 1, 0))
    r = rate0 / 12.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        payment = np.where(r > 0, b0 * r / (1.0 - (1.0 + r) ** (-rem)), b0 / rem)
    one = np.clip(np.rint(payment - b0 * r), 0, None).astype(np.int64)
    drop = np.maximum(b0 - np.where(live1, b1, np.where(paid_off, zb_upb, b0)), 0)
    sched = np.minimum(one * installments, drop)
    sched = np.where(credit, 0, sched)
    writeoff = np.where(credit, b0, 0)
    prepaid = b0 - sched - writeoff - b1
    # a live loan whose UPB rose without a modification: nothing paid, balance as reported
    rose = prepaid < 0
    b0 = np.where(rose, b1, b0)
    prepaid = np.where(rose, 0, prepaid)
    curtailment = np.where(live1, prepaid, 0)

    # the loss of a credit event is on the loan's zero-balance month, which may come
    # after the month it left the pool (Freddie's REO acquisition, status RA)
    every = col("realised_loss")
    known = np.flatnonzero(~np.isnan(every))
    by_loan = dict(zip(loan[known].tolist(), every[known].tolist(), strict=True))
    realised = np.array([by_loan.get(k, np.nan) for k in loan[nxt].tolist()], dtype=np.float64)
    loss = np.where(credit, np.minimum(np.maximum(units(realised), 0), writeoff), 0)
    loss = np.where(credit & np.isnan(realised), 0, loss)
    recovery = writeoff - loss
    interest = np.rint(installments * b0 * r).astype(np.int64)
    net = np.rint(installments * b0 * np.maximum(rate0 - servicing_fee, 0) / 12.0).astype(np.int64)
    net = np.minimum(net, interest)

    status = np.full(len(prev), _CURRENT, dtype=np.int8)
    status[live1 & (s1 >= int(LoanState.D30)) & (s1 <= int(LoanState.D90))] = _DELINQUENT
    status[np.isin(s1, _DEFAULTED_STATES)] = _DEFAULTED
    status[credit] = _LIQUIDATED
    status[paid_off] = _PREPAID
    status[paid_off & (col("remaining_term")[nxt] <= 1)] = _MATURED
    was_defaulted = np.isin(state[prev], _DEFAULTED_STATES)
    default_flag = (np.isin(s1, _DEFAULTED_STATES) | credit) & ~was_defaulted
    delinquency = np.where(live1, np.minimum(dq1, 3), 0).astype(np.int8)
    del rate

    lid = np.asarray(history.loans.column("loan_id").to_numpy(zero_copy_only=False))
    order = np.argsort(lid)
    rows = order[np.searchsorted(lid, loan[prev], sorter=order)].astype(np.int32)
    dictionary = history.loans.column("loan_id").combine_chunks().cast(pa.string())
    zeros = np.zeros(len(prev), dtype=np.int64)
    return pa.table(
        {
            "loan_id": pa.DictionaryArray.from_arrays(pa.array(rows), dictionary),
            "period": np.full(len(prev), period, dtype=np.int32),
            "status": status,
            "delinquency": delinquency,
            "balance_begin": b0,
            "scheduled_principal": sched,
            "prepaid_principal": prepaid,
            "curtailment": curtailment,
            "interest": interest,
            "net_interest": net,
            "servicing_fee": interest - net,
            "advanced_principal": zeros,
            "advanced_interest": zeros,
            "default_writeoff": writeoff,
            "loss": loss,
            "recovery": recovery,
            "balance_end": b1,
            "default_flag": default_flag,
            "liquidation_flag": credit,
            "advance_reimbursed": zeros,
            "prepayment_penalty": zeros,
            "late_fee": zeros,
        },
        schema=RECORD_SCHEMA,
    )
