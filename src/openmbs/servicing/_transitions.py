"""Monthly roll rates between loan states, estimated from real histories.

A transition is a pair of consecutive reporting months of one loan whose first month is
live (current, 30, 60, 90, 120+ days, foreclosure) and whose second month's state is
known. Pairs are counted by bucket (loan age at the first month, original LTV, credit
score) with one ``bincount`` over the whole history; the probability of ``from -> to``
in a bucket is the count divided by the bucket row's observations (the maximum
likelihood estimate of a Markov chain's transition matrix).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openmbs.errors import InputError
from openmbs.servicing._history import LoanHistory
from openmbs.servicing._states import LIVE_STATES, LoanState

__all__ = ["BUCKETS", "TransitionMatrix", "bucket_codes", "estimate_transitions"]

IntArray = npt.NDArray[np.int64]

#: Bucket dimensions: name -> (upper edges, labels, side). A value ``v`` falls in bucket
#: ``searchsorted(edges, v, side)``; missing values fall in "unknown".
BUCKETS: dict[str, tuple[tuple[float, ...], tuple[str, ...], str]] = {
    "age": ((12, 24, 36, 60), ("0-12", "13-24", "25-36", "37-60", "61+"), "left"),
    "ltv": ((0.60, 0.70, 0.80, 0.90), ("<=60", "60-70", "70-80", "80-90", ">90"), "left"),
    "fico": ((620, 680, 740), ("<620", "620-679", "680-739", "740+"), "right"),
}

_N_STATES = len(LoanState)


@dataclass(frozen=True, eq=False)
class TransitionMatrix:
    """Transition counts and probabilities between :class:`LoanState` s, by bucket.

    Attributes
    ----------
    by : tuple of str
        The bucket dimensions (``()`` for one pooled matrix).
    labels : tuple of tuples of str
        Each dimension's bucket labels ("unknown" last where a value may be missing).
    counts : numpy.ndarray
        ``int64`` array ``(n_buckets, n_states, n_states)``: ``counts[b, i, j]`` is the
        number of loan-month pairs in bucket ``b`` from state ``i`` to state ``j``.
        Buckets are the cartesian product of ``labels``, last dimension fastest.

    Notes
    -----
    ``probabilities[b, i]`` is ``counts[b, i] / observations[b, i]``; a row with no
    observation is NaN (:meth:`filled` gives a usable matrix).
    """

    by: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    counts: IntArray

    @property
    def states(self) -> tuple[LoanState, ...]:
        """All states, in code order (the rows and columns of the matrices)."""
        return tuple(LoanState)

    @property
    def n_buckets(self) -> int:
        """Number of buckets (the product of the dimensions' label counts)."""
        return int(self.counts.shape[0])

    @property
    def n_pairs(self) -> int:
        """Number of loan-month pairs counted."""
        return int(self.counts.sum())

    @property
    def observations(self) -> IntArray:
        """Pairs leaving each state in each bucket, ``(n_buckets, n_states)``."""
        obs: IntArray = self.counts.sum(axis=2)
        return obs

    @property
    def probabilities(self) -> npt.NDArray[np.float64]:
        """Monthly transition probabilities; NaN rows where nothing was observed."""
        obs = self.observations[:, :, None].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            p: npt.NDArray[np.float64] = np.where(obs > 0, self.counts / obs, np.nan)
        return p

    def bucket(self, index: int) -> tuple[str, ...]:
        """The labels of bucket ``index``."""
        return tuple(itertools.product(*self.labels))[index] if self.labels else ()

    def bucket_index(self, **labels: str) -> int:
        """The index of the bucket with these labels (``age="0-12", fico="740+"``)."""
        if set(labels) != set(self.by):
            raise InputError(f"bucket needs exactly {self.by!r}, got {tuple(labels)!r}")
        index = 0
        for dim, names in zip(self.by, self.labels, strict=True):
            if labels[dim] not in names:
                raise InputError(f"bucket {dim}={labels[dim]!r}: expected one of {names!r}")
            index = index * len(names) + names.index(labels[dim])
        return index

    def pooled(self) -> TransitionMatrix:
        """All buckets summed into one matrix."""
        return TransitionMatrix(by=(), labels=(), counts=self.counts.sum(axis=0, keepdims=True))

    def filled(self) -> npt.NDArray[np.float64]:
        """Probabilities with every row usable: a row with no observation in its bucket
        takes the pooled row; a state never observed leaving stays where it is
        (terminal states are absorbing)."""
        p = self.probabilities
        pooled = self.pooled().probabilities[0]
        eye = np.eye(_N_STATES)
        pooled = np.where(np.isnan(pooled), eye, pooled)
        out: npt.NDArray[np.float64] = np.where(np.isnan(p), pooled[None], p)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: states, dimensions and the non-empty buckets."""
        names = [s.name for s in LoanState]
        buckets = []
        for b in range(self.n_buckets):
            obs = self.observations[b]
            if not obs.any():
                continue
            rows = {}
            for i in np.flatnonzero(obs):
                nz = np.flatnonzero(self.counts[b, i])
                rows[names[i]] = {
                    "observations": int(obs[i]),
                    "counts": {names[j]: int(self.counts[b, i, j]) for j in nz},
                    "probabilities": {names[j]: float(self.counts[b, i, j] / obs[i]) for j in nz},
                }
            buckets.append(
                {"bucket": dict(zip(self.by, self.bucket(b), strict=True)), "from": rows}
            )
        return {
            "states": names,
            "by": list(self.by),
            "labels": {d: list(lab) for d, lab in zip(self.by, self.labels, strict=True)},
            "pairs": self.n_pairs,
            "buckets": buckets,
        }


def bucket_codes(
    dim: str, values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """Bucket code of each value of dimension ``dim`` and the dimension's labels."""
    edges, labels, side = BUCKETS[dim]
    codes = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side=side).astype(np.int64)  # type: ignore[call-overload]
    missing = np.isnan(values)
    if dim == "age":
        codes[missing] = 0  # a pair always has an age; a blank one counts as new
        return codes, labels
    codes[missing] = len(labels)
    return codes, (*labels, "unknown")


