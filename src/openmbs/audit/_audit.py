"""Audit of a lifecycle output folder: recompute everything from the stored data and
check it against an anchor the folder cannot forge.

Sources: the loan-level files (``loans/period=NNNN/part-0.parquet``; a folder of an
older version, ``loans/period=NNNN.parquet``, is read the same way), the deal at closing
(``closing.json``), the manifest of accepted roots (``state/manifest.json``) and the
event store (``events.duckdb``). Nothing computed during the run (``lifecycle.json``) is
trusted, and the event store is opened as a file someone else wrote
(:func:`openmbs.indexer.open_untrusted`).

Anchors
-------
Files alone can only be checked against each other: whoever edits a loan file, its
leaf, the accepted root in the event store and the manifest together passes. So the
audit reads the chain's history from an anchor and says, per check, which one it used:

``chain via RPC``
    ``audit(folder, rpc=URL, deal=ADDRESS)``: the deal's events read from the node
    (``eth_getLogs``) and its state (``eth_call``: accepted roots, original faces, token
    supplies).
``re-executed chain``
    A run on the embedded EVM is deterministic (fixed genesis time, keys derived from
    the seed): the audit runs the lifecycle again from its configuration
    (``closing.json``'s ``config``) in a temporary folder and reads that chain's events.
``files only``
    ``files_only=True``: the folder checked against itself. The user narrows the audit
    explicitly; checks that need the chain then say "not checked" instead of failing.

Missing evidence is a failure: a check that cannot run fails the audit unless the user
narrowed it, and the report lists what was not checked.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.errors import DataIntegrityError, InputError
from openmbs.oracle import RemittanceReport

__all__ = [
    "ANCHOR_FILES",
    "ANCHOR_REEXECUTED",
    "ANCHOR_RPC",
    "ANCHOR_RUN",
    "AuditCheck",
    "AuditReport",
    "ReconCheck",
    "audit",
    "reconcile",
]

_MAX_LISTED = 50

#: The chain's history read from a JSON-RPC node.
ANCHOR_RPC = "chain via RPC"
#: The chain of an embedded run, re-executed from the run's configuration.
ANCHOR_REEXECUTED = "re-executed chain"
#: The folder's own files (the user narrowed the audit).
ANCHOR_FILES = "files only"
#: The run's own process: its live chain and exact engine (the lifecycle's checks).
ANCHOR_RUN = "the run itself"



@dataclass(frozen=True)
class AuditCheck:
    """One audit check: name, whether it passed, a one-line summary, every mismatch
    (``period``, ``loan``, ``tranche`` named where they apply), whether it could not run
    (``skipped``: then ``ok`` only when the user narrowed the audit), and the anchor of
    the figures it compared (``chain via RPC``, ``re-executed chain``, ``files only``)."""

    name: str
    ok: bool
    detail: str
    mismatches: tuple[str, ...] = ()
    skipped: bool = False
    anchor: str = ANCHOR_FILES


#: The lifecycle's reconciliation checks are audit checks: one check type.
#: ``ReconCheck(name, ok, detail)`` builds an :class:`AuditCheck` (re-exported as
#: ``openmbs.sim.ReconCheck``); the checks a run makes in its own process (its live
#: chain and exact engine) carry the anchor :data:`ANCHOR_RUN`.
ReconCheck = AuditCheck


@dataclass(frozen=True)
class AuditReport:
    """Every check of :func:`audit`; ``ok`` when none failed."""

    folder: Path
    checks: tuple[AuditCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def mismatches(self) -> list[str]:
        return [m for c in self.checks for m in c.mismatches]

    @property
    def not_checked(self) -> list[str]:
        """Names of the checks that did not run (failed, or narrowed away)."""
        return [c.name for c in self.checks if c.skipped]


def _check(name: str, mismatches: list[str], detail: str, anchor: str) -> AuditCheck:
    shown = tuple(mismatches[:_MAX_LISTED])
    if len(mismatches) > _MAX_LISTED:
        shown += (f"... and {len(mismatches) - _MAX_LISTED} more",)
    return AuditCheck(
        name,
        not mismatches,
        detail if not mismatches else f"{len(mismatches)} mismatch(es); {detail}",
        shown,
        anchor=anchor,
    )


def _not_checked(name: str, why: str, *, narrowed: bool, anchor: str) -> AuditCheck:
    """A check that could not run: a failure unless the user narrowed the audit."""
    return AuditCheck(
        name,
        narrowed,
        f"not checked: {why}",
        () if narrowed else (f"{name}: not checked ({why})",),
        skipped=True,
        anchor=anchor,
    )


def _loan_file(folder: Path, period: int) -> Path:
    """The loan file of ``period``: ``loans/period=NNNN/part-0.parquet`` (the layout
    ``openmbs.sim.loans_path`` writes), or ``loans/period=NNNN.parquet`` in a folder
    written by an older version (read the same way)."""
    new = folder / "loans" / f"period={period:04d}" / "part-0.parquet"
    old = folder / "loans" / f"period={period:04d}.parquet"
    return old if not new.exists() and old.exists() else new


def _periods(folder: Path) -> list[int]:
    """Periods with a loan file, in either layout."""
    found = {int(f.parent.name.split("=")[1]) for f in (folder / "loans").glob("period=*/part-0.parquet")}
    found |= {int(f.stem.split("=")[1]) for f in (folder / "loans").glob("period=*.parquet")}
    return sorted(found)


def _older_layout(folder: Path) -> bool:
    return any((folder / "loans").glob("period=*.parquet"))


def _int(v: Any) -> int | None:
    """A stored integer (its text, or a number); None when missing or garbled."""
    if v is None or isinstance(v, bool | float):
        return None
    try:
        return int(str(v))
    except ValueError:
        return None


def _bad_value(where: str, field_name: str, v: Any) -> str:
    what = "missing" if v is None else f"garbled ({str(v)[:40]!r})"
    return f"{where} field {field_name!r}: stored value {what}"


def _root(v: Any) -> bytes | None:
    """A stored 32-byte root (``0x`` hex); None when missing or garbled."""
    s = str(v).lower() if v is not None else ""
    s = s[2:] if s.startswith("0x") else s
    try:
        b = bytes.fromhex(s)
    except ValueError:
        return None
    return b if len(b) == 32 else None


def _hex(v: Any) -> str:
    s = str(v).lower()
    return s if s.startswith("0x") else "0x" + s


def _stored_leaves(t: pa.Table) -> npt.NDArray[np.uint8] | None:
    """The ``leaf`` column of a period file as an ``(n, 32)`` array; None when it is
    missing, not 32-byte binary or has missing values."""
    if "leaf" not in t.column_names:
        return None
    col = t.column("leaf").combine_chunks()
    if col.type != pa.binary(32) or col.null_count:
        return None
    buf = np.frombuffer(col.buffers()[1], dtype=np.uint8)
    return buf[col.offset * 32 : (col.offset + len(col)) * 32].reshape(-1, 32)


#: The report fields the loan records determine: every field of the one definition
#: (``openmbs.oracle.RemittanceReport``) but the period, the root (checked on its own)
#: and the two the servicer states (the index rate, subsequent recoveries).
_AGGREGATES = tuple(
    f.name
    for f in dataclasses.fields(RemittanceReport)
    if f.name not in ("period", "loan_tape_root", "index_rate", "subsequent_recoveries")
)


@dataclass
class _Evidence:
    """The chain's history the checks compare against, and where it came from."""

    anchor: str
    con: Any  # DuckDB connection to an event store, or None
    why_missing: str = ""
    state: dict[str, Any] = field(default_factory=dict)  # RPC: values read by eth_call
    closing: dict[str, Any] | None = None  # re-executed: the closing.json of the rerun
    addresses: set[str] | None = None  # contracts the anchor's events cover (lower case)


