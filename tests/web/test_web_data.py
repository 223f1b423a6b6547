"""The dashboard's library side: claimable cash rebuilt from events, loan checks, SVG
charts, number formatting, and the ``openmbs serve`` command's errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from web_helpers import deal_row, store

from openmbs.errors import InputError
from openmbs.indexer import holder_positions, tranche_payments
from openmbs.sim import loans_path
from openmbs.web import (
    Series,
    check_address,
    deals,
    find_deal,
    fmt_units,
    line_chart,
    verify_loan,
    wallet_positions,
)


def test_claimable_rebuild_matches_every_claim_and_conserves_cash(run_dir: Path) -> None:
    """Every ``Claimed`` amount equals the owed amount the rebuilt indices give at that
    block (``wallet_positions`` raises otherwise), and per class the cash claimed plus
    the cash still claimable never exceeds the cash credited, short of it by at most
    one base unit per rounding (one per settlement of a holder)."""
    con = store(run_dir / "events.duckdb")
    (deal,) = deals(con)
    tokens = list(deal.tokens)
    holders = sorted({p["holder"] for p in holder_positions(con).to_pylist() if p["contract_address"] in tokens})
    claimable = [0] * len(tokens)
    claimed = [0] * len(tokens)
    for h in holders:
        for p in wallet_positions(con, deal, h):
            claimable[p.tranche] += p.claimable
            claimed[p.tranche] += p.claimed
    pay = tranche_payments(con).to_pylist()
    transfers = con.execute(
        "SELECT contract_address, count(*) FROM ev_transfer GROUP BY ALL"
    ).fetchall()
    n_transfers = {str(a): int(n) for a, n in transfers}
    claims = dict(
        con.execute("SELECT CAST(tranche AS BIGINT), count(*) FROM ev_claimed GROUP BY ALL").fetchall()
    )
    store_claimed = dict(
        con.execute(
            "SELECT CAST(tranche AS BIGINT), CAST(sum(amount) AS HUGEINT) FROM ev_claimed GROUP BY ALL"
        ).fetchall()
    )
    for t, token in enumerate(tokens):
        credited = sum(int(r["interest"]) + int(r["principal"]) for r in pay if r["tranche"] == t)
        assert claimed[t] == int(store_claimed.get(t, 0))
        dust = credited - claimed[t] - claimable[t]
        roundings = 2 * n_transfers.get(token, 0) + claims.get(t, 0) + len(holders)
        assert 0 <= dust <= roundings, (t, dust, roundings)


def test_claimable_before_the_final_claims_is_what_each_holder_then_claims(
    run_dir: Path, tmp_path: Path
) -> None:
    """Everyone claims in the run's last block, right after the last distribution: a
    store cut just after that ``Distributed`` event (an indexer mid-block) must show,
    for each holder and class, exactly the amount its final ``Claimed`` event pays."""
    import shutil

    import duckdb

    full = store(run_dir / "events.duckdb")
    block, log = full.execute(
        "SELECT block_number, log_index FROM ev_distributed ORDER BY 1 DESC, 2 DESC LIMIT 1"
    ).fetchall()[0]
    final = {
        (str(h).lower(), int(t)): int(a)
        for h, t, a in full.execute(
            "SELECT holder, CAST(tranche AS BIGINT), CAST(amount AS HUGEINT) FROM ev_claimed "
            "WHERE block_number = ? AND log_index > ?",
            [block, log],
        ).fetchall()
    }
    assert len(final) > 4
    cut = tmp_path / "events.duckdb"
    shutil.copy(run_dir / "events.duckdb", cut)
    w = duckdb.connect(str(cut))
    tables = [str(r[0]) for r in w.execute("SELECT table_name FROM event_types").fetchall()]
    for t in [*tables, "events"]:
        w.execute(f'DELETE FROM "{t}" WHERE (block_number, log_index) > (?, ?)', [block, log])
    w.close()
    con = store(cut)
    (deal,) = deals(con)
    holders = {
        p["holder"] for p in holder_positions(con).to_pylist() if p["contract_address"] in deal.tokens
    }
    shown = {}
    for h in sorted(holders):
        for p in wallet_positions(con, deal, h):
            if p.claimable:
                shown[(h.lower(), p.tranche)] = p.claimable
    assert shown == final


def test_verify_loan_checks_the_record_not_the_file_leaf(run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    (deal,) = deals(con)
    loan = str(pq.read_table(loans_path(run_dir, 3)).column("loan_id")[0])
    good = verify_loan(con, deal, run_dir, loan, 3)
    assert good.verified and good.leaf_matches_file
    assert good.computed_root == good.onchain_root
    # the right proof for the wrong period's root
    other = verify_loan(con, deal, run_dir, loan, 4, proof=list(good.proof))
    assert not other.verified
    # a proof one sibling short
    short = verify_loan(con, deal, run_dir, loan, 3, proof=list(good.proof[:-1]))
    assert not short.verified
    with pytest.raises(InputError, match=r"field 'proof' entry 2 value 'zz': not a 32-byte hex hash"):
        verify_loan(con, deal, run_dir, loan, 3, proof=[good.proof[0], "zz"])
    with pytest.raises(InputError, match=r"field 'period' value 0: need a period from 1 to"):
        verify_loan(con, deal, run_dir, loan, 0)
    with pytest.raises(InputError, match=r"field 'period' value 100000000000000000000: need"):
        verify_loan(con, deal, run_dir, loan, 10**20)
    with pytest.raises(InputError, match=r"field 'proof': 65 sibling hashes"):
        verify_loan(con, deal, run_dir, loan, 3, proof=[good.proof[0]] * 65)


def test_check_address_and_find_deal(run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    address, _oracle, _tokens = deal_row(con)
    assert check_address(address.lower()) == address
    found = find_deal(con, address.upper().replace("0X", "0x"))
    assert found is not None and found.address == address
    assert find_deal(con, "0x000000000000000000000000000000000000dEaD") is None
    with pytest.raises(InputError, match=r"field 'holder' value '0x1234': not an address"):
        check_address("0x1234", field="holder")


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (0, 6, "0.000000"),
        (1, 6, "0.000001"),
        (1_234_567_890_123, 6, "1,234,567.890123"),
        (-5_000_000, 6, "-5.000000"),
        (10**30 + 7, 18, "1,000,000,000,000.000000000000000007"),
        (42, 0, "42"),
    ],
)
def test_fmt_units_is_exact(value: int, decimals: int, shown: str) -> None:
    assert fmt_units(value, decimals) == shown


def test_line_chart_has_axis_titles_and_scaled_points() -> None:
    svg = line_chart(
        "Balance",
        [1.0, 2.0, 3.0],
        [Series("pool", [10.0, None, 30.0]), Series("other", [0.0, 5.0, 40.0])],
        x_title="Period (months)",
        y_title="Balance & more",
        width=500,
        height=300,
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'class="axis-title x-title"' in svg and ">Period (months)</text>" in svg
    assert ">Balance &amp; more</text>" in svg  # escaped
    paths = re.findall(r'<path d="([^"]*)"', svg)
    assert len(paths) == 2
    assert paths[0].count("M") == 2 and "L" not in paths[0]  # the gap splits the line
    # y axis 0..40 over the plot height 300-36-70=194 from y=36: 30 -> 36+194/4
    last = paths[0].split()[-1]
    assert last == f"M{80 + 400:.1f},{36 + 194 * (1 - 30 / 40):.1f}"
    with pytest.raises(ValueError, match="series 'bad' has 1 values for 3 x values"):
        line_chart("t", [1.0, 2.0, 3.0], [Series("bad", [1.0])], x_title="x", y_title="y")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.run(
        [sys.executable, "-m", "openmbs", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_serve_command_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    r = _cli("--events", str(missing))
    assert r.returncode == 2
    assert f"file '{missing}': no such event store" in r.stderr
    r = _cli("--events", str(missing), "--port", "70000")
    assert r.returncode == 2
    assert "--port" in r.stderr


def test_serve_command_names_a_missing_run_folder(run_dir: Path, tmp_path: Path) -> None:
    r = _cli("--events", str(run_dir / "events.duckdb"), "--run", str(tmp_path / "no-run"))
    assert r.returncode == 2
    assert f"folder '{tmp_path / 'no-run'}': no such run folder" in r.stderr
