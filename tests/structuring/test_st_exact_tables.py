"""Hand-computed tables for the exact engine, one tranche type or effect per test.

Deals use decimals = 0 (one unit = one dollar) so the arithmetic in the comments is
easy to follow. Interest on a balance b at annual rate r is floor(b * r / 12).
"""

from __future__ import annotations

from structuring_helpers import build_deal, rem

from openmbs.structuring import WAD, apply_period, compile_exact, initial_state
from openmbs.structuring._exact import E_SEQUENTIAL, E_TRAP, E_TURBO


def _seq_deal(**top):  # A 600 @ 6%, B 400 @ 12%, sequential
    return build_deal(
        [
            {"name": "A", "balance": 600, "rate": 0.06, "priority": 1},
            {"name": "B", "balance": 400, "rate": 0.12, "priority": 2},
        ],
        pool={"balance": 1000},
        **top,
    )


def _cash_identity(r):
    return r.cash_in == (
        r.cash_out + r.reserve_deposit - r.reserve_draw - r.reserve_release + r.dust_change
    )


def test_sequential_interest_principal_residual():
    d = compile_exact(_seq_deal())
    s, r = apply_period(d, initial_state(d), rem(1, interest=10, sched=5, prepaid=45, beg=1000))
    # A due 600 * 0.06 / 12 = 3; B due 400 * 0.12 / 12 = 4; excess 10 - 7 = 3 -> residual
    assert r.interest_due == (3, 4)
    assert r.interest_paid == (3, 4)
    # principal 5 + 45 = 50 -> A (sequential): 600 - 50 = 550
    assert r.principal_paid == (50, 0)
    assert r.ending_balance == (550, 400)
    assert r.residual_paid == 3
    assert _cash_identity(r)
    # period 2: A due floor(550 * 0.005) = floor(2.75) = 2 (floored in the deal's favour)
    s, r = apply_period(d, s, rem(2, interest=9, sched=550, beg=950))
    assert r.interest_due == (2, 4)
    # 550 retires A exactly; nothing to B
    assert r.principal_paid == (550, 0)
    assert r.ending_balance == (0, 400)
    assert r.residual_paid == 9 - 2 - 4


def test_interest_shortfall_carry_forward_with_and_without_interest():
    for on_shortfall, expected_due2 in ((False, 4 + 2), (True, 4 + 2 + 0)):
        d = compile_exact(_seq_deal(interest_on_shortfall=on_shortfall))
        s, r = apply_period(d, initial_state(d), rem(1, interest=5, beg=1000))
        # A takes its 3 first, B gets the remaining 2 of its 4: shortfall 2
        assert r.interest_paid == (3, 2)
        assert r.interest_shortfall == (0, 2)
        s, r = apply_period(d, s, rem(2, interest=20, beg=1000))
        # B due: current 4 + carried 2 (+ interest on 2 at 12%/12 = 0.02 -> floor 0)
        assert r.interest_due[1] == expected_due2
        assert r.interest_shortfall == (0, 0)
    # interest on shortfall visible with a larger shortfall: B 400 unpaid for 1 period,
    # shortfall 4; with 1200 on shortfall: B 1200 @ 12% -> due 12 a month
    deal = build_deal(
        [{"name": "B", "balance": 1200, "rate": 0.12, "priority": 1}],
        pool={"balance": 1200},
        interest_on_shortfall=True,
    )
    d = compile_exact(deal)
    s, r = apply_period(d, initial_state(d), rem(1, interest=0, beg=1200))
    assert r.interest_shortfall == (12,)
    s, r = apply_period(d, s, rem(2, interest=0, beg=1200))
    # 12 current + 12 carried + floor(12 * 0.01) = 0 -> 24
    assert r.interest_due == (24,)
    deal2 = build_deal(
        [{"name": "B", "balance": 120000, "rate": 0.12, "priority": 1}],
        pool={"balance": 120000},
        interest_on_shortfall=True,
    )
    d2 = compile_exact(deal2)
    s, r = apply_period(d2, initial_state(d2), rem(1, interest=0, beg=120000))
    assert r.interest_shortfall == (1200,)
    s, r = apply_period(d2, s, rem(2, interest=0, beg=120000))
    # 1200 current + 1200 carried + 1200 * 0.01 = 12 -> 2412
    assert r.interest_due == (2412,)


