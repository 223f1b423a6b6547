"""Pool and tape projection: validate inputs, build rate tables, run the kernels.

See ``docs/cashflow.md`` for the definition of every column.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numba
import numpy as np
import numpy.typing as npt

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import _fast
from openmbs.cashflow import _kernels as K
from openmbs.cashflow._advance import AdvanceMode, advance_code
from openmbs.cashflow._result import PoolCashflows
from openmbs.errors import AssumptionError, InputError

if TYPE_CHECKING:
    from openmbs.collateral import LoanTape

__all__ = ["project_loans", "project_pool", "project_tape", "repline_arrays", "tape_arrays"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rep-line buckets: note rate step (decimal), remaining-term step and age step (months).
REPLINE_RATE_STEP = 0.00125
REPLINE_TERM_STEP = 12
REPLINE_AGE_STEP = 12


def _check_assumptions(
    prepayment: Prepayment, default: Default | None, severity: float, lag: int
) -> None:
    if not isinstance(prepayment, Prepayment):
        raise AssumptionError(
            f"prepayment must be a Prepayment (e.g. Prepayment.psa(150)), got {prepayment!r}"
        )
    if default is not None and not isinstance(default, Default):
        raise AssumptionError(
            f"default must be a Default (e.g. Default.sda(100)) or None, got {default!r}"
        )
    if not (isinstance(severity, int | float) and math.isfinite(severity)):
        raise AssumptionError(f"severity must be a decimal between 0 and 1, got {severity!r}")
    if not 0.0 <= float(severity) <= 1.0:
        raise AssumptionError(
            f"severity must be a decimal between 0 and 1 (0.35 is 35%), got {severity!r}"
        )
    if isinstance(lag, bool) or not isinstance(lag, int | np.integer) or lag < 0:
        raise AssumptionError(f"lag must be a whole number of months >= 0, got {lag!r}")


def _table(
    matrix: Any, by_age: bool, ages: IntArray, n_periods: int
) -> tuple[FloatArray, IntArray]:
    """Rate table ``[n_periods + 1, columns]`` (row 0 unused) and each loan's column.

    ``matrix(ages, n)`` returns rates by period (rows) for the given starting ages
    (columns). Age-independent assumptions have a single column.
    """
    if not by_age:
        uniq = np.zeros(1, dtype=np.int64)
        cols = np.zeros(ages.size, dtype=np.int64)
    elif ages.size and int(ages.max()) > 100_000:
        uniq, inv = np.unique(ages, return_inverse=True)
        cols = inv.astype(np.int64).ravel()
    else:
        # ages are small whole numbers: a lookup table is O(n), no sort
        present = np.bincount(ages) > 0
        uniq = np.flatnonzero(present).astype(np.int64)
        lut = np.cumsum(present) - 1
        cols = lut[ages].astype(np.int64)
    tab = np.zeros((n_periods + 1, uniq.size))
    tab[1:, :] = matrix(uniq, n_periods)
    return tab, cols


def project_loans(
    balance: npt.ArrayLike,
    gross_coupon: npt.ArrayLike,
    net_coupon: npt.ArrayLike,
    remaining_term: npt.ArrayLike,
    loan_age: npt.ArrayLike,
    *,
    prepayment: Prepayment,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
    n_periods: int | None = None,
) -> PoolCashflows:
    """Project many level-pay loans, each with its own terms, and sum them by period.

    Parameters
    ----------
    balance, gross_coupon, net_coupon, remaining_term, loan_age : array_like
        One element per loan: current balance, gross note rate and net (pass-through)
        rate as annual decimals, remaining term and loan age in months.
    prepayment, default, severity, lag, advance
        As in :func:`project_pool`.
    n_periods : int, optional
        Horizon in months; defaults to the largest remaining term.

    Returns
    -------
    PoolCashflows
        Pool totals by period.

    Notes
    -----
    SIFMA Standard Formulas SF-4 (level-pay schedule) and SF-18/19 (cash flows with
    defaults), loan by loan; see ``docs/cashflow.md``. Only pool totals are kept: no
    per-loan series is stored (``openmbs.cashflow._fast``).

    Examples
    --------
    >>> from openmbs.behaviour import Prepayment
    >>> cf = project_loans([100.0, 50.0], [0.06, 0.06], [0.055, 0.055], [360, 360],
    ...                    [0, 0], prepayment=Prepayment.cpr(0.0))
    >>> round(float(cf.actual_interest[0]), 6)
    0.75
    """
    return _project_loans(
        balance, gross_coupon, net_coupon, remaining_term, loan_age,
        prepayment=prepayment, default=default, severity=severity, lag=lag,
        advance=advance, n_periods=n_periods, engine="fast",
    )


def _project_loans(
    balance: npt.ArrayLike,
    gross_coupon: npt.ArrayLike,
    net_coupon: npt.ArrayLike,
    remaining_term: npt.ArrayLike,
    loan_age: npt.ArrayLike,
    *,
    prepayment: Prepayment,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
    n_periods: int | None = None,
    engine: Literal["fast", "chunked"] = "fast",
) -> PoolCashflows:
    """:func:`project_loans` on the blocked kernel (``"fast"``) or the chunked one.

    The chunked kernel (``_kernels.project_kernel``) is the reference path that the
    tests compare the fast kernel with.
    """
    _check_assumptions(prepayment, default, severity, lag)
    adv = advance_code(advance)
    bal = np.ascontiguousarray(balance, dtype=np.float64).ravel()
    gross = np.ascontiguousarray(gross_coupon, dtype=np.float64).ravel()
    net = np.ascontiguousarray(net_coupon, dtype=np.float64).ravel()
    rem = np.ascontiguousarray(remaining_term, dtype=np.int64).ravel()
    age = np.ascontiguousarray(loan_age, dtype=np.int64).ravel()
    n = bal.size
    for name, arr in (("gross_coupon", gross), ("net_coupon", net), ("remaining_term", rem),
                      ("loan_age", age)):
        if arr.size != n:
            raise InputError(f"{name} has {arr.size} loans, balance has {n}")
    if n == 0:
        raise InputError("no loans to project")
    _check_loans(bal, gross, net, rem, age)
    horizon = int(rem.max()) if n_periods is None else int(n_periods)
    if horizon < 1:
        raise InputError(f"n_periods must be >= 1, got {horizon}")

    with_defaults = default is not None and not default.is_zero
    smm_t, srow = _table(prepayment.smm_matrix, prepayment.by_age, age, horizon)
    if default is not None and with_defaults:
        mdr_t, drow = _table(default.mdr_matrix, default.by_age, age, horizon)
    else:
        mdr_t, drow = np.zeros((horizon + 1, 1)), np.zeros(n, dtype=np.int64)
    threads = numba.get_num_threads()
    if engine == "fast":
        # sort by rate-table column, then remaining term: blocks share their SMM and
        # MDR columns (broadcast, no gather) and have tight horizons
        order, block_lo, block_hi = _fast.prepare(rem, srow, drow, with_defaults)
        workers = max(1, min(threads, block_lo.size))
        acc = _fast.fast_kernel(
            bal[order], gross[order] / 12.0, (gross[order] - net[order]) / 12.0,
            rem[order], srow[order], smm_t, drow[order], mdr_t, block_lo, block_hi,
            with_defaults, float(severity), int(lag), adv, horizon, workers,
        )
    else:
        # sort by remaining term (radix sort on 16-bit keys) so each chunk's horizon is
        # tight
        key = rem.astype(np.int16) if int(rem.max()) < 2**15 else rem
        order = np.argsort(key, kind="stable")
        workers = max(1, min(threads, (n + K.CHUNK - 1) // K.CHUNK))
        acc = K.project_kernel(
            bal[order], gross[order] / 12.0, (gross[order] - net[order]) / 12.0,
            rem[order], srow[order], smm_t, drow[order], mdr_t, with_defaults,
            float(severity), int(lag), adv, horizon, workers,
        )
    return _result(float(bal.sum()), acc)


def _check_loans(
    bal: FloatArray, gross: FloatArray, net: FloatArray, rem: IntArray, age: IntArray
) -> None:
    def first(mask: npt.NDArray[np.bool_]) -> int:
        return int(np.flatnonzero(mask)[0])

    checks: tuple[tuple[str, Any, npt.NDArray[np.bool_], str], ...] = (
        ("balance", bal, ~np.isfinite(bal) | (bal < 0.0), "must be a finite amount >= 0"),
        ("gross_coupon", gross, ~np.isfinite(gross) | (gross < 0.0) | (gross >= 1.0),
         "must be an annual decimal in [0, 1) (0.065 is 6.5%)"),
        ("net_coupon", net, ~np.isfinite(net) | (net < 0.0) | (net > gross),
         "must be an annual decimal between 0 and the gross coupon"),
        ("remaining_term", rem, rem < 0, "must be a whole number of months >= 0"),
        ("loan_age", age, age < 0, "must be a whole number of months >= 0"),
    )
    for name, arr, bad, reason in checks:
        if np.any(bad):
            i = first(bad)
            where = f"loan {i}: " if arr.size > 1 else ""
            raise InputError(f"{where}{name} {reason}, got {arr[i].item()!r}")


def _result(original_balance: float, acc: FloatArray) -> PoolCashflows:
    n = acc.shape[1]
    expected_interest = acc[K.K_EXP_INT].copy()
    lost_interest = acc[K.K_LOST_INT].copy()
    actual_interest = expected_interest - lost_interest
    servicing_fee = acc[K.K_FEE].copy()
    net_interest = actual_interest - servicing_fee
    principal = acc[K.K_VOL] + acc[K.K_ACT_AM] + acc[K.K_AM_DEF] + acc[K.K_RECOV]
    end = acc[K.K_PERF_END] + acc[K.K_FCL_END]
    factor = end / original_balance if original_balance > 0.0 else np.zeros(n)
    return PoolCashflows(
        original_balance=original_balance,
        period=np.arange(1, n + 1, dtype=np.int64),
        beginning_balance=acc[K.K_BEG].copy(),
        performing_balance=acc[K.K_PERF_END].copy(),
        new_default=acc[K.K_NEW_DEF].copy(),
        voluntary_prepayment=acc[K.K_VOL].copy(),
        expected_amortization=acc[K.K_EXP_AM].copy(),
        actual_amortization=acc[K.K_ACT_AM].copy(),
        amortization_from_defaults=acc[K.K_AM_DEF].copy(),
        foreclosure_balance=acc[K.K_FCL_END].copy(),
        liquidated_balance=acc[K.K_LIQ].copy(),
        recovery=acc[K.K_RECOV].copy(),
        loss=acc[K.K_LOSS].copy(),
        expected_interest=expected_interest,
        lost_interest=lost_interest,
        actual_interest=actual_interest,
        servicing_fee=servicing_fee,
        net_interest=net_interest,
        principal=principal,
        cash_flow=net_interest + principal,
        factor=factor,
    )


def _scalar(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name} must be finite, got {value!r}")
    return v


def _months(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InputError(f"{name} must be a whole number of months, got {value!r}")
    return int(value)


def project_pool(
    *,
    balance: float,
    gross_coupon: float,
    net_coupon: float,
    original_term: int,
    remaining_term: int,
    loan_age: int | None = None,
    prepayment: Prepayment,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
    n_periods: int | None = None,
) -> PoolCashflows:
    """Project a generic pool: one level-pay loan with the pool's WAC, WAM and WALA.

    Parameters
    ----------
    balance : float
        Current pool balance.
    gross_coupon : float
        Gross weighted-average coupon (WAC), annual decimal (0.065 is 6.5%).
    net_coupon : float
        Net pass-through coupon, annual decimal; the servicing fee is the difference.
    original_term : int
        Original term in months.
    remaining_term : int
        Remaining term (WAM) in months.
    loan_age : int, optional
        Loan age (WALA) in months; defaults to ``original_term - remaining_term``.
    prepayment : Prepayment
        Voluntary prepayment assumption.
    default : Default, optional
        Default assumption; ``None`` for no defaults.
    severity : float, default 0
        Loss severity, decimal of the defaulted balance.
    lag : int, default 0
        Months from default to liquidation.
    advance : {"principal", "all", "none"}, default "principal"
        What the servicer advances on defaulted loans until liquidation.
        ``"principal"`` (the Standard Formulas' examples): their scheduled principal,
        so they amortize on schedule and the amortized balance is liquidated, while
        their interest is lost. ``"all"``: principal and interest (nothing is lost
        before liquidation). ``"none"``: nothing; the defaulted balance does not
        amortize. ``True`` and ``False`` (earlier versions) mean ``"all"`` and
        ``"none"``.
    n_periods : int, optional
        Horizon in months; defaults to ``remaining_term``.

    Returns
    -------
    PoolCashflows
        The monthly projection table.

    Notes
    -----
    SIFMA Standard Formulas SF-4 and SF-18/19. The schedule is re-amortized from the
    current balance over the remaining term (the ratio ``BAL(M-1)/BAL(M)`` does not
    depend on the original term). The default ``advance="principal"`` reproduces the
    Standard Formulas' default cash-flow examples (SF-23 onwards) in every column;
    see ``docs/cashflow.md``.

    Examples
    --------
    >>> from openmbs.behaviour import Prepayment
    >>> cf = project_pool(balance=100.0, gross_coupon=0.06, net_coupon=0.055,
    ...                   original_term=360, remaining_term=360,
    ...                   prepayment=Prepayment.cpr(0.0))
    >>> round(float(cf.actual_interest[0]), 6)
    0.5
    """
    bal = _scalar(balance, "balance")
    gross = _scalar(gross_coupon, "gross_coupon")
    net = _scalar(net_coupon, "net_coupon")
    orig = _months(original_term, "original_term")
    rem = _months(remaining_term, "remaining_term")
    if orig < 1:
        raise InputError(f"original_term must be >= 1 month, got {original_term!r}")
    if not 1 <= rem <= orig:
        raise InputError(
            f"remaining_term must be between 1 and original_term={orig}, got {remaining_term!r}"
        )
    age = orig - rem if loan_age is None else _months(loan_age, "loan_age")
    if bal <= 0.0:
        raise InputError(f"balance must be > 0, got {balance!r}")
    return project_loans(
        [bal], [gross], [net], [rem], [age],
        prepayment=prepayment, default=default, severity=severity, lag=lag,
        advance=advance, n_periods=n_periods,
    )


def tape_arrays(
    tape: LoanTape | Any,
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]:
    """A tape's projectable loans as arrays: current balance, gross and net note rates
    (decimals; net from ``net_rate``, else gross less ``servicing_fee``, else gross),
    remaining term and age (months); loans with no balance or no remaining term are
    left out."""
    table: Any = getattr(tape, "table", tape)
    names = set(table.column_names)
    for need in ("current_balance", "note_rate", "remaining_term", "loan_age"):
        if need not in names:
            raise InputError(f"tape has no column {need!r}")

    def col(name: str, dtype: Any) -> Any:
        return table.column(name).to_numpy(zero_copy_only=False).astype(dtype)

    bal = col("current_balance", np.float64)
    gross = col("note_rate", np.float64)
    net = np.full_like(gross, np.nan)
    if "net_rate" in names:
        net = col("net_rate", np.float64)
    if "servicing_fee" in names:
        fee = col("servicing_fee", np.float64)
        net = np.where(np.isnan(net), gross - fee, net)
    net = np.where(np.isnan(net), gross, net)
    rem = col("remaining_term", np.int64)
    age = col("loan_age", np.int64)
    keep = (bal > 0.0) & (rem > 0)
    return bal[keep], gross[keep], net[keep], rem[keep], age[keep]


def repline_arrays(
    balance: FloatArray,
    gross: FloatArray,
    net: FloatArray,
    rem: IntArray,
    age: IntArray,
    *,
    rate_step: float = REPLINE_RATE_STEP,
    term_step: int = REPLINE_TERM_STEP,
    age_step: int = REPLINE_AGE_STEP,
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]:
    """Group loans into rep lines by note rate, remaining term and age buckets.

    Each rep line has the group's total balance and the balance-weighted averages of
    gross coupon, net coupon, remaining term and age (terms rounded to whole months).
    A group of one loan reproduces that loan exactly.
    """
    rb = np.floor(gross / rate_step + 1e-9).astype(np.int64)
    tb = (rem - 1) // term_step
    ab = age // age_step
    # one integer key per (rate, term, age) bucket; a 1-D unique is much faster
    nt = int(tb.max()) + 1
    na = int(ab.max()) + 1
    keys = (rb * nt + tb) * na + ab
    _, inv = np.unique(keys, return_inverse=True)
    inv = inv.ravel()
    g = int(inv.max()) + 1
    w = np.bincount(inv, weights=balance, minlength=g)
    safe = np.where(w > 0.0, w, 1.0)

    def wavg(x: npt.NDArray[Any]) -> FloatArray:
        out: FloatArray = np.bincount(inv, weights=balance * x, minlength=g) / safe
        return out

    r_rem = np.rint(wavg(rem.astype(np.float64))).astype(np.int64)
    r_age = np.rint(wavg(age.astype(np.float64))).astype(np.int64)
    r_gross = wavg(gross)
    r_net = np.minimum(wavg(net), r_gross)
    weights: FloatArray = w.astype(np.float64)
    return weights, r_gross, r_net, np.maximum(r_rem, 1).astype(np.int64), r_age


def project_tape(
    tape: LoanTape | Any,
    *,
    prepayment: Prepayment,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
    method: Literal["loan", "repline"] = "loan",
) -> PoolCashflows:
    """Project a loan tape, loan by loan or by rep lines, to pool totals.

    Parameters
    ----------
    tape : LoanTape
        A tape in the canonical schema (its ``.table``); uses ``current_balance``,
        ``note_rate``, ``net_rate`` (else ``note_rate - servicing_fee``, else no fee),
        ``remaining_term`` and ``loan_age``. Loans with a zero balance or no remaining
        term are skipped.
    prepayment, default, severity, lag, advance
        As in :func:`project_pool`.
    method : {"loan", "repline"}, default "loan"
        ``"loan"`` projects every loan with its own balance, rate, term and age;
        ``"repline"`` first groups loans by note rate (0.125% buckets), remaining term
        and age (12-month buckets) into balance-weighted rep lines.

    Returns
    -------
    PoolCashflows
        Pool totals by period; ``original_balance`` is the tape's current balance.

    Notes
    -----
    SIFMA Standard Formulas SF-4 and SF-18/19 loan by loan. Every loan is treated as a
    fixed-rate level-pay loan re-amortized over its remaining term.
    """
    if method not in ("loan", "repline"):
        raise InputError(f"method must be 'loan' or 'repline', got {method!r}")
    bal, gross, net, rem, age = tape_arrays(tape)
    if bal.size == 0:
        raise InputError("tape has no loan with a positive balance and remaining term")
    if method == "repline":
        _check_loans(bal, gross, net, rem, age)
        bal, gross, net, rem, age = repline_arrays(bal, gross, net, rem, age)
    return project_loans(
        bal, gross, net, rem, age,
        prepayment=prepayment, default=default, severity=severity, lag=lag, advance=advance,
    )