def audit(
    folder: str | Path,
    *,
    rpc: str | None = None,
    deal: str | None = None,
    files_only: bool = False,
) -> AuditReport:
    """Recompute a lifecycle output folder and check it against the chain.

    Parameters
    ----------
    folder : str or Path
        Output folder of ``openmbs demo`` (or :func:`openmbs.sim.run_lifecycle`).
    rpc, deal : str, optional
        JSON-RPC URL of the node and address of the ``Deal`` contract: the anchor is
        the chain itself (events by ``eth_getLogs``, state by ``eth_call``). Both or
        neither.
    files_only : bool, default False
        Narrow the audit to the folder's own files (no chain anchor, no re-execution):
        checks that need a chain are reported as not checked instead of failing. Without
        ``rpc`` and without ``files_only``, a run on the embedded EVM is re-executed from
        its configuration; a run on a node needs ``rpc``.

    Checks
    ------
    1. Loan leaves: each loan record's ``keccak256(keccak256(abi.encode(record)))`` equals the leaf
       stored with it (names period and loan of any edited record).
    2. Merkle roots: the root of each period's stored leaves equals the root the oracle
       accepted (``RemittanceAccepted`` events of the anchor; the manifest, files only
       and only for a run without a chain).
    3. Reports: the accepted report's aggregates equal the sums of the loan-level records
       (times ``10**(decimals - record_decimals)``: records of an 18-decimal asset count
       9-decimal units).
    4. Waterfall: per period and tranche, interest, principal, loss, write-up and
       balance on chain (``TrancheAllocated``) equal the exact Python waterfall run on the
       accepted reports.
    5. Token supplies: per tranche token, the holders' balances (from ``Transfer``
       events) add up to the original face.
    6. Claims: per tranche, holders' claims never exceed the cash credited to the
       tranche; what is left unclaimed is reported.
    7. With an anchor: the folder's ``events.duckdb`` holds exactly the anchor's events
       (an edited row is named), and ``closing.json`` holds the deal on chain (faces; RPC:
       also the oracle's roots and the token supplies read by ``eth_call``).

    Raises
    ------
    InputError
        Not a lifecycle folder, or only one of ``rpc`` and ``deal``.
    DataIntegrityError
        An event store that holds anything but the event store's tables (see
        :func:`openmbs.indexer.verify_store`).
    """
    folder = Path(folder)
    closing_path = folder / "closing.json"
    if not closing_path.exists():
        raise InputError(f"folder {str(folder)!r}: no closing.json (not a lifecycle output folder)")
    if (rpc is None) != (deal is None):
        raise InputError(f"--rpc {rpc!r} / --deal {deal!r}: give both (the node and the Deal address) or neither")
    if rpc is not None and files_only:
        raise InputError(f"--rpc {rpc!r} with --files-only: an RPC audit is anchored to the chain")
    closing = json.loads(closing_path.read_text())
    config = closing.get("config") if isinstance(closing.get("config"), dict) else {}
    on_chain = bool(config.get("chain", True))
    with _open_folder_store(folder):
        pass  # a foreign event store is refused before anything runs (re-execution)
    with _evidence(folder, config, rpc=rpc, deal=deal, files_only=files_only) as ev:
        checks = _audit(folder, closing, on_chain, ev, files_only=files_only)
    return AuditReport(folder, tuple(checks))


