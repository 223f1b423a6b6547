"""The loan tape: a frozen holder of a canonical Arrow table."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from openmbs.collateral._schema import CANONICAL_SCHEMA
from openmbs.errors import Problem, TapeError

__all__ = ["LoanTape"]


@dataclass(frozen=True)
class LoanTape:
    """A pool of loans: one row per loan in the canonical schema.

    Attributes
    ----------
    table
        ``pyarrow.Table`` with exactly the columns and types of ``CANONICAL_SCHEMA``.
    source
        The file the tape was read from, or ``None`` (generated, built in memory).
    format
        The source format name (``"canonical-csv"``, ``"parquet"``, ``"freddie-sflld"``,
        ``"freddie-sflld-csv"``, ``"umbs-disclosure"``, ``"generated"``) or ``None``.
    rejected
        Problems of the rows left out when read with ``keep_good=True`` (else empty).

    Examples
    --------
    >>> from openmbs.collateral import generate_tape
    >>> len(generate_tape(5, seed=0))
    5
    """

    table: pa.Table
    source: str | None = None
    format: str | None = None
    rejected: tuple[Problem, ...] = ()

    def __post_init__(self) -> None:
        got = [(f.name, f.type) for f in self.table.schema]
        want = [(f.name, f.type) for f in CANONICAL_SCHEMA]
        if got != want:
            missing = [n for n, _ in want if n not in dict(got)]
            raise TapeError(
                "a LoanTape table must have the canonical columns and types"
                + (f" (missing {missing})" if missing else f" (got {got})"),
                file=self.source,
            )

    def __len__(self) -> int:
        return int(self.table.num_rows)
