"""The synthetic generator: deterministic, valid, within its documented ranges."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from openmbs.collateral import (
    CONFORMING_LIMIT,
    US_STATE_CODES,
    generate_tape,
    validate_table,
)


@pytest.fixture(scope="module")
def big():  # type: ignore[no-untyped-def]
    return generate_tape(20_000, seed=7).table


def col(t, name):  # type: ignore[no-untyped-def]
    return t.column(name).to_numpy(zero_copy_only=False)


def test_deterministic_for_a_seed() -> None:
    a, b, c = generate_tape(500, seed=3), generate_tape(500, seed=3), generate_tape(500, seed=4)
    assert a.table.equals(b.table)
    assert not a.table.equals(c.table)
    assert len(generate_tape(0, seed=1)) == 0


def test_valid_and_within_documented_ranges(big) -> None:  # type: ignore[no-untyped-def]
    assert validate_table(big) == []
    fico = col(big, "credit_score")
    assert fico.min() >= 620 and fico.max() <= 850
    ltv, cltv = col(big, "ltv"), col(big, "cltv")
    assert ltv.min() >= 0.20 and ltv.max() <= 0.97 and (cltv >= ltv).all()
    purpose = col(big, "purpose")
    assert ltv[purpose == "cash_out_refi"].max() <= 0.80
    dti = col(big, "dti")
    assert dti.min() >= 0.05 and dti.max() <= 0.50
    orig, rem, age = col(big, "original_term"), col(big, "remaining_term"), col(big, "loan_age")
    assert (rem + age == orig).all() and (rem >= 1).all()
    assert set(np.unique(orig)) <= {120, 180, 240, 300, 360}
    bal0, bal = col(big, "original_balance"), col(big, "current_balance")
    assert bal0.min() >= 25_000 and bal0.max() <= CONFORMING_LIMIT
    assert (bal <= bal0).all() and (bal > 0).all()
    rate = col(big, "note_rate")
    assert np.allclose(rate * 800, np.round(rate * 800))  # 1/8 percent steps
    assert rate.min() >= 0.02 and rate.max() <= 0.12
    assert set(col(big, "state")) <= US_STATE_CODES
    assert pc.all(pc.match_substring_regex(big.column("zip3"), r"^\d{3}$")).as_py()


def test_balance_on_the_scheduled_curve(big) -> None:  # type: ignore[no-untyped-def]
    # SIFMA SF: B = B0 [1-(1+c/12)^-M] / [1-(1+c/12)^-M0], checked on one loan by hand-style loop
    row = big.slice(0, 1).to_pylist()[0]
    r = row["note_rate"] / 12
    b = row["original_balance"]
    pmt = b * r / (1 - (1 + r) ** -row["original_term"])
    for _ in range(row["loan_age"]):
        b = b * (1 + r) - pmt
    assert row["current_balance"] == pytest.approx(b, abs=0.01)


def test_joint_distributions(big) -> None:  # type: ignore[no-untyped-def]
    purpose = col(big, "purpose")
    shares = {
        p: float((purpose == p).mean()) for p in ("purchase", "cash_out_refi", "no_cash_out_refi")
    }
    assert shares["purchase"] == pytest.approx(0.50, abs=0.02)
    assert shares["cash_out_refi"] == pytest.approx(0.25, abs=0.02)
    ltv, fico, rate = col(big, "ltv"), col(big, "credit_score"), col(big, "note_rate")
    assert ltv[purpose == "purchase"].mean() > ltv[purpose == "cash_out_refi"].mean() + 0.05
    assert np.corrcoef(fico, ltv)[0, 1] < -0.05
    # Credit spread: among loans of one vintage, lower scores pay more.
    age = col(big, "loan_age")
    term = col(big, "original_term")
    same = (age == 12) & (term == 360)
    assert rate[same & (fico < 680)].mean() > rate[same & (fico >= 760)].mean()
    assert 730 <= fico.mean() <= 775
    state = col(big, "state")
    assert (state == "CA").mean() > (state == "WY").mean() * 20
    mi = col(big, "mi_pct")
    assert (mi[ltv <= 0.80] == 0).all() and (mi[ltv > 0.80] > 0).all()
