"""A pool's monthly loan history: one row per loan-month, typed, with states and losses.

Both readers (Fannie Mae, Freddie Mac) build the same columns, then call
:func:`build_history`, which sorts the rows, rejects duplicate loan-months, rebuilds the
UPB the file masks, marks modifications, classifies every month's state and computes
the realised loss of every credit event. All of it is array code over the whole file.

Units: balances and amounts in currency units (float64), rates as decimals, ages and
terms in months; months are ``date32`` (the first of the month).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.errors import TapeError
from openmbs.servicing._states import CREDIT_EVENT_STATES, classify_states

__all__ = [
    "FANNIE_GUARANTEE_FEE",
    "HISTORY_SCHEMA",
    "LOANS_SCHEMA",
    "LOSS_COMPONENTS",
    "LoanHistory",
    "build_history",
    "month_dates",
    "scheduled_balance",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The servicing and guarantee strip Fannie Mae deducts from the note rate when it
#: accrues delinquent interest in its net-loss calculation (35 basis points).
FANNIE_GUARANTEE_FEE = 0.0035

#: Expense and proceeds columns of a zero-balance month (currency units; null where
#: the file leaves them blank). Expenses add to a loss, proceeds reduce it.
LOSS_COMPONENTS: tuple[tuple[str, int], ...] = (
    ("foreclosure_costs", +1),
    ("preservation_repair_costs", +1),
    ("asset_recovery_costs", +1),
    ("holding_costs", +1),
    ("taxes", +1),
    ("principal_forgiveness", +1),
    ("net_sale_proceeds", -1),
    ("mi_proceeds", -1),
    ("repurchase_proceeds", -1),
    ("other_proceeds", -1),
)

_DATE = pa.date32()

#: One row per loan-month, sorted by loan then month.
HISTORY_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("month", _DATE, nullable=False),
        pa.field("loan_age", pa.int32()),
        pa.field("remaining_term", pa.int32()),
        pa.field("note_rate", pa.float64()),
        pa.field("upb", pa.float64()),
        pa.field("upb_rebuilt", pa.bool_(), nullable=False),
        pa.field("delinquency", pa.int16(), nullable=False),
        pa.field("state", pa.int8(), nullable=False),
        pa.field("modified", pa.bool_(), nullable=False),
        pa.field("modification", pa.bool_(), nullable=False),
        pa.field("capitalised_arrears", pa.float64(), nullable=False),
        pa.field("non_interest_bearing_upb", pa.float64()),
        pa.field("assistance", pa.string(), nullable=False),
        pa.field("zero_balance_code", pa.string()),
        pa.field("zero_balance_month", _DATE),
        pa.field("last_paid_installment", _DATE),
        pa.field("foreclosure_date", _DATE),
        pa.field("disposition_date", _DATE),
        *[pa.field(name, pa.float64()) for name, _ in LOSS_COMPONENTS],
        pa.field("delinquent_accrued_interest", pa.float64()),
        pa.field("realised_loss", pa.float64()),
        pa.field("reported_loss", pa.float64()),
    ]
)

#: One row per loan: what the origination (acquisition) file says.
LOANS_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("original_balance", pa.float64()),
        pa.field("original_rate", pa.float64()),
        pa.field("original_term", pa.int32()),
        pa.field("first_payment", _DATE),
        pa.field("ltv", pa.float64()),
        pa.field("credit_score", pa.int32()),
        pa.field("property_state", pa.string()),
    ]
)

_EPOCH = dt.date(1970, 1, 1)


def month_dates(m: npt.NDArray[np.int32]) -> pa.Array:
    """Month index (``year * 12 + month - 1``; -1 = none) -> date32 (null for -1)."""
    m = np.asarray(m, dtype=np.int64)
    none = m < 0
    years = np.where(none, 1970, m // 12)
    months = np.where(none, 1, m % 12 + 1)
    days = _fast_days(years, months)
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=none).cast(_DATE)


def _fast_days(years: IntArray, months: IntArray) -> IntArray:
    ym = (years - 1970) * 12 + (months - 1)
    days: IntArray = ym.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return days


def month_of(d: dt.date) -> int:
    """A date's month index."""
    return d.year * 12 + d.month - 1


