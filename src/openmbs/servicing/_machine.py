"""The loan state machine driven by an estimated transition matrix.

One monthly step moves every loan from its state to the next with the probabilities of
its bucket's row (:meth:`TransitionMatrix.filled`): one uniform draw per loan, compared
with the cumulative row. Arrays in, arrays out; no loop over loans. Terminal states are
absorbing. This is the state half of a simulator month: balances, payments and losses
stay with the caller (``openmbs.sim``), which can draw states here and book cash there.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openmbs.errors import InputError
from openmbs.servicing._states import TERMINAL_STATES, LoanState
from openmbs.servicing._transitions import BUCKETS, TransitionMatrix, bucket_codes

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

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StateMachine:
        """A state machine on the matrix of a file written by ``openmbs model transitions
        --out FILE`` (the JSON of :meth:`TransitionMatrix.to_dict`).

        The counts are the matrix; each row's probabilities must sum to 1 and agree with
        its counts (to 1e-9), so a file edited by hand cannot disagree with itself.

        Raises
        ------
        InputError
            The file is missing, not JSON, or holds an unknown state, bucket dimension or
            label, a negative or non-integer count, counts that do not add up to the
            row's observations, or probabilities that do not sum to 1: the message names
            the file, the row (``buckets[i].from.STATE``), the field and the value.
        """
        return cls(_read_matrix(Path(path)))

    def describe(self) -> dict[str, Any]:
        """The matrix's dimensions and the number of pairs it was estimated from."""
        return {
            "by": list(self.matrix.by),
            "buckets": self.matrix.n_buckets,
            "pairs": self.matrix.n_pairs,
        }


_PROB_TOL = 1e-9


def _read_matrix(path: Path) -> TransitionMatrix:
    """Parse and check a transition-matrix JSON file (see :meth:`StateMachine.read`)."""
    name = str(path)

    def bad(row: str | None, fld: str | None, value: Any, why: str) -> InputError:
        where = (
            f"file {name!r}" + (f", row {row}" if row else "") + (f", field {fld!r}" if fld else "")
        )
        return InputError(f"{where}, value {value!r}: {why}")

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"file {name!r}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(
            f"file {name!r}, line {line}: not a JSON transition matrix ({exc})"
        ) from exc
    if not isinstance(doc, dict):
        raise bad(
            None,
            None,
            type(doc).__name__,
            "expected a JSON object (openmbs model transitions --out)",
        )
    known = [s.name for s in LoanState]
    for key in ("states", "by", "labels", "buckets"):
        if key not in doc:
            raise bad(None, key, None, "missing (openmbs model transitions --out writes it)")
    states = doc["states"]
    if not isinstance(states, list):
        raise bad(None, "states", states, "expected a list of state names")
    for s in states:
        if s not in known:
            raise bad(None, "states", s, f"unknown state (expected one of {', '.join(known)})")
    if states != known:
        raise bad(None, "states", states, f"expected the states in code order: {known}")
    by = doc["by"]
    if not isinstance(by, list) or any(d not in BUCKETS for d in by) or len(set(by)) != len(by):
        raise bad(None, "by", by, f"expected distinct dimensions among {', '.join(BUCKETS)}")
    labels: list[tuple[str, ...]] = []
    for d in by:
        _, names = bucket_codes(d, np.array([np.nan]))
        got = doc["labels"].get(d) if isinstance(doc["labels"], dict) else None
        if got != list(names):
            raise bad(None, f"labels.{d}", got, f"expected {list(names)}")
        labels.append(names)
    n_buckets = int(np.prod([len(x) for x in labels])) if labels else 1
    counts = np.zeros((n_buckets, len(known), len(known)), dtype=np.int64)
    proto = TransitionMatrix(by=tuple(by), labels=tuple(labels), counts=counts)
    if not isinstance(doc["buckets"], list):
        raise bad(None, "buckets", type(doc["buckets"]).__name__, "expected a list")
    for i, entry in enumerate(doc["buckets"]):
        row = f"buckets[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("from"), dict):
            raise bad(row, "from", None, "expected an object with 'bucket' and 'from'")
        spec = entry.get("bucket", {})
        try:
            b = proto.bucket_index(**spec) if by else 0
        except (InputError, TypeError) as exc:
            raise bad(row, "bucket", spec, str(exc)) from None
        for src, cell in entry["from"].items():
            r = f"{row}.from.{src}"
            if src not in known:
                raise bad(r, "from", src, f"unknown state (expected one of {', '.join(known)})")
            if not isinstance(cell, dict):
                raise bad(
                    r, None, cell, "expected an object with observations, counts, probabilities"
                )
            obs = cell.get("observations")
            if not isinstance(obs, int) or isinstance(obs, bool) or obs < 0:
                raise bad(r, "observations", obs, "expected an integer >= 0")
            cnt, prob = cell.get("counts", {}), cell.get("probabilities", {})
            if not isinstance(cnt, dict) or not isinstance(prob, dict):
                raise bad(
                    r, "counts", cnt, "expected objects 'counts' and 'probabilities' by state"
                )
            for dst, c in cnt.items():
                if dst not in known:
                    raise bad(r, f"counts.{dst}", dst, "unknown state")
                if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                    raise bad(r, f"counts.{dst}", c, "expected an integer >= 0")
                counts[b, known.index(src), known.index(dst)] = c
            if sum(cnt.values()) != obs:
                raise bad(
                    r, "counts", sum(cnt.values()), f"counts add up to this, observations say {obs}"
                )
            total = 0.0
            for dst, p in prob.items():
                if dst not in known:
                    raise bad(r, f"probabilities.{dst}", dst, "unknown state")
                if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
                    raise bad(r, f"probabilities.{dst}", p, "expected a probability in [0, 1]")
                total += float(p)
            if obs and not math.isclose(total, 1.0, abs_tol=_PROB_TOL):
                raise bad(r, "probabilities", total, "a row's probabilities must sum to 1")
            for dst, p in prob.items():
                want = cnt.get(dst, 0) / obs if obs else 0.0
                if abs(float(p) - want) > _PROB_TOL:
                    raise bad(r, f"probabilities.{dst}", p, f"disagrees with the counts ({want!r})")
    return proto
