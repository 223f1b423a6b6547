"""`openmbs replay`: the 2007 Q3 Fannie Mae pool's real history on the embedded chain.

One replay of the whole file (176 loans, 10/2007 to 12/2017) is shared by the module;
its figures are checked against counts made here directly from the raw history.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from openmbs.errors import InputError
from openmbs.report._html import _fmt
from openmbs.servicing import CREDIT_EVENT_STATES, LIVE_STATES, LoanState, read_fannie_performance
from openmbs.sim import HistoryRecords, replay
from openmbs.sim._replay import history_tape, load_history, replay_months

ACQ = "fannie_sflp_2007q3_acquisition.txt"
PERF = "fannie_sflp_2007q3_performance.txt"
GAP_LOAN = "100227259034"  # no rows 01/2014 to 04/2014 in the shared file


def _month(d: Any) -> int:
    return d.year * 12 + d.month - 1


@pytest.fixture(scope="module")
def files(shared_data: Path) -> tuple[Path, Path]:
    return shared_data / ACQ, shared_data / PERF


@pytest.fixture(scope="module")
def run(files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("replay") / "out"
    result = replay(out, acquisition=files[0], performance=files[1], deal="senior_sub")
    return out, result


def _raw(files: tuple[Path, Path]) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray]:
    """The raw history (read without the replay's gap filling): loan ids, month
    indices and states of every loan-month."""
    h = read_fannie_performance(files[0], files[1])
    m = h.months
    loan = np.asarray(m.column("loan_id").to_numpy(zero_copy_only=False))
    mo = np.array([_month(d) for d in m.column("month").to_pylist()])
    state = m.column("state").to_numpy().astype(np.int64)
    return m, loan, mo, state


def test_replay_reconciles_to_the_unit(run: tuple[Path, Any]) -> None:
    out, result = run
    assert result.periods == 123
    assert result.onchain and result.reconciled
    failing = [(c.name, c.detail) for c in result.checks if not c.ok]
    assert failing == []
    # every unit of the pool at cut-off is accounted for: paid as principal, written
    # off as loss or recovered, or still outstanding at the end
    life = json.loads((out / "lifecycle.json").read_text())
    closing = json.loads((out / "closing.json").read_text())
    reps = life["reports"]
    assert reps[0]["beginning_balance"] == closing["pool_units"]
    gone = sum(r["scheduled_principal"] + r["unscheduled_principal"] + r["losses"] + r["recoveries"] for r in reps)
    assert closing["pool_units"] - gone == reps[-1]["ending_balance"]
    for a, b in itertools.pairwise(reps):
        assert b["beginning_balance"] == a["ending_balance"]
    # the tranches were written down by the pool's losses (no reserve, no OC here)
    tranche_losses = sum(t["losses"] for t in result.tranche_totals.values())
    assert tranche_losses == sum(r["losses"] for r in reps)


def test_summary_counts_match_the_raw_history(run: tuple[Path, Any], files: tuple[Path, Path]) -> None:
    out, _ = run
    s = json.loads((out / "summary.json").read_text())
    m, loan, mo, state = _raw(files)
    live = np.isin(state, [int(x) for x in LIVE_STATES] + [int(LoanState.UNKNOWN)])
    first_seen = {k: mo[loan == k].min() for k in np.unique(loan)}
    cutoff = max(first_seen.values())  # every loan has appeared
    last_month = int(mo.max())
    last_row = np.r_[loan[1:] != loan[:-1], True]
    truncated = set(loan[last_row & live & (mo < last_month)].tolist())
    upb = np.asarray(m.column("upb").to_numpy(zero_copy_only=False), dtype=np.float64)
    pool = set(loan[(mo == cutoff) & live & (upb > 0)].tolist()) - truncated
    in_pool = np.isin(loan, list(pool))
    paid = np.isin(state, [int(LoanState.PREPAID), int(LoanState.REPURCHASED)])
    credit = np.isin(state, [int(x) for x in CREDIT_EVENT_STATES])
    assert s["loans"] == len(pool) == 176
    assert s["first_period"] == f"{(cutoff + 1) // 12}-{(cutoff + 1) % 12 + 1:02d}" == "2007-10"
    assert s["last_period"] == "2017-12"
    assert s["prepaid_loans"] == len(set(loan[in_pool & paid].tolist()))
    assert s["liquidated_loans"] == len(set(loan[in_pool & credit].tolist()))
    assert s["liquidated_loans"] > 0 and s["prepaid_loans"] > 0
    # losses: each liquidated loan's realised loss, capped by the trust's balance at
    # liquidation (the principal part); recoveries the rest of that balance. The
    # trust's balance never rises: the lowest UPB from the cut-off to last month
    # (capitalised arrears are not trust principal)
    loss = np.asarray(m.column("realised_loss").to_numpy(zero_copy_only=False), dtype=np.float64)
    want_loss = want_rec = 0
    for i in np.flatnonzero(in_pool & credit):
        mine = np.flatnonzero((loan == loan[i]) & (mo >= cutoff) & (mo < mo[i]))
        bal = round(float(upb[mine].min()) * 1e6)
        lost = min(max(round(float(loss[i]) * 1e6), 0), bal)
        want_loss += lost
        want_rec += bal - lost
    assert s["pool_losses"] == want_loss
    assert s["pool_recoveries"] == want_rec
    # realised against the model, both in summary.json and report.html
    assert 0 < s["realised"]["cpr"] < 1 and 0 < s["realised"]["cdr"] < 1
    assert s["realised"]["severity"] == pytest.approx(want_loss / (want_loss + want_rec))
    assert s["model"]["severity"] == 0.35
    html = (out / "report.html").read_text()
    assert "Realised history against the model (2007-10 to 2017-12)" in html
    for k in ("cpr", "cdr", "severity"):  # the table's row: measure, realised, model (%)
        row = [k.upper() if k != "severity" else k, _fmt(100 * s["realised"][k]), _fmt(100 * s["model"][k])]
        assert "<td>{} (%)</td><td>{}</td><td>{}</td>".format(*row) in html


def test_loan_states_in_the_loan_files_and_the_statements(
    run: tuple[Path, Any], files: tuple[Path, Path]
) -> None:
    """Each loan file's state is the raw history's state of that loan and month (a
    month missing from the file: the bucket of its filled delinquency); each statement
    counts its loan file's states; over the run the exits by state are the raw
    history's."""
    import pyarrow.parquet as pq

    out, result = run
    m, loan, mo, state = _raw(files)
    raw = {(str(k), int(t)): int(x) for k, t, x in zip(loan, mo, state, strict=True)}
    cutoff = 2007 * 12 + 8  # 2007-09
    live = {int(x) for x in LIVE_STATES} | {int(LoanState.UNKNOWN)}
    exits: dict[int, set[str]] = {}
    filled = 0
    for k in range(1, result.periods + 1):
        t = pq.read_table(out / "loans" / f"period={k:04d}" / "part-0.parquet").to_pylist()
        want: dict[int, list[int]] = {int(x): [0, 0] for x in LoanState}
        for r in t:
            key = (r["loan_id"], cutoff + k)
            if key in raw:
                assert r["state"] == raw[key], key
            else:  # the gap of GAP_LOAN, filled: 90+ before it, one month deeper each month
                assert r["loan_id"] == GAP_LOAN and r["state"] == int(LoanState.D120P)
                filled += 1
            code = r["state"]
            if code in live and r["status"] in (4, 5):  # bought by a clean-up call
                code = int(LoanState.PREPAID)
            want[code][0] += 1
            want[code][1] += r["ending_balance"] if code in live else r["beginning_balance"]
            if code not in live:
                exits.setdefault(code, set()).add(r["loan_id"])
            assert "forbearance" not in r  # not in Fannie Mae's original layout
        st = json.loads((out / "statements" / f"period={k:04d}.json").read_text())
        assert {r["code"]: [r["count"], r["balance"]] for r in st["loan_states"]} == want
        mods = [r for r in t if r["modification"]]
        assert st["pool"]["modifications_count"] == len(mods)
        assert st["pool"]["modifications_capitalised_arrears"] == sum(r["capitalised_arrears"] for r in mods)
        assert st["pool"]["forbearance_count"] is None
    assert filled == 4
    # exits over the run against the raw history's pool loans
    s = json.loads((out / "summary.json").read_text())
    pool = {str(x) for x in loan[(mo == cutoff) & np.isin(state, list(live))]}
    for code in (LoanState.REO, LoanState.SHORT_SALE):
        raw_exits = {str(x) for x in loan[state == int(code)]} & pool
        assert exits.get(int(code), set()) == raw_exits, code
        assert raw_exits
    credit = {int(x) for x in CREDIT_EVENT_STATES}
    assert sum(len(v) for c, v in exits.items() if c in credit) == s["liquidated_loans"]
    assert sum(len(exits.get(int(c), set())) for c in (LoanState.PREPAID, LoanState.REPURCHASED)) == s["prepaid_loans"]
    # modifications in the statements: the raw history's modification months in the pool
    raw_mods = sum(
        1
        for k, t, flag in zip(loan, mo, m.column("modification").to_pylist(), strict=True)
        if flag and str(k) in pool and cutoff < t <= cutoff + result.periods
    )
    stated = sum(
        json.loads((out / "statements" / f"period={k:04d}.json").read_text())["pool"]["modifications_count"]
        for k in range(1, result.periods + 1)
    )
    assert stated == raw_mods > 0
    html = (out / "report.html").read_text()
    assert "Pool balance by loan state (period end)" in html
    assert f"<td>left the pool: REO</td><td>{len(exits[int(LoanState.REO)]):,}</td>" in html


def test_triggers_trip(run: tuple[Path, Any]) -> None:
    out, result = run
    con = duckdb.connect(str(out / "events.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT CAST(period AS BIGINT), state FROM ev_distributed ORDER BY 1").fetchall()
    finally:
        con.close()
    latched = {int(p): int(json.loads(st)[2]) & 0xF for p, st in rows}
    # senior_sub: trigger 0 cumulative loss (2%, not curable), trigger 1 60+ delinquency (5%)
    first_loss = min(p for p, b in latched.items() if b & 1)
    first_dq = min(p for p, b in latched.items() if b & 2)
    assert all(latched[p] & 1 for p in latched if p >= first_loss)  # never cures
    assert any(not latched[p] & 2 for p in latched if p > first_dq)  # cures, then trips again
    life = json.loads((out / "lifecycle.json").read_text())
    exact = {r["period"]: (r["trigger_failing"][0] | (r["trigger_failing"][1] << 1)) for r in life["results"]}
    assert exact == latched
    assert any("cumulative_loss" in e and "TRIPPED" in e for e in result.keeper_events)


def test_audit_passes_on_the_folder(run: tuple[Path, Any]) -> None:
    from openmbs.cli import app

    out, _ = run
    res = CliRunner().invoke(app, ["audit", str(out)])
    assert res.exit_code == 0, res.output
    assert "audit passed" in res.output
    assert "re-executed" in res.output


def test_history_records_gap_and_trust_balance(files: tuple[Path, Path]) -> None:
    h = load_history(*files)
    c, n = replay_months(h, None)
    tape = history_tape(h, c, servicing_fee=0.0025)
    src = HistoryRecords(h, c, tape)
    row = tape.table.column("loan_id").to_pylist().index(GAP_LOAN)
    prev_end = np.rint(np.asarray(tape.table.column("current_balance").to_numpy()) * 1e6).astype(np.int64)
    seen = {}
    for k in range(1, n + 1):
        t = src.records(k)
        rows = t.column("tape_row").to_numpy()
        beg = t.column("beginning_balance").to_numpy()
        assert np.array_equal(beg, prev_end[rows])  # the trust's balance never jumps
        prev_end[rows] = t.column("ending_balance").to_numpy()
        hit = np.flatnonzero(rows == row)
        if hit.size:
            seen[c + k] = t.take(hit).to_pylist()[0]
    before = seen[_month_of(2013, 12)]
    assert before["delinquency"] == 3 and before["ending_balance"] == 133_342_390_000
    for m in (1, 2, 3, 4):  # filled: nothing paid, the balance of 12/2013, still 90+
        r = seen[_month_of(2014, m)]
        assert r["beginning_balance"] == r["ending_balance"] == before["ending_balance"]
        assert (r["scheduled_principal"], r["prepaid_principal"], r["interest_paid"]) == (0, 0, 0)
        assert r["delinquency"] == 3
    payoff = seen[_month_of(2014, 5)]  # the file's zero-balance month: prepaid (code 01)
    assert payoff["prepaid_principal"] + payoff["scheduled_principal"] == before["ending_balance"]
    assert payoff["ending_balance"] == 0
    assert _month_of(2014, 6) not in seen
    assert src.capitalised > 0  # the file's modifications capitalise arrears


def _month_of(y: int, m: int) -> int:
    return y * 12 + m - 1


class _Stop(Exception):
    pass


def test_replay_resumes(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"

    def stop_at_11(stage: str, done: int, total: int) -> None:
        if stage == "months" and done == 11:
            raise _Stop

    args: dict[str, Any] = {"acquisition": files[0], "performance": files[1], "deal": "senior_sub", "months": 16}
    with pytest.raises(_Stop):
        replay(out, progress=stop_at_11, **args)
    roots = json.loads((out / "state" / "manifest.json").read_text())["roots"]
    assert len(roots) == 10
    again = replay(out, **args)
    assert (again.resumed_from, again.periods) == (10, 16)
    assert again.reconciled and all(c.ok for c in again.checks)
    assert json.loads((out / "state" / "manifest.json").read_text())["roots"][:10] == roots
    s = json.loads((out / "summary.json").read_text())
    assert (s["first_period"], s["last_period"]) == ("2007-10", "2009-01")
    fresh = replay(tmp_path / "fresh", **args)  # the same months in one go: the same roots
    assert json.loads((tmp_path / "fresh" / "state" / "manifest.json").read_text())["roots"] == json.loads(
        (out / "state" / "manifest.json").read_text()
    )["roots"]
    assert fresh.tranche_totals == again.tranche_totals


class _AsFiled(HistoryRecords):
    """The history as the file states it: ``keep`` says which of the replay's two
    representations (finding 1: the trust's balance; 2: the delinquency roll) to keep."""

    keep: str = ""

    def _trust_view(self, raw: pa.Table, rows: np.ndarray) -> pa.Table:
        t = super()._trust_view(raw, rows)
        if self.keep == "balance":
            return t.set_column(t.schema.get_field_index("delinquency"), "delinquency", raw.column("delinquency"))
        return raw


@pytest.mark.parametrize(
    ("keep", "reason"),
    [("", "period 4: beginning balance != last ending balance"), ("balance", "period 7: 60-89 above last 30-59")],
)
def test_the_file_as_stated_breaks_the_oracle_bounds(
    files: tuple[Path, Path], tmp_path: Path, keep: str, reason: str
) -> None:
    """Why HistoryRecords reports the trust's balance and bounds the roll
    (docs/replay.md, "Findings"): the oracle refuses the file's own figures."""
    from openmbs.errors import RemittanceRejected
    from openmbs.sim import LifecycleConfig
    from openmbs.sim._replay import SERVICING_FEE
    from openmbs.sim._stages import deploy, prepare, run_periods

    h = load_history(*files)
    c, n = replay_months(h, None)
    src = _AsFiled(h, c, history_tape(h, c, servicing_fee=SERVICING_FEE), servicing_fee=SERVICING_FEE)
    src.keep = keep
    cfg = LifecycleConfig(acquisition=str(files[0]), performance=str(files[1]), deal="senior_sub", months=n)
    import boa

    before = boa.env
    try:
        run = prepare(tmp_path / "out", cfg, source=src)
        deploy(run)
        with pytest.raises(RemittanceRejected, match=reason):
            run_periods(run)
    finally:
        boa.set_env(before)  # deploy sets the run's embedded environment as the global one


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"performance": "missing.txt"}, "--performance file"),
        ({"acquisition": "missing.txt"}, "--acquisition file"),
        ({"deal": "no_such_deal"}, "no_such_deal"),
        ({"cutoff": "2019-01"}, "--cutoff value '2019-01': outside the data"),
        ({"cutoff": "2017-12"}, "outside the data"),
        ({"cutoff": "2007-13"}, "--cutoff value '2007-13'"),
    ],
)
def test_bad_input(files: tuple[Path, Path], tmp_path: Path, change: dict[str, str], message: str) -> None:
    args: dict[str, Any] = {"acquisition": files[0], "performance": files[1], "deal": "senior_sub", **change}
    for k in ("acquisition", "performance"):
        if args[k] == "missing.txt":
            args[k] = tmp_path / "missing.txt"
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        replay(tmp_path / "out", **args)


def test_cli_bad_input_exits_with_the_message(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from openmbs.cli import main

    argv = [
        "openmbs", "replay", "--acquisition", str(files[0]), "--performance", str(files[1]),
        "--deal", "senior_sub", "--cutoff", "2030-01", "--out", str(tmp_path / "o"),
    ]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--cutoff value '2030-01': outside the data" in err
    assert PERF in err and "2007-07 to 2017-12" in err
