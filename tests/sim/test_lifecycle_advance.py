"""LifecycleConfig's advancing choice reaches the loan simulation (off chain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.collateral import generate_tape
from openmbs.errors import InputError
from openmbs.sim import LifecycleConfig, LoanSimulator, run_lifecycle


def test_config_takes_three_modes_and_the_old_bools() -> None:
    assert LifecycleConfig().advance == "none"  # the behaviour of earlier versions
    assert LifecycleConfig(advance="principal").advance == "principal"
    assert LifecycleConfig(advance=True).advance == "all"  # type: ignore[arg-type]
    assert LifecycleConfig(advance=False).advance == "none"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'half'"):
        LifecycleConfig(advance="half")


def test_fingerprint_of_runs_without_advancing_is_unchanged() -> None:
    cfg = LifecycleConfig(loans=50, chain=False)
    d = asdict(cfg)
    d["severity"] = 35.0  # the fields of the config as earlier versions recorded them
    d.pop("months")
    d.pop("advance")  # the fields of the config before the choice existed
    for name in ("acquisition", "performance", "cutoff", "transitions", "mitigation"):
        d.pop(name)  # nor replays, nor runs on a transition matrix or with loss mitigation
    d.pop("servicing")  # nor servicing terms
    d.pop("loan_sales")  # nor loan sales (a field earlier versions did not have)
    old = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    assert cfg.fingerprint() == old
    assert LifecycleConfig(loans=50, chain=False, advance="principal").fingerprint() != old


def test_principal_advancing_reaches_the_reports(tmp_path: Path) -> None:
    cfg = LifecycleConfig(loans=60, months=18, investors=3, chain=False, seed=5, sda=2000,
                          severity=0.40, lag=6, advance="principal")
    run_lifecycle(tmp_path, cfg, write_outputs=False)
    life = json.loads((tmp_path / "lifecycle.json").read_text())
    sim = LoanSimulator(generate_tape(cfg.loans, seed=cfg.seed),
                        prepayment=Prepayment.psa(cfg.psa), default=Default.sda(cfg.sda),
                        severity=cfg.severity, lag=cfg.lag, seed=cfg.seed,
                        advance="principal")
    advanced = 0
    for rep in life["reports"]:
        pool = sim.step().pool
        assert rep["interest"] == pool.net_interest
        assert rep["scheduled_principal"] == pool.scheduled_principal
        advanced += pool.advanced_principal
        assert pool.advanced_interest == 0
    assert advanced > 0  # defaulted loans' principal was advanced


def test_closing_projection_advances_as_the_simulated_servicer(tmp_path: Path) -> None:
    import pyarrow.csv as pacsv

    lost = {}
    for mode in ("all", "principal"):
        out = tmp_path / mode
        cfg = LifecycleConfig(loans=40, months=2, investors=2, chain=False, seed=2, sda=500,
                              severity=0.40, lag=6, advance=mode)
        run_lifecycle(out, cfg, write_outputs=False)
        table = pacsv.read_csv(out / "projection.csv")
        lost[mode] = sum(table.column("lost_interest").to_pylist())
    assert lost["all"] == 0.0 < lost["principal"]


def test_severity_is_a_decimal_and_recorded_in_percent() -> None:
    from openmbs.audit._anchor import _api_units
    from openmbs.sim._config import _config_record

    cfg = LifecycleConfig(loans=50, chain=False, severity=0.355)
    assert LifecycleConfig().severity == 0.35
    assert _config_record(cfg)["severity"] == 35.5  # as earlier versions' closing.json
    assert LifecycleConfig(**_api_units(_config_record(cfg))) == cfg  # re-execution
    for bad in (35.0, -0.1, float("nan")):
        with pytest.raises(InputError, match=rf"^severity value {bad!r}: need a decimal in \[0, 1\]"):
            LifecycleConfig(chain=False, severity=bad)
