"""report.html is self-contained; summary.json has the agreed keys and true totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openmbs.report import pool_series
from openmbs.sim import LifecycleConfig, run_lifecycle

CFG = LifecycleConfig(loans=50, months=8, investors=3, chain=False, seed=4)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    o = tmp_path_factory.mktemp("report")
    run_lifecycle(o, CFG)
    return o


def test_summary_keys_and_totals(out: Path) -> None:
    s = json.loads((out / "summary.json").read_text())
    assert s["reconciled"] is False  # no chain in this run
    life = json.loads((out / "lifecycle.json").read_text())
    names = life["tranche_names"]
    assert list(s["tranches"]) == names
    for i, name in enumerate(names):
        t = s["tranches"][name]
        assert t["interest"] == sum(r["interest_paid"][i] for r in life["results"])
        assert t["principal"] == sum(r["principal_paid"][i] for r in life["results"])
        assert t["losses"] == sum(r["writedown"][i] for r in life["results"])
        assert t["interest_currency"] == t["interest"] / 1e6


def test_report_is_self_contained(out: Path) -> None:
    text = (out / "report.html").read_text()
    from plotly.offline import get_plotlyjs

    assert "<script src=" not in text  # no script fetched from the network
    assert get_plotlyjs() in text  # the whole plotly bundle is inline
    for title in (
        "Pool balance",
        "Realised vs assumed CPR and CDR",
        "Delinquency pipeline",
        "Pool and tranche factors",
        "Cumulative losses by tranche",
        "Cash paid per tranche per period",
        "Deal structure",
        "Tranche analytics at closing",
        "Reconciliation",
        "Audit",
    ):
        assert title in text, title


def test_pool_series_by_hand() -> None:
    """SMM = unscheduled / (beginning - scheduled); CPR = 1 - (1 - SMM)^12."""
    rep = {
        "period": 1,
        "beginning_balance": 1_000_000,
        "scheduled_principal": 100_000,
        "unscheduled_principal": 9_000,
        "ending_balance": 891_000,
        "delinquent_30": 0,
        "delinquent_60": 0,
        "delinquent_90_plus": 0,
        "interest": 5_000,
        "losses": 0,
    }
    s = pool_series(
        {"reports": [rep], "pool": [{"performing_begin": 500_000, "new_default": 5_000}]}, 0
    )
    assert s["cpr"][0] == pytest.approx(1 - 0.99**12)
    assert s["cdr"][0] == pytest.approx(1 - 0.99**12)
    assert s["factor"][0] == pytest.approx(0.891)


def test_loan_states_in_the_report(out: Path) -> None:
    """The simulator writes each loan's state, so the report draws the states (the path
    without a state column is tested on the statements, tests/report/test_statement.py)."""
    text = (out / "report.html").read_text()
    assert "<h2>Loan states</h2>" in text
    assert "Not modelled in this run" not in text
