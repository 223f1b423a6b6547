"""The Standard Formulas' two default cash-flow examples, every column, to the dollar.

SIFMA Uniform Practices, Standard Formulas, SF-18/19 (formulas) and SF-22 onwards
(numerical examples): a 100,000,000 pool, 8% WAC (gross = net, no servicing), 360
months, 12 months to liquidation, 20% loss severity, (i) 1% SMM with 1% MDR and (ii)
150% PSA with 100% SDA. The examples amortize defaulted loans on schedule while they
wait (principal advanced, so the amortized default balance is liquidated) and lose
their interest: ``advance="principal"``.

``_sifma_loop`` below is a plain transcription of the SF-18 formulas, month by month,
with the scheduled balance from the SF-4 closed form (powers, not the engine's
recursion); it shares nothing with the engine. The engine must match it to less than
half a dollar in every column of every period.
"""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import advance_mode, project_pool
from openmbs.errors import AssumptionError

BAL = 100_000_000.0
WAC = 8.0  # percent, as C in the SF text
TERM = 360
LAG = 12
SEV = 0.20


def _sch(i: int) -> float:
    """SCH AM(i): the scheduled balance after ``i`` months, SF-4 ``BAL`` x 100,000,000."""
    v = 1.0 + WAC / 1200.0
    return BAL * (1.0 - v ** -(TERM - i)) / (1.0 - v**-TERM)


def _smm_mdr_const(i: int) -> tuple[float, float]:
    return 0.01, (0.01 if i <= TERM - LAG else 0.0)  # SF-19 j: no default in last LAG


def _smm_mdr_psa_sda(i: int) -> tuple[float, float]:
    # SF-7: CPR = 150/100 * 0.2% * min(MONTH, 30); a new pool: MONTH = i
    cpr = 1.5 * 0.002 * min(i, 30)
    # SF-20: 100% SDA by MONTH, zero in the last LAG months (SF-19 j)
    if i <= 30:
        cdr = 0.0002 * i
    elif i <= 60:
        cdr = 0.006
    elif i <= 120:
        cdr = 0.006 - 0.000095 * (i - 60)
    else:
        cdr = 0.0003
    if i > TERM - LAG:
        cdr = 0.0
    return 1.0 - (1.0 - cpr) ** (1.0 / 12.0), 1.0 - (1.0 - cdr) ** (1.0 / 12.0)