def test_pro_rata_principal_remaining_method_and_interest_dust():
    deal = build_deal(
        [
            {"name": "A", "balance": 600, "rate": 0.06, "priority": 1, "principal": "pro_rata", "group": "g"},
            {"name": "B", "balance": 400, "rate": 0.12, "priority": 1, "principal": "pro_rata", "group": "g"},
        ],
        pool={"balance": 1000},
    )
    d = compile_exact(deal)
    s, r = apply_period(d, initial_state(d), rem(1, interest=5, prepaid=7, beg=1000))
    # principal 7: A = floor(7 * 600 / 1000) = 4; B = 3 * 400 / 400 = 3 (takes remainder)
    assert r.principal_paid == (4, 3)
    # same-rank interest: dues 3 and 4 (total 7), cash 5:
    # A floor(5 * 3 / 7) = 2, B floor(5 * 4 / 7) = 2, 1 unit to dust
    assert r.interest_paid == (2, 2)
    assert r.interest_shortfall == (1, 2)
    assert r.dust == 1 and r.dust_change == 1
    assert _cash_identity(r)
    # final period: pool to 0; dust paid to the residual with the rest
    s, r = apply_period(d, s, rem(2, interest=20, prepaid=993, beg=993))
    # dues 3 * ... A: floor(596 * .005) = 2 + 1 carried = 3; B: floor(397 * .01) = 3 + 2 = 5
    assert r.interest_paid == (3, 5)
    assert r.ending_balance == (0, 0)
    assert r.residual_paid == 20 - 8 + 1
    assert r.dust == 0 and _cash_identity(r)


def test_pro_rata_across_priorities_switches_to_sequential_on_delinquency():
    deal = build_deal(
        [
            {"name": "SEN", "balance": 900, "rate": 0.0, "priority": 1, "principal": "pro_rata", "group": "g"},
            {"name": "SUB", "balance": 100, "rate": 0.0, "priority": 2, "principal": "pro_rata", "group": "g"},
        ],
        pool={"balance": 1000},
        triggers=[
            {"name": "dq", "test": "delinquency_60", "threshold": 0.05, "effects": ["sequential"]}
        ],
    )
    d = compile_exact(deal)
    s0 = initial_state(d)
    # 60+ of 47 / 950 = 4.95% <= 5%: pass -> pro rata 50 * 900 / 1000 = 45 and 5
    _, r = apply_period(d, s0, rem(1, prepaid=50, beg=1000, delinquent=47, end=950))
    assert r.trigger_failing == (0,) and r.principal_paid == (45, 5)
    # 48 / 950 > 5% -> sequential: all 50 to SEN
    _, r = apply_period(d, s0, rem(1, prepaid=50, beg=1000, delinquent=48, end=950))
    assert r.trigger_failing == (1,) and r.effects == E_SEQUENTIAL
    assert r.principal_paid == (50, 0)
    # exactly at the threshold: 50 / 1000 = 5% passes, 51 fails
    _, r = apply_period(d, s0, rem(1, beg=1000, end=1000, delinquent=50))
    assert r.trigger_failing == (0,)
    _, r = apply_period(d, s0, rem(1, beg=1000, end=1000, delinquent=51))
    assert r.trigger_failing == (1,)


def test_losses_written_down_bottom_up_and_reserve_covers_losses():
    d = compile_exact(_seq_deal())
    # principal 50 collected, 30 lost: pool 1000 -> 920. After principal A 550, B 400:
    # classes 950 > pool 920 -> deficiency 30 written off B (junior)
    s, r = apply_period(d, initial_state(d), rem(1, interest=10, prepaid=50, losses=30, beg=1000))
    assert r.writedown == (0, 30)
    assert r.ending_balance == (550, 370)
    assert s.writedown == (0, 30) and s.cum_loss == 30
    # a loss larger than B: 450 lost -> B 400 gone, A loses 50 more
    d = compile_exact(_seq_deal())
    _, r = apply_period(d, initial_state(d), rem(1, losses=450, beg=1000))
    assert r.writedown == (50, 400)
    # with a 20 reserve that covers losses: it pays 20 of principal to A (sequential),
    # then 10 is written off B
    d = compile_exact(_seq_deal(reserve={"initial": 20, "covers_interest": False}))
    _, r = apply_period(d, initial_state(d), rem(1, prepaid=50, losses=30, beg=1000))
    assert r.reserve_draw == 20 and r.reserve_balance == 0
    assert r.principal_paid == (70, 0)
    assert r.writedown == (0, 10)
    assert r.ending_balance == (530, 390)
    assert _cash_identity(r)