@contextmanager
def _open_folder_store(folder: Path) -> Iterator[Any]:
    from openmbs.indexer import open_untrusted

    db = folder / "events.duckdb"
    if not db.exists():
        yield None
        return
    con = open_untrusted(db)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def _evidence(
    folder: Path, config: dict[str, Any], *, rpc: str | None, deal: str | None, files_only: bool
) -> Iterator[_Evidence]:
    if rpc is not None and deal is not None:
        from openmbs.audit._anchor import rpc_evidence

        store, state, addresses = rpc_evidence(rpc, deal)
        try:
            yield _Evidence(ANCHOR_RPC, store.con, state=state, addresses=addresses)
        finally:
            store.close()
        return
    if files_only or not config.get("chain", True) or config.get("rpc"):
        why = ""
        if not files_only:
            why = (
                "the run was on a node: pass --rpc URL --deal ADDRESS, or --files-only"
                if config.get("rpc")
                else "the run had no chain (pass --files-only to audit its files alone)"
            )
        with _open_folder_store(folder) as con:
            yield _Evidence(ANCHOR_FILES, con, why_missing=why)
        return
    from openmbs.audit._anchor import reexecute

    with tempfile.TemporaryDirectory(prefix="openmbs-audit-") as tmp:
        try:
            rerun = reexecute(config, Path(tmp) / "rerun")
        except Exception as exc:  # the rerun is evidence; its failure is a finding
            yield _Evidence(
                ANCHOR_REEXECUTED,
                None,
                why_missing=f"re-executing the run from closing.json's config failed ({exc})",
            )
            return
        with _open_folder_store(rerun) as con:
            yield _Evidence(
                ANCHOR_REEXECUTED,
                con,
                closing=json.loads((rerun / "closing.json").read_text()),
            )


