"""Servicing cash end to end: the simulator's advances (with a stop), reimbursements,
late fees and prepayment penalties go through the servicer bridge, the attested
reports, the oracle and the waterfall on the embedded chain, and the run reconciles
(docs/simulation.md, docs/chain.md "Advances and penalties")."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from openmbs.agents import SERVICING_FIELDS
from openmbs.sim import LifecycleConfig, ServicingTerms, loans_path, run_lifecycle

TERMS = ServicingTerms(advance_stop_days=120, late_fee_rate=0.05, prepayment_penalty_term=60,
                       prepayment_penalty_pct=0.02)  # fmt: skip


def test_advances_and_penalties_reconcile_on_chain(tmp_path: Path) -> None:
    cfg = LifecycleConfig(loans=80, months=14, investors=3, seed=11, sda=1500, severity=0.30, lag=3,
                          advance="all", servicing=TERMS)  # fmt: skip
    res = run_lifecycle(tmp_path, cfg, write_outputs=False)
    assert res.reconciled, [c for c in res.checks if not c.ok]
    reports = json.loads((tmp_path / "lifecycle.json").read_text())["reports"]
    total = {f: sum(int(r[f]) for r in reports) for f in (
        "advances", "advance_reimbursements", "liquidation_reimbursements", "prepayment_penalties", "late_fees")}
    assert all(v > 0 for v in total.values()), total
    outstanding = 0
    for r in reports:
        outstanding += int(r["advances"]) - int(r["advance_reimbursements"])
        assert outstanding >= 0
        assert int(r["cash"]) == (int(r["interest"]) + int(r["scheduled_principal"]) + int(r["unscheduled_principal"])
                                  + int(r["recoveries"]) - int(r["liquidation_reimbursements"])
                                  + int(r["subsequent_recoveries"]) + int(r["prepayment_penalties"]))
    # the loan files carry the servicing columns the reports sum
    last = pq.read_table(loans_path(tmp_path, len(reports)))
    assert set(SERVICING_FIELDS) <= set(last.column_names)
    # the run's setting is recorded and a re-run resumes under the same fingerprint
    closing = json.loads((tmp_path / "closing.json").read_text())
    assert LifecycleConfig(**{**closing["config"], "severity": 0.30}).servicing == TERMS


def test_servicing_terms_round_trip_and_fingerprint() -> None:
    base = LifecycleConfig(loans=50, chain=False)
    assert LifecycleConfig(loans=50, chain=False, servicing=ServicingTerms()).fingerprint() == base.fingerprint()
    on = LifecycleConfig(loans=50, chain=False, servicing=TERMS)
    assert on.fingerprint() != base.fingerprint()
    from dataclasses import asdict

    assert LifecycleConfig(loans=50, chain=False, servicing=asdict(TERMS)).servicing == TERMS  # type: ignore[arg-type]