def date_of(month: int) -> dt.date:
    """A month index's first day."""
    return dt.date(month // 12, month % 12 + 1, 1)


def scheduled_balance(
    original: FloatArray, annual_rate: FloatArray, term: IntArray, payments: IntArray
) -> FloatArray:
    """Balance of a level-payment loan after ``payments`` installments (arrays in/out).

    ``B_k = B0 [(1+r)^n - (1+r)^k] / [(1+r)^n - 1]`` with ``r`` the monthly rate
    (``annual_rate / 12``), ``n`` the term; ``B0 (1 - k/n)`` when ``r = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> float(scheduled_balance(np.array([1200.0]), np.array([0.0]), np.array([12]),
    ...     np.array([3]))[0])
    900.0
    """
    b0 = np.asarray(original, dtype=np.float64)
    r = np.asarray(annual_rate, dtype=np.float64) / 12.0
    n = np.maximum(np.asarray(term, dtype=np.float64), 1.0)
    k = np.clip(np.asarray(payments, dtype=np.float64), 0.0, n)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        g_n = np.power(1.0 + r, n)
        g_k = np.power(1.0 + r, k)
        amort = b0 * (g_n - g_k) / (g_n - 1.0)
    out: FloatArray = np.where(r > 0, amort, b0 * (1.0 - k / n))
    return out


@dataclass(frozen=True, eq=False)
class LoanHistory:
    """A pool's monthly loan performance, as read from an agency's files.

    Attributes
    ----------
    agency : str
        ``"fannie"`` or ``"freddie"``.
    source : str
        The performance (servicing) file.
    months : pyarrow.Table
        One row per loan-month, schema :data:`HISTORY_SCHEMA`, sorted by loan and month.
    loans : pyarrow.Table
        One row per loan, schema :data:`LOANS_SCHEMA` (nulls where there was no
        origination file).
    """

    agency: str
    source: str
    months: pa.Table
    loans: pa.Table

    @property
    def n_loans(self) -> int:
        """Number of loans with at least one month."""
        return int(self.loans.num_rows)

    @property
    def first_month(self) -> dt.date:
        """The earliest reporting month."""
        first: dt.date = self.months.column("month").to_numpy().min().astype(dt.date)
        return first

    @property
    def last_month(self) -> dt.date:
        """The latest reporting month."""
        last: dt.date = self.months.column("month").to_numpy().max().astype(dt.date)
        return last

    def credit_events(self) -> pa.Table:
        """The zero-balance months that end a loan with a credit loss (REO, short sale,
        third-party sale, note sale), with their loss components and realised loss."""
        state = self.months.column("state").to_numpy()
        mask = np.isin(state, [int(s) for s in CREDIT_EVENT_STATES])
        mask &= ~self.months.column("zero_balance_code").is_null().to_numpy(zero_copy_only=False)
        return self.months.filter(pa.array(mask))


def build_history(
    *,
    agency: str,
    source: str,
    cols: dict[str, Any],
    loans: pa.Table,
    terminal: npt.NDArray[np.int8],
    in_foreclosure: npt.NDArray[np.bool_],
) -> LoanHistory:
    """Finish a history from a reader's raw columns (file order).

    ``cols`` holds numpy arrays: ``loan_id`` (str), ``month`` (month index), ``loan_age``,
    ``remaining_term`` (float, NaN = blank), ``note_rate`` (decimal), ``upb`` (NaN =
    masked), ``delinquency`` (int, -1 unknown), ``modified`` (bool), ``assistance``
    (str), ``zero_balance_code`` (str, "" none), the month columns
    ``zero_balance_month``, ``last_paid_installment``, ``foreclosure_date``,
    ``disposition_date`` (month index, -1 none), the :data:`LOSS_COMPONENTS`,
    ``non_interest_bearing_upb``, and optionally ``delinquent_accrued_interest`` and
    ``reported_loss`` (given by the file). Rows are renumbered by the sort; errors name
    the row of the file.
    """
    ids = cols["loan_id"]
    n = len(ids)
    uniq, code = np.unique(ids, return_inverse=True)
    month = np.asarray(cols["month"], dtype=np.int64)
    order = np.lexsort((month, code))
    code_s, month_s = code[order], month[order]
    same = (code_s[1:] == code_s[:-1]) & (month_s[1:] == month_s[:-1])
    if same.any():
        j = int(np.flatnonzero(same)[0])
        row = int(max(order[j], order[j + 1])) + 1
        raise TapeError(
            f"loan {uniq[code_s[j]]!r} has two rows for the same month (the other is row "
            f"{int(min(order[j], order[j + 1])) + 1})",
            file=source,
            row=row,
            field="monthly reporting period",
            value=date_of(int(month_s[j])).strftime("%m/%Y"),
        )

    def s(name: str) -> Any:
        return np.asarray(cols[name])[order]

    # Loan attributes, aligned to rows.
    lid = loans.column("loan_id").to_numpy(zero_copy_only=False).astype(str)
    pos = {k: i for i, k in enumerate(lid.tolist())}
    loan_row = np.array([pos.get(k, -1) for k in uniq.tolist()], dtype=np.int64)
    per_row = loan_row[code_s]

    def loan_attr(name: str) -> FloatArray:
        vals = np.asarray(loans.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
        out = np.full(n, np.nan)
        have = per_row >= 0
        out[have] = vals[per_row[have]]
        return out

    first = np.ones(n, dtype=bool)
    first[1:] = code_s[1:] != code_s[:-1]
    age = s("loan_age").astype(np.float64)
    dq = s("delinquency").astype(np.int16)
    rate = s("note_rate").astype(np.float64)
    upb = s("upb").astype(np.float64).copy()
    zb_code = s("zero_balance_code").astype(str)
    is_zb = zb_code != ""

    # UPB masked by the file: the scheduled balance after the installments actually
    # paid (loan age less months past due), from the note's original terms.
    masked = np.isnan(upb)
    o_bal, o_rate, o_term = (
        loan_attr("original_balance"),
        loan_attr("original_rate"),
        loan_attr("original_term"),
    )
    can = masked & ~np.isnan(o_bal) & ~np.isnan(o_rate) & ~np.isnan(o_term) & ~np.isnan(age)
    paid = np.maximum(age - np.maximum(dq, 0), 0).astype(np.int64)
    rebuilt = np.zeros(n, dtype=bool)
    if can.any():
        upb[can] = np.round(
            scheduled_balance(o_bal[can], o_rate[can], o_term[can].astype(np.int64), paid[can]), 2
        )
        rebuilt[can] = True

    # Modifications: the month the flag turns on, or the rate or the term changes while
    # it is on; arrears capitalised = any rise of the UPB in a modified month.
    modified = s("modified").astype(bool)
    prev_upb = np.r_[np.nan, upb[:-1]]
    prev_rate = np.r_[np.nan, rate[:-1]]
    prev_mod = np.r_[False, modified[:-1]]
    rem = s("remaining_term").astype(np.float64)
    prev_rem = np.r_[np.nan, rem[:-1]]
    prev_upb[first], prev_rate[first], prev_mod[first], prev_rem[first] = (
        np.nan,
        np.nan,
        False,
        np.nan,
    )
    with np.errstate(invalid="ignore"):
        rate_change = np.abs(rate - prev_rate) > 1e-9
        term_jump = rem > prev_rem
        rise = np.where(modified & (upb > prev_upb), upb - prev_upb, 0.0)
    modification = modified & (~prev_mod | rate_change | term_jump) & ~first | (modified & first)
    capitalised = np.round(np.nan_to_num(rise), 2)

    # States: the foreclosure date (given on the zero-balance month) holds for the
    # loan's earlier months on or after it.
    fc = s("foreclosure_date").astype(np.int64)
    fc_loan = np.full(len(uniq), -1, dtype=np.int64)
    has_fc = fc >= 0
    np.maximum.at(fc_loan, code_s[has_fc], fc[has_fc])
    fc_row = fc_loan[code_s]
    term_s = terminal[order]
    in_fc = in_foreclosure[order] | ((fc_row >= 0) & (month_s >= fc_row) & (term_s < 0))
    state = classify_states(dq, term_s, in_fc)

    # Realised loss of credit events (the agency's definition, docs/servicing.md).
    comps = {name: s(name).astype(np.float64) for name, _ in LOSS_COMPONENTS}
    nib = s("non_interest_bearing_upb").astype(np.float64)
    lpi = s("last_paid_installment").astype(np.int64)
    disp = s("disposition_date").astype(np.int64)
    credit = np.isin(state, [int(x) for x in CREDIT_EVENT_STATES]) & is_zb
    last_rate = _carry_forward(rate, first)
    last_upb = _carry_forward(upb, first)
    if "delinquent_accrued_interest" in cols:
        dai = s("delinquent_accrued_interest").astype(np.float64)
        dai = np.where(credit, np.nan_to_num(dai), np.nan)
        complete = credit
    else:
        months_lpi = np.where((lpi >= 0) & (disp >= lpi), disp - lpi, 0).astype(np.float64)
        dai = (
            months_lpi * (last_rate - FANNIE_GUARANTEE_FEE) / 12.0 * (last_upb - np.nan_to_num(nib))
        )
        complete = credit & (disp >= 0)
        dai = np.where(complete, np.round(np.nan_to_num(dai), 2), np.nan)
    loss = last_upb + np.nan_to_num(dai)
    for name, sign in LOSS_COMPONENTS:
        loss = loss + sign * np.nan_to_num(comps[name])
    if "expenses_total" in cols:  # Freddie: its total expenses replace the itemised ones
        exp_total = np.abs(np.nan_to_num(s("expenses_total").astype(np.float64)))
        itemised = sum(
            np.nan_to_num(comps[k])
            for k in (
                "foreclosure_costs",
                "preservation_repair_costs",
                "asset_recovery_costs",
                "holding_costs",
                "taxes",
            )
        )
        loss = loss - itemised + exp_total
    covered = (
        s("proceeds_covered").astype(bool) if "proceeds_covered" in cols else np.zeros(n, bool)
    )
    unknown = (
        s("proceeds_unknown").astype(bool) if "proceeds_unknown" in cols else np.zeros(n, bool)
    )
    loss = np.where(covered, 0.0, loss)
    realised = np.where(complete & ~unknown & ~np.isnan(last_upb), np.round(loss, 2), np.nan)

    def arr(x: Any, typ: pa.DataType) -> pa.Array:
        x = np.asarray(x)
        if x.dtype.kind == "f":
            return pa.array(x, type=typ, from_pandas=True)
        return pa.array(x, type=typ)

    table = pa.table(
        {
            "loan_id": pa.array(uniq[code_s].astype(object), type=pa.string()),
            "month": month_dates(month_s.astype(np.int32)),
            "loan_age": arr(age, pa.float64()).cast(pa.int32()),
            "remaining_term": arr(rem, pa.float64()).cast(pa.int32()),
            "note_rate": arr(rate, pa.float64()),
            "upb": arr(upb, pa.float64()),
            "upb_rebuilt": pa.array(rebuilt),
            "delinquency": pa.array(dq, type=pa.int16()),
            "state": pa.array(state, type=pa.int8()),
            "modified": pa.array(modified),
            "modification": pa.array(modification),
            "capitalised_arrears": pa.array(capitalised),
            "non_interest_bearing_upb": arr(nib, pa.float64()),
            "assistance": pa.array(s("assistance").astype(object), type=pa.string()),
            "zero_balance_code": pa.array(zb_code.astype(object), type=pa.string(), mask=~is_zb),
            "zero_balance_month": month_dates(s("zero_balance_month").astype(np.int32)),
            "last_paid_installment": month_dates(lpi.astype(np.int32)),
            "foreclosure_date": month_dates(fc.astype(np.int32)),
            "disposition_date": month_dates(disp.astype(np.int32)),
            **{name: arr(comps[name], pa.float64()) for name, _ in LOSS_COMPONENTS},
            "delinquent_accrued_interest": arr(dai, pa.float64()),
            "realised_loss": arr(realised, pa.float64()),
            "reported_loss": arr(
                s("reported_loss").astype(np.float64)
                if "reported_loss" in cols
                else np.full(n, np.nan),
                pa.float64(),
            ),
        },
        schema=HISTORY_SCHEMA,
    )
    # The loans of the history, in loan order (rows from the origination file, or
    # null attributes when there is none for a loan).
    if (loan_row < 0).any() and loans.num_rows:
        missing = uniq[loan_row < 0][0]
        where = np.flatnonzero(np.asarray(ids) == missing)
        raise TapeError(
            "loan is not in the acquisition (origination) file",
            file=source,
            row=int(where[0]) + 1,
            field="loan_id",
            value=str(missing),
        )
    if loans.num_rows:
        loans_out = loans.take(pa.array(loan_row))
    else:
        loans_out = pa.table(
            {f.name: pa.nulls(len(uniq), type=f.type) for f in LOANS_SCHEMA}, schema=LOANS_SCHEMA
        ).set_column(0, "loan_id", pa.array(uniq.astype(object), type=pa.string()))
    return LoanHistory(agency=agency, source=source, months=table, loans=loans_out)


def _carry_forward(x: FloatArray, first: npt.NDArray[np.bool_]) -> FloatArray:
    """Each row's last non-NaN value of ``x`` within its loan (NaN if none yet)."""
    n = len(x)
    idx = np.where(~np.isnan(x), np.arange(n), -1)
    # reset at each loan's first row so that values never cross loans
    starts = np.flatnonzero(first)
    seg = np.repeat(starts, np.diff(np.r_[starts, n]))
    idx = np.maximum.accumulate(np.where(idx >= 0, idx, -1))
    ok = idx >= seg
    out = np.full(n, np.nan)
    out[ok] = x[idx[ok]]
    return out
