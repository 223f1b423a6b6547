"""Real months as simulator loan records: the schema the servicer bridge consumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openmbs.agents import ServicerBridge, record_columns
from openmbs.errors import DataIntegrityError, InputError
from openmbs.servicing import RECORD_SCHEMA, read_freddie_servicing, records_for_period
from openmbs.sim import LOAN_RECORD_SCHEMA


def test_schema_is_the_simulators() -> None:
    assert RECORD_SCHEMA.equals(LOAN_RECORD_SCHEMA)


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