def estimate_transitions(
    history: LoanHistory, by: Sequence[str] = ("age", "ltv", "fico")
) -> TransitionMatrix:
    """Count monthly transitions between loan states, by bucket.

    Parameters
    ----------
    history : LoanHistory
        A history from :func:`read_fannie_performance` or :func:`read_freddie_servicing`.
    by : sequence of {"age", "ltv", "fico"}
        Bucket dimensions, in order (``()`` for one pooled matrix). Age is the loan age
        at the first month of the pair; LTV (original, decimal) and credit score come
        from the acquisition/origination file ("unknown" without one).

    Returns
    -------
    TransitionMatrix

    Raises
    ------
    InputError
        An unknown or repeated bucket dimension.

    Notes
    -----
    Pairs need consecutive months of the same loan (a gap in a loan's history breaks
    the chain there), a live first state and a known second state. Counts are the
    sufficient statistics of a Markov chain; the probabilities are their maximum
    likelihood estimate.

    Examples
    --------
    >>> from pathlib import Path
    >>> d = Path("../shared/data")
    >>> if (d / "fannie_sflp_2007q3_performance.txt").exists():
    ...     from openmbs.servicing import read_fannie_performance
    ...     h = read_fannie_performance(d / "fannie_sflp_2007q3_acquisition.txt",
    ...                                 d / "fannie_sflp_2007q3_performance.txt")
    ...     m = estimate_transitions(h, by=("age",))
    ...     assert 0 < m.n_pairs <= 10_000 - h.n_loans
    """
    dims = tuple(by)
    for d in dims:
        if d not in BUCKETS:
            raise InputError(f"--by {d!r}: expected some of {', '.join(BUCKETS)}")
    if len(set(dims)) != len(dims):
        raise InputError(f"--by {','.join(dims)!r}: a dimension is repeated")
    months = history.months
    loan = np.asarray(months.column("loan_id").to_numpy(zero_copy_only=False))
    month = months.column("month").to_numpy().astype("datetime64[M]").astype(np.int64)
    state = months.column("state").to_numpy().astype(np.int64)
    same = loan[1:] == loan[:-1]
    pair = same & (month[1:] == month[:-1] + 1)
    live = np.isin(state[:-1], [int(s) for s in LIVE_STATES])
    pair &= live & (state[1:] != int(LoanState.UNKNOWN))
    ix = np.flatnonzero(pair)

    flat = np.zeros(ix.size, dtype=np.int64)
    labels: list[tuple[str, ...]] = []
    if dims:
        loans = history.loans
        lid = np.asarray(loans.column("loan_id").to_numpy(zero_copy_only=False))
        order = np.argsort(lid)
        pos = order[np.searchsorted(lid, loan[ix], sorter=order)]
        for d in dims:
            if d == "age":
                vals = months.column("loan_age").to_numpy(zero_copy_only=False)
                v = np.asarray(vals, dtype=np.float64)[ix]
            else:
                col = "ltv" if d == "ltv" else "credit_score"
                v = np.asarray(loans.column(col).to_numpy(zero_copy_only=False), dtype=np.float64)[
                    pos
                ]
            codes, names = bucket_codes(d, v)
            flat = flat * len(names) + codes
            labels.append(names)
    n_buckets = int(np.prod([len(x) for x in labels])) if labels else 1
    key = (flat * _N_STATES + state[ix]) * _N_STATES + state[ix + 1]
    counts = np.bincount(key, minlength=n_buckets * _N_STATES * _N_STATES).astype(np.int64)
    return TransitionMatrix(
        by=dims, labels=tuple(labels), counts=counts.reshape(n_buckets, _N_STATES, _N_STATES)
    )
