"""The lifecycle's inputs and outputs: :class:`LifecycleConfig`, :class:`LifecycleResult`,
the output folder's layout and the small file helpers the stages share."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.audit import AuditCheck
from openmbs.errors import DataIntegrityError, InputError
from openmbs.sim._servicing_cash import ServicingTerms

__all__ = [
    "LifecycleConfig",
    "LifecycleResult",
    "Progress",
    "legacy_loans_path",
    "loans_path",
    "read_loans",
    "write_loans",
]

MANIFEST = "state/manifest.json"
SIM_STATE = "state/sim.npz"
DEPLOYMENT = "state/deployment.json"
_FORMAT = "openmbs-lifecycle/1"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LifecycleConfig:
    """Inputs of a lifecycle run (rates as decimals; speeds in percent of their curve).

    ``psa``, ``sda`` in percent of the standard curves (150 is 150% PSA, as in
    ``Prepayment.psa(150)``); ``severity`` a decimal of the defaulted balance (0.35 is
    35%, as in ``project_pool(severity=)``); ``lag`` in months; ``advance`` what the
    servicer advances on delinquent and defaulted loans (``"none"``, ``"principal"`` or
    ``"all"``, as in :class:`~openmbs.sim.LoanSimulator`; default ``"none"``, the
    behaviour of earlier versions); ``servicing`` the servicer's advance stops, late
    fees and prepayment penalties (:class:`~openmbs.sim.ServicingTerms`, or its fields
    as a dict, as ``closing.json`` records them; ``None``: the defaults, which change
    nothing); ``tape`` a loan tape file (any format
    ``read_tape`` knows) or ``None`` for a generated tape of ``loans`` loans; ``deal`` an
    example deal name or a TOML file. ``acquisition`` and ``performance`` (both or
    neither) make the run a replay of that real history from the ``cutoff`` month
    (``YYYY-MM``; default: the pool fully formed), see :func:`openmbs.sim.replay`.
    ``transitions`` a transition-matrix file (``openmbs model transitions --out``): the
    simulator's loan states follow it instead of ``sda`` (prepayment still ``psa``;
    docs/simulation.md, "Loan states"). ``chain`` False skips the chain (off-chain
    lifecycle with the exact engine only; the run is then not reconciled on chain).
    ``test_waterfall`` wires the chain package's SequentialTestWaterfall TEST DOUBLE
    instead of ``Waterfall.vy`` (to exercise the plumbing; the audit then reports the
    waterfall mismatch, as it must). Every loan's final record is verified against the
    root stored on chain (proofs checked in Python against
    ``RemittanceOracle.loan_tape_root``, read from the chain); ``verify_limit`` of them
    (a seeded random sample; all when there are fewer) are also verified by the
    contract's ``verify_loan`` (one call each: a few tens of milliseconds in the
    embedded EVM, so not all of a large pool). ``rpc`` a
    JSON-RPC node URL to run on instead of the embedded EVM (the operator key comes
    from ``$OPENMBS_PRIVATE_KEY``; see ``docs/demo.md``). ``loan_sales`` True: after each
    accepted period a keeper starts the sale of the seriously delinquent loans and a
    compliant investor buys them; the next report confirms each sale as a liquidation
    with the net proceeds as recovery (``openmbs.sim._sales``, docs/demo.md).
    ``mitigation`` a loss-mitigation file (``openmbs model mitigation --out``, or a JSON
    object of :class:`~openmbs.sim.LossMitigation` fields): modifications, forbearance
    plans, short and third-party sales at those rates (``None``: none, as before).
    """

    tape: str | None = None
    deal: str = "four_tranche"
    loans: int = 2000
    investors: int = 20
    months: int = 360
    psa: float = 150.0
    sda: float = 100.0
    severity: float = 0.35
    lag: int = 6
    seed: int = 7
    chain: bool = True
    trade_probability: float = 0.3
    quorum: int = 3
    attestors: int = 5
    test_waterfall: bool = False
    verify_limit: int = 64
    rpc: str | None = None
    advance: str = "none"
    acquisition: str | None = None
    performance: str | None = None
    cutoff: str | None = None
    transitions: str | None = None
    servicing: ServicingTerms | None = None
    loan_sales: bool = False
    mitigation: str | None = None

    def __post_init__(self) -> None:
        from openmbs.cashflow import advance_mode

        if isinstance(self.servicing, dict):  # as closing.json records it
            try:
                object.__setattr__(self, "servicing", ServicingTerms(**self.servicing))
            except TypeError as exc:
                raise InputError(f"servicing value {self.servicing!r}: {exc}") from None
        if self.servicing is not None and not isinstance(self.servicing, ServicingTerms):
            raise InputError(f"servicing value {self.servicing!r}: need ServicingTerms")

        # a bool (earlier spelling) becomes "all"/"none"; anything else is refused
        object.__setattr__(self, "advance", advance_mode(self.advance, name="advance"))
        if self.loans < 1:
            raise InputError(f"--loans value {self.loans}: need at least 1")
        if not 1 <= self.investors <= 200:
            raise InputError(f"--investors value {self.investors}: need 1..200")
        if not 1 <= self.months <= 600:
            raise InputError(f"--months value {self.months}: need 1..600")
        if not (isinstance(self.severity, int | float) and 0 <= self.severity <= 1):
            raise InputError(
                f"severity value {self.severity!r}: need a decimal in [0, 1] (0.35 is 35%)"
            )
        if self.lag < 0:
            raise InputError(f"--lag value {self.lag}: need >= 0")
        if self.chain and self.lag < 2:
            raise InputError(
                f"--lag value {self.lag}: on chain need >= 2 (the oracle accepts a loss only on "
                "a loan reported 60+ days delinquent the month before; a loan defaults 30 days "
                "delinquent and rolls one bucket a month)"
            )
        if self.verify_limit < 1:
            raise InputError(f"verify_limit value {self.verify_limit}: need >= 1")
        if self.rpc is not None and not self.chain:
            raise InputError(f"--rpc value {self.rpc!r} with the chain disabled: a node run is on chain")
        if (self.performance is None) != (self.acquisition is None):
            raise InputError(
                f"--performance {self.performance!r} / --acquisition {self.acquisition!r}: a replay needs both"
            )
        if self.performance is not None and self.tape is not None:
            raise InputError(f"--tape {self.tape!r} with --performance: a replay's pool is the history's")
        if self.transitions is not None and self.performance is not None:
            raise InputError(
                f"--transitions {self.transitions!r} with --performance: a replay's states are the history's"
            )
        if self.mitigation is not None and self.performance is not None:
            raise InputError(
                f"--mitigation {self.mitigation!r} with --performance: a replay's loss mitigation is the history's"
            )
        if self.psa < 0 or self.sda < 0:
            raise InputError(f"--psa {self.psa} / --sda {self.sda}: need >= 0")
        if self.loan_sales and not self.chain:
            raise InputError("--sales with the chain disabled: loan sales are sales on chain")
        if self.loan_sales and self.performance is not None:
            raise InputError(
                f"--sales with --performance {self.performance!r}: a replay's records are a real "
                "history, which already says what became of every loan; it cannot contain a sale "
                "made on our chain, and the oracle would refuse every report after one (a sold "
                "loan must be reported liquidated with the sale's proceeds)"
            )

    def fingerprint(self) -> str:
        d = _config_record(self)  # severity in percent, as runs made before recorded it
        d.pop("months")  # a run may be extended
        if d["advance"] == "none":
            d.pop("advance")  # runs made before the choice existed keep their fingerprint
        for name in ("acquisition", "performance", "cutoff", "transitions", "mitigation"):
            if d[name] is None:
                d.pop(name)  # so do runs that are not replays
        if self.servicing is None or self.servicing.is_default:
            d.pop("servicing")  # and runs with the default servicing terms
        if not self.loan_sales:
            d.pop("loan_sales")  # and runs without loan sales
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _config_record(cfg: LifecycleConfig) -> dict[str, Any]:
    """The configuration as ``closing.json`` records it and the fingerprint hashes it.

    ``severity`` stays in percent there (35.0), the representation of earlier versions, so
    their output folders resume, audit and re-execute unchanged (the audit's
    ``reexecute`` divides it back); it is the shortest
    decimal of the API's value times 100 (0.35 -> 35.0), which gives back a percent typed
    with up to a dozen significant digits exactly.
    """
    d = asdict(cfg)
    d["severity"] = float(Decimal(repr(float(cfg.severity))).scaleb(2))
    return d


@dataclass(frozen=True)
class LifecycleResult:
    """What a lifecycle run produced (paths in ``out``; figures in base units).

    ``chain_seconds`` is the wall time spent on chain (deployment, monthly remittances
    with claims and trades, verify_loan); ``month_chain_seconds`` the median of one
    month's chain time; ``sim_seconds`` and ``bridge_seconds`` the loan simulation and
    the servicer bridge (records, leaves, tree, report) of the months simulated in this
    run.
    """

    out: Path
    periods: int
    resumed_from: int
    onchain: bool
    checks: tuple[AuditCheck, ...]
    tranche_totals: dict[str, dict[str, int]]
    chain_seconds: float
    sim_seconds: float
    bridge_seconds: float
    keeper_events: tuple[str, ...]
    note: str = ""
    audit: Any = None
    month_chain_seconds: float = 0.0

    @property
    def reconciled(self) -> bool:
        return self.onchain and all(c.ok for c in self.checks)


#: File of a period's loan records inside its Hive-style partition folder.
LOANS_PART = "part-0.parquet"
#: Key of the run's configuration record (JSON) in each loan file's Parquet metadata.
CONFIG_METADATA_KEY = b"openmbs.config"

#: Key of the loan records' money unit (JSON integer: ``record_decimals``) in the metadata.
RECORD_DECIMALS_METADATA_KEY = b"openmbs.record_decimals"


def loans_path(out: str | os.PathLike[str], period: int) -> Path:
    """The loan-level file of ``period`` in the output folder: a Hive-style partition
    folder, ``loans/period=NNNN/part-0.parquet`` (``pyarrow.dataset``, DuckDB,
    Spark and pandas read ``loans/`` as one table partitioned by period)."""
    return Path(out) / "loans" / f"period={period:04d}" / LOANS_PART


def legacy_loans_path(out: str | os.PathLike[str], period: int) -> Path:
    """Where versions before the partition folders wrote the file of ``period``:
    ``loans/period=NNNN.parquet``."""
    return Path(out) / "loans" / f"period={period:04d}.parquet"


def read_loans(out: str | os.PathLike[str], period: int) -> pa.Table:
    """The stored loan records of ``period`` (the lifecycle's layout).

    Raises
    ------
    DataIntegrityError
        The file is missing or unreadable, or the folder holds the older layout
        (``loans/period=NNNN.parquet``), which this version does not resume.
    """
    path = loans_path(out, period)
    if not path.exists():
        old = legacy_loans_path(out, period)
        if old.exists():
            raise DataIntegrityError(
                f"file {str(old)!r}: an older output layout (loans/period=NNNN.parquet; this version "
                "writes loans/period=NNNN/part-0.parquet); rerun with --fresh or use another --out"
            )
        raise DataIntegrityError(f"file {str(path)!r}: missing (period {period} was accepted)")
    try:
        return pq.ParquetFile(path).read()  # (read_table adds ~5 ms a file)
    except (OSError, pa.ArrowException) as exc:
        raise DataIntegrityError(f"file {str(path)!r}: unreadable ({exc})") from exc


def write_loans(
    out: str | os.PathLike[str],
    period: int,
    records: pa.Table,
    cfg: LifecycleConfig,
    *,
    record_decimals: int | None = None,
) -> Path:
    """Write the loan records of ``period`` atomically (temporary file, then rename),
    with the run's configuration record (``closing.json``'s ``config``) as JSON in the
    Parquet file metadata under ``openmbs.config``, and ``record_decimals`` (the money
    columns count ``10**-record_decimals`` currency units) under
    ``openmbs.record_decimals``."""
    path = loans_path(out, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(records.schema.metadata or {})
    meta[CONFIG_METADATA_KEY] = json.dumps(_config_record(cfg), sort_keys=True).encode()
    if record_decimals is not None:
        meta[RECORD_DECIMALS_METADATA_KEY] = json.dumps(int(record_decimals)).encode()
    tmp = path.with_name("." + path.name + ".tmp")  # hidden: dataset readers skip it
    pq.write_table(records.replace_schema_metadata(meta), tmp)
    os.replace(tmp, path)
    return path


def _atomic_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(x: Any) -> Any:
    if isinstance(x, bytes):
        return "0x" + x.hex()
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