def test_reserve_covers_interest_then_tops_up_and_releases():
    d = compile_exact(_seq_deal(reserve={"initial": 10, "floor": 12, "target_percent": 0.0}))
    s, r = apply_period(d, initial_state(d), rem(1, interest=5, beg=1000))
    # A paid 3 from cash; B needs 4, 2 in cash -> reserve draws 2
    assert r.interest_paid == (3, 4) and r.reserve_draw == 2
    assert r.reserve_balance == 8  # no excess spread to top it up
    # period 2: interest 20, dues 7 -> excess 13; target 12 -> deposit 4; residual 9
    s, r = apply_period(d, s, rem(2, interest=20, beg=1000))
    assert r.reserve_deposit == 4 and r.reserve_balance == 12 and r.residual_paid == 9
    # percent target: 2% of the pool, floor 5. Pool 1000 -> 500: target 10, the reserve
    # holds 30 -> 20 released to the residual
    d = compile_exact(_seq_deal(reserve={"initial": 30, "floor": 5, "target_percent": 0.02}))
    _, r = apply_period(d, initial_state(d), rem(1, interest=7, prepaid=500, beg=1000))
    assert r.reserve_release == 20 and r.reserve_balance == 10
    assert r.residual_paid == 20
    assert _cash_identity(r)
    # final period: the whole reserve goes to the residual
    _, r = apply_period(d, initial_state(d), rem(1, interest=7, prepaid=1000, beg=1000))
    assert r.reserve_release == 30 and r.reserve_balance == 0 and r.residual_paid == 30


def _oc_deal(effects, curable=True, threshold=1.04):
    # A 800 @ 6%, B 150 @ 8%, pool 1000 (50 of OC)
    return compile_exact(
        build_deal(
            [
                {"name": "A", "balance": 800, "rate": 0.06, "priority": 1},
                {"name": "B", "balance": 150, "rate": 0.08, "priority": 2},
            ],
            pool={"balance": 1000},
            reserve={"initial": 0},
            triggers=[
                {
                    "name": "oc",
                    "test": "overcollateralization",
                    "tranche": "B",
                    "threshold": threshold,
                    "effects": effects,
                    "curable": curable,
                }
            ],
        )
    )


def test_oc_trigger_threshold_and_turbo():
    d = _oc_deal(["turbo"])
    s0 = initial_state(d)
    # The OC test compares the pool and the classes at one date, the beginning of the
    # period (after the previous distribution): period 1 is 1000 / 950 = 1.0526, it
    # passes. A loss of 12 leaves 988 of pool against 950 of classes (no deficiency,
    # the 50 of OC absorbs it): period 2 tests 988 / 950 = 1.04 exactly -> passes;
    # a loss of 13 leaves 987 / 950 < 1.04 -> fails in period 2.
    # dues: A 800 * .005 = 4, B 150 * .08 / 12 = 1; interest 12 -> excess 7
    for loss, fails in ((12, False), (13, True)):
        s, r = apply_period(d, s0, rem(1, interest=12, losses=loss, beg=1000))
        assert r.trigger_failing == (0,) and r.residual_paid == 7 and r.writedown == (0, 0)
        s, r = apply_period(d, s, rem(2, interest=12, sched=5, beg=1000 - loss))
        assert r.interest_paid == (4, 1)
        if not fails:
            assert r.trigger_failing == (0,) and r.principal_paid == (5, 0) and r.residual_paid == 7
        else:
            # failing: turbo -> the 7 of excess interest pays A principal on top of 5
            assert r.trigger_failing == (1,) and r.effects == E_TURBO
            assert r.principal_paid == (12, 0) and r.residual_paid == 0
    # no losses: principal lowers pool and classes by the same amount, so the ratio
    # only grows (period 2 tests 900 / 850 after 100 of principal), however fast the
    # pool prepays
    s, r = apply_period(d, s0, rem(1, interest=12, prepaid=100, beg=1000))
    s, r = apply_period(d, s, rem(2, interest=12, prepaid=300, beg=900))
    assert r.trigger_failing == (0,) and r.principal_paid == (300, 0)


