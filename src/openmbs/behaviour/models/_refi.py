"""A rate-dependent prepayment model: turnover plus an S-curve refinancing response.

The structure follows the public descriptions of dealer prepayment models: voluntary
prepayment is split into *housing turnover* (moving house; a base speed that seasons in
and follows the calendar) and *refinancing* (a response to the borrower's rate
incentive, shaped like an S, damped by *burnout*). Richard & Roll ("Prepayments on
fixed-rate mortgage-backed securities", Journal of Portfolio Management, 1989) describe
the same four effects - refinancing incentive, seasoning, month-of-year seasonality and
burnout - as multiplicative factors; turnover/refinancing decompositions are described
in, for example, Hayre (ed.), *Salomon Smith Barney Guide to Mortgage-Backed and
Asset-Backed Securities* (2001) and Fabozzi (ed.), *The Handbook of Mortgage-Backed
Securities*. The functional forms and default parameters here are our own choices; see
``docs/risk.md`` for the formulas and where the typical magnitudes come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from openmbs.errors import AssumptionError, ConvergenceError, InputError

__all__ = [
    "DEFAULT_SEASONALITY",
    "FITTABLE_PARAMETERS",
    "RefiCalibration",
    "RefiPrepaymentModel",
    "calibrate_refi_model",
]

FloatArray = npt.NDArray[np.float64]

_RAW_SEASONALITY = (0.80, 0.80, 0.90, 1.00, 1.10, 1.20, 1.20, 1.20, 1.05, 1.00, 0.90, 0.85)
#: Month-of-year turnover multipliers, January first, averaging exactly 1: slow winter
#: months, a spring and summer peak (the pattern public descriptions of housing
#: turnover report). An illustrative shape, not a fitted series.
DEFAULT_SEASONALITY: tuple[float, ...] = tuple(
    float(v) for v in np.asarray(_RAW_SEASONALITY) / np.mean(_RAW_SEASONALITY)
)

#: Parameters :func:`calibrate_refi_model` can fit, with their bounds.
FITTABLE_PARAMETERS: dict[str, tuple[float, float]] = {
    "turnover_cpr": (0.0, 0.5),
    "refi_max_cpr": (0.0, 1.0),
    "refi_center": (-0.05, 0.05),
    "refi_width": (1e-4, 0.05),
    "burnout": (0.0, 500.0),
}


def _cpr_to_smm(cpr: FloatArray) -> FloatArray:
    """SIFMA: ``(1 - SMM)^12 = 1 - CPR``."""
    return np.asarray(-np.expm1(np.log1p(-cpr) / 12.0), dtype=np.float64)


@dataclass(frozen=True)
class RefiPrepaymentModel:
    """Turnover + refinancing S-curve prepayment model, vectorised over paths and loans.

    Parameters
    ----------
    turnover_cpr : float
        Housing-turnover speed of a seasoned loan in an average month, CPR as a decimal
        (0.07 is 7% CPR; typical published estimates are 6-8% CPR).
    refi_max_cpr : float
        The refinancing speed the S-curve tends to for a very large incentive, CPR as
        a decimal (typical published peak speeds 40-60% CPR).
    refi_center : float
        Incentive (note rate minus prevailing mortgage rate, decimal) at which the
        refinancing response is half its maximum (0.0075 is 75 bp).
    refi_width : float
        Logistic scale of the S-curve, decimal: the response goes from 27% to 73% of its
        maximum between ``center - width`` and ``center + width``.
    burnout : float
        Burnout rate per decimal-year of cumulative positive incentive: the refinancing
        response is multiplied by ``exp(-burnout * E)``, where ``E`` adds up
        ``max(incentive, 0) / 12`` over the months before the current one.
    ramp_months : float
        Seasoning ramp length: both components are scaled by ``min(1, age / ramp)``,
        ``age`` the loan age at the end of the period, as in the PSA benchmark (30).
    seasonality : tuple of 12 floats
        Month-of-year multipliers of turnover, January first.

    Notes
    -----
    For a loan with note rate ``c`` and prevailing mortgage rate ``m_t`` in period ``t``::

        incentive  I_t = c - m_t
        ramp_t     = min(1, age_t / ramp_months)
        turnover   T_t = turnover_cpr * ramp_t * seasonality[month_t]
        refinance  R_t = refi_max_cpr / (1 + exp(-(I_t - refi_center) / refi_width))
                         * exp(-burnout * E_t) * ramp_t
        exposure   E_t = E_0 + sum_{s < t} max(I_s, 0) / 12
        CPR_t      = 1 - (1 - T_t) (1 - R_t)
        SMM_t      = 1 - (1 - CPR_t)^(1/12)        (SIFMA Standard Formulas)

    Turnover and refinancing are treated as competing annual hazards, so the total never
    exceeds 100%.

    Examples
    --------
    >>> m = RefiPrepaymentModel(refi_max_cpr=0.0, seasonality=(1.0,) * 12)
    >>> round(float(m.cpr([0.05] * 3, note_rate=0.05, loan_age=29)[-1]), 6)
    0.07
    """

    turnover_cpr: float = 0.07
    refi_max_cpr: float = 0.50
    refi_center: float = 0.0075
    refi_width: float = 0.0025
    burnout: float = 20.0
    ramp_months: float = 30.0
    seasonality: tuple[float, ...] = DEFAULT_SEASONALITY

    def __post_init__(self) -> None:
        season = tuple(float(v) for v in self.seasonality)
        object.__setattr__(self, "seasonality", season)
        checks = [
            ("turnover_cpr", 0.0 <= self.turnover_cpr < 1.0, "a CPR in [0, 1)"),
            ("refi_max_cpr", 0.0 <= self.refi_max_cpr <= 1.0, "a CPR in [0, 1]"),
            ("refi_center", np.isfinite(self.refi_center), "a finite decimal"),
            ("refi_width", self.refi_width > 0.0, "a positive decimal"),
            ("burnout", self.burnout >= 0.0, "a number >= 0"),
            ("ramp_months", self.ramp_months >= 0.0, "a number of months >= 0"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise AssumptionError(f"{name} {getattr(self, name)!r}: expected {what}")
        if len(season) != 12 or not all(v >= 0.0 and np.isfinite(v) for v in season):
            raise AssumptionError(
                f"seasonality {season!r}: expected 12 non-negative multipliers, January first"
            )
        if self.turnover_cpr * max(season) >= 1.0:
            raise AssumptionError(
                f"turnover_cpr {self.turnover_cpr!r} x seasonality {max(season)!r}: "
                f"the seasonal turnover speed must stay below 100% CPR"
            )

    def params(self) -> dict[str, float]:
        """The scalar parameters as a dict."""
        return {
            f.name: float(getattr(self, f.name)) for f in fields(self) if f.name != "seasonality"
        }

    def cpr(
        self,
        mortgage_rates: npt.ArrayLike,
        *,
        note_rate: npt.ArrayLike,
        loan_age: npt.ArrayLike,
        start_month: int = 1,
        initial_exposure: npt.ArrayLike = 0.0,
    ) -> FloatArray:
        """Conditional prepayment rates (annual, decimal) for every path, loan and period.

        Parameters
        ----------
        mortgage_rates : array_like, shape (..., n_periods)
            Prevailing mortgage rate in each period, decimals; leading axes are paths
            (for example :func:`openmbs.rates.mortgage_rate_paths`, ``n_paths`` by
            ``n_periods``).
        note_rate : float or array_like, shape (n_loans,)
            Loan note rates, decimals.
        loan_age : int or array_like, shape (n_loans,)
            Loan age in months at the start of period 1.
        start_month : int
            Calendar month (1 = January) of period 1.
        initial_exposure : float or array_like, shape (n_loans,)
            Burnout exposure already accumulated before period 1 (decimal-years).

        Returns
        -------
        ndarray
            Shape ``mortgage_rates.shape[:-1] + (n_periods,)`` for scalar loan inputs,
            ``mortgage_rates.shape[:-1] + (n_loans, n_periods)`` for vectors. Memory is
            paths x loans x periods: use rep lines or chunks of loans for big tapes.
        """
        rates = np.asarray(mortgage_rates, dtype=np.float64)
        if rates.ndim < 1 or rates.shape[-1] < 1:
            raise InputError(f"mortgage_rates shape {rates.shape}: need at least one period")
        if not np.all(np.isfinite(rates)):
            raise InputError("mortgage_rates: every rate must be a finite decimal")
        note, age, exp0 = np.broadcast_arrays(
            np.asarray(note_rate, dtype=np.float64),
            np.asarray(loan_age, dtype=np.float64),
            np.asarray(initial_exposure, dtype=np.float64),
        )
        if note.ndim > 1:
            raise InputError(f"note_rate shape {note.shape}: expected a scalar or a vector")
        if np.any(age < 0) or np.any(exp0 < 0):
            raise InputError("loan_age and initial_exposure must be >= 0")
        if not 1 <= int(start_month) <= 12:
            raise InputError(f"start_month {start_month!r}: expected 1..12")
        if note.ndim == 1:
            rates = rates[..., None, :]
        return _cpr_core(self, rates, note[..., None], age[..., None], exp0[..., None], start_month)

    def smm(
        self,
        mortgage_rates: npt.ArrayLike,
        *,
        note_rate: npt.ArrayLike,
        loan_age: npt.ArrayLike,
        start_month: int = 1,
        initial_exposure: npt.ArrayLike = 0.0,
    ) -> FloatArray:
        """Single monthly mortality ``1 - (1 - CPR)^(1/12)`` of :meth:`cpr` (same shape)."""
        return _cpr_to_smm(
            self.cpr(
                mortgage_rates,
                note_rate=note_rate,
                loan_age=loan_age,
                start_month=start_month,
                initial_exposure=initial_exposure,
            )
        )


def _cpr_core(
    m: RefiPrepaymentModel,
    rates: FloatArray,
    note: FloatArray,
    age: FloatArray,
    exposure0: FloatArray,
    start_month: int,
) -> FloatArray:
    """The model on aligned arrays: ``rates`` (..., T); loan arrays broadcast as (..., 1)."""
    n = rates.shape[-1]
    t = np.arange(1, n + 1, dtype=np.float64)
    incentive = note - rates
    age_end = age + t
    ramp = np.minimum(1.0, age_end / m.ramp_months) if m.ramp_months > 0 else np.ones_like(age_end)
    season = np.asarray(m.seasonality)[(int(start_month) - 1 + np.arange(n)) % 12]
    turnover = m.turnover_cpr * ramp * season
    pos = np.maximum(incentive, 0.0) / 12.0
    exposure = exposure0 + np.cumsum(pos, axis=-1) - pos  # months before the current one
    z = (incentive - m.refi_center) / m.refi_width
    s_curve = 0.5 * (1.0 + np.tanh(0.5 * z))  # logistic 1 / (1 + exp(-z)), overflow-free
    refi = m.refi_max_cpr * s_curve * np.exp(-m.burnout * exposure) * ramp
    return np.asarray(1.0 - (1.0 - turnover) * (1.0 - refi), dtype=np.float64)


@dataclass(frozen=True)
class RefiCalibration:
    """Result of :func:`calibrate_refi_model`.

    Attributes
    ----------
    model : RefiPrepaymentModel
        The model with the fitted parameters.
    fitted : tuple of str
        Names of the parameters that were fitted.
    std_errors : dict
        Asymptotic standard error of each fitted parameter, ``sqrt(diag(s^2 (J'J)^-1))``
        with ``s^2`` the residual variance (NaN when ``J'J`` is singular).
    rmse : float
        Root mean squared CPR residual (decimal CPR).
    n_obs : int
        Observations used (non-missing CPRs).
    nfev : int
        Model evaluations.
    """

    model: RefiPrepaymentModel
    fitted: tuple[str, ...]
    std_errors: dict[str, float]
    rmse: float
    n_obs: int
    nfev: int


def calibrate_refi_model(
    observed_cpr: npt.ArrayLike,
    mortgage_rates: npt.ArrayLike,
    *,
    note_rate: npt.ArrayLike,
    loan_age: npt.ArrayLike,
    start_month: int = 1,
    initial_exposure: npt.ArrayLike = 0.0,
    fit: Sequence[str] = tuple(FITTABLE_PARAMETERS),
    initial: RefiPrepaymentModel | None = None,
) -> RefiCalibration:
    """Fit the model's parameters to observed CPR histories by least squares.

    Parameters
    ----------
    observed_cpr : array_like, shape (n_cohorts, n_periods) or (n_periods,)
        Observed CPR of each cohort (pool or loan group) per period, decimals; NaN where
        not observed.
    mortgage_rates : array_like, shape (n_periods,) or (n_cohorts, n_periods)
        The prevailing mortgage rate history (shared by all cohorts, or one per cohort).
    note_rate, loan_age, initial_exposure : float or array_like, shape (n_cohorts,)
        Each cohort's note rate (its WAC), age at the start of period 1 and prior burnout
        exposure.
    start_month : int
        Calendar month of period 1.
    fit : sequence of str
        Parameters to fit (any of :data:`FITTABLE_PARAMETERS`); the others keep the
        values of ``initial``.
    initial : RefiPrepaymentModel, optional
        Starting point and fixed values; the default model when None.

    Returns
    -------
    RefiCalibration

    Raises
    ------
    InputError
        Shapes do not match, an unknown parameter is named, or there are fewer
        observations than parameters.
    ConvergenceError
        The solver stopped without meeting its tolerances.

    Notes
    -----
    Minimises the sum of squared CPR residuals with SciPy's trust-region reflective
    least squares, within the bounds of :data:`FITTABLE_PARAMETERS`.
    """
    obs = np.atleast_2d(np.asarray(observed_cpr, dtype=np.float64))
    if obs.ndim != 2:
        raise InputError(f"observed_cpr shape {obs.shape}: expected (n_cohorts, n_periods)")
    n_coh = obs.shape[0]
    rates = np.asarray(mortgage_rates, dtype=np.float64)
    if rates.ndim == 1:
        rates = np.broadcast_to(rates, (n_coh, rates.shape[0]))
    if rates.shape != obs.shape:
        raise InputError(
            f"got mortgage_rates of shape {rates.shape} for observed_cpr of shape {obs.shape}"
        )
    try:
        note, age, exp0 = (
            np.broadcast_to(np.asarray(v, dtype=np.float64), (n_coh,))[:, None]
            for v in (note_rate, loan_age, initial_exposure)
        )
    except ValueError as exc:
        raise InputError(f"note_rate/loan_age/initial_exposure for {n_coh} cohorts: {exc}") from exc
    names = tuple(fit)
    unknown = [p for p in names if p not in FITTABLE_PARAMETERS]
    if unknown or not names or len(set(names)) != len(names):
        raise InputError(
            f"fit {list(names)!r}: expected distinct names among {list(FITTABLE_PARAMETERS)}"
        )
    mask = np.isfinite(obs)
    n_obs = int(mask.sum())
    if n_obs <= len(names):
        raise InputError(f"{n_obs} observed CPRs cannot determine {len(names)} parameters")
    base = initial if initial is not None else RefiPrepaymentModel()
    lo = np.array([FITTABLE_PARAMETERS[p][0] for p in names])
    hi = np.array([FITTABLE_PARAMETERS[p][1] for p in names])
    x0 = np.clip(np.array([getattr(base, p) for p in names], dtype=np.float64), lo, hi)

    def model_at(x: FloatArray) -> RefiPrepaymentModel:
        kw: dict[str, Any] = {p: float(v) for p, v in zip(names, x, strict=True)}
        return replace(base, **kw)

    def residuals(x: FloatArray) -> FloatArray:
        try:
            m = model_at(x)
        except AssumptionError:
            return np.full(n_obs, 1e3)
        return (_cpr_core(m, rates, note, age, exp0, start_month) - obs)[mask]

    res = least_squares(
        residuals, x0, bounds=(lo, hi), method="trf", x_scale=np.maximum(hi - lo, 1e-3) / 100.0
    )
    if res.status <= 0:
        raise ConvergenceError(f"prepayment calibration did not converge: {res.message}")
    r = residuals(res.x)
    dof = max(n_obs - len(names), 1)
    s2 = float(r @ r) / dof
    jac = np.asarray(res.jac, dtype=np.float64)
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(len(names), np.nan)
    return RefiCalibration(
        model=model_at(res.x),
        fitted=names,
        std_errors={p: float(v) for p, v in zip(names, se, strict=True)},
        rmse=float(np.sqrt(np.mean(r**2))),
        n_obs=n_obs,
        nfev=int(res.nfev),
    )
