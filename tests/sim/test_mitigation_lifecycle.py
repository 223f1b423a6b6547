"""``openmbs demo --mitigation FILE``: the simulator's loss mitigation at the rates of a
file (``openmbs model mitigation --out``), on chain, reconciled; the loan files carry the
modifications as a replay's do, and bad files are refused naming the file and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from openmbs.errors import AssumptionError, InputError
from openmbs.sim import LifecycleConfig, LossMitigation, loans_path, run_lifecycle


def _write(tmp_path: Path, doc: object, name: str = "mit.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_demo_with_mitigation_reconciles_and_records_modifications(tmp_path: Path) -> None:
    mit = _write(tmp_path, {"loss_mitigation": {"modification": 0.3, "rate_cut": 0.015, "term": 420,
                                                "short_sale": 0.2, "forbearance": 0.01}})  # fmt: skip
    cfg = LifecycleConfig(loans=100, months=24, investors=5, seed=3, sda=800, mitigation=str(mit))
    res = run_lifecycle(tmp_path / "r", cfg)
    bad = [c for c in res.checks if not c.ok]
    assert not bad, bad
    assert res.reconciled
    tables = [pq.read_table(loans_path(tmp_path / "r", k)) for k in range(1, 25)]
    mods = sum(int(np.sum(t.column("modification").to_numpy(zero_copy_only=False))) for t in tables)
    plans = sum(int(np.sum(t.column("forbearance").to_numpy(zero_copy_only=False))) for t in tables)
    assert mods > 0 and plans > 0
    # a loan modified stays modified; its rate was cut (it pays less interest than before)
    last = tables[-1]
    assert int(np.sum(last.column("modified").to_numpy(zero_copy_only=False))) > 0
    # the statements count them, from the loan files
    st = json.loads((tmp_path / "r" / "statements" / "period=0024.json").read_text())
    assert st["pool"]["modified_loans_count"] == int(
        np.sum(
            last.column("modified").to_numpy(zero_copy_only=False)
            & (last.column("ending_balance").to_numpy() > 0)
        )
    )
    from openmbs.audit import audit

    rep = audit(tmp_path / "r")  # re-executes from the recorded configuration, file included
    assert rep.ok, rep.mismatches


def test_without_mitigation_the_loan_files_are_unchanged(tmp_path: Path) -> None:
    cfg = LifecycleConfig(loans=30, months=3, investors=2, chain=False)
    run_lifecycle(tmp_path / "r", cfg)
    names = pq.read_table(loans_path(tmp_path / "r", 1)).column_names
    assert "modification" not in names and "state" in names


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (
            {"modification": 0.1, "modifcation": 0.2},
            ["field 'modifcation'", "0.2", "not a loss-mitigation field"],
        ),
        ({"modification": 1.5}, ["modification", "1.5"]),
        ({"loss_mitigation": {"term": 0}}, ["term", "0"]),
        ([0.1], ["need a JSON object"]),
    ],
)
def test_bad_mitigation_files_are_refused(tmp_path: Path, doc: object, words: list[str]) -> None:
    p = _write(tmp_path, doc)
    with pytest.raises((InputError, AssumptionError)) as exc:
        LossMitigation.read(p)
    for w in [str(p), *words]:
        assert w in str(exc.value)


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text("{nope")
    with pytest.raises(InputError, match="not JSON"):
        LossMitigation.read(p)
    with pytest.raises(InputError, match="cannot read"):
        LossMitigation.read(tmp_path / "missing.json")
    # refused before anything is written
    with pytest.raises(InputError, match=r"missing\.json"):
        run_lifecycle(tmp_path / "r", LifecycleConfig(loans=10, months=2, chain=False,
                                                      mitigation=str(tmp_path / "missing.json")))  # fmt: skip
    assert not (tmp_path / "r" / "loans").exists()


def test_mitigation_with_a_replay_is_refused() -> None:
    with pytest.raises(InputError, match="--mitigation"):
        LifecycleConfig(acquisition="a.txt", performance="p.txt", mitigation="m.json")