def test_trap_and_latches():
    d = _oc_deal(["trap"], curable=False)
    # period 1 (1000 / 950 passes) loses 13; period 2 tests 987 / 950 < 1.04: fails
    s, r = apply_period(d, initial_state(d), rem(1, interest=12, losses=13, beg=1000))
    assert r.trigger_failing == (0,) and r.residual_paid == 7
    s, r = apply_period(d, s, rem(2, interest=12, sched=25, beg=987))
    # excess 7 trapped in the reserve; A pays down 25
    assert r.trigger_failing == (1,) and r.effects == E_TRAP
    assert r.reserve_deposit == 7 and r.residual_paid == 0 and r.principal_paid == (25, 0)
    # period 3 tests 962 / 925 = 1.04 exactly: passes, but the test is not curable
    s, r = apply_period(d, s, rem(3, interest=12, beg=962, end=962))
    assert r.trigger_failing == (0,) and s.latch == (1,)
    assert r.effects == E_TRAP and r.residual_paid == 0 and r.reserve_release == 0
    d = _oc_deal(["trap"], curable=True)
    s, r = apply_period(d, initial_state(d), rem(1, interest=12, losses=13, beg=1000))
    s, r = apply_period(d, s, rem(2, interest=12, sched=25, beg=987))
    assert r.reserve_deposit == 7
    s, r = apply_period(d, s, rem(3, interest=12, beg=962, end=962))
    # curable: released. The trapped 7 sits above the (zero) target -> released too.
    # A is 800 - 25 = 775: due floor(775 * .005) = floor(3.875) = 3; B 1
    assert s.latch == (0,) and r.effects == 0
    assert r.reserve_release == 7 and r.residual_paid == 12 - 3 - 1 + 7


def test_cumulative_loss_and_interest_coverage_tests():
    deal = build_deal(
        [{"name": "A", "balance": 900, "rate": 0.12, "priority": 1}],
        pool={"balance": 1000},
        triggers=[
            {"name": "cl", "test": "cumulative_loss", "threshold": 0.02, "effects": ["sequential"]},
            {"name": "ic", "test": "interest_coverage", "tranche": "A", "threshold": 1.5, "effects": ["turbo"]},
        ],
    )
    d = compile_exact(deal)
    s0 = initial_state(d)
    # losses 20 of an original 1000 = 2%: passes; 21 fails
    _, r = apply_period(d, s0, rem(1, interest=14, losses=20, beg=1000))
    assert r.trigger_failing[0] == 0
    _, r = apply_period(d, s0, rem(1, interest=14, losses=21, beg=1000))
    assert r.trigger_failing[0] == 1
    # IC: A due 900 * .01 = 9; 1.5 x 9 = 13.5 -> interest 14 passes, 13 fails
    assert r.trigger_failing[1] == 0
    _, r = apply_period(d, s0, rem(1, interest=13, beg=1000))
    assert r.trigger_failing[1] == 1
    # turbo: excess 13 - 9 = 4 pays A
    assert r.principal_paid == (4,)


def test_writeup_on_subsequent_recoveries_senior_first():
    d = compile_exact(_seq_deal())
    # lose 450: A -50, B -400 (as above)
    s, r = apply_period(d, initial_state(d), rem(1, losses=450, beg=1000))
    assert s.writedown == (50, 400)
    # 60 recovered later: A written back up by 50 first, then B by 10; the 60 of cash
    # is principal: A (550 -> 600 -> 540)
    s, r = apply_period(d, s, rem(2, subsequent=60, beg=550, end=550))
    assert r.writeup == (50, 10)
    assert r.principal_paid == (60, 0)
    assert r.ending_balance == (540, 10)
    assert s.writedown == (0, 390)
    assert _cash_identity(r)


def test_fees_senior_with_cap_and_carry():
    deal = _seq_deal(
        fees=[
            {"name": "trustee", "kind": "trustee", "rate": 0.012, "fixed": 2, "cap": 2},
            {"name": "protocol", "kind": "protocol", "fixed": 5},
        ]
    )
    d = compile_exact(deal)
    # trustee: 1000 * 0.012 / 12 = 1, + 2 fixed = 3, capped at 2; protocol 5
    s, r = apply_period(d, initial_state(d), rem(1, interest=14, beg=1000))
    assert r.fees_paid == (2, 5)
    assert r.interest_paid == (3, 4)
    # only 4 of interest: trustee 2, protocol 2 (3 carried), nothing for the classes
    s, r = apply_period(d, s, rem(2, interest=4, beg=1000))
    assert r.fees_paid == (2, 2) and s.fee_shortfall == (0, 3)
    assert r.interest_paid == (0, 0) and r.interest_shortfall == (3, 4)


