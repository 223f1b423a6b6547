"""`openmbs replay` end to end on a Freddie Mac origination + servicing file pair.

The pool (``data/freddie_pool_*.txt``, written by ``data/make_freddie_pool.py`` from
the SFLLD layouts) is replayed by the command line on the embedded chain; every figure
checked here is computed again from the raw text of the two files, with plain Python
(``Decimal`` cents), not with the reader.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.report._html import _fmt
from openmbs.servicing import FREDDIE_SERVICING_FIELDS, LoanState

DATA = Path(__file__).parent / "data"
ORIG = DATA / "freddie_pool_orig.txt"
SVC = DATA / "freddie_pool_svc.txt"
F = {name: i for i, name in enumerate(FREDDIE_SERVICING_FIELDS)}
UNIT = 10**6  # base units of the embedded 6-decimal asset per currency unit
CUTOFF = 2019 * 12 + 2  # 2019-03: the first month every loan is in the file
ZB = {"01": LoanState.PREPAID, "96": LoanState.REPURCHASED, "02": LoanState.THIRD_PARTY_SALE,
      "03": LoanState.SHORT_SALE, "09": LoanState.REO}  # fmt: skip
LIVE = {int(s) for s in (LoanState.CURRENT, LoanState.D30, LoanState.D60, LoanState.D90,
                         LoanState.D120P, LoanState.FORECLOSURE, LoanState.UNKNOWN)}  # fmt: skip
CREDIT = {int(LoanState.REO), int(LoanState.SHORT_SALE), int(LoanState.THIRD_PARTY_SALE)}


def _month(text: str) -> int:
    return int(text[:4]) * 12 + int(text[4:]) - 1


def _state(f: list[str]) -> int:
    """A row's state by the layout: zero-balance code, else RA (REO acquired), else the
    months past due (120+ from 4), XX unknown."""
    if f[F["zero_balance_code"]]:
        return int(ZB[f[F["zero_balance_code"]]])
    dq = f[F["current_loan_delinquency_status"]]
    if dq == "RA":
        return int(LoanState.REO)
    if dq == "XX":
        return int(LoanState.UNKNOWN)
    return min(int(dq), 4)


def _cents(text: str) -> int:
    return int(Decimal(text or "0") * 100)


@pytest.fixture(scope="module")
def raw() -> dict[str, list[list[str]]]:
    """Servicing rows by loan, in month order."""
    out: dict[str, list[list[str]]] = {}
    for line in SVC.read_text().splitlines():
        f = line.split("|")
        out.setdefault(f[0], []).append(f)
    return out


@pytest.fixture(scope="module")
def orig() -> dict[str, list[str]]:
    return {f[19]: f for f in (x.split("|") for x in ORIG.read_text().splitlines())}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("freddie") / "out"
    res = CliRunner().invoke(
        app,
        ["replay", "--acquisition", str(ORIG), "--performance", str(SVC), "--deal", "senior_sub",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return out, res.output


def _upb_cents(f: list[str], o: list[str]) -> int:
    """The row's UPB in cents; a masked month (reported 0 in the first six months)
    rebuilt from the origination record's terms: the balance after ``age`` payments."""
    upb = _cents(f[F["current_actual_upb"]])
    age = int(f[F["loan_age"]])
    if upb or age >= 6:
        return upb
    b0, r, n = float(o[10]), float(o[12]) / 1200.0, int(o[21])
    return round(b0 * ((1 + r) ** n - (1 + r) ** age) / ((1 + r) ** n - 1) * 100)


def test_the_files_are_the_generator_s_output() -> None:
    spec = importlib.util.spec_from_file_location("make_freddie_pool", DATA / "make_freddie_pool.py")
    assert spec is not None and spec.loader is not None
    gen: Any = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen  # its dataclasses look their module up
    try:
        spec.loader.exec_module(gen)
    finally:
        del sys.modules[spec.name]
    assert ORIG.read_text() == "".join(gen.origination_row(x) + "\n" for x in gen.LOANS)
    assert SVC.read_text() == "".join(r + "\n" for x in gen.LOANS for r in gen.servicing_rows(x))
    assert len(gen.LOANS) == 36


def test_replay_reconciles_to_the_unit(run: tuple[Path, str]) -> None:
    out, text = run
    s = json.loads((out / "summary.json").read_text())
    assert s["reconciled"] and s["onchain"]
    assert [c["name"] for c in s["checks"] if not c["ok"]] == []
    assert [c["name"] for c in s["audit"] if not c["ok"]] == []
    assert "reconciled; report:" in text
    life = json.loads((out / "lifecycle.json").read_text())
    closing = json.loads((out / "closing.json").read_text())
    reps = life["reports"]
    assert len(reps) == s["periods"] == 57
    assert reps[0]["beginning_balance"] == closing["pool_units"]
    gone = sum(r["scheduled_principal"] + r["unscheduled_principal"] + r["losses"] + r["recoveries"] for r in reps)
    assert closing["pool_units"] - gone == reps[-1]["ending_balance"]
    for a, b in itertools.pairwise(reps):
        assert b["beginning_balance"] == a["ending_balance"]
    assert sum(t["losses"] for t in s["tranches"].values()) == sum(r["losses"] for r in reps) > 0
    # the cumulative-loss trigger trips on this pool's losses
    assert any("cumulative_loss" in e and "TRIPPED" in e for e in s["keeper_events"])


