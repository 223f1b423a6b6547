"""Audit of a lifecycle output folder: recompute everything from the stored data.

Sources: the loan-level files (``loans/period=NNNN.parquet``), the deal at closing
(``closing.json``), the manifest of accepted roots (``state/manifest.json``) and the
event store (``events.duckdb``, the chain's history). Nothing computed during the run
(``lifecycle.json``) is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.errors import DataIntegrityError, InputError

__all__ = ["AuditCheck", "AuditReport", "audit", "reconcile"]

_MAX_LISTED = 50


@dataclass(frozen=True)
class AuditCheck:
    """One audit check: name, whether it passed, a one-line summary, every mismatch
    (``period``, ``loan``, ``tranche`` named where they apply), and whether it ran."""

    name: str
    ok: bool
    detail: str
    mismatches: tuple[str, ...] = ()
    skipped: bool = False


@dataclass(frozen=True)
class AuditReport:
    """Every check of :func:`audit`; ``ok`` when none failed."""

    folder: Path
    checks: tuple[AuditCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def mismatches(self) -> list[str]:
        return [m for c in self.checks for m in c.mismatches]


def _check(name: str, mismatches: list[str], detail: str) -> AuditCheck:
    shown = tuple(mismatches[:_MAX_LISTED])
    if len(mismatches) > _MAX_LISTED:
        shown += (f"... and {len(mismatches) - _MAX_LISTED} more",)
    return AuditCheck(
        name,
        not mismatches,
        detail if not mismatches else f"{len(mismatches)} mismatch(es); {detail}",
        shown,
    )


def _periods(folder: Path) -> list[int]:
    files = sorted((folder / "loans").glob("period=*.parquet"))
    return [int(f.stem.split("=")[1]) for f in files]


def _events(db: Path, table: str) -> list[dict[str, Any]] | None:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        names = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        if table not in names:
            return None
        cols = [r[0] for r in con.execute(f'describe "{table}"').fetchall()]
        casts = ", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"'
            if c not in ("block_number", "log_index")
            else f'"{c}"'
            for c in cols
        )
        cur = con.execute(f'select {casts} from "{table}" order by block_number, log_index')
        header = [str(d[0]) for d in cur.description]
        return [dict(zip(header, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


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


def audit(folder: str | Path) -> AuditReport:
    """Recompute and cross-check a lifecycle output folder.

    Checks
    ------
    1. Loan leaves: each loan record's ``keccak256(keccak256(abi.encode(record)))`` equals the leaf
       stored with it (names period and loan of any edited record).
    2. Merkle roots: the root of each period's stored leaves equals the root the oracle
       accepted (``RemittanceAccepted`` events; the manifest without an event store).
    3. Reports: the accepted report's aggregates equal the sums of the loan-level records.
    4. Waterfall: per period and tranche, interest, principal, loss, write-up and
       balance on chain (``TrancheAllocated``) equal the exact Python waterfall run on the accepted
       reports.
    5. Token supplies: per tranche token, the holders' balances (from ``Transfer``
       events) add up to the original face.
    6. Claims: per tranche, holders' claims never exceed the cash credited to the
       tranche; what is left unclaimed is reported.
    """
    from openmbs.agents import LoanTree, leaf_array, report_from_records
    from openmbs.sim._lifecycle import exact_remittance
    from openmbs.structuring import apply_period, compile_exact, initial_state, parse_deal

    folder = Path(folder)
    closing_path = folder / "closing.json"
    if not closing_path.exists():
        raise InputError(f"folder {str(folder)!r}: no closing.json (not a lifecycle output folder)")
    closing = json.loads(closing_path.read_text())
    manifest_path = folder / "state" / "manifest.json"
    manifest: dict[str, Any] = (
        json.loads(manifest_path.read_text())
        if manifest_path.exists()
        else {"roots": [], "last_period": 0}
    )
    periods = [p for p in _periods(folder) if p <= int(manifest["last_period"])]
    db = folder / "events.duckdb"
    accepted = _events(db, "ev_remittance_accepted") if db.exists() else None
    checks: list[AuditCheck] = []

    # 1-3: loan-level files, roots, report aggregates
    chain_reports: dict[int, dict[str, Any]] = {}
    if accepted is not None:
        for row in accepted:
            chain_reports[int(row["period"])] = row
    leaf_bad: list[str] = []
    root_bad: list[str] = []
    agg_bad: list[str] = []
    rebuilt: list[Any] = []
    for k in periods:
        path = folder / "loans" / f"period={k:04d}.parquet"
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
        root = LoanTree(stored).root if len(stored) else b""
        want = None
        if k in chain_reports:
            want = _hex(chain_reports[k]["loan_tape_root"])
        elif k - 1 < len(manifest["roots"]):
            want = manifest["roots"][k - 1]
        if want is None or "0x" + root.hex() != want:
            root_bad.append(
                f"period {k}: root of stored leaves 0x{root.hex()} != accepted root {want}"
            )
        rep = report_from_records(k, t, root if len(root) == 32 else b"\0" * 32)
        rebuilt.append(rep)
        if k in chain_reports:
            row = chain_reports[k]
            for f in (
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
            ):
                col = f"report_{f}"
                if col in row and int(row[col]) != getattr(rep, f):
                    agg_bad.append(
                        f"period {k} field {f!r}: reported {int(row[col])}, loan-level sum {getattr(rep, f)}"
                    )
    checks.append(
        _check(
            "loan records hash to their stored leaves", leaf_bad, f"{len(periods)} period file(s)"
        )
    )
    checks.append(
        _check(
            "Merkle roots match the accepted roots",
            root_bad,
            f"{len(periods)} period(s) against "
            + ("on-chain events" if accepted is not None else "the manifest"),
        )
    )
    if accepted is not None:
        missing = [
            f"period {k}: no RemittanceAccepted event" for k in periods if k not in chain_reports
        ]
        extra = [
            f"period {k}: accepted on chain but no loan-level file"
            for k in chain_reports
            if k not in periods
        ]
        checks.append(
            _check(
                "report aggregates equal loan-level sums",
                agg_bad + missing + extra,
                f"{len(periods)} period(s), 12 fields each",
            )
        )
    else:
        checks.append(
            AuditCheck(
                "report aggregates equal loan-level sums",
                True,
                "skipped: no events.duckdb",
                skipped=True,
            )
        )

    # 4: waterfall
    spec = parse_deal(closing["deal_spec"])
    exact = compile_exact(spec)
    alloc = _events(db, "ev_tranche_allocated") if db.exists() else None
    if alloc is not None and accepted is not None:
        onchain: dict[tuple[int, int], dict[str, Any]] = {
            (int(r["period"]), int(r["tranche"])): r for r in alloc
        }
        from openmbs.oracle import RemittanceReport

        state = initial_state(exact)
        wf_bad: list[str] = []
        for k in sorted(chain_reports):
            row = chain_reports[k]
            rep = RemittanceReport(
                period=k,
                **{
                    f: int(row[f"report_{f}"])
                    for f in (
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
                        "index_rate",
                        "cash",
                    )
                },
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
        checks.append(
            _check(
                "on-chain waterfall equals the exact engine",
                wf_bad,
                f"{len(chain_reports)} period(s) x {exact.n_tranches} tranche(s)",
            )
        )
    else:
        checks.append(
            AuditCheck(
                "on-chain waterfall equals the exact engine",
                True,
                "skipped: no events.duckdb",
                skipped=True,
            )
        )

    # 5-6: tokens and claims
    if db.exists():
        checks.extend(_token_checks(db, closing))
    else:
        checks.append(
            AuditCheck("token supplies and claims", True, "skipped: no events.duckdb", skipped=True)
        )
    return AuditReport(folder, tuple(checks))


def _token_checks(db: Path, closing: dict[str, Any]) -> list[AuditCheck]:
    import duckdb

    names: list[str] = closing["tranche_names"]
    faces: list[int] = [int(x) for x in closing["tranche_face"]]
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        if "ev_deal_configured" not in tables or "ev_transfer" not in tables:
            return [
                AuditCheck(
                    "token supplies and claims",
                    False,
                    "no DealConfigured/Transfer events",
                    ("event store lacks DealConfigured or Transfer events",),
                )
            ]
        tokens_json = con.execute("select tokens from ev_deal_configured").fetchone()
        assert tokens_json is not None
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
            if supply.get(tok, 0) != faces[i]:
                sup_bad.append(
                    f"tranche {names[i]}: holders' balances {supply.get(tok, 0)} != original face {faces[i]}"
                )
        checks = [
            _check("token balances add up to the original face", sup_bad, f"{len(tokens)} token(s)")
        ]
        credited = dict(
            (int(t), int(v))
            for t, v in con.execute(
                "select CAST(tranche AS BIGINT), sum(CAST(interest AS HUGEINT) + CAST(principal AS HUGEINT)) "
                "from ev_tranche_allocated group by 1"
            ).fetchall()
        )
        claimed: dict[int, int] = {}
        if "ev_claimed" in tables:
            claimed = dict(
                (int(t), int(v))
                for t, v in con.execute(
                    "select CAST(tranche AS BIGINT), sum(CAST(amount AS HUGEINT)) from ev_claimed group by 1"
                ).fetchall()
            )
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
            )
        )
        return checks
    finally:
        con.close()


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

    Returns :class:`~openmbs.sim.ReconCheck` items.
    """
    from openmbs.sim._lifecycle import ReconCheck

    out: list[ReconCheck] = []
    rep = audit_report if audit_report is not None else audit(folder)
    for c in rep.checks:
        if c.skipped:
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