def _read_manifest(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest of accepted roots, or None and what is wrong with it (missing,
    unreadable, or not a last period with as many ``0x`` roots)."""
    path = folder / "state" / "manifest.json"
    where = f"file {str(path)!r}"
    if not path.exists():
        return None, [f"{where}: missing"]
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, [f"{where}: unreadable ({exc})"]
    if not isinstance(m, dict):
        return None, [f"{where}: not a JSON object"]
    last, roots = _int(m.get("last_period")), m.get("roots")
    if last is None or last < 0:
        return None, [_bad_value(where, "last_period", m.get("last_period"))]
    if not isinstance(roots, list) or len(roots) != last or any(_root(r) is None for r in roots):
        return None, [f"{where} field 'roots': need {last} 32-byte 0x roots, got {str(roots)[:60]!r}"]
    return m, []


def _chain_reports(ev: _Evidence) -> tuple[dict[int, dict[str, Any]] | None, list[str]]:
    """The accepted reports of the anchor by period (None: no event store, or no
    report indexed), and the reports whose period is missing or garbled."""
    from openmbs.indexer import remittance_reports

    rows = remittance_reports(ev.con) if ev.con is not None else None
    if rows is None:
        return None, []
    out: dict[int, dict[str, Any]] = {}
    bad: list[str] = []
    for row in rows:
        k = _int(row.get("period"))
        if k is None:
            where = f"RemittanceAccepted at block {row['block_number']} log {row['log_index']}"
            bad.append(_bad_value(where, "period", row.get("period")))
        else:
            out[k] = row
    return out, bad


@dataclass
class _LoanFindings:
    leaf: list[str] = field(default_factory=list)
    root: list[str] = field(default_factory=list)
    agg: list[str] = field(default_factory=list)


def _read_period(path: Path, k: int, found: _LoanFindings) -> pa.Table | None:
    """A period's loan file, or None (and why, in ``found.leaf``)."""
    if not path.exists():
        found.leaf.append(f"period {k}: file {str(path)!r} missing (the period was accepted)")
        return None
    try:
        t = pq.ParquetFile(path).read()  # (read_table adds ~5 ms a file)
    except Exception as exc:  # any unreadable file is a finding, whatever the reader raised
        found.leaf.append(f"period {k}: file {str(path)!r} unreadable ({exc})")
        return None
    holes = [c for c in t.column_names if c != "leaf" and t.column(c).null_count]
    for c in holes:
        j = int(np.flatnonzero(t.column(c).is_null().to_numpy(zero_copy_only=False))[0])
        loan = t.column("loan_id")[j].as_py() if "loan_id" in t.column_names else j
        found.leaf.append(f"period {k} loan {loan!r} field {c!r}: stored value missing")
    return None if holes else t


def _unit_scale(closing: dict[str, Any]) -> tuple[int, list[str]]:
    """Asset base units per loan-record unit, ``10**(decimals - min(decimals, 9))``
    (the convention the records are written in), and a finding when ``closing.json``
    states another ``record_decimals``."""
    from openmbs.agents import record_decimals

    dec = closing.get("decimals", 6)
    if not isinstance(dec, int) or isinstance(dec, bool) or not 0 <= dec <= 36:
        return 1, [_bad_value("file 'closing.json'", "decimals", dec)]
    rdec = record_decimals(dec)
    stated = closing.get("record_decimals", rdec)
    if stated != rdec:
        return 10 ** (dec - rdec), [
            f"file 'closing.json' field 'record_decimals' value {stated!r}: records of a "
            f"{dec}-decimal asset are in {rdec} decimals"
        ]
    return 10 ** (dec - rdec), []


def _check_period(
    folder: Path,
    k: int,
    want_root: str | None,
    chain_row: dict[str, Any] | None,
    found: _LoanFindings,
    unit_scale: int = 1,
) -> None:
    """One period's file: records against stored leaves, the root of the stored leaves
    against ``want_root`` (None: no accepted root known), the aggregates (the records'
    sums times ``unit_scale``, in the asset's base units) against the accepted report
    ``chain_row``."""
    from openmbs.agents import LoanTree, leaf_array, report_from_records

    path = _loan_file(folder, k)
    t = _read_period(path, k, found)
    if t is None:
        return
    try:
        recomputed = leaf_array(t)
        stored = _stored_leaves(t)
        if stored is None:
            found.leaf.append(f"period {k}: file {str(path)!r} has no 32-byte 'leaf' for every loan")
            stored = recomputed
        root = LoanTree(stored).root if len(stored) else b""
        rep = report_from_records(k, t, root if len(root) == 32 else b"\0" * 32, unit_scale=unit_scale)
    except (InputError, DataIntegrityError, ValueError, KeyError, pa.ArrowException) as exc:
        found.leaf.append(f"period {k}: file {str(path)!r} records unusable ({exc})")
        return
    for j in np.flatnonzero((recomputed != stored).any(axis=1)).tolist():
        found.leaf.append(
            f"period {k} loan {t.column('loan_id')[j].as_py()!r}: record does not hash to its stored leaf"
        )
    if want_root is not None and "0x" + root.hex() != want_root:
        found.root.append(f"period {k}: root of stored leaves 0x{root.hex()} != accepted root {want_root}")
    if chain_row is None:
        return
    for f in _AGGREGATES:
        if f not in chain_row:
            continue  # an event without the field
        got = _int(chain_row[f])
        if got is None:
            found.agg.append(_bad_value(f"period {k}", f, chain_row[f]))
        elif got != getattr(rep, f):
            found.agg.append(f"period {k} field {f!r}: reported {got}, loan-level sum {getattr(rep, f)}")


def _accepted_root(k: int, chain_reports: dict[int, dict[str, Any]], manifest: dict[str, Any] | None) -> str:
    if k in chain_reports:
        v = chain_reports[k].get("loan_tape_root")
        r = _root(v)
        return "0x" + r.hex() if r is not None else f"{str(v)[:70]!r} (garbled)"
    if manifest is not None and k - 1 < len(manifest["roots"]):
        return str(manifest["roots"][k - 1]).lower()
    return "None"


def _loan_checks(
    folder: Path,
    ev: _Evidence,
    manifest: dict[str, Any] | None,
    on_chain: bool,
    closing: dict[str, Any] | None = None,
) -> tuple[list[AuditCheck], bool]:
    """Checks 1-3: loan records against leaves, roots, report aggregates. Returns the
    checks and whether accepted reports were found in the anchor's events."""
    anchor = ev.anchor
    chain_reports, bad_rows = _chain_reports(ev)
    files = _periods(folder)
    if chain_reports is not None:
        periods = sorted(chain_reports)
        roots_from = f"the accepted roots ({anchor})"
    elif manifest is not None and not on_chain:
        periods = list(range(1, int(manifest["last_period"]) + 1))
        roots_from = "the manifest (files only: a run without a chain)"
    else:
        periods, roots_from = [], ""
    found = _LoanFindings(root=list(bad_rows))
    unit_scale, scale_bad = _unit_scale(closing or {})
    found.agg.extend(scale_bad)
    # with no accepted period known, every loan file is still checked against its leaves
    for k in periods or files:
        want = _accepted_root(k, chain_reports or {}, manifest) if periods else None
        _check_period(folder, k, want, (chain_reports or {}).get(k), found, unit_scale)
    not_accepted = [k for k in files if k not in periods]
    notes = f"; loan file(s) of period(s) {not_accepted} not accepted, not read" if not_accepted else ""
    if _older_layout(folder):
        notes += "; older layout (loans/period=NNNN.parquet)"
    leaf_name, root_name = "loan records hash to their stored leaves", "Merkle roots match the accepted roots"
    if not periods:
        why = (
            "no accepted period to check (no RemittanceAccepted event"
            + ("" if ev.con is not None else ", no event store")
            + ("" if manifest is not None else ", no manifest")
            + ")"
        )
        detail = f"{len(files)} period file(s), all read: no accepted period known{notes}"
        checks = [
            _check(leaf_name, found.leaf, detail, ANCHOR_FILES),
            _not_checked(root_name, why, narrowed=False, anchor=anchor),
        ]
    else:
        root_anchor = anchor if chain_reports is not None else ANCHOR_FILES
        checks = [
            _check(leaf_name, found.leaf, f"{len(periods)} period file(s){notes}", ANCHOR_FILES),
            _check(root_name, found.root, f"{len(periods)} period(s) against {roots_from}", root_anchor),
        ]
    name = "report aggregates equal loan-level sums"
    if chain_reports is not None:
        checks.append(_check(name, found.agg, f"{len(periods)} period(s), {len(_AGGREGATES)} fields each", anchor))
    else:
        narrowed = ev.con is None and not on_chain
        checks.append(_not_checked(name, _no_events(ev), narrowed=narrowed, anchor=anchor))
    return checks, chain_reports is not None


def _anchor_checks(ev: _Evidence, files_only: bool) -> list[AuditCheck]:
    if ev.why_missing:
        return [_not_checked("chain anchor", ev.why_missing, narrowed=False, anchor=ev.anchor)]
    if files_only:
        why = "narrowed to the folder's files, checked against each other only"
        return [_not_checked("chain anchor", why, narrowed=True, anchor=ev.anchor)]
    return []


def _audit(
    folder: Path, closing: dict[str, Any], on_chain: bool, ev: _Evidence, *, files_only: bool
) -> list[AuditCheck]:
    anchor = ev.anchor
    narrowed = files_only or not on_chain
    checks = _anchor_checks(ev, files_only)
    manifest, manifest_bad = _read_manifest(folder)
    if manifest_bad:
        name = "the manifest of accepted roots is present"
        checks.append(_check(name, manifest_bad, "state/manifest.json", ANCHOR_FILES))
    loan_checks, accepted = _loan_checks(folder, ev, manifest, on_chain, closing)
    checks.extend(loan_checks)
    # 4: waterfall
    if accepted and ev.con is not None:
        checks.append(_waterfall_check(closing, ev.con, anchor))
    else:
        why = _no_events(ev)
        checks.append(
            _not_checked("on-chain waterfall equals the exact engine", why, narrowed=narrowed and not on_chain, anchor=anchor)
        )
    # 5-6: tokens and claims
    if ev.con is not None:
        checks.extend(_token_checks(ev.con, closing, anchor))
    else:
        why = _no_events(ev)
        checks.append(_not_checked("token supplies and claims", why, narrowed=narrowed and not on_chain, anchor=anchor))
    # 7: the folder's own copies against the anchor
    if anchor != ANCHOR_FILES and ev.con is not None:
        from openmbs.audit._anchor import closing_check, events_check

        reports, _ = _chain_reports(ev)
        with _open_folder_store(folder) as own:
            checks.append(events_check(own, ev.con, folder, anchor, ev.addresses))
        roots = {k: _hex(r.get("loan_tape_root")) for k, r in (reports or {}).items()}
        checks.append(closing_check(closing, ev.closing, ev.state, manifest, roots, anchor))
    return checks


def _no_events(ev: _Evidence) -> str:
    if ev.anchor == ANCHOR_FILES:
        return "no events.duckdb in the folder"
    return ev.why_missing or f"no events from the {ev.anchor}"


def _stored_report(k: int, row: dict[str, Any], bad: list[str]) -> RemittanceReport | None:
    """The accepted report of period ``k`` from its stored values (None, and each
    missing or garbled value in ``bad``)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(RemittanceReport):
        # fields appended later (subsequent recoveries, servicing cash): 0 in older events
        v = row.get(f.name, "0" if f.default is not dataclasses.MISSING else None)
        parsed: Any = _root(v) if f.name == "loan_tape_root" else _int(v)
        if parsed is None:
            bad.append(_bad_value(f"period {k}", f.name, v))
        values[f.name] = parsed
    if len(bad):
        return None
    try:
        return RemittanceReport(**values)
    except (InputError, ValueError) as exc:
        bad.append(f"period {k}: stored report refused ({exc})")
        return None


def _allocations(con: Any, bad: list[str]) -> dict[tuple[int, int], dict[str, Any]]:
    from openmbs.indexer import event_rows

    out: dict[tuple[int, int], dict[str, Any]] = {}
    for r in event_rows(con, "TrancheAllocated") or []:
        k, i = _int(r.get("period")), _int(r.get("tranche"))
        if k is None or i is None:
            where = f"TrancheAllocated at block {r['block_number']} log {r['log_index']}"
            bad.append(_bad_value(where, "period" if k is None else "tranche", r.get("period" if k is None else "tranche")))
            continue
        out[k, i] = r
    return out


def _waterfall_check(closing: dict[str, Any], con: Any, anchor: str) -> AuditCheck:
    from openmbs.indexer import other_income, remittance_reports
    from openmbs.structuring import (
        apply_period,
        compile_exact,
        exact_remittance,
        initial_state,
        parse_deal,
    )

    name = "on-chain waterfall equals the exact engine"
    try:
        exact = compile_exact(parse_deal(closing["deal_spec"]))
    except Exception as exc:  # a stored deal spec that does not compile is a finding
        return _check(name, [f"file 'closing.json' field 'deal_spec': unusable ({exc})"], "", anchor)
    wf_bad: list[str] = []
    onchain = _allocations(con, wf_bad)
    reports = {k: r for r in remittance_reports(con) or [] if (k := _int(r.get("period"))) is not None}
    try:  # late-report penalties each period distributed beside the servicer's cash
        others = other_income(con)
    except DataIntegrityError as exc:
        return _check(name, [str(exc)], "", anchor)
    state = initial_state(exact)
    for k in sorted(reports):
        rep = _stored_report(k, reports[k], wf_bad)
        if rep is None:
            break  # the engine cannot go on without the period
        try:
            state, res = apply_period(exact, state, exact_remittance(rep, other_income=others.get(k, 0)))
        except Exception as exc:  # the engine refusing a stored report is a finding
            wf_bad.append(f"period {k}: exact engine refused the report ({exc})")
            break
        for i in range(exact.n_tranches):
            got = onchain.get((k, i))
            where = f"period {k} tranche {exact.names[i]}"
            if got is None:
                wf_bad.append(f"{where}: no TrancheAllocated event")
                continue
            for f, want_v in (
                ("interest", res.interest_paid[i]),
                ("principal", res.principal_paid[i]),
                ("loss", res.writedown[i]),
                ("writeup", res.writeup[i]),
                ("balance", res.ending_balance[i]),
            ):
                if f not in got:  # events of a waterfall without write-ups
                    continue
                v = _int(got[f])
                if v is None:
                    wf_bad.append(_bad_value(where, f, got[f]))
                elif v != want_v:
                    wf_bad.append(f"{where} {f}: on chain {v}, exact engine {want_v}")
    for k in sorted(set(others) - set(reports)):
        wf_bad.append(f"period {k}: other income {others[k]} distributed without an accepted report")
    detail = f"{len(reports)} period(s) x {exact.n_tranches} tranche(s)"
    if others:
        detail += f"; late-report penalties to holders {sum(others.values())} in {len(others)} period(s)"
    return _check(name, wf_bad, detail, anchor)


def _tokens(con: Any, bad: list[str]) -> list[str]:
    """The tranche tokens the deal configured (lower case); problems in ``bad``."""
    from openmbs.indexer import event_rows

    rows = event_rows(con, "DealConfigured") or []
    if not rows:
        bad.append("event store holds no DealConfigured event")
        return []
    raw = rows[0].get("tokens")
    try:
        tokens = json.loads(str(raw))
    except ValueError:
        tokens = None
    if not isinstance(tokens, list) or not all(isinstance(a, str) and len(a) == 42 for a in tokens):
        bad.append(_bad_value("DealConfigured", "tokens", raw))
        return []
    return [a.lower() for a in tokens]


def _closing_faces(closing: dict[str, Any], bad: list[str]) -> tuple[list[str], list[int]]:
    names, faces = closing.get("tranche_names"), closing.get("tranche_face")
    parsed = [_int(x) for x in faces] if isinstance(faces, list) else None
    if not isinstance(names, list) or parsed is None or any(x is None for x in parsed) or len(parsed) != len(names):
        bad.append(_bad_value("file 'closing.json'", "tranche_face", faces))
        return [], []
    return [str(n) for n in names], [int(x) for x in parsed if x is not None]


def _token_checks(con: Any, closing: dict[str, Any], anchor: str) -> list[AuditCheck]:
    from openmbs.indexer import holder_claims, holder_positions, tranche_payments

    sup_bad: list[str] = []
    tokens = _tokens(con, sup_bad)
    names, faces = _closing_faces(closing, sup_bad)
    supply: dict[str, int] = {}
    for r in holder_positions(con).to_pylist():
        tok, bal = str(r["contract_address"]).lower(), int(r["balance"] or 0)
        supply[tok] = supply.get(tok, 0) + bal
        if bal < 0:
            sup_bad.append(f"token {tok} holder {str(r['holder']).lower()}: negative balance {bal}")
    for i, tok in enumerate(tokens if faces else []):
        if i >= len(faces):
            sup_bad.append(f"token {tok}: no tranche {i} in closing.json")
        elif supply.get(tok, 0) != faces[i]:
            sup_bad.append(f"tranche {names[i]}: holders' balances {supply.get(tok, 0)} != original face {faces[i]}")
    checks = [_check("token balances add up to the original face", sup_bad, f"{len(tokens)} token(s)", anchor)]
    credited: dict[int, int] = {}
    for r in tranche_payments(con).to_pylist():
        credited[r["tranche"]] = credited.get(r["tranche"], 0) + int(r["interest"] or 0) + int(r["principal"] or 0)
    claimed: dict[int, int] = {}
    for r in holder_claims(con).to_pylist():
        claimed[r["tranche"]] = claimed.get(r["tranche"], 0) + int(r["claimed"] or 0)
    cl_bad: list[str] = []
    left: list[str] = []
    for i, n in enumerate(names):
        c, p = credited.get(i, 0), claimed.get(i, 0)
        if p > c:
            cl_bad.append(f"tranche {n}: claimed {p} > credited {c}")
        left.append(f"{n} {c - p}")
    detail = "unclaimed (rounding dust and open claims): " + ", ".join(left)
    checks.append(_check("claims never exceed the cash credited", cl_bad, detail, anchor))
    return checks


def reconcile(
    folder: str | Path,
    *,
    exact: Any,
    results: Sequence[Any],
    reports: Sequence[Any],
    client: Any | None,
    audit_report: AuditReport | None = None,
    other_income: Sequence[int] = (),
) -> list[Any]:
    """The lifecycle's end-of-run reconciliation: the :func:`audit` checks plus the
    in-process figures (exact engine results and live chain state).

    ``other_income`` gives, per period of ``reports``, what the deal distributed beside
    the servicer's cash (late-report penalties; missing periods count 0): the exact
    engine's cash in must be the report's cash plus it.

    Returns :class:`AuditCheck` items: the audit's failed and run checks (the detail
    of a failed one followed by its first mismatches), then the in-process ones
    (anchor :data:`ANCHOR_RUN`).
    """
    out: list[AuditCheck] = []
    rep = audit_report if audit_report is not None else audit(folder)
    for c in rep.checks:
        if c.skipped and c.ok:
            continue
        detail = c.detail + ("" if c.ok else ": " + "; ".join(c.mismatches[:5]))
        out.append(dataclasses.replace(c, detail=detail))
    others = list(other_income) + [0] * (len(reports) - len(other_income))
    bad = [
        f"period {r.period}: exact cash in {r.cash_in} != report cash {p.cash} + other income {o}"
        for r, p, o in zip(results, reports, others, strict=True)
        if r.cash_in != p.cash + o
    ]
    out.append(
        _check(
            "exact engine collections equal the reported cash plus other income",
            bad,
            f"{len(results)} period(s)" + ("; " + "; ".join(bad[:5]) if bad else ""),
            ANCHOR_RUN,
        )
    )
    if client is not None and results:
        final = results[-1]
        chain_bal = [int(client.deal.tranche_balance(i)) for i in range(exact.n_tranches)]
        ok = chain_bal == list(final.ending_balance)
        out.append(
            AuditCheck(
                "final tranche balances: chain equals exact engine",
                ok,
                f"chain {chain_bal}, exact {list(final.ending_balance)}",
                () if ok else (f"final tranche balances: chain {chain_bal}, exact {list(final.ending_balance)}",),
                anchor=ANCHOR_RUN,
            )
        )
    if not results:
        raise DataIntegrityError(f"folder {str(folder)!r}: no period was accepted")
    return out
