"""Pool statistics: balance-weighted averages, stratifications and concentrations."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from openmbs.collateral._tape import LoanTape

__all__ = [
    "FICO_BUCKETS",
    "LTV_BUCKETS",
    "RATE_BUCKET_WIDTH",
    "PoolStats",
    "StratRow",
    "Stratification",
    "pool_stats",
]

Float = npt.NDArray[np.float64]

FICO_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<620", -math.inf, 620),
    ("620-659", 620, 660),
    ("660-699", 660, 700),
    ("700-739", 700, 740),
    ("740-779", 740, 780),
    ("780+", 780, math.inf),
)
"""Credit score buckets, ``lo <= score < hi``."""

LTV_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<=60%", -math.inf, 0.60),
    ("60-70%", 0.60, 0.70),
    ("70-75%", 0.70, 0.75),
    ("75-80%", 0.75, 0.80),
    ("80-85%", 0.80, 0.85),
    ("85-90%", 0.85, 0.90),
    ("90-95%", 0.90, 0.95),
    ("95-97%", 0.95, 0.97),
    (">97%", 0.97, math.inf),
)
"""LTV buckets, ``lo < ltv <= hi`` (80% falls in 75-80%, as in agency stratifications)."""

RATE_BUCKET_WIDTH = 0.005
"""Note-rate buckets are 50 bp wide, ``lo <= rate < lo + 0.005``."""

TOP_N = 10
MISSING = "missing"


@dataclass(frozen=True)
class StratRow:
    """One bucket: loans, current balance, share of pool balance (decimal), WAC."""

    label: str
    count: int
    balance: float
    balance_share: float
    wac: float


@dataclass(frozen=True)
class Stratification:
    """Loans grouped by one field or bucketing."""

    name: str
    rows: tuple[StratRow, ...]


@dataclass(frozen=True)
class PoolStats:
    """Summary statistics of a pool (all averages weighted by current balance).

    Attributes
    ----------
    loan_count, current_balance, original_balance
        Number of loans and summed balances.
    wac, net_wac
        Weighted-average gross note rate and net rate (decimals).
    wam, wala
        Weighted-average remaining term and loan age (months).
    wa_original_term
        Weighted-average original term (months).
    wa_credit_score, wa_ltv, wa_cltv, wa_dti
        Weighted averages over the loans where the field is present.
    excluded
        For each weighted average, the number of loans left out because the field is null.
    stratifications
        By state, purpose, occupancy, property type, channel, FICO, LTV and note-rate bucket.
    top_states, top_servicers, top_zip3
        The ten largest by balance (null excluded).
    """

    loan_count: int
    current_balance: float
    original_balance: float
    average_balance: float
    wac: float
    net_wac: float
    wam: float
    wala: float
    wa_original_term: float
    wa_credit_score: float
    wa_ltv: float
    wa_cltv: float
    wa_dti: float
    excluded: Mapping[str, int]
    stratifications: Mapping[str, Stratification]
    top_states: tuple[StratRow, ...]
    top_servicers: tuple[StratRow, ...]
    top_zip3: tuple[StratRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``None``)."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else x

        def rows(rs: Sequence[StratRow]) -> list[dict[str, Any]]:
            return [
                {
                    "label": r.label,
                    "count": r.count,
                    "balance": r.balance,
                    "balance_share": num(r.balance_share),
                    "wac": num(r.wac),
                }
                for r in rs
            ]

        out: dict[str, Any] = {
            "loan_count": self.loan_count,
            "current_balance": self.current_balance,
            "original_balance": self.original_balance,
            "average_balance": num(self.average_balance),
        }
        for key in (
            "wac",
            "net_wac",
            "wam",
            "wala",
            "wa_original_term",
            "wa_credit_score",
            "wa_ltv",
            "wa_cltv",
            "wa_dti",
        ):
            out[key] = num(getattr(self, key))
        out["excluded"] = dict(self.excluded)
        out["stratifications"] = {k: rows(s.rows) for k, s in self.stratifications.items()}
        out["top_states"] = rows(self.top_states)
        out["top_servicers"] = rows(self.top_servicers)
        out["top_zip3"] = rows(self.top_zip3)
        return out


def _np(col: pa.ChunkedArray | pa.Array) -> Float:
    """Numeric column as float64 numpy, null as NaN."""
    arr = pc.cast(col, pa.float64())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    out: Float = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
    return out


def _wavg(values: Float, weights: Float) -> tuple[float, int]:
    """Weighted average over the non-NaN values, and how many were excluded."""
    ok = ~np.isnan(values)
    w = weights[ok]
    total = float(w.sum())
    excluded = int((~ok).sum())
    if total == 0.0:
        return math.nan, excluded
    return float(np.dot(values[ok], w) / total), excluded


def _group(
    name: str,
    labels: npt.NDArray[np.int64],
    names: Sequence[str],
    bal: Float,
    rate: Float,
    total: float,
    *,
    by_balance: bool,
) -> Stratification:
    """Rows of a stratification from integer labels (index into ``names``)."""
    k = len(names)
    count = np.bincount(labels, minlength=k)
    balance = np.bincount(labels, weights=bal, minlength=k)
    rate_ok = ~np.isnan(rate)
    wbal = np.bincount(labels[rate_ok], weights=bal[rate_ok], minlength=k)
    wrate = np.bincount(labels[rate_ok], weights=bal[rate_ok] * rate[rate_ok], minlength=k)
    rows = []
    for i in range(k):
        if count[i] == 0:
            continue
        rows.append(
            StratRow(
                names[i],
                int(count[i]),
                float(balance[i]),
                float(balance[i] / total) if total else math.nan,
                float(wrate[i] / wbal[i]) if wbal[i] else math.nan,
            )
        )
    if by_balance:
        rows.sort(key=lambda r: (r.label == MISSING, -r.balance, r.label))
    return Stratification(name, tuple(rows))


def _categorical(
    name: str, col: pa.ChunkedArray, bal: Float, rate: Float, total: float
) -> Stratification:
    enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    names = [*enc.dictionary.to_pylist(), MISSING]
    idx = np.asarray(
        pc.fill_null(enc.indices, len(names) - 1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return _group(name, idx, names, bal, rate, total, by_balance=True)


def _bucketed(
    name: str,
    values: Float,
    buckets: Sequence[tuple[str, float, float]],
    bal: Float,
    rate: Float,
    total: float,
    *,
    right_closed: bool,
) -> Stratification:
    labels = np.full(values.shape, len(buckets), dtype=np.int64)
    for i, (_, lo, hi) in enumerate(buckets):
        inside = (values > lo) & (values <= hi) if right_closed else (values >= lo) & (values < hi)
        labels[inside] = i
    names = [b[0] for b in buckets] + [MISSING]
    return _group(name, labels, names, bal, rate, total, by_balance=False)


def _rate_buckets(values: Float) -> list[tuple[str, float, float]]:
    ok = values[~np.isnan(values)]
    if ok.size == 0:
        return []
    # 1e-9 guards decimal rates such as 0.045 stored a hair below the bucket edge.
    lo = int(np.floor(ok.min() / RATE_BUCKET_WIDTH + 1e-9))
    hi = int(np.floor(ok.max() / RATE_BUCKET_WIDTH + 1e-9))
    out = []
    for k in range(lo, hi + 1):
        a, b = k * RATE_BUCKET_WIDTH, (k + 1) * RATE_BUCKET_WIDTH
        out.append((f"{a * 100:.2f}-{b * 100:.2f}%", a - 1e-11, b - 1e-11))
    return out


def pool_stats(tape: LoanTape) -> PoolStats:
    """Pool statistics of a tape.

    Parameters
    ----------
    tape
        The loans.

    Returns
    -------
    PoolStats
        Counts, balances, weighted averages, stratifications, top concentrations.

    Notes
    -----
    Every weighted average uses the current balance as weight:
    ``WAC = sum(B_i r_i) / sum(B_i)``, and likewise WAM (remaining term), WALA (loan
    age), credit score, LTV, CLTV, DTI. Loans where the field is null are left out of
    both sums and counted in ``excluded``. Net rate is ``net_rate`` or, when null,
    ``note_rate - servicing_fee``. With zero total balance the averages are NaN.

    Examples
    --------
    >>> from openmbs.collateral import generate_tape, pool_stats
    >>> pool_stats(generate_tape(100, seed=1)).loan_count
    100
    """
    t = tape.table
    bal = _np(t.column("current_balance"))
    total = float(bal.sum())
    rate = _np(t.column("note_rate"))
    net = _np(t.column("net_rate"))
    fee = _np(t.column("servicing_fee"))
    net = np.where(np.isnan(net), rate - fee, net)
    excluded: dict[str, int] = {}
    averages: dict[str, float] = {}
    for key, values in (
        ("wac", rate),
        ("net_wac", net),
        ("wam", _np(t.column("remaining_term"))),
        ("wala", _np(t.column("loan_age"))),
        ("wa_original_term", _np(t.column("original_term"))),
        ("wa_credit_score", _np(t.column("credit_score"))),
        ("wa_ltv", _np(t.column("ltv"))),
        ("wa_cltv", _np(t.column("cltv"))),
        ("wa_dti", _np(t.column("dti"))),
    ):
        averages[key], excluded[key] = _wavg(values, bal)
    strats: dict[str, Stratification] = {}
    for name in ("state", "purpose", "occupancy", "property_type", "channel", "servicer", "zip3"):
        strats[name] = _categorical(name, t.column(name), bal, rate, total)
    strats["credit_score"] = _bucketed(
        "credit_score",
        _np(t.column("credit_score")),
        FICO_BUCKETS,
        bal,
        rate,
        total,
        right_closed=False,
    )
    strats["ltv"] = _bucketed(
        "ltv", _np(t.column("ltv")), LTV_BUCKETS, bal, rate, total, right_closed=True
    )
    strats["note_rate"] = _bucketed(
        "note_rate", rate, _rate_buckets(rate), bal, rate, total, right_closed=False
    )

    def top(name: str) -> tuple[StratRow, ...]:
        return tuple(r for r in strats[name].rows if r.label != MISSING)[:TOP_N]

    n = t.num_rows
    return PoolStats(
        loan_count=n,
        current_balance=total,
        original_balance=float(_np(t.column("original_balance")).sum()),
        average_balance=total / n if n else math.nan,
        wac=averages["wac"],
        net_wac=averages["net_wac"],
        wam=averages["wam"],
        wala=averages["wala"],
        wa_original_term=averages["wa_original_term"],
        wa_credit_score=averages["wa_credit_score"],
        wa_ltv=averages["wa_ltv"],
        wa_cltv=averages["wa_cltv"],
        wa_dti=averages["wa_dti"],
        excluded=MappingProxyType(excluded),
        stratifications=MappingProxyType(
            {k: v for k, v in strats.items() if k not in ("servicer", "zip3")}
        ),
        top_states=top("state"),
        top_servicers=top("servicer"),
        top_zip3=top("zip3"),
    )
