"""Hand-worked examples of the SIFMA default cash flows and the level-pay schedule.

Expected numbers come from the Standard Formulas' text (SF-4, SF-18/19) worked step by
step for a 3-month loan (see the comments), and from QuantLib for the schedule.
"""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import PROJECTION_COLUMNS, PoolCashflows, project_pool
from openmbs.errors import AssumptionError, InputError

# A 3-month loan of 1000 at 12% gross (1% a month), 11.4% net (fee 0.05% a month),
# SMM 10%, MDR 10% (zero in month 3, the last `lag` = 1 month), severity 50%.
# Level payment P = 10 / (1 - 1.01^-3) = 340.0221115; scheduled balances
# SCH = 1000, 669.9778885, 336.6555559, 0, so SCH(i)/SCH(i-1) = 0.6699778885,
# 0.5024876, 0.
KW = {
    "balance": 1000.0,
    "gross_coupon": 0.12,
    "net_coupon": 0.114,
    "original_term": 3,
    "remaining_term": 3,
    "prepayment": Prepayment.smm(0.10),
    "default": Default.mdr(0.10),
    "severity": 0.5,
    "lag": 1,
}


def test_three_months_with_advancing() -> None:
    cf = project_pool(**KW, advance=True)
    # Month 1: NEW DEF = 1000 * 0.1 = 100; EXP AM = 1000 * (1 - 0.66998) = 330.0221115;
    # AM DEF = 100 * 0.33002 = 33.0022111; ACT AM = 900 * 0.33002 = 297.0199003;
    # VOL = 1000 * 0.66998 * 0.1 = 66.9977889; PERF = 1000 - 100 - 66.998 - 297.020 =
    # 535.9823108; FCL = 100 - 33.0022 = 66.9977889; interest 10 (all advanced),
    # fee 0.5, principal = 66.998 + 297.020 + 33.002 = 397.0199003.
    # Month 2: NEW DEF = 53.5982311; ADB = 100 * SCH(1)/SCH(0) = 66.9977889;
    # LOSS = min(0.5 * 100, 66.998) = 50; RECOV = 16.9977889;
    # EXP AM = (535.982 + 66.998 - 66.998) * (1 - 0.50249) = 266.6578661;
    # AM DEF = (53.598 + 66.998 - 66.998) * 0.49751 = 26.6657866; ACT AM = 239.9920795;
    # VOL = 535.982 * 0.50249 * 0.1 = 26.9324445; PERF = 215.4595558; FCL = 26.9324445;
    # interest (535.982 + 66.998) * 0.01 = 6.0298010.
    # Month 3: MDR 0; ADB = 53.598 * SCH(2)/SCH(1) = 26.9324445;
    # LOSS = min(0.5 * 53.598, 26.932) = 26.7991155; RECOV = 0.1333289;
    # ACT AM = EXP AM = 215.4595558; interest (215.460 + 26.932) * 0.01 = 2.4239200.
    np.testing.assert_allclose(cf.new_default, [100.0, 53.59823108, 0.0], atol=1e-7)
    np.testing.assert_allclose(
        cf.expected_amortization, [330.02211148, 266.65786608, 215.45955579], atol=1e-7
    )
    np.testing.assert_allclose(
        cf.amortization_from_defaults, [33.00221115, 26.66578661, 0.0], atol=1e-7
    )
    np.testing.assert_allclose(
        cf.actual_amortization, [297.01990033, 239.99207947, 215.45955579], atol=1e-7
    )
    np.testing.assert_allclose(cf.voluntary_prepayment, [66.99778885, 26.93244447, 0.0], atol=1e-7)
    np.testing.assert_allclose(cf.performing_balance, [535.98231081, 215.45955579, 0.0], atol=1e-7)
    np.testing.assert_allclose(cf.foreclosure_balance, [66.99778885, 26.93244447, 0.0], atol=1e-7)
    np.testing.assert_allclose(cf.liquidated_balance, [0.0, 66.99778885, 26.93244447], atol=1e-7)
    np.testing.assert_allclose(cf.loss, [0.0, 50.0, 26.79911554], atol=1e-7)
    np.testing.assert_allclose(cf.recovery, [0.0, 16.99778885, 0.13332893], atol=1e-7)
    np.testing.assert_allclose(cf.expected_interest, [10.0, 6.02980100, 2.42392000], atol=1e-7)
    np.testing.assert_allclose(cf.lost_interest, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(cf.actual_interest, cf.expected_interest)
    np.testing.assert_allclose(cf.servicing_fee, [0.5, 0.30149005, 0.12119600], atol=1e-7)
    np.testing.assert_allclose(cf.net_interest, [9.5, 5.72831095, 2.30272400], atol=1e-7)
    np.testing.assert_allclose(cf.principal, [397.01990033, 310.58809940, 215.59288472], atol=1e-7)
    np.testing.assert_allclose(cf.cash_flow, cf.net_interest + cf.principal)
    np.testing.assert_allclose(cf.beginning_balance, [1000.0, 535.98231081, 215.45955579], atol=1e-7)
    np.testing.assert_allclose(cf.factor, [0.60298010, 0.24239200, 0.0], atol=1e-9)
    assert cf.original_balance == 1000.0
    assert cf.principal.sum() + cf.loss.sum() == pytest.approx(1000.0, abs=1e-9)


def test_three_months_without_advancing() -> None:
    cf = project_pool(**KW, advance=False)
    # Without advancing the defaulted balance does not amortize: FCL = 100 after month 1,
    # ADB(2) = NEW DEF(1) = 100, LOSS = 50, RECOV = 50. Interest on new defaults and on
    # the pipeline is lost: month 1 lost (100) * 0.01 = 1; month 2 (53.598 + 100) * 0.01
    # = 1.5359823; month 3 (53.598) * 0.01 = 0.5359823. The fee is on interest received:
    # month 1 (1000 - 100) * 0.0005 = 0.45.
    np.testing.assert_allclose(cf.amortization_from_defaults, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(cf.actual_amortization, [297.01990033, 239.99207947, 215.45955579], atol=1e-7)
    np.testing.assert_allclose(cf.expected_amortization, [330.02211148, 266.65786608, 215.45955579], atol=1e-7)
    np.testing.assert_allclose(cf.foreclosure_balance, [100.0, 53.59823108, 0.0], atol=1e-7)
    np.testing.assert_allclose(cf.liquidated_balance, [0.0, 100.0, 53.59823108], atol=1e-7)
    np.testing.assert_allclose(cf.loss, [0.0, 50.0, 26.79911554], atol=1e-7)
    np.testing.assert_allclose(cf.recovery, [0.0, 50.0, 26.79911554], atol=1e-7)
    np.testing.assert_allclose(cf.expected_interest, [10.0, 6.35982311, 2.69057787], atol=1e-7)
    np.testing.assert_allclose(cf.lost_interest, [1.0, 1.53598231, 0.53598231], atol=1e-7)
    np.testing.assert_allclose(cf.actual_interest, [9.0, 4.82384080, 2.15459556], atol=1e-7)
    np.testing.assert_allclose(cf.servicing_fee, [0.45, 0.24119204, 0.10772978], atol=1e-7)
    np.testing.assert_allclose(cf.principal, [364.01768919, 316.92452394, 242.25867133], atol=1e-7)
    np.testing.assert_allclose(cf.performing_balance, [535.98231081, 215.45955579, 0.0], atol=1e-7)
    assert cf.principal.sum() + cf.loss.sum() == pytest.approx(1000.0, abs=1e-9)


def test_lag_zero_liquidates_in_month_of_default() -> None:
    cf = project_pool(**{**KW, "lag": 0}, advance=True)
    # MDR 10% in all three months (lag 0 zeroes nothing); default 100 liquidated at once
    assert cf.liquidated_balance[0] == pytest.approx(100.0)
    assert cf.loss[0] == pytest.approx(50.0)
    assert cf.foreclosure_balance[0] == 0.0
    assert cf.amortization_from_defaults[0] == 0.0


def test_no_prepay_no_default_is_level_pay_schedule() -> None:
    cf = project_pool(balance=1000.0, gross_coupon=0.12, net_coupon=0.12, original_term=3,
                      remaining_term=3, prepayment=Prepayment.cpr(0.0))
    pay = 10.0 / (1 - 1.01**-3)
    np.testing.assert_allclose(cf.actual_interest + cf.principal, [pay] * 3, rtol=1e-12)
    np.testing.assert_allclose(cf.performing_balance, [669.977888518531, 336.655555922247, 0.0],
                               rtol=1e-12, atol=1e-9)
    assert np.all(cf.servicing_fee == 0.0)


def test_severity_larger_than_amortized_balance_is_capped() -> None:
    cf = project_pool(**{**KW, "severity": 1.0}, advance=True)
    # loss = min(1.0 * 100, 66.998) = 66.998 -> recovery 0
    assert cf.loss[1] == pytest.approx(66.99778885, abs=1e-7)
    assert cf.recovery[1] == pytest.approx(0.0, abs=1e-9)


def test_sf_cash_flow_a_first_months() -> None:
    # SF-23 Cash Flow A: 100,000,000 at 8% WAC, 360 months, SMM 1%, MDR 1%, 12-month
    # lag, 20% severity, principal advanced (the default; P&I advancing gives the same
    # balances). Month 1 by hand: NEW DEF = 1,000,000;
    # SCH(1)/SCH(0) = 1 - P/B + 0.08/12 with P/B = (0.08/12) / (1 - (1 + 0.08/12)^-360)
    # = 0.0073376457 -> amortization fraction 0.00067097907;
    # VOL = 1e8 * (1 - 0.00067097907) * 0.01 = 999,329.02; loss in month 13 = 200,000.
    cf = project_pool(balance=1e8, gross_coupon=0.08, net_coupon=0.08, original_term=360,
                      remaining_term=360, prepayment=Prepayment.smm(0.01),
                      default=Default.mdr(0.01), severity=0.2, lag=12)
    am = 0.0073376457 - 0.08 / 12
    assert cf.new_default[0] == pytest.approx(1e6)
    assert cf.expected_amortization[0] == pytest.approx(1e8 * am, rel=1e-6)
    assert cf.voluntary_prepayment[0] == pytest.approx(1e8 * (1 - am) * 0.01, rel=1e-9)
    assert cf.loss[11] == 0.0
    assert cf.loss[12] == pytest.approx(200_000.0)
    assert np.all(cf.new_default[348:] == 0.0)  # zero in the last 12 months


def test_columns_and_frozen() -> None:
    cf = project_pool(**KW)
    assert isinstance(cf, PoolCashflows)
    assert list(cf.to_dict()) == list(PROJECTION_COLUMNS)
    with pytest.raises(ValueError):
        cf.principal[0] = 1.0


def test_quantlib_schedule_cross_check() -> None:
    ql = pytest.importorskip("QuantLib")
    rng = np.random.default_rng(7)
    for _ in range(8):
        term = int(rng.integers(12, 361))
        rate = float(rng.integers(1, 96)) / 800.0  # 0.125% steps up to 11.875%
        bal = float(rng.uniform(5e4, 1e6))
        notionals = list(ql.sinkingNotionals(ql.Period(term, ql.Months), ql.Monthly, rate, bal))
        sched = ql.Schedule(ql.Date(1, 1, 2025), ql.Date(1, 1, 2025) + ql.Period(term, ql.Months),
                            ql.Period(ql.Monthly), ql.NullCalendar(), ql.Unadjusted,
                            ql.Unadjusted, ql.DateGeneration.Forward, False)
        leg = ql.FixedRateLeg(sched, ql.Thirty360(ql.Thirty360.BondBasis), notionals[:-1], [rate])
        ql_interest = np.array([c.amount() for c in leg])
        ql_principal = -np.diff(np.array(notionals))
        cf = project_pool(balance=bal, gross_coupon=rate, net_coupon=rate, original_term=term,
                          remaining_term=term, prepayment=Prepayment.smm(0.0))
        np.testing.assert_allclose(cf.actual_interest, ql_interest, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(cf.principal, ql_principal, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(cf.beginning_balance, notionals[:-1], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize(
    ("kw", "err", "match"),
    [
        ({"severity": 1.5}, AssumptionError, "severity"),
        ({"lag": -1}, AssumptionError, "lag"),
        ({"balance": -5.0}, InputError, "balance"),
        ({"gross_coupon": 6.5}, InputError, "gross_coupon"),
        ({"net_coupon": 0.2}, InputError, "net_coupon"),
        ({"remaining_term": 5}, InputError, "remaining_term"),
        ({"prepayment": 0.06}, AssumptionError, "Prepayment"),
    ],
)
def test_bad_inputs(kw: dict[str, object], err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        project_pool(**{**KW, **kw})  # type: ignore[arg-type]


def test_totals_sum_the_columns_and_wal_is_by_hand() -> None:
    """``PoolCashflows.totals``: a 3-month, 0% loan paying 1/3 a month has a WAL of
    (1 + 2 + 3) / 3 months = 2 months = 1/6 year; sums are the columns' sums."""
    from openmbs.behaviour import Default, Prepayment
    from openmbs.cashflow import project_pool

    cf = project_pool(balance=300.0, gross_coupon=0.0, net_coupon=0.0, original_term=3,
                      remaining_term=3, prepayment=Prepayment.cpr(0.0))
    t = cf.totals()
    assert t.principal == pytest.approx(300.0) and t.last_period == 3
    assert t.wal == pytest.approx(2.0 / 12.0)
    big = project_pool(balance=1e6, gross_coupon=0.07, net_coupon=0.065, original_term=360,
                       remaining_term=360, prepayment=Prepayment.psa(150),
                       default=Default.cdr(0.02), severity=0.4, lag=6)
    bt = big.totals()
    assert bt.loss == pytest.approx(float(big.loss.sum())) and bt.loss > 0
    # principal paid = prepayments + scheduled amortization + recoveries
    assert bt.principal == pytest.approx(
        bt.voluntary_prepayment + bt.scheduled_amortization + bt.recovery, rel=1e-12)
    # every unit of the starting balance is paid as principal or lost
    assert bt.principal + bt.loss == pytest.approx(1e6, rel=1e-9)