def test_floater_cap_floor_and_net_wac_cap():
    deal = build_deal(
        [
            {"name": "F", "balance": 1200, "coupon": "floating", "margin": 0.01, "cap": 0.055, "floor": 0.02, "priority": 1},
            {"name": "N", "balance": 500, "coupon": "fixed_capped", "rate": 0.12, "priority": 2},
            {"name": "W", "balance": 300, "coupon": "net_wac", "margin": -0.006, "priority": 3},
        ],
        pool={"balance": 2000},
    )
    d = compile_exact(deal)
    s0 = initial_state(d)
    # index 5%: 6% capped at 5.5% -> 1200 * .055 / 12 = 5.5 -> 5
    # net WAC = interest 16 * 12 / 2000 = 9.6%: N 12% capped -> 500 * .096 / 12 = 4
    # W: 9.6% - 0.6% = 9% -> 300 * .09 / 12 = 2.25 -> 2
    _, r = apply_period(d, s0, rem(1, interest=16, beg=2000, index=5 * WAD // 100))
    assert r.interest_due == (5, 4, 2)
    # index 0.5%: 1.5% floored at 2% -> 1200 * .02 / 12 = 2
    _, r = apply_period(d, s0, rem(1, interest=16, beg=2000, index=5 * WAD // 1000))
    assert r.interest_due[0] == 2
    # index 3%: 4% inside the collar -> 4
    _, r = apply_period(d, s0, rem(1, interest=16, beg=2000, index=3 * WAD // 100))
    assert r.interest_due[0] == 4


def test_io_and_po_strips():
    deal = build_deal(
        [
            {"name": "A", "balance": 8000, "rate": 0.03, "priority": 1},
            {"name": "IOP", "notional": "pool", "rate": 0.01, "priority": 1, "principal": "none"},
            {"name": "IOA", "notional": "A", "rate": 0.015, "priority": 1, "principal": "none"},
            {"name": "PO", "balance": 4000, "coupon": "none", "priority": 2},
        ],
        pool={"balance": 12000},
    )
    d = compile_exact(deal)
    # names sorted by priority: A, IOP, IOA, PO
    assert d.names == ("A", "IOP", "IOA", "PO")
    s, r = apply_period(d, initial_state(d), rem(1, interest=60, prepaid=1000, beg=12000))
    # A 8000 * .03 / 12 = 20; IO on pool 12000 * .01 / 12 = 10; IO on A 8000 * .015 / 12 = 10
    assert r.interest_due == (20, 10, 10, 0)
    assert r.principal_paid == (1000, 0, 0, 0)
    # notionals follow: pool 11000, A 7000
    assert r.ending_balance == (7000, 11000, 7000, 4000)
    s, r = apply_period(d, s, rem(2, interest=60, prepaid=7500, beg=11000))
    # IO interest on the new notionals: 11000 * .01 / 12 = 9.17 -> 9; 7000 * .015 / 12 = 8.75 -> 8
    assert r.interest_due[1:3] == (9, 8)
    # A retires with 7000, the PO gets 500
    assert r.principal_paid == (7000, 0, 0, 500)


def test_z_accrual_pays_senior_principal_until_targets_retire():
    deal = build_deal(
        [
            {"name": "A", "balance": 600, "rate": 0.0, "priority": 1},
            {"name": "Z", "balance": 400, "rate": 0.12, "priority": 2, "accrual": True, "accretion_targets": ["A"]},
        ],
        pool={"balance": 1000},
    )
    d = compile_exact(deal)
    s, r = apply_period(d, initial_state(d), rem(1, interest=10, prepaid=10, beg=1000))
    # Z interest 400 * .01 = 4 accretes (Z 404) and its 4 of cash pays A; plus 10 of
    # principal: A 600 - 14 = 586
    assert r.accreted == (0, 4) and r.interest_paid == (0, 0)
    assert r.principal_paid == (14, 0)
    assert r.ending_balance == (586, 404)
    assert r.residual_paid == 10 - 4
    assert _cash_identity(r)
    # once A is retired Z is paid its interest in cash: A gets 586 in period 2
    s, r = apply_period(d, s, rem(2, interest=10, prepaid=586, beg=990))
    assert r.ending_balance[0] == 0
    s, r = apply_period(d, s, rem(3, interest=10, prepaid=4, beg=404))
    # Z 404 (plus 4 accreted in period 2 = 408) * .01 = 4.08 -> 4 paid in cash
    assert r.accreted == (0, 0) and r.interest_paid == (0, 4)


def test_pac_schedule_support_and_lockout():
    deal = build_deal(
        [
            {"name": "PAC", "balance": 600, "rate": 0.0, "priority": 1, "principal": "pac", "pac_schedule": [590, 570, 560]},
            {"name": "SUP", "balance": 400, "rate": 0.0, "priority": 2, "principal": "support"},
        ],
        pool={"balance": 1000},
    )
    d = compile_exact(deal)
    # principal 50: PAC down to 590 (10), support takes 40
    s, r = apply_period(d, initial_state(d), rem(1, prepaid=50, beg=1000))
    assert r.principal_paid == (10, 40)
    # principal 5 in period 2: PAC target 570, short -> all 5 to PAC, support nothing
    s, r = apply_period(d, s, rem(2, prepaid=5, beg=950))
    assert r.principal_paid == (5, 0)
    # principal 400 in period 3: PAC to 560 (25), support takes its 360, PAC the other 15
    s, r = apply_period(d, s, rem(3, prepaid=400, beg=945))
    assert r.principal_paid == (25 + 15, 360)
    assert r.ending_balance == (545, 0)
    # lockout: A locked for 2 periods, B sequential after it
    deal = build_deal(
        [
            {"name": "A", "balance": 600, "rate": 0.0, "priority": 1, "lockout": 2},
            {"name": "B", "balance": 400, "rate": 0.0, "priority": 2},
        ],
        pool={"balance": 1000},
    )
    d = compile_exact(deal)
    s, r = apply_period(d, initial_state(d), rem(1, prepaid=50, beg=1000))
    assert r.principal_paid == (0, 50)
    s, r = apply_period(d, s, rem(2, prepaid=400, beg=950))
    # B has 350 left; the other 50 goes to the locked A (nothing else is left)
    assert r.principal_paid == (50, 350)
    s, r = apply_period(d, s, rem(3, prepaid=10, beg=550))
    assert r.principal_paid == (10, 0)


def test_per_unit_indices_never_exceed_cash_paid():
    d = compile_exact(_seq_deal())
    s = initial_state(d)
    # A 600 paid 3 of interest: index 3 * 1e18 // 600 = 5e15 exactly;
    # B paid 4 of 400 -> 1e16
    s, r = apply_period(d, s, rem(1, interest=10, prepaid=7, beg=1000))
    assert r.interest_index == (5 * 10**15, 10**16)
    # principal 7 on 600: 7e18 // 600 = 11666666666666666, remainder carried
    assert r.principal_index[0] == 7 * WAD // 600
    assert s.principal_carry[0] == 7 * WAD % 600
    for _ in range(2, 40):
        s, r = apply_period(d, s, rem(s.period + 1, interest=10, prepaid=7, beg=1000 - 7 * s.period))
    total_prin = 7 * 39
    assert r.principal_index[0] * 600 // WAD <= total_prin
    # the carry makes the cumulative index exactly floor(total * WAD / face)
    assert r.principal_index[0] == total_prin * WAD // 600


def test_servicing_fee_in_the_waterfall_and_bad_remittances():
    import pytest

    from openmbs.errors import InputError

    deal = build_deal(
        [{"name": "A", "balance": 12000, "rate": 0.05, "priority": 1}],
        pool={"balance": 12000, "servicing_in_net_rate": False},
        fees=[{"name": "svc", "kind": "servicing", "rate": 0.0025}],
    )
    d = compile_exact(deal)
    # gross interest 60 (6%/12 on 12000); servicing 12000 * .0025 / 12 = 2.5 -> 2;
    # A 12000 * .05 / 12 = 50; residual 60 - 2 - 50 = 8
    _, r = apply_period(d, initial_state(d), rem(1, interest=60, beg=12000))
    assert r.fees_paid == (2,) and r.interest_paid == (50,) and r.residual_paid == 8
    with pytest.raises(InputError, match="does not follow"):
        apply_period(d, initial_state(d), rem(2, beg=12000))
    with pytest.raises(InputError, match="'interest' value -1"):
        apply_period(d, initial_state(d), rem(1, interest=-1, beg=12000))
