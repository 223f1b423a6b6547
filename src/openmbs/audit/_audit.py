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

__all__ = [
    "ANCHOR_FILES",
    "ANCHOR_REEXECUTED",
    "ANCHOR_RPC",
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

_REPORT_FIELDS = (
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "recoveries",
    "losses",
    "beginning_balance",
    "ending_balance",
    "loan_count",
    "delinquent_30",
    "delinquent_60",
    "delinquent_90_plus",
    "cash",
)


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


@dataclass(frozen=True)
class ReconCheck:
    """One reconciliation check: its name, whether it passed, and what it compared.

    The lifecycle's summary of an :class:`AuditCheck` (plus its in-process checks);
    defined here, beside it, and re-exported as ``openmbs.sim.ReconCheck``."""

    name: str
    ok: bool
    detail: str


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


def _tables(con: Any) -> set[str]:
    return {
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }


def _events(con: Any, table: str) -> list[dict[str, Any]] | None:
    """Rows of a typed event table (every column as text but the position), or None."""
    if con is None or table not in _tables(con):
        return None
    cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    casts = ", ".join(
        f'CAST("{c}" AS VARCHAR) AS "{c}"' if c not in ("block_number", "log_index") else f'"{c}"'
        for c in cols
    )
    cur = con.execute(f'SELECT {casts} FROM "{table}" ORDER BY block_number, log_index')
    header = [str(d[0]) for d in cur.description]
    return [dict(zip(header, r, strict=True)) for r in cur.fetchall()]


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
    3. Reports: the accepted report's aggregates equal the sums of the loan-level records.
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


def _audit(
    folder: Path, closing: dict[str, Any], on_chain: bool, ev: _Evidence, *, files_only: bool
) -> list[AuditCheck]:
    from openmbs.agents import LoanTree, leaf_array, report_from_records

    anchor = ev.anchor
    narrowed = files_only or not on_chain
    checks: list[AuditCheck] = []
    if ev.why_missing:
        checks.append(
            _not_checked("chain anchor", ev.why_missing, narrowed=False, anchor=anchor)
        )
    elif files_only:
        checks.append(
            _not_checked(
                "chain anchor",
                "narrowed to the folder's files, checked against each other only",
                narrowed=True,
                anchor=anchor,
            )
        )
    manifest_path = folder / "state" / "manifest.json"
    manifest: dict[str, Any] | None = None
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    else:
        checks.append(
            _check(
                "the manifest of accepted roots is present",
                [f"file {str(manifest_path)!r}: missing"],
                "state/manifest.json",
                ANCHOR_FILES,
            )
        )
    accepted = _events(ev.con, "ev_remittance_accepted")
    chain_reports: dict[int, dict[str, Any]] = {}
    for row in accepted or []:
        chain_reports[int(row["period"])] = row
    files = _periods(folder)
    if accepted is not None:
        periods = sorted(chain_reports)
        roots_from = f"the accepted roots ({anchor})"
    elif manifest is not None and not on_chain:
        periods = list(range(1, int(manifest["last_period"]) + 1))
        roots_from = "the manifest (files only: a run without a chain)"
    else:
        periods = []
        roots_from = ""
    not_accepted = [k for k in files if k not in periods]

    # 1-3: loan-level files, roots, report aggregates
    leaf_bad: list[str] = []
    root_bad: list[str] = []
    agg_bad: list[str] = []
    # with no accepted period known, every loan file is still checked against its leaves
    for k in periods or files:
        path = _loan_file(folder, k)
        if not path.exists():
            leaf_bad.append(f"period {k}: file {str(path)!r} missing (the period was accepted)")
            continue
        try:
            t = pq.ParquetFile(path).read()  # (read_table adds ~5 ms a file)
        except Exception as exc:
            leaf_bad.append(f"period {k}: file {str(path)!r} unreadable ({exc})")
            continue
        recomputed = leaf_array(t)
        stored = _stored_leaves(t)
        if stored is None:
            leaf_bad.append(f"period {k}: file {str(path)!r} has no 32-byte 'leaf' for every loan")
            stored = recomputed
        for j in np.flatnonzero((recomputed != stored).any(axis=1)).tolist():
            leaf_bad.append(
                f"period {k} loan {t.column('loan_id')[j].as_py()!r}: record does not hash to "
                "its stored leaf"
            )
        if not periods:
            continue
        root = LoanTree(stored).root if len(stored) else b""
        want = None
        if k in chain_reports:
            want = _hex(chain_reports[k]["loan_tape_root"])
        elif manifest is not None and k - 1 < len(manifest["roots"]):
            want = str(manifest["roots"][k - 1])
        if want is None or "0x" + root.hex() != want:
            root_bad.append(
                f"period {k}: root of stored leaves 0x{root.hex()} != accepted root {want}"
            )
        rep = report_from_records(k, t, root if len(root) == 32 else b"\0" * 32)
        if k in chain_reports:
            row = chain_reports[k]
            for f in _REPORT_FIELDS:
                col = f"report_{f}"
                if col in row and int(row[col]) != getattr(rep, f):
                    agg_bad.append(
                        f"period {k} field {f!r}: reported {int(row[col])}, loan-level sum {getattr(rep, f)}"
                    )
    ignored = (
        f"; loan file(s) of period(s) {not_accepted} not accepted, not read" if not_accepted else ""
    )
    if not periods:
        why = (
            "no accepted period to check (no RemittanceAccepted event"
            + ("" if ev.con is not None else ", no event store")
            + ("" if manifest is not None else ", no manifest")
            + ")"
        )
        checks.append(
            _check(
                "loan records hash to their stored leaves",
                leaf_bad,
                f"{len(files)} period file(s), all read: no accepted period known",
                ANCHOR_FILES,
            )
        )
        checks.append(_not_checked("Merkle roots match the accepted roots", why, narrowed=False, anchor=anchor))
    else:
        checks.append(
            _check(
                "loan records hash to their stored leaves",
                leaf_bad,
                f"{len(periods)} period file(s){ignored}",
                ANCHOR_FILES,
            )
        )
        checks.append(
            _check(
                "Merkle roots match the accepted roots",
                root_bad,
                f"{len(periods)} period(s) against {roots_from}",
                anchor if accepted is not None else ANCHOR_FILES,
            )
        )
    if accepted is not None:
        checks.append(
            _check(
                "report aggregates equal loan-level sums",
                agg_bad,
                f"{len(periods)} period(s), {len(_REPORT_FIELDS)} fields each",
                anchor,
            )
        )
    else:
        checks.append(
            _not_checked(
                "report aggregates equal loan-level sums",
                _no_events(ev),
                narrowed=narrowed and ev.con is None and not on_chain,
                anchor=anchor,
            )
        )

    # 4: waterfall
    alloc = _events(ev.con, "ev_tranche_allocated")
    if alloc is not None and accepted is not None:
        checks.append(_waterfall_check(closing, chain_reports, alloc, anchor))
    else:
        checks.append(
            _not_checked(
                "on-chain waterfall equals the exact engine",
                _no_events(ev),
                narrowed=narrowed and not on_chain,
                anchor=anchor,
            )
        )

    # 5-6: tokens and claims
    if ev.con is not None:
        checks.extend(_token_checks(ev.con, closing, anchor))
    else:
        checks.append(
            _not_checked(
                "token supplies and claims", _no_events(ev), narrowed=narrowed and not on_chain, anchor=anchor
            )
        )

    # 7: the folder's own copies against the anchor
    if anchor != ANCHOR_FILES and ev.con is not None:
        from openmbs.audit._anchor import closing_check, events_check

        with _open_folder_store(folder) as own:
            checks.append(events_check(own, ev.con, folder, anchor, ev.addresses))
        roots = {k: _hex(r["loan_tape_root"]) for k, r in chain_reports.items()}
        checks.append(closing_check(closing, ev.closing, ev.state, manifest, roots, anchor))
    return checks


def _no_events(ev: _Evidence) -> str:
    if ev.anchor == ANCHOR_FILES:
        return "no events.duckdb in the folder"
    return ev.why_missing or f"no events from the {ev.anchor}"


def _waterfall_check(
    closing: dict[str, Any],
    chain_reports: dict[int, dict[str, Any]],
    alloc: list[dict[str, Any]],
    anchor: str,
) -> AuditCheck:
    from openmbs.oracle import RemittanceReport
    from openmbs.structuring import (
        apply_period,
        compile_exact,
        exact_remittance,
        initial_state,
        parse_deal,
    )

    spec = parse_deal(closing["deal_spec"])
    exact = compile_exact(spec)
    onchain: dict[tuple[int, int], dict[str, Any]] = {
        (int(r["period"]), int(r["tranche"])): r for r in alloc
    }
    state = initial_state(exact)
    wf_bad: list[str] = []
    for k in sorted(chain_reports):
        row = chain_reports[k]
        rep = RemittanceReport(
            period=k,
            **{f: int(row[f"report_{f}"]) for f in (*_REPORT_FIELDS, "index_rate")},
            loan_tape_root=bytes.fromhex(_hex(row["loan_tape_root"])[2:]),
            subsequent_recoveries=int(row.get("report_subsequent_recoveries") or 0),
        )
        try:
            state, res = apply_period(exact, state, exact_remittance(rep))
        except Exception as exc:
            wf_bad.append(f"period {k}: exact engine refused the report ({exc})")
            break
        for i in range(exact.n_tranches):
            got = onchain.get((k, i))
            if got is None:
                wf_bad.append(f"period {k} tranche {exact.names[i]}: no TrancheAllocated event")
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
                if int(got[f]) != want_v:
                    wf_bad.append(
                        f"period {k} tranche {exact.names[i]} {f}: on chain {int(got[f])}, exact engine {want_v}"
                    )
    return _check(
        "on-chain waterfall equals the exact engine",
        wf_bad,
        f"{len(chain_reports)} period(s) x {exact.n_tranches} tranche(s)",
        anchor,
    )


def _token_checks(con: Any, closing: dict[str, Any], anchor: str) -> list[AuditCheck]:
    names: list[str] = closing["tranche_names"]
    faces: list[int] = [int(x) for x in closing["tranche_face"]]
    tables = _tables(con)
    if "ev_deal_configured" not in tables or "ev_transfer" not in tables:
        return [
            AuditCheck(
                "token supplies and claims",
                False,
                "no DealConfigured/Transfer events",
                ("event store lacks DealConfigured or Transfer events",),
                anchor=anchor,
            )
        ]
    tokens_json = con.execute("SELECT CAST(tokens AS VARCHAR) FROM ev_deal_configured").fetchone()
    if tokens_json is None:
        return [
            AuditCheck(
                "token supplies and claims",
                False,
                "no DealConfigured event",
                ("event store holds no DealConfigured event",),
                anchor=anchor,
            )
        ]
    tokens = [str(a).lower() for a in json.loads(tokens_json[0])]
    rows = con.execute(
        """
        with moves as (
          select lower(contract_address) tok, lower(receiver) who, CAST(value AS HUGEINT) amt from ev_transfer
          union all
          select lower(contract_address), lower(sender), -CAST(value AS HUGEINT) from ev_transfer
        )
        select tok, who, sum(amt) from moves group by tok, who
        """
    ).fetchall()
    zero = "0x" + "00" * 20
    supply: dict[str, int] = {}
    negative: list[str] = []
    for tok, who, amt in rows:
        if who == zero:
            continue
        supply[tok] = supply.get(tok, 0) + int(amt)
        if int(amt) < 0:
            negative.append(f"token {tok} holder {who}: negative balance {int(amt)}")
    sup_bad = list(negative)
    for i, tok in enumerate(tokens):
        if i >= len(faces):
            sup_bad.append(f"token {tok}: no tranche {i} in closing.json")
            continue
        if supply.get(tok, 0) != faces[i]:
            sup_bad.append(
                f"tranche {names[i]}: holders' balances {supply.get(tok, 0)} != original face {faces[i]}"
            )
    checks = [
        _check(
            "token balances add up to the original face", sup_bad, f"{len(tokens)} token(s)", anchor
        )
    ]
    credited: dict[int, int] = {}
    if "ev_tranche_allocated" in tables:
        credited = {
            int(t): int(v)
            for t, v in con.execute(
                "select CAST(tranche AS BIGINT), sum(CAST(interest AS HUGEINT) + CAST(principal AS HUGEINT)) "
                "from ev_tranche_allocated group by 1"
            ).fetchall()
        }
    claimed: dict[int, int] = {}
    if "ev_claimed" in tables:
        claimed = {
            int(t): int(v)
            for t, v in con.execute(
                "select CAST(tranche AS BIGINT), sum(CAST(amount AS HUGEINT)) from ev_claimed group by 1"
            ).fetchall()
        }
    cl_bad: list[str] = []
    left: list[str] = []
    for i in range(len(names)):
        c, p = credited.get(i, 0), claimed.get(i, 0)
        if p > c:
            cl_bad.append(f"tranche {names[i]}: claimed {p} > credited {c}")
        left.append(f"{names[i]} {c - p}")
    checks.append(
        _check(
            "claims never exceed the cash credited",
            cl_bad,
            "unclaimed (rounding dust and open claims): " + ", ".join(left),
            anchor,
        )
    )
    return checks


def reconcile(
    folder: str | Path,
    *,
    exact: Any,
    results: Sequence[Any],
    reports: Sequence[Any],
    client: Any | None,
    audit_report: AuditReport | None = None,
) -> list[Any]:
    """The lifecycle's end-of-run reconciliation: the :func:`audit` checks plus the
    in-process figures (exact engine results and live chain state).

    Returns :class:`ReconCheck` items (re-exported as ``openmbs.sim.ReconCheck``).
    """
    out: list[ReconCheck] = []
    rep = audit_report if audit_report is not None else audit(folder)
    for c in rep.checks:
        if c.skipped and c.ok:
            continue
        detail = c.detail + ("" if c.ok else ": " + "; ".join(c.mismatches[:5]))
        out.append(ReconCheck(c.name, c.ok, detail))
    bad = [
        f"period {r.period}: exact cash in {r.cash_in} != report cash {p.cash}"
        for r, p in zip(results, reports, strict=True)
        if r.cash_in != p.cash
    ]
    out.append(
        ReconCheck(
            "exact engine collections equal the reported cash",
            not bad,
            f"{len(results)} period(s)" + ("; " + "; ".join(bad[:5]) if bad else ""),
        )
    )
    if client is not None and results:
        final = results[-1]
        chain_bal = [int(client.deal.tranche_balance(i)) for i in range(exact.n_tranches)]
        ok = chain_bal == list(final.ending_balance)
        out.append(
            ReconCheck(
                "final tranche balances: chain equals exact engine",
                ok,
                f"chain {chain_bal}, exact {list(final.ending_balance)}",
            )
        )
    if not results:
        raise DataIntegrityError(f"folder {str(folder)!r}: no period was accepted")
    return out
