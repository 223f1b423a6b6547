"""Real months as simulator loan records: the schema the servicer bridge consumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openmbs.agents import ServicerBridge, record_columns
from openmbs.errors import DataIntegrityError, InputError
from openmbs.servicing import (
    HISTORY_RECORD_COLUMNS,
    RECORD_SCHEMA,
    LoanState,
    read_freddie_servicing,
    records_for_period,
)
from openmbs.sim import LOAN_RECORD_SCHEMA

#: The simulator's columns that the records put after ``liquidation_flag`` (the
#: ``advances`` and ``states`` work): compared whenever the simulator's schema has them.


def test_schema_is_the_simulators() -> None:
    """The records are the simulator's columns, in its order and types, then the
    columns only a real history has (HISTORY_RECORD_COLUMNS)."""
    sim = LOAN_RECORD_SCHEMA
    ours = [RECORD_SCHEMA.field(n) for n in RECORD_SCHEMA.names if n not in HISTORY_RECORD_COLUMNS]
    assert RECORD_SCHEMA.names[-len(HISTORY_RECORD_COLUMNS) :] == list(HISTORY_RECORD_COLUMNS)
    # every simulator column is ours, same type, same order, and nothing else
    assert ours == list(sim)


def test_identity_and_bridge(fannie: Any) -> None:
    ids = fannie.loans["loan_id"].to_pylist()
    bridge = ServicerBridge(ids)
    for period in (1, 6, 12, 30, 60):
        t = records_for_period(fannie, period, skip_truncated=True)
        c = {n: t[n].to_numpy() for n in RECORD_SCHEMA.names[4:17]}
        assert (
            c["balance_begin"] - c["scheduled_principal"] - c["prepaid_principal"]
            - c["default_writeoff"] == c["balance_end"]
        ).all()  # fmt: skip
        assert min(int(v.min()) for v in c.values()) >= 0
        assert (c["loss"] + c["recovery"] == c["default_writeoff"]).all()
        out = bridge.build(period, record_columns(t))
        assert out.report.ending_balance == int(c["balance_end"].sum())


def test_prepayment_and_liquidation_months(fannie: Any) -> None:
    # 100006457919 prepays in 08/2011: 48 months after its first month 08/2007
    months = fannie.months.to_pylist()
    first = min(r["month"] for r in months)
    start = first.year * 12 + first.month - 1
    p = (2011 * 12 + 7) - start
    t = records_for_period(fannie, p, skip_truncated=True).to_pylist()
    row = next(r for r in t if r["loan_id"] == "100006457919")
    assert row["status"] == 4 and row["balance_end"] == 0
    assert row["prepaid_principal"] == round(121689.81 * 10**6)
    # 100160160779 leaves as REO in 12/2013: principal loss capped at the UPB written off
    p = (2013 * 12 + 11) - start
    t = records_for_period(fannie, p, skip_truncated=True).to_pylist()
    row = next(r for r in t if r["loan_id"] == "100160160779")
    assert row["liquidation_flag"] and row["status"] == 3
    assert row["default_writeoff"] == round(130590.62 * 10**6)
    assert row["loss"] == row["default_writeoff"] and row["recovery"] == 0


def test_errors(fannie: Any) -> None:
    with pytest.raises(InputError):
        records_for_period(fannie, 0)
    with pytest.raises(DataIntegrityError, match="no row for"):
        records_for_period(fannie, 5)  # the shared extract cuts one loan's history short
    assert np.isfinite(
        records_for_period(fannie, 5, skip_truncated=True)["interest"].to_numpy()
    ).all()


def test_freddie_reo_acquisition_month_takes_the_later_loss(freddie_sample: Path) -> None:
    h = read_freddie_servicing(None, freddie_sample)
    # loan F20Q10000002: live through 01/2021, RA (REO acquisition) in 02/2021, zero
    # balance (09) in 03/2021 with a realised loss of 13,600 on a 51,600 UPB
    rows = records_for_period(h, 2021 * 12 + 1 - (2020 * 12 + 5), start="2020-06").to_pylist()
    row = next(r for r in rows if r["loan_id"] == "F20Q10000002")
    assert row["liquidation_flag"] and row["default_writeoff"] == 51_600 * 10**6
    assert row["loss"] == 13_600 * 10**6 and row["recovery"] == 38_000 * 10**6


def test_state_is_the_file_s_state_of_the_month(fannie: Any) -> None:
    """Each record's state, modification and capitalised arrears are the history's row
    of the same loan and month (looked up here by loan id and month)."""
    rows = {
        (r["loan_id"], r["month"].year * 12 + r["month"].month - 1): r
        for r in fannie.months.to_pylist()
    }
    first = min(m for _, m in rows)
    seen_states: set[int] = set()
    mods = 0
    for period in range(1, 77):  # to 12/2013 (a loan has no rows from 01/2014: a gap)
        t = records_for_period(fannie, period, skip_truncated=True).to_pylist()
        for r in t:
            h = rows[(r["loan_id"], first + period)]
            assert r["state"] == h["state"]
            assert r["modified"] == h["modified"] and r["modification"] == h["modification"]
            want = round(h["capitalised_arrears"] * 10**6) if h["modification"] else 0
            assert r["capitalised_arrears"] == want
            assert r["forbearance"] is None  # Fannie Mae's original layout has no such field
            assert (r["advance_reimbursed"], r["prepayment_penalty"], r["late_fee"]) == (0, 0, 0)
            seen_states.add(r["state"])
            mods += r["modification"]
    # the 2007 Q3 file goes through the crisis: every delinquency bucket and the exits
    # (its foreclosure dates fall in the zero-balance months: no live foreclosure month)
    for s in (LoanState.CURRENT, LoanState.D30, LoanState.D60, LoanState.D90, LoanState.D120P,
              LoanState.PREPAID, LoanState.REO, LoanState.SHORT_SALE):  # fmt: skip
        assert int(s) in seen_states, s
    assert mods > 0


def test_freddie_forbearance_and_modification(freddie_sample: Path) -> None:
    h = read_freddie_servicing(None, freddie_sample)
    # loan F20Q10000003: forbearance (F) in 02/2021 and 03/2021, modified in 04/2021
    # (UPB 245,000.00 -> 246,200.50: 1,200.50 of arrears capitalised)
    got = {}
    for period in range(8, 12):  # 02/2021 .. 05/2021 after a 06/2020 start
        t = records_for_period(h, period, start="2020-06").to_pylist()
        got[period] = next(r for r in t if r["loan_id"] == "F20Q10000003")
    assert [got[p]["forbearance"] for p in range(8, 12)] == [True, True, False, False]
    assert [got[p]["modification"] for p in range(8, 12)] == [False, False, True, False]
    assert [got[p]["modified"] for p in range(8, 12)] == [False, False, True, True]
    assert got[10]["capitalised_arrears"] == 1_200_500_000
    assert [got[p]["state"] for p in range(8, 12)] == [1, 2, 0, 0]
