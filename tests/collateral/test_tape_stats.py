"""Pool statistics against figures computed by hand on a three-loan tape."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from openmbs.collateral import PoolStats, generate_tape, pool_stats, read_tape

TINY = """loan_id,current_balance,original_balance,note_rate,net_rate,servicing_fee,original_term,remaining_term,loan_age,amortization_type,credit_score,ltv,dti,state,purpose,servicer,delinquency_status
L1,100000,120000,0.04,0.035,,360,300,60,fixed,700,0.80,0.30,CA,purchase,S1,0
L2,200000,210000,0.05,,0.0025,360,350,10,fixed,760,0.90,,TX,cash_out_refi,S2,0
L3,100000,150000,0.06,,,180,120,60,fixed,,0.60,0.40,CA,purchase,S1,0
"""


@pytest.fixture
def tiny(tmp_path: Path) -> PoolStats:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY)
    return pool_stats(read_tape(path))


def test_balances_and_weighted_averages(tiny: PoolStats) -> None:
    assert tiny.loan_count == 3
    assert tiny.current_balance == 400_000
    assert tiny.original_balance == 480_000
    # WAC = (100k*4% + 200k*5% + 100k*6%) / 400k = 20,000 / 400,000
    assert tiny.wac == pytest.approx(0.05, abs=1e-15)
    # WAM = (300*1 + 350*2 + 120*1) / 4 = 280; WALA = (60 + 2*10 + 60) / 4 = 35
    assert tiny.wam == pytest.approx(280.0)
    assert tiny.wala == pytest.approx(35.0)
    assert tiny.wa_original_term == pytest.approx((360 + 720 + 180) / 4)
    # FICO: L3 missing -> (100k*700 + 200k*760) / 300k = 740
    assert tiny.wa_credit_score == pytest.approx(740.0)
    assert tiny.excluded["wa_credit_score"] == 1
    # LTV: (0.8 + 2*0.9 + 0.6) / 4 = 0.8
    assert tiny.wa_ltv == pytest.approx(0.8)
    # DTI: L2 missing -> (0.30 + 0.40) / 2
    assert tiny.wa_dti == pytest.approx(0.35)
    assert tiny.excluded["wa_dti"] == 1
    # CLTV absent everywhere
    assert math.isnan(tiny.wa_cltv) and tiny.excluded["wa_cltv"] == 3
    # Net: L1 net 3.5%, L2 5% - 0.25% = 4.75%, L3 unknown
    assert tiny.net_wac == pytest.approx((100_000 * 0.035 + 200_000 * 0.0475) / 300_000)
    assert tiny.excluded["net_wac"] == 1


def test_stratifications(tiny: PoolStats) -> None:
    by_state = {r.label: r for r in tiny.stratifications["state"].rows}
    assert by_state["CA"].count == 2 and by_state["CA"].balance == 200_000
    assert by_state["CA"].balance_share == pytest.approx(0.5)
    assert by_state["CA"].wac == pytest.approx(0.05)
    assert by_state["TX"].wac == pytest.approx(0.05)
    fico = [(r.label, r.count) for r in tiny.stratifications["credit_score"].rows]
    assert fico == [("700-739", 1), ("740-779", 1), ("missing", 1)]
    ltv = [(r.label, r.count) for r in tiny.stratifications["ltv"].rows]
    assert ltv == [("<=60%", 1), ("75-80%", 1), ("85-90%", 1)]
    rate = [(r.label, r.balance) for r in tiny.stratifications["note_rate"].rows]
    assert rate == [("4.00-4.50%", 100_000), ("5.00-5.50%", 200_000), ("6.00-6.50%", 100_000)]
    purpose = [(r.label, r.count, r.wac) for r in tiny.stratifications["purpose"].rows]
    # equal balances: ties are listed by label
    assert purpose == [("cash_out_refi", 1, 0.05), ("purchase", 2, pytest.approx(0.05))]
    occ = tiny.stratifications["occupancy"].rows
    assert [(r.label, r.count) for r in occ] == [("missing", 3)]
    assert [(r.label, r.balance) for r in tiny.top_servicers] == [("S1", 200_000), ("S2", 200_000)]
    assert tiny.top_zip3 == ()


def test_shares_sum_to_one_and_json_keys() -> None:
    stats = pool_stats(generate_tape(3000, seed=8))
    for strat in stats.stratifications.values():
        assert sum(r.balance_share for r in strat.rows) == pytest.approx(1.0)
        assert sum(r.count for r in strat.rows) == 3000
    d = stats.to_dict()
    for key in (
        "loan_count",
        "current_balance",
        "wac",
        "wam",
        "wala",
        "net_wac",
        "wa_credit_score",
        "wa_ltv",
        "wa_cltv",
        "wa_dti",
        "stratifications",
        "top_states",
        "top_servicers",
        "top_zip3",
        "excluded",
    ):
        assert key in d
    assert len(stats.top_states) == 10