def _sifma_loop(rates) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The SF-18 formulas, principal advanced and interest lost, one month at a time."""
    c = WAC / 1200.0
    perf, fcl = BAL, 0.0
    new_def: list[float] = []
    out: dict[str, list[float]] = {}

    def put(name: str, x: float) -> None:
        out.setdefault(name, []).append(x)

    for i in range(1, TERM + 1):
        smm, mdr = rates(i)
        ratio = _sch(i) / _sch(i - 1)  # SCH AM(i) / SCH AM(i-1)
        nd = perf * mdr  # NEW DEF(i) = PERF BAL(i-1) x MDR(i)
        new_def.append(nd)
        if i > LAG:
            old = new_def[i - LAG - 1]  # NEW DEF(i - lag)
            adb = old * _sch(i - 1) / _sch(i - 1 - LAG)  # amortized default balance
            loss = min(old * SEV, adb)  # PRIN LOSS
        else:
            adb = loss = 0.0
        recov = max(adb - loss, 0.0)  # PRIN RECOV
        exp_am = (perf + fcl - adb) * (1.0 - ratio)  # EXP AM
        am_def = (nd + fcl - adb) * (1.0 - ratio)  # AM DEF, principal advanced
        act_am = (perf - nd) * (1.0 - ratio)  # ACT AM
        vol = perf * ratio * smm  # VOL PREPAY
        exp_int = (perf + fcl) * c  # EXP INT
        lost_int = (nd + fcl) * c  # INT LOST
        put("beginning_balance", perf)
        put("new_default", nd)
        put("liquidated_balance", adb)
        put("loss", loss)
        put("recovery", recov)
        put("expected_amortization", exp_am)
        put("amortization_from_defaults", am_def)
        put("actual_amortization", act_am)
        put("voluntary_prepayment", vol)
        put("expected_interest", exp_int)
        put("lost_interest", lost_int)
        put("actual_interest", exp_int - lost_int)  # ACT INT
        put("servicing_fee", 0.0)
        put("net_interest", exp_int - lost_int)
        put("principal", vol + act_am + am_def + recov)
        put("cash_flow", exp_int - lost_int + vol + act_am + am_def + recov)
        fcl = nd + fcl - adb - am_def  # FCL(i)
        perf = perf - nd - vol - act_am  # PERF BAL(i)
        put("foreclosure_balance", fcl)
        put("performing_balance", perf)
        put("ending_balance", perf + fcl)
    return {k: np.array(v) for k, v in out.items()}


CASES = {
    "1% SMM, 1% MDR": (Prepayment.smm(0.01), Default.mdr(0.01), _smm_mdr_const),
    "150% PSA, 100% SDA": (Prepayment.psa(150), Default.sda(100), _smm_mdr_psa_sda),
}


def _engine(prepay: Prepayment, default: Default, **kw: object):  # type: ignore[no-untyped-def]
    return project_pool(balance=BAL, gross_coupon=0.08, net_coupon=0.08, original_term=TERM,
                        remaining_term=TERM, prepayment=prepay, default=default,
                        severity=SEV, lag=LAG, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(CASES))
def test_sifma_default_examples_every_column_to_the_dollar(case: str) -> None:
    prepay, default, rates = CASES[case]
    want = _sifma_loop(rates)
    cf = _engine(prepay, default, advance="principal")
    got = cf.to_dict()
    got["ending_balance"] = cf.performing_balance + cf.foreclosure_balance
    for name, expected in want.items():
        diff = np.abs(np.asarray(got[name]) - expected)
        worst = int(diff.argmax())
        assert diff[worst] < 0.50, (
            f"{case}: {name} period {worst + 1}: engine {got[name][worst]!r}, "
            f"SF-18 {expected[worst]!r}"
        )
    # the example's pool is fully retired: every dollar is principal or loss
    assert cf.principal.sum() + cf.loss.sum() == pytest.approx(BAL, abs=0.5)
    assert want["lost_interest"].sum() > 1e5  # the columns are not trivially zero


def test_sifma_cash_flow_a_first_month_by_hand() -> None:
    # Month 1 of (i) by hand. Level payment per dollar P/B = (0.08/12) / (1 - (1 +
    # 0.08/12)^-360) = 0.00733764573; amortization fraction 1 - SCH(1)/SCH(0) = P/B -
    # 0.08/12 = 0.00067097906.
    # NEW DEF = 1e8 x 1% = 1,000,000.00; EXP AM = 1e8 x 0.00067097906 = 67,097.91;
    # ACT AM = 99,000,000 x 0.00067097906 = 66,426.93; AM DEF = 1,000,000 x
    # 0.00067097906 = 670.98; VOL = 1e8 x 0.99932902094 x 1% = 999,329.02;
    # FCL = 1,000,000 - 670.98 = 999,329.02; PERF = 1e8 - 1,000,000 - 999,329.02 -
    # 66,426.93 = 97,934,244.05; EXP INT = 1e8 x 0.08/12 = 666,666.67; INT LOST =
    # (1,000,000 + 0) x 0.08/12 = 6,666.67; ACT INT = 660,000.00.
    cf = _engine(Prepayment.smm(0.01), Default.mdr(0.01))  # "principal" is the default
    first = {
        "new_default": 1_000_000.00, "expected_amortization": 67_097.91,
        "actual_amortization": 66_426.93, "amortization_from_defaults": 670.98,
        "voluntary_prepayment": 999_329.02, "foreclosure_balance": 999_329.02,
        "performing_balance": 97_934_244.05, "expected_interest": 666_666.67,
        "lost_interest": 6_666.67, "actual_interest": 660_000.00,
        "principal": 999_329.02 + 66_426.93 + 670.98, "loss": 0.0, "recovery": 0.0,
    }
    d = cf.to_dict()
    for name, value in first.items():
        assert float(d[name][0]) == pytest.approx(value, abs=0.01), name
    # Month 13: the first liquidation, of month 1's 1,000,000 defaults amortized for 12
    # months: ADB = 1,000,000 x SCH(12)/SCH(0); loss = min(20% x 1,000,000, ADB).
    v = 1 + 0.08 / 12
    adb = 1e6 * (1 - v ** -348) / (1 - v ** -360)  # 991,640.3 by the SF-4 BAL formula
    assert cf.liquidated_balance[12] == pytest.approx(adb, abs=0.01)
    assert cf.loss[12] == pytest.approx(200_000.0, abs=0.01)
    assert cf.recovery[12] == pytest.approx(adb - 200_000.0, abs=0.01)


def test_sifma_psa_sda_first_month_by_hand() -> None:
    # Month 1 of (ii): CPR = 1.5 x 0.2% = 0.3%, SMM = 1 - 0.997^(1/12) = 0.00025034441;
    # CDR = 0.02%, MDR = 1 - 0.9998^(1/12) = 0.0000166681. NEW DEF = 1,666.81;
    # VOL = 1e8 x 0.99932902 x 0.00025034441 = 25,017.64; INT LOST = 1,666.81 x 0.08/12
    # = 11.11; ACT INT = 666,666.67 - 11.11 = 666,655.56.
    cf = _engine(Prepayment.psa(150), Default.sda(100))
    assert cf.new_default[0] == pytest.approx(1_666.81, abs=0.01)
    assert cf.voluntary_prepayment[0] == pytest.approx(25_017.64, abs=0.01)
    assert cf.lost_interest[0] == pytest.approx(11.11, abs=0.01)
    assert cf.actual_interest[0] == pytest.approx(666_655.56, abs=0.01)


def test_three_modes_differ_only_where_the_text_says() -> None:
    prepay, default, _ = CASES["1% SMM, 1% MDR"]
    p = _engine(prepay, default, advance="principal")
    a = _engine(prepay, default, advance="all")
    n = _engine(prepay, default, advance="none")
    # principal advanced in both "principal" and "all": same balances and principal
    for name in ("performing_balance", "foreclosure_balance", "principal", "loss",
                 "liquidated_balance", "amortization_from_defaults"):
        np.testing.assert_allclose(getattr(p, name), getattr(a, name), rtol=1e-12, atol=1e-6)
    # interest lost in both "principal" and "none", on the same formula
    assert np.all(a.lost_interest == 0.0)
    np.testing.assert_allclose(p.expected_interest - p.actual_interest, p.lost_interest)
    assert np.all(n.amortization_from_defaults == 0.0)
    assert float(p.lost_interest[0]) == pytest.approx(float(n.lost_interest[0]))


@pytest.mark.parametrize(("value", "mode"), [("all", "all"), ("principal", "principal"),
                                            ("none", "none"), ("NONE", "none"),
                                            (True, "all"), (False, "none")])
def test_advance_mode_values(value: object, mode: str) -> None:
    assert advance_mode(value) == mode


@pytest.mark.parametrize("bad", ["yes", "p&i", 1, None, 0.5])
def test_advance_mode_rejects_and_echoes(bad: object) -> None:
    with pytest.raises(AssumptionError, match=repr(bad).replace("(", r"\(").replace(".", r"\.")):
        _engine(Prepayment.smm(0.01), Default.mdr(0.01), advance=bad)


def test_bool_spelling_maps_to_all_and_none() -> None:
    prepay, default, _ = CASES["1% SMM, 1% MDR"]
    for flag, mode in ((True, "all"), (False, "none")):
        np.testing.assert_array_equal(_engine(prepay, default, advance=flag).cash_flow,
                                      _engine(prepay, default, advance=mode).cash_flow)
