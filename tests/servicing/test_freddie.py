"""The Freddie Mac servicing reader on a file written from the 32-field layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from openmbs.servicing import FREDDIE_SERVICING_FIELDS, LoanState, read_freddie_servicing


def _rows(h: Any, loan: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = h.months.filter(pc.equal(h.months["loan_id"], loan)).to_pylist()
    return out


def test_layout_has_32_fields(freddie_sample: Path) -> None:
    assert len(FREDDIE_SERVICING_FIELDS) == 32
    for line in freddie_sample.read_text().splitlines():
        assert line.count("|") == 31


def test_states_losses_and_modification_without_origination(freddie_sample: Path) -> None:
    h = read_freddie_servicing(None, freddie_sample)
    assert h.agency == "freddie" and h.n_loans == 3
    a = _rows(h, "F20Q10000001")
    assert a[-1]["state"] == LoanState.PREPAID
    assert a[-1]["upb"] == 63630.58  # the zero-balance removal UPB (field 27)
    assert a[0]["upb"] is None  # masked and no origination file to rebuild it
    b = _rows(h, "F20Q10000002")
    assert [r["state"] for r in b] == [0, 1, 2, 3, 4, LoanState.REO, LoanState.REO]
    z = b[-1]
    # removal UPB + delinquent accrued interest + |expenses| - sale - MI - non-MI
    assert z["realised_loss"] == pytest.approx(51600 + 1500 + 6000 - 40000 - 5000 - 500)
    assert z["reported_loss"] == 13600.0
    assert z["foreclosure_costs"] == 2000.0 and z["taxes"] == 2000.0
    c = _rows(h, "F20Q10000003")
    assert [r["assistance"] for r in c] == ["", "F", "F", "", ""]
    assert [r["modification"] for r in c] == [False, False, False, True, False]
    assert c[3]["capitalised_arrears"] == pytest.approx(246200.50 - 245000.00)
    assert c[3]["note_rate"] == pytest.approx(0.0275)
    assert [r["modified"] for r in c] == [False, False, False, True, True]


def test_masked_upb_rebuilt_from_origination(freddie_sample: Path, freddie_orig: Path) -> None:
    h = read_freddie_servicing(freddie_orig, freddie_sample)
    a = _rows(h, "F20Q10000001")
    # origination: 66,000 at 2.875% over 180 months (the shared file's first loan)
    b0, r, n = 66000.0, 0.02875 / 12, 180
    for age in range(6):
        expected = b0 * ((1 + r) ** n - (1 + r) ** age) / ((1 + r) ** n - 1)
        assert a[age]["upb_rebuilt"] is True
        assert a[age]["upb"] == pytest.approx(expected, abs=0.01)
    assert a[6]["upb_rebuilt"] is False and a[6]["upb"] == 64227.20
    loans = h.loans.to_pylist()
    assert [x["loan_id"] for x in loans] == ["F20Q10000001", "F20Q10000002", "F20Q10000003"]
    assert loans[0]["credit_score"] == 661 and loans[0]["ltv"] == pytest.approx(0.36)
