"""Seeded synthetic loan tapes with realistic joint distributions (vectorised numpy).

The distributions are documented in docs/collateral.md ("Synthetic tapes"). Summary:
state by 2020 census population, ZIP3 uniform in the state's USPS prefix range;
purpose, occupancy, property type, channel, term by fixed shares; credit score a skew
normal clipped to [620, 850]; LTV by purpose, lower for higher scores; DTI normal;
balance lognormal capped at the conforming limit; seasoning gamma; note rate = market
rate of the origination year + credit spread (score, LTV, occupancy, cash-out) + noise,
rounded to 1/8%; current balance on the scheduled amortization curve.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from openmbs.collateral._schema import CANONICAL_SCHEMA
from openmbs.collateral._tape import LoanTape

__all__ = ["AS_OF", "CONFORMING_LIMIT", "generate_tape"]

AS_OF = dt.date(2025, 1, 1)
"""The as-of date of generated tapes (fixed, so a seed always gives the same tape)."""

CONFORMING_LIMIT = 806_500.0
"""2025 one-unit baseline conforming loan limit (FHFA); balances are capped here."""

# State: (2020 census population in millions, lowest ZIP3, highest ZIP3).
_STATES: dict[str, tuple[float, int, int]] = {
    "CA": (39.5, 900, 961), "TX": (29.1, 750, 799), "FL": (21.5, 320, 349),
    "NY": (20.2, 100, 149), "PA": (13.0, 150, 196), "IL": (12.8, 600, 629),
    "OH": (11.8, 430, 459), "GA": (10.7, 300, 319), "NC": (10.4, 270, 289),
    "MI": (10.1, 480, 499), "NJ": (9.3, 70, 89), "VA": (8.6, 220, 246),
    "WA": (7.7, 980, 994), "AZ": (7.2, 850, 865), "MA": (7.0, 10, 27),
    "TN": (6.9, 370, 385), "IN": (6.8, 460, 479), "MD": (6.2, 206, 219),
    "MO": (6.2, 630, 658), "WI": (5.9, 530, 549), "CO": (5.8, 800, 816),
    "MN": (5.7, 550, 567), "SC": (5.1, 290, 299), "AL": (5.0, 350, 369),
    "LA": (4.7, 700, 714), "KY": (4.5, 400, 427), "OR": (4.2, 970, 979),
    "OK": (4.0, 730, 749), "CT": (3.6, 60, 69), "UT": (3.3, 840, 847),
    "IA": (3.2, 500, 528), "NV": (3.1, 889, 898), "AR": (3.0, 716, 729),
    "MS": (3.0, 386, 397), "KS": (2.9, 660, 679), "NM": (2.1, 870, 884),
    "NE": (2.0, 680, 693), "ID": (1.8, 832, 838), "WV": (1.8, 247, 268),
    "HI": (1.5, 967, 968), "NH": (1.4, 30, 38), "ME": (1.4, 39, 49),
    "RI": (1.1, 28, 29), "MT": (1.1, 590, 599), "DE": (1.0, 197, 199),
    "SD": (0.9, 570, 577), "ND": (0.8, 580, 588), "AK": (0.7, 995, 999),
    "DC": (0.7, 200, 205), "VT": (0.6, 50, 59), "WY": (0.6, 820, 831),
}  # fmt: skip

# Approximate annual averages of the 30-year fixed commitment rate (Freddie Mac PMMS).
_MARKET_RATE_30Y: dict[int, float] = {
    2000: 0.0805, 2001: 0.0697, 2002: 0.0654, 2003: 0.0583, 2004: 0.0584, 2005: 0.0587,
    2006: 0.0641, 2007: 0.0634, 2008: 0.0603, 2009: 0.0504, 2010: 0.0469, 2011: 0.0445,
    2012: 0.0366, 2013: 0.0398, 2014: 0.0417, 2015: 0.0385, 2016: 0.0365, 2017: 0.0399,
    2018: 0.0454, 2019: 0.0394, 2020: 0.0311, 2021: 0.0296, 2022: 0.0534, 2023: 0.0681,
    2024: 0.0672,
}  # fmt: skip

_PURPOSE = (("purchase", 0.50), ("cash_out_refi", 0.25), ("no_cash_out_refi", 0.25))
_OCCUPANCY = (("primary", 0.88), ("second_home", 0.04), ("investor", 0.08))
_PROPERTY = (
    ("single_family", 0.70), ("pud", 0.20), ("condo", 0.08), ("manufactured", 0.015),
    ("coop", 0.005),
)  # fmt: skip
_CHANNEL = (("retail", 0.60), ("correspondent", 0.25), ("broker", 0.15))
_TERM = ((360, 0.80), (180, 0.12), (240, 0.04), (300, 0.02), (120, 0.02))
_UNITS = ((1, 0.97), (2, 0.02), (3, 0.005), (4, 0.005))
_BORROWERS = ((1, 0.50), (2, 0.48), (3, 0.02))
_DELINQUENCY = ((0, 0.97), (1, 0.02), (2, 0.005), (3, 0.005))
_FEES = ((0.0025, 0.2), (0.00375, 0.2), (0.005, 0.3), (0.00625, 0.15), (0.0075, 0.15))
_SERVICERS = tuple(f"Servicer {c}" for c in "ABCDEFGHIJ")  # Zipf-like shares
_SELLERS = tuple(f"Seller {c}" for c in "ABCDEFGHIJKL")

Int = npt.NDArray[np.int64]
Float = npt.NDArray[np.float64]


def _draw(rng: np.random.Generator, p: Float, n: int) -> Int:
    """``rng.choice(len(p), size=n, p=p)``, the same draws, faster for a few categories.

    ``Generator.choice`` takes one uniform ``u`` per draw and returns
    ``searchsorted(cdf, u, side="right")``, the number of cdf points ``<= u``; counting
    them with one vector comparison per category gives the same indices (and the same
    stream of random numbers) without a binary search per draw.
    """
    cdf = p.cumsum()
    cdf /= cdf[-1]
    u = rng.random(n)
    if cdf.size > 16:
        out: Int = cdf.searchsorted(u, side="right").astype(np.int64, copy=False)
        return out
    idx: Int = np.zeros(n, np.int64)
    for c in cdf:
        idx += u >= c
    return idx


def _choice(rng: np.random.Generator, table: tuple[tuple[object, float], ...], n: int) -> Int:
    p = np.array([w for _, w in table], dtype=np.float64)
    return _draw(rng, p / p.sum(), n)


def _labels(table: tuple[tuple[str, float], ...] | tuple[str, ...], idx: Int) -> pa.Array:
    names = [t[0] if isinstance(t, tuple) else t for t in table]
    return pc.take(pa.array(names, pa.string()), pa.array(idx))


def _skew_normal(rng: np.random.Generator, n: int, shape: float, loc: float, scale: float) -> Float:
    delta = shape / np.sqrt(1.0 + shape * shape)
    u0 = rng.standard_normal(n)
    v = rng.standard_normal(n)
    u1 = delta * u0 + np.sqrt(1.0 - delta * delta) * v
    z = np.where(u0 >= 0.0, u1, -u1)
    out: Float = loc + scale * z
    return out


def generate_tape(n_loans: int, *, seed: int) -> LoanTape:
    """A synthetic pool of fixed-rate first-lien loans, deterministic for a seed.

    Parameters
    ----------
    n_loans
        Number of loans (>= 0).
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives the same tape.

    Returns
    -------
    LoanTape
        A valid canonical tape (``format="generated"``), as of :data:`AS_OF`.

    Notes
    -----
    Current balances follow the scheduled balance of SIFMA Standard Formulas SF-4,
    ``B = B0 [1 - (1 + c/12)^-M] / [1 - (1 + c/12)^-M0]`` with ``M`` the remaining and
    ``M0`` the original term, rounded to cents; ``remaining_term = original_term -
    loan_age`` exactly. The distributions are listed in docs/collateral.md.

    Examples
    --------
    >>> from openmbs.collateral import generate_tape
    >>> t = generate_tape(1000, seed=42)
    >>> len(t), t.table.column("loan_id")[0].as_py()
    (1000, 'L000000001')
    """
    if n_loans < 0:
        raise ValueError(f"n_loans must be >= 0, got {n_loans}")
    n = int(n_loans)
    rng = np.random.default_rng(seed)

    states = list(_STATES)
    pop = np.array([_STATES[s][0] for s in states])
    st = rng.choice(len(states), size=n, p=pop / pop.sum())
    zlo = np.array([_STATES[s][1] for s in states])[st]
    zhi = np.array([_STATES[s][2] for s in states])[st]
    zip3 = zlo + np.floor(rng.random(n) * (zhi - zlo + 1)).astype(np.int64)

    purpose = _choice(rng, _PURPOSE, n)
    occupancy = _choice(rng, _OCCUPANCY, n)
    prop = _choice(rng, _PROPERTY, n)
    channel = _choice(rng, _CHANNEL, n)
    term_i = _choice(rng, _TERM, n)
    term = np.array([t for t, _ in _TERM], dtype=np.int64)[term_i]
    units = np.array([u for u, _ in _UNITS])[_choice(rng, _UNITS, n)]
    borrowers = np.array([b for b, _ in _BORROWERS])[_choice(rng, _BORROWERS, n)]
    dq = np.array([d for d, _ in _DELINQUENCY])[_choice(rng, _DELINQUENCY, n)]

    fico = np.clip(np.rint(_skew_normal(rng, n, -4.0, 800.0, 70.0)), 620, 850).astype(np.int64)

    ltv_mean = np.array([0.80, 0.62, 0.68])[purpose]
    ltv = ltv_mean - 0.03 * (fico - 740) / 50.0 + rng.normal(0.0, 0.12, n)
    ltv_cap = np.where(purpose == 1, 0.80, 0.97)
    ltv = np.round(np.clip(ltv, 0.20, ltv_cap), 2)
    second_lien = rng.random(n) < 0.08
    cltv = np.round(
        np.minimum(ltv + np.where(second_lien, rng.uniform(0.0, 0.10, n), 0.0), 1.05), 2
    )
    dti = np.round(np.clip(rng.normal(0.35, 0.08, n), 0.05, 0.50), 2)
    mi = np.select([ltv > 0.95, ltv > 0.90, ltv > 0.85, ltv > 0.80], [0.35, 0.30, 0.25, 0.12], 0.0)

    age = np.minimum(np.floor(rng.gamma(1.5, 18.0, n)).astype(np.int64), term - 1)
    remaining = term - age
    as_of_m = AS_OF.year * 12 + (AS_OF.month - 1)
    first_m = as_of_m - age
    orig_year = (first_m - 1) // 12
    years = np.array(sorted(_MARKET_RATE_30Y))
    market = np.array([_MARKET_RATE_30Y[y] for y in years])[
        np.clip(orig_year, years[0], years[-1]) - years[0]
    ]
    market = market - np.where(term <= 180, 0.006, np.where(term <= 240, 0.003, 0.0))
    spread = (
        np.select([fico < 680, fico < 720, fico < 760], [0.0025, 0.00125, 0.0005], 0.0)
        + np.where(ltv > 0.80, 0.00125, 0.0)
        + np.where(occupancy == 2, 0.0025, 0.0)
        + np.where(purpose == 1, 0.00125, 0.0)
    )
    rate = np.round((market + spread + rng.normal(0.0, 0.00125, n)) * 800.0) / 800.0
    rate = np.maximum(rate, 0.02)
    fee = np.array([f for f, _ in _FEES])[_choice(rng, _FEES, n)]
    net = np.round(rate - fee, 9)

    orig_bal = np.round(np.exp(rng.normal(np.log(300_000.0), 0.45, n)) / 1000.0) * 1000.0
    orig_bal = np.clip(orig_bal, 25_000.0, CONFORMING_LIMIT)
    r = rate / 12.0
    factor = (1.0 - (1.0 + r) ** (-remaining.astype(np.float64))) / (
        1.0 - (1.0 + r) ** (-term.astype(np.float64))
    )
    cur_bal = np.round(orig_bal * factor, 2)

    ftb = (purpose == 0) & (rng.random(n) < 0.45)
    serv_w = 1.0 / np.arange(1, len(_SERVICERS) + 1)
    servicer = _draw(rng, serv_w / serv_w.sum(), n)
    sell_w = 1.0 / np.arange(1, len(_SELLERS) + 1)
    seller = _draw(rng, sell_w / sell_w.sum(), n)

    def month_dates(months: Int) -> pa.Array:
        # first day of each month, from a table of the few hundred months that occur
        if months.size == 0:
            return pa.array([], pa.date32())
        lo = int(months.min())
        span = np.arange(lo, int(months.max()) + 1)
        first_day = (
            np.asarray((span // 12 - 1970) * 12 + span % 12, dtype="datetime64[M]")
            .astype("datetime64[D]")
            .astype(np.int32)
        )
        return pa.array(first_day[months - lo], pa.int32()).cast(pa.date32())

    seq = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    loan_id = pc.binary_join_element_wise("L", pc.utf8_lpad(seq, 9, "0"), "")
    zip_s = pc.utf8_lpad(pa.array(zip3).cast(pa.string()), 3, "0")

    cols: dict[str, pa.Array] = {
        "loan_id": loan_id,
        "current_balance": pa.array(cur_bal),
        "original_balance": pa.array(orig_bal),
        "note_rate": pa.array(rate),
        "net_rate": pa.array(net),
        "servicing_fee": pa.array(fee),
        "original_term": pa.array(term.astype(np.int32)),
        "remaining_term": pa.array(remaining.astype(np.int32)),
        "loan_age": pa.array(age.astype(np.int32)),
        "first_payment_date": month_dates(first_m),
        "maturity_date": month_dates(first_m + term - 1),
        "amortization_type": pa.repeat(pa.scalar("fixed"), n),
        "credit_score": pa.array(fico.astype(np.int32)),
        "ltv": pa.array(ltv),
        "cltv": pa.array(cltv),
        "dti": pa.array(dti),
        "occupancy": _labels(_OCCUPANCY, occupancy),
        "purpose": _labels(_PURPOSE, purpose),
        "property_type": _labels(_PROPERTY, prop),
        "units": pa.array(units.astype(np.int32)),
        "state": _labels(tuple(states), st),
        "zip3": zip_s,
        "first_time_buyer": pa.array(ftb),
        "channel": _labels(_CHANNEL, channel),
        "delinquency_status": pa.array(dq.astype(np.int32)),
        "mi_pct": pa.array(mi),
        "num_borrowers": pa.array(borrowers.astype(np.int32)),
        "seller": _labels(_SELLERS, seller),
        "servicer": _labels(_SERVICERS, servicer),
        "msa": pa.nulls(n, pa.string()),
        "origination_date": month_dates(first_m - 1),
    }
    table = pa.Table.from_arrays([cols[f.name] for f in CANONICAL_SCHEMA], schema=CANONICAL_SCHEMA)
    return LoanTape(table=table, source=None, format="generated")
