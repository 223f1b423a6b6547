"""Loss-mitigation rates measured on real histories (``estimate_loss_mitigation``,
``openmbs model mitigation``), each count checked against a plain loop over the rows."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.servicing import LoanState, estimate_loss_mitigation, read_freddie_servicing

S = LoanState
DATA = Path(__file__).parent / "data"
SERIOUS = {int(S.D90), int(S.D120P), int(S.FORECLOSURE)}


def _rows(history: Any) -> list[dict[str, Any]]:
    return history.months.select(
        ["loan_id", "state", "modification", "note_rate", "remaining_term", "assistance",
         "zero_balance_code", "realised_loss", "upb"]
    ).to_pylist()  # fmt: skip


def _loop_counts(history: Any) -> dict[str, Any]:
    """The same definitions as the module's docstring, row by row."""
    rows = _rows(history)
    serious = mods = 0
    cuts: list[float] = []
    after: list[float] = []
    terms: list[int] = []
    for prev, cur in itertools.pairwise(rows):
        if prev["loan_id"] != cur["loan_id"] or cur["state"] == int(S.UNKNOWN):
            continue
        if prev["state"] in SERIOUS:
            serious += 1
            if cur["modification"]:
                mods += 1
                cuts.append(max(prev["note_rate"] - cur["note_rate"], 0.0))
                after.append(cur["note_rate"])
                terms.append(cur["remaining_term"])
    outcomes = {"reo": 0, "short_sale": 0, "third_party_or_note_sale": 0}
    short_sev: list[float] = []
    for r in rows:
        if r["zero_balance_code"] is None:
            continue
        if r["state"] in (int(S.REO), int(S.LIQUIDATED)):
            outcomes["reo"] += 1
        elif r["state"] == int(S.SHORT_SALE):
            outcomes["short_sale"] += 1
            short_sev.append(r["realised_loss"] / r["upb"])
        elif r["state"] in (int(S.THIRD_PARTY_SALE), int(S.NOTE_SALE)):
            outcomes["third_party_or_note_sale"] += 1
    return {"serious": serious, "mods": mods, "cuts": cuts, "after": after, "terms": sorted(terms),
            "outcomes": outcomes, "short_sev": short_sev}  # fmt: skip


def test_fannie_2007q3_rates_equal_a_row_by_row_count(fannie: Any) -> None:
    est = estimate_loss_mitigation(fannie)
    loop = _loop_counts(fannie)
    c, r = est.counts, est.rates
    assert c["serious_months"] == loop["serious"] > 0
    assert c["modifications"] == loop["mods"] > 0
    assert r["modification"] == pytest.approx(loop["mods"] / loop["serious"])
    assert r["rate_cut"] == pytest.approx(sum(loop["cuts"]) / len(loop["cuts"]))
    assert r["rate_floor"] == pytest.approx(min(loop["after"]))
    assert r["term"] == int(statistics.median(loop["terms"]))
    assert c["credit_events"] == loop["outcomes"]
    n = sum(loop["outcomes"].values())
    assert r["short_sale"] == pytest.approx(loop["outcomes"]["short_sale"] / n)
    assert r["short_sale_severity"] == pytest.approx(
        sum(loop["short_sev"]) / len(loop["short_sev"])
    )
    # 2007 Q3 through the crisis: modifications cut the rate, none raised it on average
    assert 0 < r["rate_cut"] < 0.1
    # Fannie Mae's original layout reports no forbearance: off, and said so
    assert r["forbearance"] == 0.0 and c["forbearance_entries"] is None
    assert any("forbearance" in n for n in est.notes)
    assert r["third_party_severity"] is None  # no third-party sale in the file


def test_freddie_forbearance_plans_are_counted() -> None:
    h = read_freddie_servicing(DATA / "freddie_pool_orig.txt", DATA / "freddie_pool_svc.txt")
    est = estimate_loss_mitigation(h)
    rows = _rows(h)
    entries = current = 0
    lengths: list[int] = []
    run = 0
    for prev, cur in itertools.pairwise(rows):
        same = prev["loan_id"] == cur["loan_id"]
        prev_f, cur_f = prev["assistance"] == "F", cur["assistance"] == "F"
        if (
            same
            and prev["state"] == int(S.CURRENT)
            and not prev_f
            and cur["state"] != int(S.UNKNOWN)
        ):
            current += 1
            entries += cur_f
        if prev_f:
            run += 1
            if same and not cur_f:
                lengths.append(run)
            if not (same and cur_f):
                run = 0
    assert est.counts["forbearance_entries"] == entries > 0
    assert est.counts["current_months"] == current
    assert est.counts["forbearance_plans_ended"] == len(lengths) > 0
    assert est.rates["forbearance"] == pytest.approx(entries / current)
    assert est.rates["forbearance_months"] == round(sum(lengths) / len(lengths))


def test_model_mitigation_writes_what_demo_reads(
    fannie_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    from openmbs.sim import LossMitigation

    acq, perf = fannie_paths
    out = tmp_path / "mit.json"
    res = CliRunner().invoke(
        app,
        [
            "model",
            "mitigation",
            "--performance",
            str(perf),
            "--acquisition",
            str(acq),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "modification" in res.output and "loan-months 90+ days past due" in res.output
    doc = json.loads(out.read_text())
    mit = LossMitigation.read(out)
    for name, value in doc["loss_mitigation"].items():
        assert getattr(mit, name) == value
    assert mit.modification > 0 and mit.draws
