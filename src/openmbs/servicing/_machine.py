"""The loan state machine driven by an estimated transition matrix.

One monthly step moves every loan from its state to the next with the probabilities of
its bucket's row (:meth:`TransitionMatrix.filled`): one uniform draw per loan, compared
with the cumulative row. Arrays in, arrays out; no loop over loans. Terminal states are
absorbing. This is the state half of a simulator month: balances, payments and losses
stay with the caller (``openmbs.sim``), which can draw states here and book cash there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from openmbs.errors import InputError
from openmbs.servicing._states import TERMINAL_STATES, LoanState
from openmbs.servicing._transitions import TransitionMatrix, bucket_codes

__all__ = ["StateMachine"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class StateMachine:
    """Monthly loan-state steps with an estimated :class:`TransitionMatrix`.

    Parameters
    ----------
    matrix : TransitionMatrix
        Counts by bucket; rows without observations take the pooled row, states never
        seen leaving stay put (:meth:`TransitionMatrix.filled`).

    Examples
    --------
    >>> import numpy as np
    >>> from openmbs.servicing import LoanState, TransitionMatrix
    >>> counts = np.zeros((1, len(LoanState), len(LoanState)), np.int64)
    >>> counts[0, LoanState.CURRENT, LoanState.CURRENT] = 9
    >>> counts[0, LoanState.CURRENT, LoanState.D30] = 1
    >>> sm = StateMachine(TransitionMatrix(by=(), labels=(), counts=counts))
    >>> s = sm.step(np.zeros(100_000, np.int8), rng=np.random.default_rng(1))
    >>> round(float((s == LoanState.D30).mean()), 2)
    0.1
    """

    matrix: TransitionMatrix
    _cumulative: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        p = self.matrix.filled()
        for s in TERMINAL_STATES:  # absorbing, whatever the data says
            p[:, s, :] = 0.0
            p[:, s, s] = 1.0
        c = np.cumsum(p, axis=2)
        c[:, :, -1] = 1.0  # no draw falls past the last state by rounding
        object.__setattr__(self, "_cumulative", c)

    def buckets(
        self,
        n: int,
        *,
        age: npt.ArrayLike | None = None,
        ltv: npt.ArrayLike | None = None,
        fico: npt.ArrayLike | None = None,
    ) -> IntArray:
        """The bucket index of each of ``n`` loans (age in months, LTV decimal, FICO);
        a dimension of the matrix not given counts as missing ("unknown", age 0-12)."""
        given = {"age": age, "ltv": ltv, "fico": fico}
        flat = np.zeros(n, dtype=np.int64)
        for dim, labels in zip(self.matrix.by, self.matrix.labels, strict=True):
            raw = given[dim]
            v = (
                np.full(n, np.nan)
                if raw is None
                else np.broadcast_to(np.asarray(raw, dtype=np.float64), (n,))
            )
            codes, names = bucket_codes(dim, v)
            if names != labels:  # pragma: no cover - both come from BUCKETS
                raise InputError(f"bucket labels of {dim!r} differ from the matrix's")
            flat = flat * len(labels) + codes
        return flat

    def step(
        self,
        states: npt.ArrayLike,
        *,
        rng: np.random.Generator,
        buckets: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.int8]:
        """Next month's state of every loan.

        Parameters
        ----------
        states : int array
            :class:`LoanState` codes.
        rng : numpy.random.Generator
            One uniform draw per loan is taken, live or not (paths depend on the seed
            only).
        buckets : int array, optional
            Bucket index per loan (:meth:`buckets`); 0 when not given.
        """
        s = np.asarray(states, dtype=np.int64)
        if s.size and (s.min() < 0 or s.max() >= len(LoanState)):
            bad = s[(s < 0) | (s >= len(LoanState))][0]
            raise InputError(f"state {int(bad)} is not a LoanState code")
        b = np.zeros(s.shape, dtype=np.int64) if buckets is None else np.asarray(buckets)
        if b.size and (b.min() < 0 or b.max() >= self.matrix.n_buckets):
            raise InputError(f"bucket index outside 0..{self.matrix.n_buckets - 1}")
        u = rng.random(s.shape)
        rows = self._cumulative[b, s]
        nxt: npt.NDArray[np.int8] = (u[..., None] >= rows).sum(axis=-1).astype(np.int8)
        return nxt

    def occupancy(self, start: npt.ArrayLike, months: int, *, bucket: int = 0) -> FloatArray:
        """Expected share of loans in each state after each of ``months`` steps, from a
        distribution ``start`` over states (no draws; the bucket is held fixed)."""
        p = np.diff(
            np.concatenate([np.zeros((len(LoanState), 1)), self._cumulative[bucket]], axis=1),
            axis=1,
        )
        x = np.asarray(start, dtype=np.float64)
        out = np.empty((months, len(LoanState)))
        for k in range(months):
            x = x @ p
            out[k] = x
        return out

    def describe(self) -> dict[str, Any]:
        """The matrix's dimensions and the number of pairs it was estimated from."""
        return {
            "by": list(self.matrix.by),
            "buckets": self.matrix.n_buckets,
            "pairs": self.matrix.n_pairs,
        }