def test_summary_against_the_raw_files(
    run: tuple[Path, str], raw: dict[str, list[list[str]]], orig: dict[str, list[str]]
) -> None:
    out, _ = run
    s = json.loads((out / "summary.json").read_text())
    pool = [k for k, rows in raw.items() if _month(rows[0][1]) <= CUTOFF]
    closing = json.loads((out / "closing.json").read_text())
    at_cutoff = sum(_upb_cents(r, orig[k]) for k in pool for r in raw[k] if _month(r[1]) == CUTOFF)
    assert closing["pool_units"] == at_cutoff * UNIT // 100
    prepaid = liquidated = 0
    losses = recoveries = 0
    for k in pool:
        rows = [r for r in raw[k] if _month(r[1]) >= CUTOFF]
        exit_at = next(i for i, r in enumerate([*rows, []]) if not r or _state(r) not in LIVE)
        if exit_at == len(rows):
            continue
        st = _state(rows[exit_at])
        if st in (int(LoanState.PREPAID), int(LoanState.REPURCHASED)):
            prepaid += 1
            continue
        assert st in CREDIT
        liquidated += 1
        # the trust's balance never rises: the lowest UPB from the cut-off to the exit
        trust = min(_upb_cents(r, orig[k]) for r in rows[:exit_at])
        zb = rows[-1]  # the zero-balance row carries the loss components (after RA months)
        assert zb[F["zero_balance_code"]] in ("02", "03", "09")
        if zb[F["net_sale_proceeds"]] == "C":  # covered: no loss
            loss = 0
        else:
            expenses = abs(_cents(zb[F["expenses"]]))
            loss = (
                _cents(zb[F["zero_balance_removal_upb"]]) + _cents(zb[F["delinquent_accrued_interest"]])
                + expenses - _cents(zb[F["net_sale_proceeds"]]) - _cents(zb[F["mi_recoveries"]])
                - _cents(zb[F["non_mi_recoveries"]])
            )  # fmt: skip
            # Freddie Mac's own actual loss calculation says the same (negative: a loss)
            assert _cents(zb[F["actual_loss_calculation"]]) == -loss
        lost = min(max(loss, 0), trust)
        losses += lost
        recoveries += trust - lost
    assert (s["loans"], s["prepaid_loans"], s["liquidated_loans"]) == (36, prepaid, liquidated) == (36, 9, 7)
    assert s["pool_losses"] == losses * UNIT // 100
    assert s["pool_recoveries"] == recoveries * UNIT // 100
    assert (s["first_period"], s["last_period"]) == ("2019-04", "2023-12")
    assert s["realised"]["severity"] == pytest.approx(losses / (losses + recoveries))
    html = (out / "report.html").read_text()
    assert "Realised history against the model (2019-04 to 2023-12)" in html
    for key in ("cpr", "cdr", "severity"):
        row = [key.upper() if key != "severity" else key, _fmt(100 * s["realised"][key]), _fmt(100 * s["model"][key])]
        assert "<td>{} (%)</td><td>{}</td><td>{}</td>".format(*row) in html


def test_states_modifications_and_forbearance(run: tuple[Path, str], raw: dict[str, list[list[str]]]) -> None:
    """Loan files and statements against the raw rows: the state of every loan-month,
    the modifications with their capitalised arrears, the forbearance plans."""
    out, _ = run
    by_month = {(k, _month(r[1])): (i, rows) for k, rows in raw.items() for i, r in enumerate(rows)}
    exits: dict[int, int] = {}
    mods = arrears = forb = 0
    for p in range(1, 58):
        t = pq.read_table(out / "loans" / f"period={p:04d}" / "part-0.parquet").to_pylist()
        st = json.loads((out / "statements" / f"period={p:04d}.json").read_text())
        counts = {r["code"]: r["count"] for r in st["loan_states"]}
        want: dict[int, int] = {int(x): 0 for x in LoanState}
        p_mods = p_arrears = p_forb = 0
        for r in t:
            i, rows = by_month[(r["loan_id"], CUTOFF + p)]
            f = rows[i]
            assert r["state"] == _state(f), (r["loan_id"], p)
            want[r["state"]] += 1
            assert r["forbearance"] == (f[F["borrower_assistance_status_code"]] == "F")
            assert r["modified"] == (f[F["modification_flag"]] in ("Y", "P"))
            if f[F["modification_flag"]] == "Y":
                p_mods += 1
                rise = _cents(f[F["current_actual_upb"]]) - _cents(rows[i - 1][F["current_actual_upb"]])
                p_arrears += rise * UNIT // 100
            if r["forbearance"] and r["state"] in LIVE:
                p_forb += 1
            if r["state"] not in LIVE:
                exits[r["state"]] = exits.get(r["state"], 0) + 1
        assert counts == want
        assert st["pool"]["modifications_count"] == p_mods
        assert st["pool"]["modifications_capitalised_arrears"] == p_arrears
        assert st["pool"]["forbearance_count"] == p_forb
        mods, arrears, forb = mods + p_mods, arrears + p_arrears, forb + p_forb
    assert exits == {int(LoanState.PREPAID): 8, int(LoanState.REPURCHASED): 1, int(LoanState.REO): 3,
                     int(LoanState.SHORT_SALE): 2, int(LoanState.THIRD_PARTY_SALE): 2}  # fmt: skip
    assert mods == 3 and arrears > 0 and forb == 4 + 5 + 3
    s = json.loads((out / "summary.json").read_text())
    assert s["capitalised_arrears"] == arrears  # the trust never carried them
    html = (out / "report.html").read_text()
    assert "<td>left the pool: short sale</td><td>2</td>" in html
    assert "<td>forbearance (loan-months; balance-months)</td><td>12</td>" in html
