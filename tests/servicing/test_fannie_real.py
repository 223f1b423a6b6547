"""Three loans of the real Fannie Mae file checked by hand from their raw lines.

Expected values are computed here from the raw pipe-delimited fields and the published
layout (field numbers in comments are 1-based, as in Fannie Mae's layout), never by
calling the reader's helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from openmbs.servicing import LoanState


def _raw(path: Path, loan: str) -> list[list[str]]:
    return [ln.split("|") for ln in path.read_text().splitlines() if ln.startswith(loan + "|")]


def _months(h: Any, loan: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = h.months.filter(pc.equal(h.months["loan_id"], loan)).to_pylist()
    return rows


def test_sizes(fannie: Any, fannie_paths: tuple[Path, Path]) -> None:
    _, perf = fannie_paths
    lines = perf.read_text().splitlines()
    assert fannie.months.num_rows == len(lines)
    assert fannie.n_loans == len({ln.split("|")[0] for ln in lines})


def test_prepaid_loan_with_masked_upb_rebuilt(fannie: Any, fannie_paths: tuple[Path, Path]) -> None:
    acq, perf = fannie_paths
    loan = "100006457919"
    a = _raw(acq, loan)[0]
    b0, rate, n = float(a[4]), float(a[3]) / 1200, int(a[5])  # fields 5, 4, 6
    raw = _raw(perf, loan)
    rows = _months(fannie, loan)
    assert len(rows) == len(raw)
    for r, line in zip(rows, raw, strict=True):
        age = int(float(line[5]))  # field 6, loan age; field 11 delinquency is 0 here
        if line[4] == "":  # field 5, current actual UPB, masked
            expected = b0 * ((1 + rate) ** n - (1 + rate) ** age) / ((1 + rate) ** n - 1)
            assert r["upb_rebuilt"] is True
            assert r["upb"] == pytest.approx(expected, abs=0.01)
        else:
            assert r["upb_rebuilt"] is False
            assert r["upb"] == float(line[4])
    # the first reported UPB is within 5 cents of the schedule: the rebuild is the note's
    first = next(line for line in raw if line[4] != "")
    age = int(float(first[5]))
    sched = b0 * ((1 + rate) ** n - (1 + rate) ** age) / ((1 + rate) ** n - 1)
    assert abs(sched - float(first[4])) < 0.05
    last, last_raw = rows[-1], raw[-1]
    assert last_raw[12] == "01"  # field 13, zero-balance code: prepaid
    assert last["state"] == LoanState.PREPAID
    assert last["zero_balance_code"] == "01"
    assert last["realised_loss"] is None
    assert all(r["state"] == LoanState.CURRENT for r in rows[:-1])


def test_reo_loan_realised_loss_by_hand(fannie: Any, fannie_paths: tuple[Path, Path]) -> None:
    _, perf = fannie_paths
    loan = "100160160779"
    z = _raw(perf, loan)[-1]
    assert z[12] == "09"  # REO disposition
    upb, rate = float(z[4]), float(z[3]) / 100

    def money(i: int) -> float:
        return float(z[i]) if z[i] else 0.0

    def month(s: str) -> int:  # MM/DD/YYYY
        return int(s[6:10]) * 12 + int(s[0:2])

    months = month(z[16]) - month(z[14])  # disposition (17) - last paid installment (15)
    nib = money(26)  # field 27
    dai = months * (rate - 0.0035) / 12 * (upb - nib)
    expenses = money(17) + money(18) + money(19) + money(20) + money(21)  # fields 18-22
    proceeds = money(22) + money(23) + money(24) + money(25)  # fields 23-26
    expected = upb + dai + expenses + money(27) - proceeds  # field 28 principal forgiveness
    row = _months(fannie, loan)[-1]
    assert row["state"] == LoanState.REO
    assert row["delinquent_accrued_interest"] == pytest.approx(dai, abs=0.01)
    assert row["realised_loss"] == pytest.approx(expected, abs=0.02)
    assert row["foreclosure_costs"] == money(17)
    assert row["net_sale_proceeds"] == money(22)
    assert row["other_proceeds"] == money(25)
    events = fannie.credit_events()
    assert loan in events["loan_id"].to_pylist()


def test_modified_loan_rate_and_capitalised_arrears(
    fannie: Any, fannie_paths: tuple[Path, Path]
) -> None:
    _, perf = fannie_paths
    loan = "100204907144"
    raw = _raw(perf, loan)
    k = next(i for i, line in enumerate(raw) if line[11] == "Y")  # field 12 mod flag
    before, after = raw[k - 1], raw[k]
    rows = _months(fannie, loan)
    mod = rows[k]
    assert mod["modification"] is True and mod["modified"] is True
    assert not any(r["modification"] for r in rows[:k])
    assert mod["note_rate"] == pytest.approx(float(after[3]) / 100)
    assert mod["note_rate"] < rows[k - 1]["note_rate"]
    assert mod["capitalised_arrears"] == pytest.approx(
        float(after[4]) - float(before[4]), abs=0.005
    )
    assert rows[k - 1]["delinquency"] == int(before[10])
    assert rows[k - 1]["state"] == min(int(before[10]), 4)
    assert mod["state"] == LoanState.CURRENT  # the modification cured it
