"""The numba kernel's shortcuts change no number.

The kernel skips retired classes (balance and interest shortfall both 0) in its
per-class loops, and revives a class written up by subsequent recoveries (the note
above ``_run_range`` in ``_kernel.py``). ``run_kernel(retire=False)`` visits every
class every period; both must give the same figures, bit for bit, in every table.
Speed itself is measured in ``benchmarks/bench_cmo.py``, never here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structuring_helpers import build_deal
from test_st_language import programs

from openmbs.structuring import Collections
from openmbs.structuring._kernel import pack, run_kernel
from openmbs.structuring._waterfall import _COLL_FIELDS, TRANCHE_TABLES, _resolve

OUTPUTS = ("fee", "deal", "trig", "tot", "first", "last", "end", "resid")


def _collections(seed: int, periods: int, scenarios: int, *, balance: float = 1_000_000.0) -> Collections:
    """Random pools with losses and later recoveries of part of them (write-ups)."""
    rng = np.random.default_rng(seed)
    shape = (scenarios, periods)
    cols = {k: np.zeros(shape) for k in ("int", "sch", "pre", "loss", "sub", "idx")}
    left = np.full(scenarios, balance)
    lost = np.zeros(scenarios)
    for t in range(periods):
        last = t == periods - 1
        sch = left if last else left * rng.uniform(0.0, 0.05, scenarios)
        pre = np.zeros(scenarios) if last else (left - sch) * rng.uniform(0.0, 0.1, scenarios)
        loss = np.zeros(scenarios) if last else (left - sch - pre) * rng.choice([0.0, 0.02, 0.2], scenarios)
        sub = np.where(rng.uniform(size=scenarios) < 0.2, lost * rng.uniform(0.0, 0.5, scenarios), 0.0)
        cols["int"][:, t] = left * rng.uniform(0.0, 0.08, scenarios) / 12.0
        cols["sch"][:, t] = sch
        cols["pre"][:, t] = pre
        cols["loss"][:, t] = loss
        cols["sub"][:, t] = sub
        cols["idx"][:, t] = rng.choice([0.0, 0.01, 0.03, 0.06], scenarios)
        lost += loss - sub
        left = np.maximum(left - sch - pre - loss, 0.0)
    return Collections.from_arrays(
        original_balance=balance,
        interest=cols["int"],
        scheduled_principal=cols["sch"],
        prepaid_principal=cols["pre"],
        losses=cols["loss"],
        subsequent_recoveries=cols["sub"],
        index_rate=cols["idx"],
        delinquent_60=cols["int"] * 3.0,
    )


def _both(spec: Any, coll: Collections, *, parallel: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    packed = pack(_resolve(spec, coll.original_balance))
    arrays = {k: getattr(coll, k) for k in _COLL_FIELDS}
    fast = run_kernel(packed, arrays, tables=TRANCHE_TABLES, detail=True, parallel=parallel)
    slow = run_kernel(packed, arrays, tables=TRANCHE_TABLES, detail=True, parallel=parallel, retire=False)
    return fast, slow


def _assert_same_bits(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    for name in TRANCHE_TABLES:
        np.testing.assert_array_equal(fast["tr"][name], slow["tr"][name], err_msg=name, strict=True)
    for key in OUTPUTS:
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=key, strict=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=programs(), seed=st.integers(0, 10_000), periods=st.integers(2, 40))
def test_skipping_retired_classes_changes_no_bit(data: dict[str, Any], seed: int, periods: int) -> None:
    spec = build_deal(data["tranches"], **{k: v for k, v in data.items() if k != "tranches"})
    fast, slow = _both(spec, _collections(seed, periods, 3))
    _assert_same_bits(fast, slow)


def test_fixed_order_deals_with_write_ups_in_parallel() -> None:
    """Sixty sequential classes in the fixed order (no rules), losses and write-ups,
    over the numba threads."""
    tranches: list[dict[str, Any]] = [
        {"name": f"C{i}", "balance": 1_000_000.0 / 60, "rate": 0.05, "priority": 1 + i // 10}
        for i in range(59)
    ]
    tranches.append({"name": "C59", "remainder": True, "rate": 0.05, "priority": 6})
    spec = build_deal(tranches, pool={"balance": 1_000_000.0}, asset={"symbol": "USDC", "decimals": 6})
    coll = _collections(3, 120, 80)
    fast, slow = _both(spec, coll, parallel=True)
    _assert_same_bits(fast, slow)
    end = fast["tr"]["ending_balance"]
    # the shortcut is exercised: classes retire mid-life (most of them, here)
    assert (end[:, 60, :] == 0.0).mean() > 0.3


def test_a_retired_class_written_up_is_paid_again_by_hand() -> None:
    """C (a zero-coupon junior class of 200) is written off in period 1, so it retires;
    period 2's subsequent recoveries of 120 write up B by its 50 and C by 70, which then
    takes its share of principal like any class."""
    spec = build_deal(
        [
            {"name": "A", "balance": 600, "rate": 0.0, "priority": 1},
            {"name": "B", "balance": 200, "rate": 0.0, "priority": 2},
            {"name": "C", "balance": 200, "rate": 0.0, "priority": 3},
        ],
        pool={"balance": 1000.0},
        principal_rules=[{"pay": "pro_rata", "classes": ["A", "B", "C"]}],
    )
    coll = Collections.from_arrays(
        original_balance=1000.0,
        interest=[0.0, 0.0, 0.0],
        scheduled_principal=[0.0, 0.0, 750.0],
        prepaid_principal=[0.0, 0.0, 0.0],
        losses=[250.0, 0.0, 0.0],
        subsequent_recoveries=[0.0, 120.0, 0.0],
    )
    fast, slow = _both(spec, coll)
    _assert_same_bits(fast, slow)
    end = fast["tr"]["ending_balance"][0]
    up = fast["tr"]["writeup"][0]
    down = fast["tr"]["writedown"][0]
    np.testing.assert_array_equal(down[0], [0.0, 50.0, 200.0])
    np.testing.assert_array_equal(end[0], [600.0, 150.0, 0.0])
    # period 2: the 120 recovered writes B up by 50, C by 70; the 120 of cash is also
    # principal funds, paid pro rata over 600 + 200 + 70
    np.testing.assert_array_equal(up[1], [0.0, 50.0, 70.0])
    paid = fast["tr"]["principal_paid"][0]
    np.testing.assert_allclose(paid[1], [120 * 600 / 870, 120 * 200 / 870, 120 * 70 / 870], rtol=1e-15)
    # period 3: the pool's 750 retires everything, C included (to float rounding)
    np.testing.assert_allclose(paid[2], end[1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(end[2], [0.0, 0.0, 0.0], rtol=0, atol=1e-9)
