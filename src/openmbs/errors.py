"""The one exception hierarchy of openmbs.

Every error that openmbs raises on purpose derives from :class:`OpenMBSError`, so a
caller can catch them all with one ``except`` clause, or pick a branch::

    OpenMBSError
    ├── InputError                 bad input from a user: a file, a spec, a flag
    │   ├── TapeError              a loan tape (file, row, field, value)
    │   │   └── TapeValidationError  a tape with one or more invalid rows
    │   ├── SpecError              a deal spec (TOML key and value)
    │   └── AssumptionError        a behaviour assumption out of range (CPR > 100%, ...)
    ├── ModelError                 a numerical model could not produce a result
    │   └── ConvergenceError       a solver (yield from price, OAS, ...) did not converge
    ├── ChainError                 the chain refused or failed an operation
    │   └── RemittanceRejected     the oracle rejected a servicer report
    └── DataIntegrityError         stored data that does not reconcile (audit, indexer)

Messages name the file, row, field and the bad value wherever these exist, so that the
user can find and fix the problem without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AssumptionError",
    "ChainError",
    "ConvergenceError",
    "DataIntegrityError",
    "InputError",
    "ModelError",
    "OpenMBSError",
    "Problem",
    "RemittanceRejected",
    "SpecError",
    "TapeError",
    "TapeValidationError",
]


class OpenMBSError(Exception):
    """Base class of every error openmbs raises on purpose."""


class InputError(OpenMBSError, ValueError):
    """Bad input from a user: a file, a spec or an argument."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input, located as precisely as the input allows.

    ``row`` is 1-based and counts data rows (the header, if any, is not a row); it is
    ``None`` for a problem that concerns the whole file.
    """

    file: str | None
    row: int | None
    field: str | None
    value: Any
    reason: str

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"file {self.file!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        if self.field is not None or self.value is not None:
            parts.append(f"value {self.value!r}")
        where = ", ".join(parts)
        return f"{where}: {self.reason}" if where else self.reason


class TapeError(InputError):
    """A loan tape could not be read: names the file, row, field and value."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        value: Any = None,
    ) -> None:
        self.problem = Problem(file=file, row=row, field=field, value=value, reason=reason)
        super().__init__(str(self.problem))

    @property
    def file(self) -> str | None:
        return self.problem.file

    @property
    def row(self) -> int | None:
        return self.problem.row

    @property
    def field(self) -> str | None:
        return self.problem.field

    @property
    def value(self) -> Any:
        return self.problem.value


class TapeValidationError(TapeError):
    """A tape with one or more invalid rows; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem], *, file: str | None = None) -> None:
        if not problems:
            raise ValueError("TapeValidationError needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(
            first.reason, file=first.file or file, row=first.row, field=first.field, value=first.value
        )
        more = len(self.problems) - 1
        lines = [str(p) for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"... and {len(self.problems) - 20} more")
        head = f"{len(self.problems)} problem(s) in tape" + (f" {file!r}" if file else "")
        self.args = (head + ":\n  " + "\n  ".join(lines),)
        self._more = more

    def __str__(self) -> str:
        return str(self.args[0])


class SpecError(InputError):
    """A deal spec (TOML) is invalid: names the file, the key and the value."""

    def __init__(
        self, reason: str, *, file: str | None = None, key: str | None = None, value: Any = None
    ) -> None:
        self.file = file
        self.key = key
        self.value = value
        parts = []
        if file is not None:
            parts.append(f"file {file!r}")
        if key is not None:
            parts.append(f"key {key!r}")
            parts.append(f"value {value!r}")
        where = ", ".join(parts)
        super().__init__(f"{where}: {reason}" if where else reason)


class AssumptionError(InputError):
    """A behaviour assumption is out of its domain (for example a CPR above 100%)."""


class ModelError(OpenMBSError):
    """A numerical model could not produce a result."""


class ConvergenceError(ModelError):
    """An iterative solver did not converge."""


class ChainError(OpenMBSError):
    """The chain refused or failed an operation."""


class RemittanceRejected(ChainError):
    """The remittance oracle rejected a servicer report; nothing was applied."""

    def __init__(self, reason: str, *, period: int | None = None) -> None:
        self.period = period
        self.reason = reason
        super().__init__(f"period {period}: {reason}" if period is not None else reason)


class DataIntegrityError(OpenMBSError):
    """Stored data (event store, loan-level files) does not reconcile."""
